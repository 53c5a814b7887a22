// The join token an agent is given: `K10<sha256 hex of the CA PEM>::<credential>`. The hash lets
// the agent trust the CA it downloads from an unauthenticated endpoint (trust on first use, but
// pinned by something the admin handed over out of band). The hash covers the PEM bytes exactly as
// the server writes DIR/tls/ca.crt and serves them at /cacerts, so `sha256sum DIR/tls/ca.crt`
// reproduces it. The credential is either the server's permanent join secret or a Kubernetes
// bootstrap token `<id>.<secret>`.
import { createHash, randomInt } from 'node:crypto';

export const TOKEN_PREFIX = 'K10';
export const CACERTS_PATH = '/cacerts';
export const JOIN_PATH = '/skiff/v1/join';

/** The answer to a join: this node's own credential. */
export interface JoinResponse {
  apiVersion: 'skiff.dev/v1';
  kind: 'NodeCredential';
  nodeName: string;
  username: string;
  /** the node's bearer token; the server keeps only its hash */
  token: string;
  /** the cluster CA (PEM) */
  caCert: string;
}
const SEPARATOR = '::';

export interface JoinToken {
  /** sha256 hex of the CA PEM; undefined for a bare credential */
  caHash?: string;
  credential: string;
}

export function caHash(caPem: string | Buffer): string {
  return createHash('sha256').update(caPem).digest('hex');
}

export function formatJoinToken(caPem: string | Buffer, credential: string): string {
  return `${TOKEN_PREFIX}${caHash(caPem)}${SEPARATOR}${credential}`;
}

export class JoinTokenFormatError extends Error {}

/** A K10 token, or a bare credential (which carries no CA hash: the caller must get the CA elsewhere). */
export function parseJoinToken(text: string): JoinToken {
  const s = text.trim();
  if (!s) throw new JoinTokenFormatError('the join token is empty');
  if (!s.startsWith(TOKEN_PREFIX) || !s.includes(SEPARATOR)) {
    if (/\s/.test(s)) throw new JoinTokenFormatError('the join token must be one line without spaces');
    return { credential: s };
  }
  const sep = s.indexOf(SEPARATOR);
  const hash = s.slice(TOKEN_PREFIX.length, sep).toLowerCase();
  const credential = s.slice(sep + SEPARATOR.length);
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new JoinTokenFormatError(`the join token's CA hash must be 64 hex digits (K10<sha256>::<credential>), got "${hash.slice(0, 80)}"`);
  if (!credential || /\s/.test(credential)) throw new JoinTokenFormatError('the join token has no credential after "::"');
  return { caHash: hash, credential };
}

// Kubernetes bootstrap tokens: six and sixteen characters of [a-z0-9].
const BOOTSTRAP_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_SECRET_PREFIX = 'bootstrap-token-';

export function parseBootstrapToken(credential: string): { id: string; secret: string } | undefined {
  const m = BOOTSTRAP_RE.exec(credential);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomString = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

export function generateBootstrapToken(): { id: string; secret: string; token: string } {
  const id = randomString(6);
  const secret = randomString(16);
  return { id, secret, token: `${id}.${secret}` };
}

/** RFC 3339 without fractional seconds, as kubeadm writes `expiration`. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Secret that makes a bootstrap token, in the format Kubernetes defines. */
export function bootstrapTokenSecret(id: string, secret: string, opts: { expiration?: Date; description?: string } = {}): Record<string, unknown> {
  const stringData: Record<string, string> = {
    'token-id': id,
    'token-secret': secret,
    'usage-bootstrap-authentication': 'true',
    'usage-bootstrap-signing': 'true',
  };
  if (opts.expiration) stringData['expiration'] = rfc3339(opts.expiration);
  if (opts.description) stringData['description'] = opts.description;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${BOOTSTRAP_SECRET_PREFIX}${id}`, namespace: 'kube-system' },
    type: BOOTSTRAP_TOKEN_TYPE,
    stringData,
  };
}
