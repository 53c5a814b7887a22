// Deployment arithmetic: fenceposts and their rounding, the new RS's next size, the template
// hash, the equality that finds the new RS, deletion ranking, expectations and conditions.
import test from 'ava';
import { resolveFenceposts, scaledValue } from '../../../controllers/common/int-or-percent.js';
import { computeTemplateHash, fnv32a } from '../../../controllers/common/hash.js';
import { Expectations } from '../../../controllers/common/expectations.js';
import { rankPodsForDeletion } from '../../../controllers/common/pods.js';
import { slowStartBatch } from '../../../controllers/common/slow-start.js';
import { equalIgnoreHash, findNewReplicaSet, maxSurge, maxUnavailable, newRSNewReplicas, replicaSetFraction } from '../../../controllers/deployment/util.js';
import { calculateStatus, deploymentTimedOut, updateProgressing } from '../../../controllers/deployment/deployment-status.js';
import type { Deployment } from '../../../controllers/deployment/types.js';
import type { ReplicaSet } from '../../../controllers/replicaset/types.js';
import type { KObject } from '../../../pkg/api/types.js';

const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } };

function deployment(replicas: number, surge: number | string = '25%', unavailable: number | string = '25%'): Deployment {
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'd1', generation: 1 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } }, progressDeadlineSeconds: 600 },
  };
}

function rs(name: string, replicas: number, opts: { status?: number; available?: number; created?: string; image?: string } = {}): ReplicaSet {
  return {
    metadata: { name, namespace: 'ns', creationTimestamp: opts.created ?? '2024-01-01T00:00:00Z', annotations: { 'deployment.kubernetes.io/max-replicas': '4' } },
    spec: { replicas, template: { ...template, spec: { containers: [{ name: 'c', image: opts.image ?? 'nginx:1' }] } } },
    status: { replicas: opts.status ?? replicas, availableReplicas: opts.available ?? replicas },
  };
}

test('percentages: surge rounds up, unavailable rounds down; both zero means one unavailable', (t) => {
  t.deepEqual(resolveFenceposts('25%', '25%', 10), [3, 2]);
  t.deepEqual(resolveFenceposts('25%', '25%', 3), [1, 0]);
  t.deepEqual(resolveFenceposts(0, 0, 5), [0, 1]);
  t.deepEqual(resolveFenceposts('0%', '10%', 5), [0, 1]);
  t.is(scaledValue('50%', 5, true), 3);
  t.is(scaledValue('50%', 5, false), 2);
  t.is(scaledValue(2, 5, false), 2);
  t.throws(() => scaledValue('abc', 5, true));
  t.is(maxUnavailable(deployment(2, 0, 5)), 2, 'never more than the replicas');
  t.is(maxSurge({ ...deployment(3), spec: { ...deployment(3).spec, strategy: { type: 'Recreate' } } }), 0);
});

test('the new RS grows only within replicas + maxSurge, counting pods an old RS has not removed yet', (t) => {
  const d = deployment(3, 1, 0);
  const old = rs('old', 3);
  const nu = rs('new', 0, { image: 'nginx:2' });
  t.is(newRSNewReplicas(d, [old, nu], nu), 1);
  // Old RS asked for 2 but still reports 3 pods: no room yet.
  const shrinking = rs('old', 2, { status: 3, available: 3 });
  const nu1 = rs('new', 1, { image: 'nginx:2' });
  t.is(newRSNewReplicas(d, [shrinking, nu1], nu1), 1);
  const shrunk = rs('old', 2, { status: 2, available: 2 });
  t.is(newRSNewReplicas(d, [shrunk, nu1], nu1), 2);
  t.is(newRSNewReplicas(deployment(10), [rs('old', 10), rs('new', 0)], rs('new', 0)), 3);
});

test('the template hash is stable, key-order independent, and changes with the collision count', (t) => {
  const a = computeTemplateHash({ spec: { x: 1, y: [1, 2] }, metadata: { labels: { a: 'b' } } });
  const b = computeTemplateHash({ metadata: { labels: { a: 'b' } }, spec: { y: [1, 2], x: 1 } });
  t.is(a, b);
  t.regex(a, /^[bcdfghjklmnpqrstvwxz2456789]+$/);
  t.not(computeTemplateHash(template, 1), computeTemplateHash(template));
  t.not(computeTemplateHash(template, 1), computeTemplateHash(template, 2));
  // FNV-1a 32 reference value for "a".
  t.is(fnv32a(Buffer.from('a')), 0xe40c292c);
});

test('the new RS is found ignoring the hash label and explicit nulls', (t) => {
  const d = deployment(3);
  const withHash = rs('web-abc', 3);
  withHash.spec.template = { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } }, spec: template.spec };
  const copied = { metadata: { labels: { app: 'web' }, creationTimestamp: null } as never, spec: template.spec };
  t.true(equalIgnoreHash(withHash.spec.template, copied));
  t.is(findNewReplicaSet(d, [rs('other', 1, { image: 'nginx:9' }), withHash]), withHash);
  t.is(findNewReplicaSet(d, [rs('other', 1, { image: 'nginx:9' })]), undefined);
});

test('proportional scaling shares follow each RS size against its recorded max', (t) => {
  const d = deployment(6, 1, 0); // target 6 + 1 = 7, annotated max was 4
  t.is(replicaSetFraction(rs('a', 2), d), Math.round((2 * 7) / 4) - 2);
  t.is(replicaSetFraction(rs('a', 2), deployment(0)), -2);
});

test('pods to delete first: unscheduled, pending, not ready, then the newest', (t) => {
  const pod = (name: string, o: { node?: string; phase?: string; ready?: boolean; created?: string }): KObject => ({
    metadata: { name, creationTimestamp: o.created ?? '2024-01-01T00:00:00Z' },
    spec: o.node ? { nodeName: o.node } : {},
    status: { phase: o.phase ?? 'Running', conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }] },
  });
  const pods = [
    pod('ready-old', { node: 'n1', ready: true, created: '2024-01-01T00:00:00Z' }),
    pod('ready-new', { node: 'n2', ready: true, created: '2024-01-02T00:00:00Z' }),
    pod('notready', { node: 'n3', ready: false }),
    pod('pending', { node: 'n4', phase: 'Pending' }),
    pod('unscheduled', { phase: 'Pending' }),
  ];
  t.deepEqual(
    rankPodsForDeletion(pods, pods).map((p) => p.metadata.name),
    ['unscheduled', 'pending', 'notready', 'ready-new', 'ready-old'],
  );
});

test('expectations hold an owner until every creation and deletion is observed, and expire', (t) => {
  let now = 0;
  const e = new Expectations(1000, () => now);
  t.true(e.satisfied('a'));
  e.expectCreations('a', 2);
  t.false(e.satisfied('a'));
  e.creationObserved('a');
  t.false(e.satisfied('a'));
  e.creationObserved('a');
  t.true(e.satisfied('a'));
  e.expectDeletions('a', ['u1', 'u2']);
  e.deletionObserved('a', 'u1');
  e.deletionObserved('a', 'u1'); // the same pod seen terminating, then gone: counted once
  t.false(e.satisfied('a'));
  now = 2000;
  t.true(e.satisfied('a'), 'expired');
});

test('slow start: batches of 1, 2, 4, ... and a stop at the first failing batch', async (t) => {
  const calls: number[] = [];
  const r = await slowStartBatch(10, 1, async (i) => void calls.push(i));
  t.deepEqual(r, { succeeded: 10, errors: [] });
  t.is(calls.length, 10);
  let n = 0;
  const r2 = await slowStartBatch(20, 1, async () => {
    if (++n > 3) throw new Error('quota');
  });
  // 1 + 2 succeed, the batch of 4 fails: 8+ are never tried.
  t.is(r2.succeeded, 3);
  t.is(r2.errors.length, 4);
});

test('status counts, Available by maxUnavailable, and Progressing through a rollout', (t) => {
  const d = deployment(3, 1, 1);
  const nu = rs('web-new', 2, { available: 1, image: 'nginx:2' });
  const old = rs('web-old', 1);
  const s = calculateStatus(d, [nu, old], nu);
  t.like(s, { replicas: 3, updatedReplicas: 2, availableReplicas: 2, unavailableReplicas: 1, observedGeneration: 1 });
  t.like(s.conditions!.find((c) => c.type === 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' });
  updateProgressing({ ...d, status: { updatedReplicas: 1 } }, s, nu);
  t.like(s.conditions!.find((c) => c.type === 'Progressing'), { status: 'True', reason: 'ReplicaSetUpdated', message: 'ReplicaSet "web-new" is progressing.' });

  const done = calculateStatus(d, [rs('web-new', 3, { image: 'nginx:2' })], rs('web-new', 3));
  updateProgressing(d, done, rs('web-new', 3));
  t.like(done.conditions!.find((c) => c.type === 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' });

  const stale = { conditions: [{ type: 'Progressing', status: 'True' as const, reason: 'ReplicaSetUpdated', lastUpdateTime: '2024-01-01T00:00:00Z' }] };
  t.true(deploymentTimedOut(d, stale, Date.parse('2024-01-01T00:10:01Z')));
  t.false(deploymentTimedOut(d, stale, Date.parse('2024-01-01T00:09:59Z')));
});
