// Bearer-token authentication. Tokens live in the data dir (created on first start, 0600) so that
// restarts keep kubeconfigs and node joins working. Comparison is constant-time.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UserInfo {
  name: string;
  groups: string[];
}

export interface TokenAuthenticator {
  authenticate(authorizationHeader: string | undefined): UserInfo | undefined;
}

function loadOrCreate(path: string): string {
  if (existsSync(path)) {
    const t = readFileSync(path, 'utf8').trim();
    if (t) return t;
  }
  const t = randomBytes(32).toString('hex');
  writeFileSync(path, t + '\n', { mode: 0o600 });
  return t;
}

export interface ClusterTokens {
  admin: string;
  node: string;
}

export function ensureTokens(dataDir: string): ClusterTokens {
  return { admin: loadOrCreate(join(dataDir, 'admin-token')), node: loadOrCreate(join(dataDir, 'node-token')) };
}

// Hashing both sides gives equal-length buffers for timingSafeEqual whatever the input length.
const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenAuthenticator(tokens: ClusterTokens): TokenAuthenticator {
  const table: [Buffer, UserInfo][] = [
    [digest(tokens.admin), { name: 'skiff-admin', groups: ['system:masters', 'system:authenticated'] }],
    [digest(tokens.node), { name: 'system:node', groups: ['system:nodes', 'system:authenticated'] }],
  ];
  return {
    authenticate(header) {
      if (!header || !header.startsWith('Bearer ')) return undefined;
      const presented = digest(header.slice(7).trim());
      for (const [d, user] of table) if (timingSafeEqual(d, presented)) return user;
      return undefined;
    },
  };
}
