// Bearer-token authentication. The admin token and the node join secret live in the data dir
// (created on first start, 0600) so that restarts keep kubeconfigs and node joins working; nodes
// that joined authenticate with their own credential (node-credentials.ts). Comparison of the
// fixed tokens is constant-time.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WatchCache } from '../cache/watch-cache.js';
import { formatJoinToken, parseJoinToken } from './join-token.js';
import { NodeCredentialIndex } from './node-credentials.js';

export interface UserInfo {
  name: string;
  groups: string[];
  uid?: string;
  /** authenticator-specific facts (a service account token's pod), as UserInfo.extra in Kubernetes */
  extra?: Record<string, string[]>;
}

export interface TokenAuthenticator {
  authenticate(authorizationHeader: string | undefined): UserInfo | undefined;
  /** Called by the API server once its watch cache is loaded: credentials kept as objects come from it. */
  attach?(cache: WatchCache): void;
  detach?(): void;
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
  /** the permanent join secret (the credential part of DIR/node-token) */
  node: string;
  /** the full `K10<ca sha256>::<secret>` token written to DIR/node-token, when the CA was given */
  nodeJoinToken?: string;
}

/**
 * Loads or creates DIR/admin-token and DIR/node-token. With the CA, DIR/node-token is (re)written
 * as a K10 token carrying the CA hash; a bare secret from an older data dir is kept as the secret,
 * so agents holding it still join.
 */
export function ensureTokens(dataDir: string, caCert?: string): ClusterTokens {
  const nodePath = join(dataDir, 'node-token');
  let secret: string;
  try {
    secret = parseJoinToken(loadOrCreate(nodePath)).credential;
  } catch (e) {
    throw new Error(`${nodePath}: ${(e as Error).message}`);
  }
  const tokens: ClusterTokens = { admin: loadOrCreate(join(dataDir, 'admin-token')), node: secret };
  if (caCert !== undefined) {
    tokens.nodeJoinToken = formatJoinToken(caCert, secret);
    if (readFileSync(nodePath, 'utf8').trim() !== tokens.nodeJoinToken) {
      writeFileSync(nodePath, tokens.nodeJoinToken + '\n', { mode: 0o600 });
      // The mode option applies only to a new file.
      chmodSync(nodePath, 0o600);
    }
  }
  return tokens;
}

// Hashing both sides gives equal-length buffers for timingSafeEqual whatever the input length.
const digest = (s: string) => createHash('sha256').update(s).digest();

export function nodeUser(node: string): UserInfo {
  return { name: `system:node:${node}`, groups: ['system:nodes', 'system:authenticated'] };
}

export function tokenAuthenticator(tokens: ClusterTokens): TokenAuthenticator {
  const table: [Buffer, UserInfo][] = [
    [digest(tokens.admin), { name: 'skiff-admin', groups: ['system:masters', 'system:authenticated'] }],
    // The shared join secret used to be the nodes' API credential; it still authenticates so that
    // agents started with it directly keep working, but joined nodes use their own credential.
    [digest(tokens.node), { name: 'system:node', groups: ['system:nodes', 'system:authenticated'] }],
  ];
  const nodes = new NodeCredentialIndex();
  return {
    authenticate(header) {
      if (!header || !header.startsWith('Bearer ')) return undefined;
      const token = header.slice(7).trim();
      const presented = digest(token);
      for (const [d, user] of table) if (timingSafeEqual(d, presented)) return user;
      const node = nodes.nodeFor(token);
      return node === undefined ? undefined : nodeUser(node);
    },
    attach(cache) {
      nodes.follow(cache);
    },
    detach() {
      nodes.stop();
    },
  };
}
