// Per-node credentials issued at join. Each lives in a Secret kube-system/node-credential-<node>
// holding only the sha256 of the token, so reading Secrets does not hand out node identities and
// deleting the Secret revokes the node. The authenticator looks tokens up in an in-memory index kept
// in step with the watch cache.
import { createHash } from 'node:crypto';
import type { WatchCache, CachedObject } from '../cache/watch-cache.js';
import type { KObject } from '../../pkg/api/types.js';

export const NODE_CREDENTIAL_TYPE = 'skiff.dev/node-credential';
export const NODE_CREDENTIAL_PREFIX = 'node-credential-';
export const NODE_CREDENTIAL_NAMESPACE = 'kube-system';
/** data key holding the hex sha256 of the node's bearer token */
export const TOKEN_HASH_KEY = 'token-sha256';

const SECRETS = '/registry/core/secrets/';
const KEY_PREFIX = `${SECRETS}${NODE_CREDENTIAL_NAMESPACE}/${NODE_CREDENTIAL_PREFIX}`;

export function nodeCredentialName(node: string): string {
  return `${NODE_CREDENTIAL_PREFIX}${node}`;
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The node a credential Secret stands for and its token hash, or undefined if it is not one. */
export function readNodeCredential(obj: KObject): { node: string; hash: string } | undefined {
  const name = obj.metadata.name ?? '';
  if (obj.type !== NODE_CREDENTIAL_TYPE || obj.metadata.namespace !== NODE_CREDENTIAL_NAMESPACE || !name.startsWith(NODE_CREDENTIAL_PREFIX)) return undefined;
  if (obj.metadata.deletionTimestamp) return undefined;
  const b64 = (obj.data as Record<string, string> | undefined)?.[TOKEN_HASH_KEY];
  if (typeof b64 !== 'string') return undefined;
  const hash = Buffer.from(b64, 'base64').toString('utf8').trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hash)) return undefined;
  return { node: name.slice(NODE_CREDENTIAL_PREFIX.length), hash };
}

/**
 * token hash -> node. Keyed by the sha256 of the token: a lookup's timing depends only on the hash
 * of what the caller presented, which says nothing about any stored token.
 */
export class NodeCredentialIndex {
  private readonly byHash = new Map<string, string>();
  private readonly byKey = new Map<string, string>();
  private unsubscribe?: () => void;

  /** Loads what the cache holds and follows its changes (list and subscribe in one turn: no gap). */
  follow(cache: WatchCache): void {
    this.unsubscribe?.();
    this.byHash.clear();
    this.byKey.clear();
    for (const c of cache.list(SECRETS, NODE_CREDENTIAL_NAMESPACE)) this.put(c);
    this.unsubscribe = cache.subscribe((ev) => {
      if (!ev.key.startsWith(KEY_PREFIX)) return;
      if (ev.type === 'DELETED') this.remove(ev.key);
      else this.put(ev.cur);
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private put(c: CachedObject): void {
    this.remove(c.key);
    const cred = readNodeCredential(c.obj);
    if (!cred) return;
    this.byHash.set(cred.hash, cred.node);
    this.byKey.set(c.key, cred.hash);
  }

  private remove(key: string): void {
    const old = this.byKey.get(key);
    if (old === undefined) return;
    this.byKey.delete(key);
    this.byHash.delete(old);
  }

  /** The node whose credential this token is. */
  nodeFor(token: string): string | undefined {
    return this.byHash.get(tokenSha256(token));
  }

  get size(): number {
    return this.byHash.size;
  }
}
