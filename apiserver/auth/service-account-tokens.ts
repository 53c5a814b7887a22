// Service account tokens: JWTs the API server signs for a ServiceAccount (optionally bound to a
// Pod) and accepts back as bearer tokens. Claims are laid out as Kubernetes lays them out, so
// tools that read them (client libraries, `kubectl auth whoami`) see the same thing. A token is
// only as alive as what it names: when the ServiceAccount or the bound Pod is gone (or replaced by
// a namesake with another uid), the token stops authenticating.
import { randomUUID, type KeyObject } from 'node:crypto';
import type { KObject } from '../../pkg/api/types.js';
import type { WatchCache } from '../cache/watch-cache.js';
import { JwtError, looksLikeJwt, signJwt, verifyJwt, type JwtClaims } from './jwt.js';
import type { ServiceAccountKey } from './service-account-key.js';
import type { UserInfo } from './tokens.js';

/** The issuer, and by default the one audience the API server accepts (Kubernetes' usual --service-account-issuer). */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
export const CREDENTIAL_ID_EXTRA = 'authentication.kubernetes.io/credential-id';

// Tolerated clock difference for nbf/iat between the server that signed and the one that checks.
const NOT_BEFORE_LEEWAY_S = 60;

export interface ObjectRef {
  name: string;
  uid: string;
}

export interface IssueRequest {
  namespace: string;
  serviceAccount: ObjectRef;
  audiences: string[];
  expirationSeconds: number;
  pod?: ObjectRef;
}

/** Where the authenticator checks that what a token names still exists. */
export interface ServiceAccountLookup {
  serviceAccount(namespace: string, name: string): KObject | undefined;
  pod(namespace: string, name: string): KObject | undefined;
}

export function cacheLookup(cache: WatchCache): ServiceAccountLookup {
  return {
    serviceAccount: (ns, name) => cache.get(`/registry/core/serviceaccounts/${ns}/${name}`)?.obj,
    pod: (ns, name) => cache.get(`/registry/core/pods/${ns}/${name}`)?.obj,
  };
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${name}`;
}

export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return { name: serviceAccountUsername(namespace, name), groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}

export interface ServiceAccountTokensOptions {
  key: ServiceAccountKey;
  issuer?: string;
  /** audiences the API server itself accepts (default: the issuer) */
  apiAudiences?: string[];
  /** seconds since the epoch (tests move the clock) */
  now?: () => number;
}

export type Verdict = { user: UserInfo } | { error: string };

interface KubernetesClaim {
  namespace?: unknown;
  serviceaccount?: { name?: unknown; uid?: unknown };
  pod?: { name?: unknown; uid?: unknown };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** A deletion that has taken effect (deletionTimestamp in the past) ends the object's tokens, as in Kubernetes. */
function gone(obj: KObject | undefined, uid: string, nowS: number): string | undefined {
  if (!obj) return 'not found';
  if (obj.metadata.uid !== uid) return `uid ${uid} does not match ${String(obj.metadata.uid)}`;
  const del = obj.metadata.deletionTimestamp;
  if (del && Date.parse(String(del)) / 1000 < nowS) return 'deleted';
  return undefined;
}

export class ServiceAccountTokens {
  readonly issuer: string;
  readonly apiAudiences: string[];
  private readonly now: () => number;
  private lookup?: ServiceAccountLookup;

  constructor(private readonly opts: ServiceAccountTokensOptions) {
    this.issuer = opts.issuer ?? SERVICE_ACCOUNT_ISSUER;
    this.apiAudiences = opts.apiAudiences ?? [this.issuer];
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Where ServiceAccounts and Pods are looked up; until set, no token authenticates. */
  attach(lookup: ServiceAccountLookup | undefined): void {
    this.lookup = lookup;
  }

  issue(req: IssueRequest): { token: string; expirationTimestamp: Date; claims: JwtClaims } {
    const iat = this.now();
    const exp = iat + req.expirationSeconds;
    const k8s: Record<string, unknown> = { namespace: req.namespace, serviceaccount: { name: req.serviceAccount.name, uid: req.serviceAccount.uid } };
    if (req.pod) k8s.pod = { name: req.pod.name, uid: req.pod.uid };
    const claims: JwtClaims = {
      aud: req.audiences,
      exp,
      iat,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: iat,
      sub: serviceAccountUsername(req.namespace, req.serviceAccount.name),
    };
    return { token: signJwt(claims, this.opts.key.privateKey), expirationTimestamp: new Date(exp * 1000), claims };
  }

  /** The user a bearer token stands for, or why it does not authenticate. */
  verify(token: string): Verdict {
    let claims: JwtClaims;
    try {
      claims = verifyJwt(token, this.opts.key.publicKey);
    } catch (e) {
      if (e instanceof JwtError) return { error: e.message };
      throw e;
    }
    if (claims.iss !== this.issuer) return { error: `issuer ${JSON.stringify(claims.iss)} is not ${this.issuer}` };
    const now = this.now();
    if (typeof claims.exp !== 'number' || now >= claims.exp) return { error: 'token has expired' };
    if (typeof claims.nbf === 'number' && now + NOT_BEFORE_LEEWAY_S < claims.nbf) return { error: 'token is not valid yet' };
    if (typeof claims.iat === 'number' && now + NOT_BEFORE_LEEWAY_S < claims.iat) return { error: 'token was issued in the future' };
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!aud.some((a) => this.apiAudiences.includes(a as string))) return { error: 'token audiences do not include the API server' };
    const k = claims['kubernetes.io'] as KubernetesClaim | undefined;
    const ns = str(k?.namespace);
    const saName = str(k?.serviceaccount?.name);
    const saUid = str(k?.serviceaccount?.uid);
    if (!ns || !saName || !saUid) return { error: 'token has no kubernetes.io service account claim' };
    if (claims.sub !== serviceAccountUsername(ns, saName)) return { error: 'sub does not match the service account claim' };
    if (!this.lookup) return { error: 'service accounts cannot be looked up yet' };
    const saGone = gone(this.lookup.serviceAccount(ns, saName), saUid, now);
    if (saGone) return { error: `service account ${ns}/${saName}: ${saGone}` };
    const user: UserInfo = { ...serviceAccountUser(ns, saName), uid: saUid };
    const extra: Record<string, string[]> = {};
    if (k?.pod !== undefined) {
      const podName = str(k.pod.name);
      const podUid = str(k.pod.uid);
      if (!podName || !podUid) return { error: 'malformed pod claim' };
      const podGone = gone(this.lookup.pod(ns, podName), podUid, now);
      if (podGone) return { error: `pod ${ns}/${podName}: ${podGone}` };
      extra[POD_NAME_EXTRA] = [podName];
      extra[POD_UID_EXTRA] = [podUid];
    }
    if (typeof claims.jti === 'string') extra[CREDENTIAL_ID_EXTRA] = [`JTI=${claims.jti}`];
    if (Object.keys(extra).length) user.extra = extra;
    return { user };
  }

  /** A bearer token authenticator: undefined for anything that is not a valid service account token. */
  authenticate(header: string | undefined): UserInfo | undefined {
    if (!header || !header.startsWith('Bearer ')) return undefined;
    const token = header.slice(7).trim();
    if (!looksLikeJwt(token)) return undefined;
    const v = this.verify(token);
    return 'user' in v ? v.user : undefined;
  }
}
