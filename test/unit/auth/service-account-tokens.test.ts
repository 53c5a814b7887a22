// Service account JWTs: signing, claims, and every way a token stops authenticating.
import test from 'ava';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyId, signJwt, verifyJwt, JwtError } from '../../../apiserver/auth/jwt.js';
import { ensureServiceAccountKey } from '../../../apiserver/auth/service-account-key.js';
import { ServiceAccountTokens, SERVICE_ACCOUNT_ISSUER, type ServiceAccountLookup } from '../../../apiserver/auth/service-account-tokens.js';
import type { KObject } from '../../../pkg/api/types.js';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const key = { privateKey, publicKey: createPublicKey(privateKey) };
const T0 = 1_800_000_000;

function world(): { lookup: ServiceAccountLookup; sas: Map<string, KObject>; pods: Map<string, KObject> } {
  const sas = new Map<string, KObject>([['team/builder', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: 'team', uid: 'sa-uid' } }]]);
  const pods = new Map<string, KObject>([['team/web', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team', uid: 'pod-uid' } }]]);
  return { sas, pods, lookup: { serviceAccount: (ns, n) => sas.get(`${ns}/${n}`), pod: (ns, n) => pods.get(`${ns}/${n}`) } };
}

function issuer(now: { t: number }, lookup: ServiceAccountLookup): ServiceAccountTokens {
  const t = new ServiceAccountTokens({ key, now: () => now.t });
  t.attach(lookup);
  return t;
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

test('a token carries the claims Kubernetes puts in it and authenticates as the service account', (t) => {
  const now = { t: T0 };
  const w = world();
  const tokens = issuer(now, w.lookup);
  const { token, expirationTimestamp } = tokens.issue({ namespace: 'team', serviceAccount: { name: 'builder', uid: 'sa-uid' }, audiences: [SERVICE_ACCOUNT_ISSUER], expirationSeconds: 3600 });
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
  t.deepEqual(header, { alg: 'ES256', kid: keyId(privateKey) });
  const c = claimsOf(token);
  t.is(c.iss, SERVICE_ACCOUNT_ISSUER);
  t.is(c.sub, 'system:serviceaccount:team:builder');
  t.deepEqual(c.aud, [SERVICE_ACCOUNT_ISSUER]);
  t.is(c.iat, T0);
  t.is(c.nbf, T0);
  t.is(c.exp, T0 + 3600);
  t.is(typeof c.jti, 'string');
  t.deepEqual(c['kubernetes.io'], { namespace: 'team', serviceaccount: { name: 'builder', uid: 'sa-uid' } });
  t.is(expirationTimestamp.getTime(), (T0 + 3600) * 1000);
  const user = tokens.authenticate(`Bearer ${token}`);
  t.is(user?.name, 'system:serviceaccount:team:builder');
  t.deepEqual(user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated']);
  t.is(user?.uid, 'sa-uid');
});

test('expired, not yet valid, wrongly addressed and tampered tokens are refused', (t) => {
  const now = { t: T0 };
  const w = world();
  const tokens = issuer(now, w.lookup);
  const sa = { name: 'builder', uid: 'sa-uid' };
  const { token } = tokens.issue({ namespace: 'team', serviceAccount: sa, audiences: [SERVICE_ACCOUNT_ISSUER], expirationSeconds: 600 });
  now.t = T0 + 599;
  t.truthy(tokens.authenticate(`Bearer ${token}`));
  now.t = T0 + 600;
  t.deepEqual(tokens.verify(token), { error: 'token has expired' });

  now.t = T0;
  const other = tokens.issue({ namespace: 'team', serviceAccount: sa, audiences: ['vault'], expirationSeconds: 600 });
  t.deepEqual(tokens.verify(other.token), { error: 'token audiences do not include the API server' });

  // Changing a claim (another account) without re-signing breaks the signature.
  const [h, , s] = token.split('.');
  const forged = { ...claimsOf(token), sub: 'system:serviceaccount:kube-system:default' };
  t.deepEqual(tokens.verify(`${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`), { error: 'invalid signature' });
  // Another key's signature is worthless here.
  const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  t.deepEqual(tokens.verify(signJwt(claimsOf(token), stranger)), { error: 'invalid signature' });
  // "alg" cannot be chosen by the token.
  const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${token.split('.')[1]}.${s}`;
  t.regex((tokens.verify(none) as { error: string }).error, /unexpected signing algorithm/);
  t.is(tokens.authenticate('Bearer not-a-jwt'), undefined);
  t.is(tokens.authenticate(undefined), undefined);

  const future = signJwt({ ...claimsOf(token), nbf: T0 + 3600, iat: T0 + 3600, exp: T0 + 7200 }, privateKey);
  t.deepEqual(tokens.verify(future), { error: 'token is not valid yet' });
  t.throws(() => verifyJwt('a.b', key.publicKey), { instanceOf: JwtError });
});

test('a token dies with its service account or its bound pod, and with a namesake of another uid', (t) => {
  const now = { t: T0 };
  const w = world();
  const tokens = issuer(now, w.lookup);
  const sa = { name: 'builder', uid: 'sa-uid' };
  const bound = tokens.issue({ namespace: 'team', serviceAccount: sa, audiences: [SERVICE_ACCOUNT_ISSUER], expirationSeconds: 3600, pod: { name: 'web', uid: 'pod-uid' } });
  t.deepEqual((claimsOf(bound.token)['kubernetes.io'] as Record<string, unknown>).pod, { name: 'web', uid: 'pod-uid' });
  const user = tokens.authenticate(`Bearer ${bound.token}`);
  t.deepEqual(user?.extra?.['authentication.kubernetes.io/pod-name'], ['web']);
  t.deepEqual(user?.extra?.['authentication.kubernetes.io/pod-uid'], ['pod-uid']);

  // A pod being deleted keeps its token through its grace period, not after.
  w.pods.get('team/web')!.metadata.deletionTimestamp = new Date((T0 + 30) * 1000).toISOString();
  t.truthy(tokens.authenticate(`Bearer ${bound.token}`));
  now.t = T0 + 31;
  t.regex((tokens.verify(bound.token) as { error: string }).error, /pod team\/web: deleted/);
  w.pods.set('team/web', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team', uid: 'other-pod' } });
  t.regex((tokens.verify(bound.token) as { error: string }).error, /does not match/);
  w.pods.delete('team/web');
  t.regex((tokens.verify(bound.token) as { error: string }).error, /not found/);

  const plain = tokens.issue({ namespace: 'team', serviceAccount: sa, audiences: [SERVICE_ACCOUNT_ISSUER], expirationSeconds: 3600 });
  t.truthy(tokens.authenticate(`Bearer ${plain.token}`));
  w.sas.set('team/builder', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: 'team', uid: 'recreated' } });
  t.is(tokens.authenticate(`Bearer ${plain.token}`), undefined);
  w.sas.delete('team/builder');
  t.regex((tokens.verify(plain.token) as { error: string }).error, /service account team\/builder: not found/);
});

test('the signing key is made once, private, and reused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sakey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = ensureServiceAccountKey(join(dir, 'tls'));
  t.is(statSync(join(dir, 'tls', 'service-account.key')).mode & 0o777, 0o600);
  const b = ensureServiceAccountKey(join(dir, 'tls'));
  t.is(keyId(a.publicKey), keyId(b.publicKey));
  const token = signJwt({ x: 1 }, a.privateKey);
  t.deepEqual(verifyJwt(token, b.publicKey), { x: 1 });
});
