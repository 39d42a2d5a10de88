import { z } from 'zod';
import { openApiPath, type RouteDef } from './route.ts';

/** The body of a success response, per media type: the route's view for JSON, text or bytes otherwise. */
function successContent(route: RouteDef): Record<string, { schema: Record<string, unknown> }> | undefined {
  if (route.response === 'empty') return undefined;
  const types = route.responseTypes ?? ['application/json'];
  return Object.fromEntries(
    types.map((type) => {
      if (type === 'application/json' && typeof route.response !== 'string') return [type, { schema: jsonSchema(route.response, 'output') }];
      return [type, { schema: type.startsWith('text/') ? { type: 'string' } : { type: 'string', format: 'binary' } }];
    }),
  );
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
    },
  },
};

/** A request schema as what a client may send ('input'), a response schema as what it receives ('output'). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

function parameters(schema: z.ZodType | undefined, location: 'path' | 'query') {
  if (!schema) return [];
  const js = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: location,
    required: location === 'path' || (js.required ?? []).includes(name),
    schema: location === 'path' && (s as { type?: unknown }).type === 'array' ? { type: 'string' } : s,
  }));
}

const ERROR_RESPONSES = {
  '400': { description: 'Invalid input; `field` names what is wrong', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '401': { description: 'Missing or invalid bearer token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '403': { description: 'The token lacks the role for this action', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '404': { description: 'Not found', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '405': { description: 'The path does not support this method; `Allow` lists those it does', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '409': { description: 'Conflict with the current state', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '413': { description: 'The request body is larger than the limit', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '415': { description: 'Unsupported Content-Encoding or charset', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '422': { description: 'Valid input that does not fit together', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '429': { description: 'Too many failed authentications', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  '503': { description: 'Metadata database unreachable; retry', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
};

/** The OpenAPI 3.1 document, generated from the same route declarations and schemas that validate requests. */
export function buildOpenApi(routes: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const p = `/api/v1${openApiPath(route.path)}`;
    const success = String(route.successStatus ?? 200);
    const content = successContent(route);
    const successes = Object.fromEntries(
      [success, ...(route.alsoStatuses ?? []).map(String)].map((status) => [
        status,
        { description: status === success ? (route.responseDescription ?? 'Success') : 'Success', ...(status === '204' || !content ? {} : { content }) },
      ]),
    );
    const operation: Record<string, unknown> = {
      operationId: `${route.method}${p.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(\w)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: route.summary,
      tags: [route.tag],
      'x-griffin-role': route.access.role,
      'x-griffin-run-token': 'runToken' in route.access,
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      responses: {
        ...successes,
        ...ERROR_RESPONSES,
      },
    };
    if (route.method === 'post' && route.path === '/runs') {
      (operation.parameters as unknown[]).push({ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } });
    }
    if (route.body) operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } };
    // An empty body is an empty file, so the body is not required.
    if (route.rawBody && route.rawBodyTypes) {
      operation.requestBody = { required: true, content: Object.fromEntries(route.rawBodyTypes.map((type) => [type, { schema: { type: 'string', format: 'binary' } }])) };
    } else if (route.rawBody) operation.requestBody = { required: false, description: "the file's bytes, stored as sent", content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
    paths[p] = { ...(paths[p] ?? {}), [route.method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Griffin API', version, description: 'Define, launch, watch and register ML training runs.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ERROR_SCHEMA },
    },
    paths,
  };
}
