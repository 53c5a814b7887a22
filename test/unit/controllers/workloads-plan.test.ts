// The decisions of the DaemonSet, Job, CronJob and StatefulSet controllers, driven with an
// injected clock and hand-made objects (no server).
import test from 'ava';
import type { KObject } from '../../../pkg/api/types.js';
import { planCronJob, jobNameFor, formatInZone } from '../../../controllers/cronjob/cronjob-plan.js';
import { planJob, formatIndexes, parseIndexes } from '../../../controllers/job/job-plan.js';
import { planDaemonSet, daemonSetHash } from '../../../controllers/daemonset/daemonset-plan.js';
import { eligibility } from '../../../controllers/daemonset/node-eligibility.js';
import { planStatefulSet, updateRevisionOf } from '../../../controllers/statefulset/statefulset-plan.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const T = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
let uid = 0;

function obj(kind: string, name: string, extra: Json = {}): KObject {
  return { apiVersion: 'v1', kind, metadata: { name, namespace: 'ns', uid: `uid-${name}-${uid++}`, creationTimestamp: '2024-01-01T00:00:00Z', ...(extra.metadata ?? {}) }, spec: extra.spec ?? {}, status: extra.status ?? {} };
}

function pod(name: string, phase: string, extra: Json = {}): KObject {
  const ready = extra.ready ?? phase === 'Running';
  const p = obj('Pod', name, { ...extra, status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }], ...(extra.status ?? {}) } });
  return p;
}

// ---- CronJob ----

function cronJob(spec: Json, status: Json = {}, created = '2024-01-10T10:00:30Z'): KObject {
  return obj('CronJob', 'cj', { metadata: { creationTimestamp: created }, spec: { concurrencyPolicy: 'Allow', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, jobTemplate: { spec: { template: { spec: { containers: [] } } } }, ...spec }, status });
}

function finishedJob(name: string, type: 'Complete' | 'Failed', at: string): KObject {
  return obj('Job', name, { status: { completionTime: type === 'Complete' ? at : undefined, startTime: at, conditions: [{ type, status: 'True', lastTransitionTime: at }] } });
}

test('cronjob: nothing is due before the first scheduled time; it wakes up then', (t) => {
  const plan = planCronJob(cronJob({ schedule: '*/5 * * * *' }), [], T('2024-01-10T10:04:00Z'));
  t.is(plan.create, undefined);
  t.is(plan.requeueAfterMs, 60_000 + 100);
});

test('cronjob: a due run creates the Job named by its scheduled minute', (t) => {
  const now = T('2024-01-10T10:05:02Z');
  const plan = planCronJob(cronJob({ schedule: '*/5 * * * *', jobTemplate: { metadata: { labels: { a: 'b' } }, spec: { template: {} } } }), [], now);
  const job = plan.create!.job;
  t.is(job.metadata.name, jobNameFor('cj', new Date('2024-01-10T10:05:00Z')));
  t.is(job.metadata.name, `cj-${T('2024-01-10T10:05:00Z') / 60000}`);
  t.is(job.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp'], '2024-01-10T10:05:00Z');
  t.deepEqual(job.metadata.labels, { a: 'b' });
  t.is(job.metadata.ownerReferences![0].kind, 'CronJob');
  t.is(job.metadata.ownerReferences![0].controller, true);
  t.is(plan.status.lastScheduleTime, '2024-01-10T10:05:00Z');
  t.is(plan.requeueAfterMs, T('2024-01-10T10:10:00Z') - now + 100);
});

test('cronjob: a run already made is not made again', (t) => {
  const plan = planCronJob(cronJob({ schedule: '*/5 * * * *' }, { lastScheduleTime: '2024-01-10T10:05:00Z' }), [], T('2024-01-10T10:07:00Z'));
  t.is(plan.create, undefined);
});

test('cronjob: Forbid waits for the running Job; Replace deletes it', (t) => {
  const running = obj('Job', 'cj-old', { status: { active: 1 } });
  const status = { lastScheduleTime: '2024-01-10T10:00:00Z', active: [{ name: 'cj-old', uid: running.metadata.uid }] };
  const now = T('2024-01-10T10:05:01Z');
  const forbid = planCronJob(cronJob({ schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid' }, status), [running], now);
  t.is(forbid.create, undefined);
  t.true(forbid.events.some((e) => e.reason === 'JobAlreadyActive'));
  t.is(forbid.status.lastScheduleTime, '2024-01-10T10:00:00Z');
  const replace = planCronJob(cronJob({ schedule: '*/5 * * * *', concurrencyPolicy: 'Replace' }, status), [running], now);
  t.truthy(replace.create);
  t.deepEqual(replace.delete, [running]);
  const allow = planCronJob(cronJob({ schedule: '*/5 * * * *' }, status), [running], now);
  t.truthy(allow.create);
  t.deepEqual(allow.delete, []);
});

test('cronjob: startingDeadlineSeconds skips a run that is too late', (t) => {
  const plan = planCronJob(cronJob({ schedule: '*/5 * * * *', startingDeadlineSeconds: 10 }, { lastScheduleTime: '2024-01-10T10:00:00Z' }), [], T('2024-01-10T10:05:30Z'));
  t.is(plan.create, undefined);
  // The run at 10:05 is older than the deadline window, so it is not even considered missed.
  const late = planCronJob(cronJob({ schedule: '*/5 * * * *', startingDeadlineSeconds: 60 }, { lastScheduleTime: '2024-01-10T10:00:00Z' }), [], T('2024-01-10T10:05:30Z'));
  t.truthy(late.create);
});

test('cronjob: the schedule is read in spec.timeZone', (t) => {
  const plan = planCronJob(cronJob({ schedule: '0 9 * * *', timeZone: 'Europe/Berlin' }, {}, '2024-01-10T00:00:00Z'), [], T('2024-01-10T08:00:05Z'));
  t.is(plan.create!.scheduledTime.toISOString(), '2024-01-10T08:00:00.000Z');
  t.is(plan.create!.job.metadata.annotations!['batch.kubernetes.io/cronjob-scheduled-timestamp'], '2024-01-10T09:00:00+01:00');
  t.is(formatInZone(new Date('2024-07-01T12:00:00Z'), 'America/New_York'), '2024-07-01T08:00:00-04:00');
});

test('cronjob: suspend creates nothing; finished Jobs leave status.active and are trimmed to the limits', (t) => {
  t.is(planCronJob(cronJob({ schedule: '* * * * *', suspend: true }), [], T('2024-01-10T11:00:00Z')).create, undefined);
  const done = ['01', '02', '03', '04', '05'].map((m) => finishedJob(`cj-${m}`, 'Complete', `2024-01-10T10:${m}:30Z`));
  const failed = ['06', '07'].map((m) => finishedJob(`cj-${m}`, 'Failed', `2024-01-10T10:${m}:30Z`));
  const plan = planCronJob(cronJob({ schedule: '0 0 1 1 *' }, { active: [{ name: 'cj-05', uid: done[4].metadata.uid }] }), [...done, ...failed], T('2024-01-10T10:08:00Z'));
  t.deepEqual(
    plan.delete.map((j) => j.metadata.name),
    ['cj-01', 'cj-02', 'cj-06'],
  );
  t.is(plan.status.active, undefined);
  t.is(plan.status.lastSuccessfulTime, '2024-01-10T10:05:30Z');
  t.true(plan.events.some((e) => e.reason === 'SawCompletedJob'));
});

// ---- Job ----

function job(spec: Json, status: Json = {}): KObject {
  return obj('Job', 'work', { spec: { parallelism: 1, completions: 1, backoffLimit: 6, completionMode: 'NonIndexed', template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } }, ...spec }, status });
}

const NOW = T('2024-01-01T01:00:00Z');

test('job: keeps parallelism pods, never more than the completions left', (t) => {
  t.is(planJob(job({ completions: 5, parallelism: 2 }), [], NOW).create.length, 2);
  const four = [1, 2, 3, 4].map((i) => pod(`s${i}`, 'Succeeded'));
  const plan = planJob(job({ completions: 5, parallelism: 2 }), [...four, pod('a', 'Running')], NOW);
  t.is(plan.create.length, 0);
  t.is(plan.status.active, 1);
  t.is(plan.status.succeeded, 4);
  const extra = planJob(job({ completions: 5, parallelism: 2 }), [...four, pod('a', 'Running'), pod('b', 'Pending')], NOW);
  t.deepEqual(
    extra.delete.map((p) => p.metadata.name),
    ['b'],
  );
});

test('job: completes with SuccessCriteriaMet and Complete', (t) => {
  const plan = planJob(job({ completions: 2 }), [pod('a', 'Succeeded'), pod('b', 'Succeeded')], NOW);
  const types = (plan.status.conditions as Json[]).filter((c) => c.status === 'True').map((c) => c.type);
  t.deepEqual(types, ['SuccessCriteriaMet', 'Complete']);
  t.is(plan.status.completionTime, iso(NOW));
  t.true(plan.events.some((e) => e.reason === 'Completed'));
});

test('job: failures past backoffLimit fail it and remove the running pods', (t) => {
  const running = pod('r', 'Running');
  const plan = planJob(job({ backoffLimit: 1, parallelism: 2, completions: 3 }), [pod('f1', 'Failed'), pod('f2', 'Failed'), running], NOW);
  const failed = (plan.status.conditions as Json[]).find((c) => c.type === 'Failed')!;
  t.is(failed.reason, 'BackoffLimitExceeded');
  t.true((plan.status.conditions as Json[]).some((c) => c.type === 'FailureTarget' && c.status === 'True'));
  t.deepEqual(plan.delete, [running]);
  t.is(plan.create.length, 0);
  t.is(plan.status.failed, 2);
});

test('job: a failed pod is retried after the back-off delay', (t) => {
  const f = pod('f1', 'Failed', { status: { containerStatuses: [{ name: 'c', state: { terminated: { exitCode: 1, finishedAt: iso(NOW - 2000) } } }] } });
  const early = planJob(job({ backoffLimit: 3 }, { startTime: iso(NOW - 5000) }), [f], NOW, { backoffBaseMs: 10_000 });
  t.is(early.create.length, 0);
  t.is(early.requeueAfterMs, 8000);
  const later = planJob(job({ backoffLimit: 3 }, { startTime: iso(NOW - 5000) }), [f], NOW + 8000, { backoffBaseMs: 10_000 });
  t.is(later.create.length, 1);
});

test('job: activeDeadlineSeconds fails it with DeadlineExceeded', (t) => {
  const plan = planJob(job({ activeDeadlineSeconds: 30 }, { startTime: iso(NOW - 31_000) }), [pod('a', 'Running')], NOW);
  t.is((plan.status.conditions as Json[]).find((c) => c.type === 'Failed')!.reason, 'DeadlineExceeded');
  t.is(plan.delete.length, 1);
  const before = planJob(job({ activeDeadlineSeconds: 30 }, { startTime: iso(NOW - 10_000) }), [pod('a', 'Running')], NOW);
  t.is(before.requeueAfterMs, 20_000);
});

test('job: suspend removes running pods and says so; resume restarts the clock', (t) => {
  const plan = planJob(job({ suspend: true }, { startTime: iso(NOW - 60_000) }), [pod('a', 'Running')], NOW);
  t.is(plan.delete.length, 1);
  t.true((plan.status.conditions as Json[]).some((c) => c.type === 'Suspended' && c.status === 'True'));
  const resumed = planJob(job({}, plan.status), [], NOW + 1000);
  t.is(resumed.status.startTime, iso(NOW + 1000));
  t.true((resumed.status.conditions as Json[]).some((c) => c.type === 'Suspended' && c.status === 'False'));
  t.is(resumed.create.length, 1);
});

test('job: Indexed jobs run each index once and report completedIndexes', (t) => {
  const idx = (name: string, phase: string, i: number) => pod(name, phase, { metadata: { annotations: { 'batch.kubernetes.io/job-completion-index': String(i) } } });
  const plan = planJob(job({ completionMode: 'Indexed', completions: 4, parallelism: 2 }), [idx('a', 'Succeeded', 0), idx('b', 'Running', 1)], NOW);
  t.deepEqual(plan.create, [2]);
  t.is(plan.status.completedIndexes, '0');
  t.is(formatIndexes([0, 1, 2, 5, 7, 8]), '0-2,5,7-8');
  t.deepEqual([...parseIndexes('0-2,5')], [0, 1, 2, 5]);
});

// ---- DaemonSet ----

function node(name: string, extra: Json = {}): KObject {
  return obj('Node', name, { metadata: { namespace: undefined, labels: extra.labels ?? {} }, spec: { taints: extra.taints ?? [] } });
}

function daemonSet(spec: Json = {}): KObject {
  return obj('DaemonSet', 'ds', { metadata: { generation: 1 }, spec: { selector: { matchLabels: { a: 'b' } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } }, ...spec } });
}

function daemonPod(ds: KObject, nodeName: string, hash = daemonSetHash(ds), phase = 'Running'): KObject {
  return pod(`ds-${nodeName}-${uid}`, phase, { metadata: { labels: { a: 'b', 'controller-revision-hash': hash } }, spec: { nodeName } });
}

test('daemonset: eligibility follows nodeSelector, required affinity and taints', (t) => {
  const spec = { nodeSelector: { disk: 'ssd' } };
  t.true(eligibility(spec, node('a', { labels: { disk: 'ssd' } })).shouldRun);
  t.false(eligibility(spec, node('b')).shouldRun);
  const affinity = { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] }] } } } };
  t.true(eligibility(affinity, node('a', { labels: { zone: 'z1' } })).shouldRun);
  t.false(eligibility(affinity, node('a', { labels: { zone: 'z2' } })).shouldRun);
  const noSchedule = eligibility({}, node('c', { taints: [{ key: 'k', effect: 'NoSchedule' }] }));
  t.deepEqual(noSchedule, { shouldRun: false, shouldContinueRunning: true });
  t.deepEqual(eligibility({}, node('c', { taints: [{ key: 'k', effect: 'NoExecute' }] })), { shouldRun: false, shouldContinueRunning: false });
  // The taints daemon pods tolerate on their own.
  t.true(eligibility({}, node('d', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }, { key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' }] })).shouldRun);
  t.true(eligibility({ tolerations: [{ key: 'k', operator: 'Exists' }] }, node('c', { taints: [{ key: 'k', value: 'v', effect: 'NoExecute' }] })).shouldRun);
});

test('daemonset: a pod per eligible node, none elsewhere, one per node', (t) => {
  const ds = daemonSet();
  const nodes = [node('a'), node('b'), node('c', { taints: [{ key: 'k', effect: 'NoExecute' }] })];
  const onC = daemonPod(ds, 'c');
  const onB1 = daemonPod(ds, 'b');
  const onB2 = daemonPod(ds, 'b');
  onB2.metadata.creationTimestamp = '2024-01-02T00:00:00Z';
  const plan = planDaemonSet(ds, nodes, [onC, onB1, onB2], NOW);
  t.deepEqual(plan.create, ['a']);
  t.deepEqual(plan.delete.map((p) => p.metadata.name).sort(), [onC, onB2].map((p) => p.metadata.name).sort());
  t.is(plan.status.desiredNumberScheduled, 2);
  t.is(plan.status.currentNumberScheduled, 1);
  t.is(plan.status.numberMisscheduled, 1);
});

test('daemonset: rolling update replaces within maxUnavailable, counting nodes without a pod', (t) => {
  const ds = daemonSet();
  const nodes = [node('a'), node('b'), node('c')];
  const old = nodes.map((n) => daemonPod(ds, n.metadata.name!, 'old'));
  t.is(planDaemonSet(ds, nodes, old, NOW).delete.length, 1);
  // One node's old pod is on its way out: nothing more goes until its successor is available.
  const terminating = { ...old[0], metadata: { ...old[0].metadata, deletionTimestamp: iso(NOW) } };
  const plan = planDaemonSet(ds, nodes, [terminating, old[1], old[2]], NOW);
  t.deepEqual(plan.delete, []);
  t.deepEqual(plan.create, []);
  const pending = daemonPod(ds, 'a', undefined, 'Pending');
  t.deepEqual(planDaemonSet(ds, nodes, [pending, old[1], old[2]], NOW).delete, []);
  const twoUnavailable = daemonSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } });
  t.is(planDaemonSet(twoUnavailable, nodes, old, NOW).delete.length, 2);
  const onDelete = daemonSet({ updateStrategy: { type: 'OnDelete' } });
  t.is(planDaemonSet(onDelete, nodes, old, NOW).delete.length, 0);
});

test('daemonset: surge starts new pods beside old ones and removes the old once available', (t) => {
  const ds = daemonSet({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } } });
  const nodes = [node('a'), node('b')];
  const old = nodes.map((n) => daemonPod(ds, n.metadata.name!, 'old'));
  t.deepEqual(planDaemonSet(ds, nodes, old, NOW).create, ['a']);
  const fresh = daemonPod(ds, 'a');
  const plan = planDaemonSet(ds, nodes, [...old, fresh], NOW);
  t.deepEqual(plan.delete, [old[0]]);
});

// ---- StatefulSet ----

function sts(spec: Json = {}, status: Json = {}): KObject {
  return { ...obj('StatefulSet', 'web', { spec: { replicas: 3, podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } }, ...spec }, status }), metadata: { name: 'web', namespace: 'ns', uid: 'sts-uid', generation: 1 } };
}

function setPod(s: KObject, ord: number, phase = 'Running', rev = updateRevisionOf(s)): KObject {
  return pod(`web-${ord}`, phase, { metadata: { labels: { a: 'b', 'controller-revision-hash': rev } } });
}

test('statefulset: OrderedReady creates one ordinal at a time, after the previous is Ready', (t) => {
  const s = sts();
  t.deepEqual(planStatefulSet(s, [], NOW).create, [0]);
  t.deepEqual(planStatefulSet(s, [setPod(s, 0, 'Pending')], NOW).create, []);
  t.deepEqual(planStatefulSet(s, [setPod(s, 0)], NOW).create, [1]);
  t.deepEqual(planStatefulSet(sts({ podManagementPolicy: 'Parallel' }), [], NOW).create, [0, 1, 2]);
  const failed = setPod(s, 0, 'Failed');
  t.deepEqual(planStatefulSet(s, [failed], NOW).delete, [failed]);
});

test('statefulset: scale down removes the highest ordinal first, one at a time', (t) => {
  const s = sts({ replicas: 1 });
  const pods = [0, 1, 2].map((i) => setPod(s, i));
  t.deepEqual(
    planStatefulSet(s, pods, NOW).delete.map((p) => p.metadata.name),
    ['web-2'],
  );
  const p2 = { ...pods[2], metadata: { ...pods[2].metadata, deletionTimestamp: iso(NOW) } };
  t.deepEqual(planStatefulSet(s, [pods[0], pods[1], p2], NOW).delete, []);
  const parallel = sts({ replicas: 1, podManagementPolicy: 'Parallel' });
  t.is(planStatefulSet(parallel, pods.map((p) => ({ ...p })), NOW).delete.length, 2);
});

test('statefulset: rolling update goes from the highest ordinal down to the partition', (t) => {
  const s = sts({}, { currentRevision: 'web-old' });
  const pods = [0, 1, 2].map((i) => setPod(s, i, 'Running', 'web-old'));
  const plan = planStatefulSet(s, pods, NOW);
  t.deepEqual(
    plan.delete.map((p) => p.metadata.name),
    ['web-2'],
  );
  t.is(plan.status.currentRevision, 'web-old');
  t.is(plan.status.updateRevision, updateRevisionOf(s));
  const next = [pods[0], pods[1], setPod(s, 2)];
  t.deepEqual(
    planStatefulSet(s, next, NOW).delete.map((p) => p.metadata.name),
    ['web-1'],
  );
  const partitioned = sts({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } }, { currentRevision: 'web-old' });
  t.deepEqual(planStatefulSet(partitioned, [pods[0], pods[1], setPod(partitioned, 2)], NOW).delete, []);
  const done = planStatefulSet(s, [0, 1, 2].map((i) => setPod(s, i)), NOW);
  t.is(done.status.currentRevision, updateRevisionOf(s));
  t.is(done.status.currentReplicas, 3);
});
