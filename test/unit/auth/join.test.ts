// Join credential checks and the per-node credential index behind the token authenticator.
import test from 'ava';
import { checkJoinCredential, INVALID_JOIN_TOKEN } from '../../../apiserver/auth/join.js';
import { NodeCredentialIndex, tokenSha256 } from '../../../apiserver/auth/node-credentials.js';
import { tokenAuthenticator } from '../../../apiserver/auth/tokens.js';
import { StatusError } from '../../../apiserver/status.js';
import type { WatchCache, CacheEvent, CachedObject } from '../../../apiserver/cache/watch-cache.js';
import type { KObject } from '../../../pkg/api/types.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const NOW = new Date('2026-06-01T00:00:00Z');

function bootstrapSecret(id: string, secret: string, extra: Record<string, string> = {}): KObject {
  const data: Record<string, string> = { 'token-id': id, 'token-secret': secret, 'usage-bootstrap-authentication': 'true', ...extra };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
    type: 'bootstrap.kubernetes.io/token',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  } as KObject;
}

function check(credential: string, secrets: KObject[], joinSecret?: string): string {
  return checkJoinCredential(credential, {
    joinSecret,
    bootstrapSecret: (name) => secrets.find((s) => s.metadata.name === name),
    now: NOW,
  });
}

function refusal(t: any, fn: () => unknown, message: RegExp | string): void {
  const e = t.throws(fn, { instanceOf: StatusError }) as StatusError;
  t.is(e.code, 401);
  if (typeof message === 'string') t.is(e.message, message);
  else t.regex(e.message, message);
}

test('the permanent join secret is accepted, anything else is an invalid join token', (t) => {
  t.is(check('s3cret', [], 's3cret'), 'node-token');
  refusal(t, () => check('s3cre', [], 's3cret'), INVALID_JOIN_TOKEN);
  refusal(t, () => check('s3cret', []), INVALID_JOIN_TOKEN);
});

test('bootstrap tokens: valid, wrong secret, unknown id, wrong type, expired', (t) => {
  const ok = bootstrapSecret('abcdef', '0123456789abcdef', { expiration: '2026-06-02T00:00:00Z' });
  t.is(check('abcdef.0123456789abcdef', [ok]), 'bootstrap-token-abcdef');
  refusal(t, () => check('abcdef.0123456789abcdee', [ok]), INVALID_JOIN_TOKEN);
  refusal(t, () => check('abcdeg.0123456789abcdef', [ok]), INVALID_JOIN_TOKEN);
  refusal(t, () => check('abcdef.0123456789abcdef', [{ ...ok, type: 'Opaque' }]), INVALID_JOIN_TOKEN);
  const old = bootstrapSecret('abcdef', '0123456789abcdef', { expiration: '2026-05-31T23:59:59Z' });
  refusal(t, () => check('abcdef.0123456789abcdef', [old]), 'join token abcdef expired at 2026-05-31T23:59:59Z');
  // Expiry is told only to someone holding the secret.
  refusal(t, () => check('abcdef.ffffffffffffffff', [old]), INVALID_JOIN_TOKEN);
  const noAuth = bootstrapSecret('abcdef', '0123456789abcdef', { 'usage-bootstrap-authentication': 'false' });
  refusal(t, () => check('abcdef.0123456789abcdef', [noAuth]), /not marked for authentication/);
});

/** Enough of the watch cache for the index: list and subscribe. */
function fakeCache(initial: KObject[]) {
  const subs = new Set<(ev: CacheEvent) => void>();
  const key = (o: KObject) => `/registry/core/secrets/${o.metadata.namespace}/${o.metadata.name}`;
  const co = (o: KObject): CachedObject => ({ key: key(o), obj: o, json: JSON.stringify(o), rev: 1 });
  const cache = {
    list: (_r: string, ns?: string) => initial.filter((o) => !ns || o.metadata.namespace === ns).map(co),
    subscribe: (fn: (ev: CacheEvent) => void) => (subs.add(fn), () => subs.delete(fn)),
  } as unknown as WatchCache;
  const emit = (type: CacheEvent['type'], o: KObject) =>
    subs.forEach((s) => s({ type, rev: 2, resource: '/registry/core/secrets/', key: key(o), cur: co(o) }));
  return { cache, emit, subscribers: () => subs.size };
}

function credential(node: string, token: string, ns = 'kube-system', type = 'skiff.dev/node-credential'): KObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: `node-credential-${node}`, namespace: ns }, type, data: { 'token-sha256': b64(tokenSha256(token)) } } as KObject;
}

test('the node credential index follows creates, rotations and deletes', (t) => {
  const { cache, emit, subscribers } = fakeCache([credential('n1', 'tok-1'), credential('x', 'tok-x', 'default'), credential('y', 'tok-y', 'kube-system', 'Opaque')]);
  const idx = new NodeCredentialIndex();
  idx.follow(cache);
  t.is(idx.nodeFor('tok-1'), 'n1');
  t.is(idx.nodeFor('tok-x'), undefined, 'only kube-system');
  t.is(idx.nodeFor('tok-y'), undefined, 'only the node-credential type');
  emit('MODIFIED', credential('n1', 'tok-1b'));
  t.is(idx.nodeFor('tok-1'), undefined, 'rotation revokes the old token');
  t.is(idx.nodeFor('tok-1b'), 'n1');
  emit('ADDED', credential('n2', 'tok-2'));
  t.is(idx.nodeFor('tok-2'), 'n2');
  emit('DELETED', credential('n2', 'tok-2'));
  t.is(idx.nodeFor('tok-2'), undefined);
  t.is(idx.size, 1);
  idx.stop();
  t.is(subscribers(), 0);
});

test('the token authenticator names joined nodes system:node:<name>', (t) => {
  const { cache } = fakeCache([credential('n1', 'tok-1')]);
  const auth = tokenAuthenticator({ admin: 'adm', node: 'join' });
  auth.attach!(cache);
  t.deepEqual(auth.authenticate('Bearer tok-1'), { name: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] });
  t.is(auth.authenticate('Bearer adm')?.name, 'skiff-admin');
  t.is(auth.authenticate('Bearer nope'), undefined);
  t.is(auth.authenticate(undefined), undefined);
  auth.detach!();
});
