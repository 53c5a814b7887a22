// The node agent's service account tokens (kubelet's token manager): for each projected
// serviceAccountToken source, a token requested through the TokenRequest API and bound to the pod,
// kept until 80 % of its lifetime (or 24 h) has passed and then requested again. The periodic
// volume refresh re-resolves projected sources, so a token due for renewal is rewritten in place
// by the atomic writer before it expires.
import { TOKEN_DEFAULT_EXPIRATION_S, TOKEN_MIN_EXPIRATION_S } from '../../pkg/api/serviceaccounts.js';
import type { KObject } from '../../pkg/api/types.js';
import type { RestClient } from '../../pkg/client/rest.js';

/** The projected source as it appears in a pod spec. */
export interface TokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path?: string;
}

export interface IssuedToken {
  token: string;
  /** ms since the epoch */
  expiresAt: number;
}

/** Asks the API server for a token of namespace/serviceAccount, bound to the pod. */
export type TokenRequester = (namespace: string, serviceAccount: string, spec: Record<string, unknown>) => Promise<IssuedToken>;

const REFRESH_FRACTION = 0.8;
const MAX_TOKEN_AGE_MS = 24 * 3600 * 1000;

interface Entry extends IssuedToken {
  issuedAt: number;
}

export class ServiceAccountTokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly now: () => number;

  constructor(private readonly request: TokenRequester, opts: { now?: () => number } = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** Whether a token issued at issuedAt must be replaced now. */
  static dueForRefresh(e: { issuedAt: number; expiresAt: number }, now: number): boolean {
    if (now >= e.expiresAt) return true;
    if (now - e.issuedAt > MAX_TOKEN_AGE_MS) return true;
    return now >= e.issuedAt + (e.expiresAt - e.issuedAt) * REFRESH_FRACTION;
  }

  /** The token for one projected source of pod, from the cache or a new TokenRequest. */
  async get(pod: KObject, src: TokenProjection): Promise<string> {
    const ns = String(pod.metadata.namespace ?? 'default');
    const podName = String(pod.metadata.name ?? '');
    const uid = String(pod.metadata.uid ?? '');
    const sa = String((pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default');
    const expirationSeconds = Math.max(Number(src.expirationSeconds ?? TOKEN_DEFAULT_EXPIRATION_S), TOKEN_MIN_EXPIRATION_S);
    const audiences = src.audience ? [src.audience] : [];
    const key = JSON.stringify([uid, ns, podName, sa, audiences, expirationSeconds]);
    const now = this.now();
    this.dropExpired(now);
    const cached = this.entries.get(key);
    if (cached && !ServiceAccountTokenCache.dueForRefresh(cached, now)) return cached.token;
    let p = this.pending.get(key);
    if (!p) {
      const issuedAt = now;
      p = this.request(ns, sa, {
        audiences,
        expirationSeconds,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: podName, uid },
      }).then((t) => ({ ...t, issuedAt }));
      this.pending.set(key, p);
      void p.then(
        (e) => {
          this.pending.delete(key);
          this.entries.set(key, e);
        },
        () => this.pending.delete(key),
      );
    }
    try {
      return (await p).token;
    } catch (e) {
      // A still valid token serves while the API cannot be reached, as kubelet's token manager does.
      if (cached && this.now() < cached.expiresAt) return cached.token;
      throw new Error(`failed to fetch token for service account ${ns}/${sa}: ${(e as Error).message}`);
    }
  }

  /** Tokens of a pod that is gone are of no further use. */
  forgetPod(uid: string): void {
    for (const k of this.entries.keys()) if ((JSON.parse(k) as string[])[0] === uid) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }

  private dropExpired(now: number): void {
    for (const [k, e] of this.entries) if (now >= e.expiresAt) this.entries.delete(k);
  }
}

/** A TokenRequester over the API (POST .../serviceaccounts/NAME/token). */
export function apiTokenRequester(client: RestClient): TokenRequester {
  return async (ns, sa, spec) => {
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`;
    const out = await client.create<{ status?: { token?: string; expirationTimestamp?: string } }>(path, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
    const token = out.status?.token;
    const expiresAt = Date.parse(String(out.status?.expirationTimestamp ?? ''));
    if (!token || !Number.isFinite(expiresAt)) throw new Error('the TokenRequest answer carries no token or expiration');
    return { token, expiresAt };
  };
}

