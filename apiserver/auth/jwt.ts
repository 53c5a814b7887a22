// Compact JWS (JWT) signing and verification with ES256, the algorithm of the service account key
// (EC P-256, like the rest of skiff's PKI). Only what service account tokens need: one key, one
// algorithm, JSON claims. Verification rejects any other "alg" so a token cannot choose how it is checked.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

export class JwtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwtError';
  }
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The "kid" Kubernetes gives a signing key: the unpadded base64url sha256 of its public key in DER. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return b64url(createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest());
}

export function signJwt(claims: JwtClaims, privateKey: KeyObject): string {
  const header = { alg: 'ES256', kid: keyId(privateKey) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants r||s, not the DER signature Node produces by default.
  const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** Whether a bearer token looks like a JWT at all (three base64url parts), before any crypto. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError(`malformed ${what}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JwtError(`malformed ${what}`);
  return v as Record<string, unknown>;
}

/** The claims of a token whose ES256 signature publicKey verifies; throws JwtError otherwise. Time claims are the caller's. */
export function verifyJwt(token: string, publicKey: KeyObject): JwtClaims {
  if (!looksLikeJwt(token)) throw new JwtError('not a compact JWS');
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = decodeJson(h, 'header');
  if (header.alg !== 'ES256') throw new JwtError(`unexpected signing algorithm ${JSON.stringify(header.alg)}`);
  const sig = Buffer.from(s, 'base64url');
  if (sig.length !== 64 || !verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig)) {
    throw new JwtError('invalid signature');
  }
  return decodeJson(p, 'payload');
}
