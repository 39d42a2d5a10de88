import { z } from 'zod';
import type { AuthService } from '../services/authService.ts';
import { defineRoute, deleteRoute, type RouteDef } from './route.ts';
import { CreatedTokenView, pageOf, PrincipalView, TokenCreate, TokenView } from '../domain/index.ts';

export function tokenRoutes(auth: AuthService): RouteDef[] {
  return [
    defineRoute({
      method: 'post',
      path: '/tokens',
      tag: 'tokens',
      summary: 'Create an API token; the secret is in this response only.',
      access: { role: 'admin' },
      body: TokenCreate,
      response: CreatedTokenView,
      successStatus: 201,
      handler: async ({ body }) => {
        const { token, secret } = await auth.createToken(body.name, body.role);
        return { body: { ...token, token: secret } };
      },
    }),
    defineRoute({ method: 'get', path: '/tokens', tag: 'tokens', summary: 'List tokens (never their secrets).', access: { role: 'admin' }, response: pageOf(TokenView), handler: async () => ({ body: { items: await auth.listTokens(), nextPageToken: null } }) }),
    deleteRoute({ path: '/tokens/:id', tag: 'tokens', summary: 'Revoke a token.', access: { role: 'admin' }, params: z.object({ id: z.string().regex(/^[a-f0-9]{16}$/, 'is not a token id') }), remove: (params) => auth.revokeToken(params.id) }),
    defineRoute({
      method: 'get',
      path: '/whoami',
      tag: 'tokens',
      summary: 'The caller: token name and role.',
      access: { role: 'viewer' },
      response: PrincipalView,
      handler: async ({ principal }) => ({ body: principal }),
    }),
  ];
}
