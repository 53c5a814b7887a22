// The node agent's token cache: one TokenRequest per source until 80 % of the token's life.
import test from 'ava';
import { ServiceAccountTokenCache, type IssuedToken } from '../../../kubelet/volumes/service-account-token.js';
import type { KObject } from '../../../pkg/api/types.js';

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'team', uid: 'u1' }, spec: { serviceAccountName: 'builder' } } as KObject;

function setup() {
  const clock = { t: 1_000_000 };
  const calls: { ns: string; sa: string; spec: Record<string, unknown> }[] = [];
  let fail = false;
  const cache = new ServiceAccountTokenCache(
    async (ns, sa, spec): Promise<IssuedToken> => {
      if (fail) throw new Error('connection refused');
      calls.push({ ns, sa, spec });
      return { token: `t${calls.length}`, expiresAt: clock.t + Number(spec.expirationSeconds) * 1000 };
    },
    { now: () => clock.t },
  );
  return { clock, calls, cache, setFail: (f: boolean) => (fail = f) };
}

test('asks for a pod-bound token with the source audience and expiration', async (t) => {
  const { calls, cache } = setup();
  t.is(await cache.get(pod, { expirationSeconds: 3607, path: 'token' }), 't1');
  t.deepEqual(calls[0], { ns: 'team', sa: 'builder', spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web', uid: 'u1' } } });
  await cache.get(pod, { audience: 'vault', expirationSeconds: 60 });
  // Kubernetes never asks for less than ten minutes.
  t.deepEqual(calls[1]!.spec.audiences, ['vault']);
  t.is(calls[1]!.spec.expirationSeconds, 600);
});

test('reuses a token until 80 % of its lifetime, then renews it', async (t) => {
  const { clock, calls, cache } = setup();
  t.is(await cache.get(pod, { expirationSeconds: 1000 }), 't1');
  clock.t += 799_000;
  t.is(await cache.get(pod, { expirationSeconds: 1000 }), 't1');
  clock.t += 1_000;
  t.is(await cache.get(pod, { expirationSeconds: 1000 }), 't2');
  t.is(calls.length, 2);
  t.true(ServiceAccountTokenCache.dueForRefresh({ issuedAt: 0, expiresAt: 100 * 86400_000 }, 24 * 3600_000 + 1));
});

test('a still valid token serves while the API cannot be reached; an expired one does not', async (t) => {
  const { clock, cache, setFail } = setup();
  await cache.get(pod, { expirationSeconds: 1000 });
  setFail(true);
  clock.t += 900_000;
  t.is(await cache.get(pod, { expirationSeconds: 1000 }), 't1');
  clock.t += 100_000;
  await t.throwsAsync(cache.get(pod, { expirationSeconds: 1000 }), { message: /failed to fetch token for service account team\/builder: connection refused/ });
});

test('concurrent asks share one request; a gone pod is forgotten', async (t) => {
  const { calls, cache } = setup();
  const [a, b] = await Promise.all([cache.get(pod, { expirationSeconds: 3600 }), cache.get(pod, { expirationSeconds: 3600 })]);
  t.is(a, b);
  t.is(calls.length, 1);
  t.is(cache.size, 1);
  cache.forgetPod('u1');
  t.is(cache.size, 0);
});
