// The pod worker's ephemeral containers with the simulated runtime: started when they appear on a
// running pod, reported apart from the regular containers, never restarted.
import test from 'ava';
import { PodWorker } from '../../../kubelet/pod-worker.js';
import { SimulatedRuntime } from '../../../kubelet/runtime/simulated.js';
import { SimulatedProber } from '../../../kubelet/prober/simulated.js';
import { PodAddressPool } from '../../../kubelet/network/pod-ips.js';
import { logger } from '../../../pkg/log/logger.js';
import type { KObject } from '../../../pkg/api/types.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function harness(pod: KObject) {
  const statuses: Json[] = [];
  const starts: string[] = [];
  const runtime = new SimulatedRuntime({ startDelayMs: 5, stopDelayMs: 5 });
  const startContainer = runtime.startContainer.bind(runtime);
  runtime.startContainer = (p, c, onExit, opts) => {
    starts.push(c.name);
    return startContainer(p, c, onExit, opts);
  };
  const pool = new PodAddressPool('10.42.9.0/24');
  const worker = new PodWorker(pod, {
    runtime,
    prober: new SimulatedProber(),
    hostIP: '127.1.0.1',
    allocateIP: (uid) => pool.allocate(uid),
    reserveIP: (ip, uid) => pool.reserve(ip, uid),
    releaseIP: (uid) => pool.release(uid),
    reportStatus: (_p, s) => statuses.push(s),
    confirmDeletion: async () => undefined,
    restartBackoffMs: 20,
    log: logger('test'),
  });
  return { worker, statuses, starts };
}

async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const last = (s: Json[]) => s[s.length - 1]!;
const eph = (st: Json, name: string): Json => ((st.ephemeralContainerStatuses as Json[] | undefined) ?? []).find((c) => c.name === name) as Json;

function pod(annotations?: Record<string, string>): KObject {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'uid-p', annotations },
    spec: { restartPolicy: 'Always', containers: [{ name: 'main', image: 'busybox' }] },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

function withEphemeral(p: KObject, name: string): KObject {
  const next = JSON.parse(JSON.stringify(p)) as KObject;
  const spec = next.spec as Json;
  spec.ephemeralContainers = [...(spec.ephemeralContainers ?? []), { name, image: 'busybox', targetContainerName: 'main' }];
  return next;
}

test('an ephemeral container added to a running pod runs and is reported in ephemeralContainerStatuses only', async (t) => {
  let p = pod();
  const h = harness(p);
  h.worker.start();
  await until(() => last(h.statuses).phase === 'Running' && last(h.statuses).containerStatuses[0].ready);
  t.is(last(h.statuses).ephemeralContainerStatuses, undefined);
  p = withEphemeral(p, 'dbg');
  h.worker.update(p);
  await until(() => !!eph(last(h.statuses), 'dbg')?.state.running);
  const st = last(h.statuses);
  t.is(st.containerStatuses.length, 1);
  t.like(eph(st, 'dbg'), { image: 'busybox', restartCount: 0, ready: false });
  t.truthy(eph(st, 'dbg').containerID);
  t.is(st.phase, 'Running');
  t.is(st.conditions.find((c: Json) => c.type === 'Ready').status, 'True');
  // The same pod again (and a label change) does not start it twice.
  h.worker.update(JSON.parse(JSON.stringify(p)));
  p = JSON.parse(JSON.stringify(p)) as KObject;
  p.metadata.labels = { poke: '1' };
  h.worker.update(p);
  p = withEphemeral(p, 'two');
  h.worker.update(p);
  await until(() => !!eph(last(h.statuses), 'two')?.state.running);
  t.deepEqual(h.starts, ['main', 'dbg', 'two']);
  h.worker.abandon();
});

test('an ephemeral container that exits is not restarted, while regular ones are', async (t) => {
  let p = pod({ 'sim.skiff.dev/run-seconds': '0.05', 'sim.skiff.dev/exit-code': '1' });
  const h = harness(p);
  h.worker.start();
  await until(() => last(h.statuses).phase === 'Running');
  p = withEphemeral(p, 'dbg');
  h.worker.update(p);
  await until(() => !!eph(last(h.statuses), 'dbg')?.state.terminated);
  t.like(eph(last(h.statuses), 'dbg').state.terminated, { exitCode: 1 });
  await until(() => last(h.statuses).containerStatuses[0].restartCount >= 2);
  const st = last(h.statuses);
  t.is(eph(st, 'dbg').restartCount, 0);
  t.truthy(eph(st, 'dbg').state.terminated);
  t.is(st.phase, 'Running');
  h.worker.abandon();
});

test('adopting a pod after an agent restart keeps an ended ephemeral container ended', async (t) => {
  const p = withEphemeral(pod(), 'dbg');
  p.status = {
    phase: 'Running',
    podIP: '10.42.9.5',
    qosClass: 'BestEffort',
    containerStatuses: [{ name: 'main', ready: true, restartCount: 0, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
    ephemeralContainerStatuses: [{ name: 'dbg', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: '2026-01-01T00:00:01Z' } } }],
  };
  const h = harness(p);
  h.worker.start();
  // main is asked for again (the runtime may have kept it); dbg ran once already.
  await until(() => h.starts.includes('main'));
  t.deepEqual(h.starts, ['main']);
  t.like(eph(last(h.statuses), 'dbg').state.terminated, { exitCode: 0, reason: 'Completed' });
  h.worker.abandon();
});
