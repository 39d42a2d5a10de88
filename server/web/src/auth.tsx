import { createContext, useContext } from 'react';

export interface Me {
  kind: 'user';
  tokenId: string;
  name: string;
  role: 'viewer' | 'editor' | 'admin';
}

const RANK = { viewer: 0, editor: 1, admin: 2 } as const;

export const AuthContext = createContext<{ me: Me; signOut: () => void } | null>(null);

export function useAuth(): { me: Me; signOut: () => void; can: (role: Me['role']) => boolean } {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside the signed-in app');
  return { ...ctx, can: (role) => RANK[ctx.me.role] >= RANK[role] };
}
