// What a running pod's changes do on the node, without an API server: volume refs and metadata
// changes, the container hash, the active deadline (worker with the simulated runtime), and the
// agent's watch-driven and periodic volume refreshes.
import test from 'ava';
import { containerHash } from '../../../kubelet/container-hash.js';
import { activeDeadlineLeftMs, buildPodStatus, DEADLINE_EXCEEDED } from '../../../kubelet/pod-status.js';
import { hasDownwardAPIVolume, podMetadataChanged, podVolumeObjectRefs, refKey, type ObjectRef } from '../../../kubelet/volumes/object-refs.js';
import { PodWorker } from '../../../kubelet/pod-worker.js';
import { NodeAgent } from '../../../kubelet/agent.js';
import { SimulatedRuntime } from '../../../kubelet/runtime/simulated.js';
import { SimulatedProber } from '../../../kubelet/prober/simulated.js';
import { PodAddressPool } from '../../../kubelet/network/pod-ips.js';
import { logger } from '../../../pkg/log/logger.js';
import type { KObject } from '../../../pkg/api/types.js';
import type { StatusManager } from '../../../kubelet/status-manager.js';
import type { RestClient } from '../../../pkg/client/rest.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function until(what: string, fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function pod(name: string, spec: Json = {}, meta: Json = {}): KObject {
  return {
    metadata: { name, namespace: 'ns1', uid: `uid-${name}`, ...meta },
    spec: { restartPolicy: 'Always', containers: [{ name: 'c', image: 'busybox' }], ...spec },
    status: { phase: 'Pending' },
  };
}

const volumes = [
  { name: 'a', configMap: { name: 'cm1' } },
  { name: 'b', secret: { secretName: 's1' } },
  { name: 'c', projected: { sources: [{ configMap: { name: 'cm1' } }, { configMap: { name: 'cm2' } }, { secret: { name: 's2' } }, { downwardAPI: { items: [] } }] } },
  { name: 'd', emptyDir: {} },
];

test('podVolumeObjectRefs: every ConfigMap and Secret the volumes show, once each', (t) => {
  const refs = podVolumeObjectRefs(pod('p', { volumes }));
  t.deepEqual(refs.map(refKey).sort(), ['configMap/ns1/cm1', 'configMap/ns1/cm2', 'secret/ns1/s1', 'secret/ns1/s2']);
  t.deepEqual(podVolumeObjectRefs(pod('q')), []);
});

test('hasDownwardAPIVolume and podMetadataChanged', (t) => {
  t.true(hasDownwardAPIVolume(pod('p', { volumes })));
  t.true(hasDownwardAPIVolume(pod('p', { volumes: [{ name: 'x', downwardAPI: { items: [] } }] })));
  t.false(hasDownwardAPIVolume(pod('p', { volumes: [volumes[0]] })));
  const a = pod('p', {}, { labels: { x: '1' }, annotations: { y: '2' } });
  t.false(podMetadataChanged(a, pod('p', {}, { labels: { x: '1' }, annotations: { y: '2' } })));
  t.true(podMetadataChanged(a, pod('p', {}, { labels: { x: '2' }, annotations: { y: '2' } })));
  t.true(podMetadataChanged(a, pod('p', {}, { labels: { x: '1' }, annotations: {} })));
  t.true(podMetadataChanged(a, pod('p', {}, { labels: { x: '1', z: '3' }, annotations: { y: '2' } })));
});

test('containerHash: key order and nulls do not count, the image does', (t) => {
  const h = containerHash({ name: 'c', image: 'busybox', command: ['sleep', '1'], env: null });
  t.is(h, containerHash({ command: ['sleep', '1'], image: 'busybox', name: 'c' }));
  t.not(h, containerHash({ name: 'c', image: 'busybox:1', command: ['sleep', '1'] }));
  t.regex(h, /^[0-9a-f]{16}$/);
});

test('activeDeadlineLeftMs counts from the start time', (t) => {
  const start = '2024-01-01T00:00:00Z';
  const t0 = Date.parse(start);
  t.is(activeDeadlineLeftMs(start, 10, t0 + 4000), 6000);
  t.is(activeDeadlineLeftMs(start, 10, t0 + 12_000), -2000);
  t.is(activeDeadlineLeftMs(start, undefined, t0), undefined);
  t.is(activeDeadlineLeftMs('not a time', 10, t0), undefined);
});

test('buildPodStatus with a failure: Failed with its reason and message, not ready', (t) => {
  const st = buildPodStatus({
    containers: [{ name: 'c', image: 'i', init: false, state: 'running', startedAt: '2024-01-01T00:00:00Z', restartCount: 0, ready: true, everStarted: true }],
    restartPolicy: 'Always',
    hostIP: '127.0.0.1',
    startTime: '2024-01-01T00:00:00Z',
    readinessGates: [],
    existingConditions: [],
    clock: { times: new Map() },
    failure: DEADLINE_EXCEEDED,
  });
  t.is(st.phase, 'Failed');
  t.is(st.reason, 'DeadlineExceeded');
  t.is(st.message, 'Pod was active on the node longer than the specified deadline');
  t.is((st.conditions as Json[]).find((c) => c.type === 'Ready')!.status, 'False');
});

function workerHarness(p: KObject, refresh?: (pod: KObject) => Promise<boolean>) {
  const statuses: Json[] = [];
  const events: string[] = [];
  const pool = new PodAddressPool('10.42.9.0/24');
  const worker = new PodWorker(p, {
    runtime: new SimulatedRuntime({ startDelayMs: 5, stopDelayMs: 5 }),
    prober: new SimulatedProber(),
    hostIP: '127.1.0.1',
    allocateIP: (uid) => pool.allocate(uid),
    reserveIP: (ip, uid) => pool.reserve(ip, uid),
    releaseIP: (uid) => pool.release(uid),
    reportStatus: (_p, s) => statuses.push(s),
    confirmDeletion: async () => undefined,
    restartBackoffMs: 20,
    log: logger('test'),
    event: (_p, type, reason, message) => events.push(`${type} ${reason} ${message}`),
    refreshVolumes: refresh,
  });
  return { worker, statuses, events, last: () => statuses[statuses.length - 1]! };
}

test('activeDeadlineSeconds: the pod fails with DeadlineExceeded and its containers end', async (t) => {
  const p = pod('dl', { activeDeadlineSeconds: 1 });
  const h = workerHarness(p);
  h.worker.start();
  await until('Running', () => h.last().phase === 'Running');
  await until('Failed', () => h.last().phase === 'Failed', 5000);
  t.is(h.last().reason, 'DeadlineExceeded');
  t.is(h.last().message, DEADLINE_EXCEEDED.message);
  await until('the container ended', () => h.last().containerStatuses[0].state.terminated !== undefined);
  t.is(h.last().phase, 'Failed');
  // The simulated runtime stops only whole pods: the container's end is unknown.
  t.like(h.last().containerStatuses[0].state.terminated, { exitCode: 137, reason: 'ContainerStatusUnknown' });
  t.false(h.last().containerStatuses[0].ready);
  t.true(h.events.some((e) => e === `Normal DeadlineExceeded ${DEADLINE_EXCEEDED.message}`));
  h.worker.abandon();
});

test('activeDeadlineSeconds set on a running pod ends it', async (t) => {
  const p = pod('dl2');
  const h = workerHarness(p);
  h.worker.start();
  await until('Running', () => h.last().phase === 'Running');
  h.worker.update({ ...p, spec: { ...(p.spec as Json), activeDeadlineSeconds: 1 }, status: h.last() });
  await until('Failed', () => h.last().phase === 'Failed', 5000);
  t.is(h.last().reason, 'DeadlineExceeded');
  h.worker.abandon();
});

test('a label change refreshes a pod with a downwardAPI volume; a failed refresh is one event per message', async (t) => {
  let calls = 0;
  let fail = false;
  const p = pod('dw', { volumes: [{ name: 'x', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }] }, { labels: { a: '1' } });
  const h = workerHarness(p, async () => {
    calls++;
    if (fail) throw new Error('MountVolume.SetUp failed for volume "x" : boom');
    return true;
  });
  h.worker.start();
  await until('Running', () => h.last().phase === 'Running');
  h.worker.update({ ...p, status: h.last() });
  t.is(calls, 0, 'no refresh when nothing it shows changed');
  h.worker.update({ ...p, metadata: { ...p.metadata, labels: { a: '2' } }, status: h.last() });
  await until('a refresh', () => calls === 1);
  fail = true;
  h.worker.refreshVolumes();
  await until('a failed refresh', () => h.events.some((e) => e.includes('FailedMount')));
  h.worker.refreshVolumes();
  await until('another refresh', () => calls === 3);
  await new Promise((r) => setImmediate(r));
  t.is(h.events.filter((e) => e.includes('FailedMount')).length, 1);
  t.is(h.last().phase, 'Running', 'the pod keeps running');
  h.worker.abandon();
});

test('the agent refreshes the pods that mount a changed object, and all of them periodically', async (t) => {
  const refreshed: string[] = [];
  const tracked = new Map<string, ObjectRef[]>();
  const statusManager = { set: () => undefined, forget: () => undefined } as unknown as StatusManager;
  const agent = new NodeAgent(
    { name: 'n1', address: '127.1.0.1' } as never,
    {
      client: {} as RestClient,
      runtime: new SimulatedRuntime({ startDelayMs: 5, stopDelayMs: 5 }),
      prober: new SimulatedProber(),
      statusManager,
      refreshVolumes: async (p) => {
        refreshed.push(p.metadata.name!);
        return false;
      },
      objectWatches: { track: (k, refs) => void tracked.set(k, refs), untrack: (k) => void tracked.delete(k), stop: () => undefined },
    },
    { leaseRenewIntervalMs: 3_600_000, leaseDurationSeconds: 40, nodeStatusIntervalMs: 3_600_000, restartBackoffMs: 20, volumeResyncMs: 3_600_000 },
  );
  agent.nodeChanged({ metadata: { name: 'n1' }, spec: { podCIDR: '10.42.10.0/24' } });
  const p1 = pod('p1', { nodeName: 'n1', volumes: [{ name: 'a', configMap: { name: 'cm1' } }] });
  const p2 = pod('p2', { nodeName: 'n1', volumes: [{ name: 'a', secret: { secretName: 's1' } }] });
  agent.podChanged(p1);
  agent.podChanged(p2);
  t.deepEqual(tracked.get('ns1/p1')?.map(refKey), ['configMap/ns1/cm1']);
  t.deepEqual(tracked.get('ns1/p2')?.map(refKey), ['secret/ns1/s1']);
  // The workers refresh only once their sandbox is up: wait for that through a refresh.
  await until('p1 refreshed on its ConfigMap', () => {
    agent.objectChanged({ kind: 'configMap', namespace: 'ns1', name: 'cm1' });
    return refreshed.includes('p1');
  });
  t.false(refreshed.includes('p2'));
  refreshed.length = 0;
  await until('both refreshed by the resync', () => {
    agent.resyncVolumes();
    return refreshed.includes('p1') && refreshed.includes('p2');
  });
  agent.podDeleted(p1);
  t.false(tracked.has('ns1/p1'));
  // A pod that ended needs no watches.
  agent.podChanged({ ...p2, status: { phase: 'Succeeded' } });
  t.false(tracked.has('ns1/p2'));
  agent.stop();
});
