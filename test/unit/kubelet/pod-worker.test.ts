// The pod worker with the simulated runtime, without an API server: the statuses it reports.
import test from 'ava';
import { PodWorker } from '../../../kubelet/pod-worker.js';
import { SimulatedRuntime } from '../../../kubelet/runtime/simulated.js';
import { SimulatedProber } from '../../../kubelet/prober/simulated.js';
import { PodAddressPool } from '../../../kubelet/network/pod-ips.js';
import { logger } from '../../../pkg/log/logger.js';
import type { KObject } from '../../../pkg/api/types.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function harness(pod: KObject, cidr: string | null = '10.42.7.0/24') {
  const statuses: Json[] = [];
  const deleted: string[] = [];
  let pool = cidr ? new PodAddressPool(cidr) : undefined;
  const worker = new PodWorker(pod, {
    runtime: new SimulatedRuntime({ startDelayMs: 10, stopDelayMs: 10 }),
    prober: new SimulatedProber(),
    hostIP: '127.1.0.1',
    allocateIP: (uid) => pool?.allocate(uid),
    reserveIP: (ip, uid) => pool?.reserve(ip, uid) ?? false,
    releaseIP: (uid) => pool?.release(uid),
    reportStatus: (_p, s) => statuses.push(s),
    confirmDeletion: async (p) => void deleted.push(p.metadata.uid!),
    restartBackoffMs: 20,
    log: logger('test'),
  });
  return { worker, statuses, deleted, setPool: (c: string) => (pool = new PodAddressPool(c)) };
}

async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pod(name: string, extra: Json = {}): KObject {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations: extra.annotations },
    spec: { restartPolicy: extra.restartPolicy ?? 'Always', containers: [{ name: 'c', image: 'busybox' }], ...(extra.spec ?? {}) },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

const last = (s: Json[]) => s[s.length - 1]!;

test('ContainerCreating, then Running and ready with an address', async (t) => {
  const h = harness(pod('a'));
  h.worker.start();
  t.is(h.statuses[0]!.phase, 'Pending');
  t.is(h.statuses[0]!.containerStatuses[0].state.waiting.reason, 'ContainerCreating');
  await until(() => last(h.statuses).phase === 'Running' && last(h.statuses).containerStatuses[0].ready);
  const st = last(h.statuses);
  t.is(st.podIP, '10.42.7.2');
  t.is(st.hostIP, '127.1.0.1');
  t.is(st.qosClass, 'BestEffort');
  t.true(st.conditions.some((c: Json) => c.type === 'Ready' && c.status === 'True'));
  t.true(st.containerStatuses[0].started);
});

test('a pod waits for the node pod CIDR', async (t) => {
  const h = harness(pod('b'), null);
  h.worker.start();
  await new Promise((r) => setTimeout(r, 50));
  t.is(last(h.statuses).phase, 'Pending');
  h.setPool('10.42.8.0/24');
  h.worker.networkReady();
  await until(() => last(h.statuses).phase === 'Running');
  t.is(last(h.statuses).podIP, '10.42.8.2');
});

test('exits: Never → Failed; OnFailure restarts until success', async (t) => {
  const failing = harness(pod('c', { restartPolicy: 'Never', annotations: { 'sim.skiff.dev/run-seconds': '0.02', 'sim.skiff.dev/exit-code': '2' } }));
  failing.worker.start();
  await until(() => last(failing.statuses).phase === 'Failed');
  t.like(last(failing.statuses).containerStatuses[0].state.terminated, { exitCode: 2, reason: 'Error' });
  t.false(last(failing.statuses).conditions.find((c: Json) => c.type === 'Ready').status === 'True');

  const onFailure = harness(pod('d', { restartPolicy: 'OnFailure', annotations: { 'sim.skiff.dev/run-seconds': '0.02', 'sim.skiff.dev/exit-code': '1' } }));
  onFailure.worker.start();
  await until(() => last(onFailure.statuses).containerStatuses[0].restartCount >= 2);
  t.is(last(onFailure.statuses).phase, 'Running');
  onFailure.worker.abandon();

  const ok = harness(pod('e', { restartPolicy: 'OnFailure', annotations: { 'sim.skiff.dev/run-seconds': '0.02' } }));
  ok.worker.start();
  await until(() => last(ok.statuses).phase === 'Succeeded');
  t.is(last(ok.statuses).containerStatuses[0].restartCount, 0);
});

test('readiness waits for the probe initial delay', async (t) => {
  const h = harness(pod('f', { spec: { containers: [{ name: 'c', image: 'x', readinessProbe: { initialDelaySeconds: 0.2 } }] } }));
  h.worker.start();
  await until(() => last(h.statuses).phase === 'Running');
  t.false(last(h.statuses).containerStatuses[0].ready);
  await until(() => last(h.statuses).containerStatuses[0].ready === true);
  t.pass();
});

test('deletionTimestamp: the worker stops the pod and confirms the deletion', async (t) => {
  const p = pod('g');
  const h = harness(p);
  h.worker.start();
  await until(() => last(h.statuses).phase === 'Running');
  h.worker.update({ ...p, metadata: { ...p.metadata, deletionTimestamp: new Date().toISOString(), deletionGracePeriodSeconds: 30 } });
  await until(() => h.deleted.length === 1);
  t.deepEqual(h.deleted, ['uid-g']);
});

test('bad simulation annotations show as CreateContainerError', async (t) => {
  const h = harness(pod('h', { annotations: { 'sim.skiff.dev/run-seconds': 'soon' } }));
  h.worker.start();
  await until(() => last(h.statuses).containerStatuses[0].state.waiting?.reason === 'CreateContainerError');
  t.regex(last(h.statuses).containerStatuses[0].state.waiting.message, /run-seconds/);
});
