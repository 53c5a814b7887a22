// The scheduler against a real `skiff server`: three Node objects made through the API (no agent),
// the scheduler running in this process under the kube-scheduler Lease, pods created through the
// API and checked with the API and kubectl.
import test from 'ava';
import { startServer, type TestServer } from '../helpers/server.js';
import { RestClient, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { ControllerManager } from '../../controllers/manager.js';
import { schedulerFactory, SCHEDULER_LEASE } from '../../controllers/scheduler/index.js';
import type { Node, Pod, PodSpec } from '../../controllers/scheduler/types.js';

let srv: TestServer;
let client: RestClient;
let manager: ControllerManager;
const NODES = ['node-a', 'node-b', 'node-c'];

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nodeObject(name: string): Node {
  const res = { cpu: '2', memory: '4Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: { capacity: res, allocatable: res, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

let nsCounter = 0;
async function namespace(): Promise<string> {
  const ns = `sched-${++nsCounter}`;
  await client.create(resourcePath(R.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

function podObject(name: string, spec: Partial<PodSpec> = {}, meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...meta },
    spec: { containers: [{ name: 'app', image: 'nginx' } as never], ...spec },
  };
}

function requests(cpu: string, memory: string): Partial<PodSpec> {
  return { containers: [{ name: 'app', image: 'nginx', resources: { requests: { cpu, memory } } } as never] };
}

async function createPods(ns: string, pods: Pod[]): Promise<void> {
  await Promise.all(pods.map((p) => client.create(resourcePath(R.pods, ns), p)));
}

async function listPods(ns: string): Promise<Pod[]> {
  return (await client.get<{ items: Pod[] }>(resourcePath(R.pods, ns))).items;
}

/** Waits until every pod of the namespace is bound; returns pods per node. */
async function placement(ns: string, expected: number): Promise<Record<string, string[]>> {
  const pods = await waitFor(`${expected} pods bound in ${ns}`, async () => {
    const items = await listPods(ns);
    return items.length === expected && items.every((p) => p.spec?.nodeName) && items;
  });
  const out: Record<string, string[]> = Object.fromEntries(NODES.map((n) => [n, []]));
  for (const p of pods) out[p.spec!.nodeName!]!.push(p.metadata.name!);
  return out;
}

const counts = (byNode: Record<string, string[]>) => Object.values(byNode).map((v) => v.length);

/** Removes a test's pods at once, so that the next test starts with empty nodes. */
async function cleanup(ns: string): Promise<void> {
  for (const p of await listPods(ns)) await client.delete(resourcePath(R.pods, ns, p.metadata.name), { gracePeriodSeconds: 0 });
  await waitFor(`pods of ${ns} gone`, async () => (await listPods(ns)).length === 0);
}

async function patchNode(name: string, patch: object): Promise<void> {
  await client.patch(resourcePath(R.nodes, undefined, name), patch, 'merge');
}

test.before(async () => {
  // The scheduler under test runs in this process, so the server runs no controllers of its own:
  // its scheduler would hold the lease, and its node lifecycle controller would taint these
  // agent-less nodes unreachable.
  srv = await startServer({ args: ['--disable-controllers'] });
  client = RestClient.fromKubeconfig(srv.kubeconfig, 'scheduler-test');
  for (const n of NODES) await client.create(resourcePath(R.nodes), nodeObject(n));
  manager = new ControllerManager(client, { leaseName: SCHEDULER_LEASE, factories: [schedulerFactory({ strategy: 'spread', flushIntervalMs: 2000 })] });
  manager.start();
  await waitFor('this process to lead the kube-scheduler lease', async () => manager.isLeader, 20_000);
});

test.after.always(async () => {
  await manager?.stop();
  client?.close();
  await srv?.stop();
});

test.serial('spread (the flag, via default-scheduler): 6 pods land 2/2/2, with Scheduled events', async (t) => {
  const ns = await namespace();
  try {
    await createPods(ns, Array.from({ length: 6 }, (_, i) => podObject(`web-${i}`)));
    t.deepEqual(counts(await placement(ns, 6)), [2, 2, 2]);
    const pod = (await listPods(ns))[0]!;
    const ev = await waitFor('a Scheduled event', async () => {
      const r = await srv.kubectl(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${pod.metadata.name},reason=Scheduled`, '-o', 'json']);
      const items = JSON.parse(r.stdout).items as { message: string; type: string; source: { component: string } }[];
      return items[0];
    });
    t.is(ev.message, `Successfully assigned ${ns}/${pod.metadata.name} to ${pod.spec!.nodeName}`);
    t.is(ev.type, 'Normal');
    t.is(ev.source.component, 'default-scheduler');
    // The binding subresource marks the pod scheduled.
    t.is(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
  } finally {
    await cleanup(ns);
  }
});

test.serial('binpack (profile skiff-binpack) with requests fills one node before the next', async (t) => {
  const ns = await namespace();
  await createPods(ns, Array.from({ length: 6 }, (_, i) => podObject(`batch-${i}`, { ...requests('500m', '512Mi'), schedulerName: 'skiff-binpack' })));
  t.deepEqual(counts(await placement(ns, 6)).sort(), [0, 2, 4]);
  await cleanup(ns);
});

test.serial('random (profile skiff-random) places every pod', async (t) => {
  const ns = await namespace();
  await createPods(ns, Array.from({ length: 12 }, (_, i) => podObject(`r-${i}`, { schedulerName: 'skiff-random' })));
  const byNode = await placement(ns, 12);
  t.is(counts(byNode).reduce((a, b) => a + b, 0), 12);
  await cleanup(ns);
});

test.serial('the annotation overrides the strategy of the profile', async (t) => {
  const ns = await namespace();
  const ann = { annotations: { 'scheduler.skiff.dev/strategy': 'binpack' } };
  await createPods(ns, Array.from({ length: 4 }, (_, i) => podObject(`packed-${i}`, requests('250m', '256Mi'), ann)));
  t.deepEqual(counts(await placement(ns, 4)).sort(), [0, 0, 4]);
  await cleanup(ns);
});

test.serial('a pod too big for any node stays Pending with PodScheduled=False and per-reason counts', async (t) => {
  await patchNode('node-c', { spec: { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] } });
  const ns = await namespace();
  try {
    await createPods(ns, [podObject('huge', requests('3', '1Gi'))]);
    const want = '0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, 2 Insufficient cpu.';
    const cond = await waitFor('PodScheduled=False', async () => {
      const p = await client.get<Pod>(resourcePath(R.pods, ns, 'huge'));
      const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return c?.status === 'False' && c.message === want && c;
    });
    t.is(cond.reason, 'Unschedulable');
    const pod = await client.get<Pod>(resourcePath(R.pods, ns, 'huge'));
    t.falsy(pod.spec?.nodeName);
    t.is(pod.status?.phase, 'Pending');
    const out = await waitFor('FailedScheduling in kubectl describe', async () => {
      const r = await srv.kubectl(['describe', 'pod', 'huge', '-n', ns]);
      return /FailedScheduling/.test(r.stdout) && r.stdout;
    });
    t.regex(out, /Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: infra\}, 2 Insufficient cpu\./);
    t.regex(out, /PodScheduled\s+False/);

    // A taint without toleration excludes its node; with the toleration the node is used again.
    const spread = await namespace();
    await createPods(spread, Array.from({ length: 4 }, (_, i) => podObject(`s-${i}`)));
    const byNode = await placement(spread, 4);
    t.deepEqual(byNode['node-c'], []);
    t.deepEqual(counts(byNode), [2, 2, 0]);
    await createPods(spread, [podObject('tolerant', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }] })]);
    t.deepEqual((await placement(spread, 5))['node-c'], ['tolerant']);
    await cleanup(spread);
  } finally {
    await patchNode('node-c', { spec: { taints: null } });
    await cleanup(ns);
  }
});

test.serial('nodeSelector, and a waiting pod is retried when a node gets the label', async (t) => {
  await patchNode('node-b', { metadata: { labels: { disk: 'ssd' } } });
  const ns = await namespace();
  try {
    await createPods(ns, Array.from({ length: 3 }, (_, i) => podObject(`ssd-${i}`, { nodeSelector: { disk: 'ssd' } })));
    t.deepEqual((await placement(ns, 3))['node-b']!.length, 3);
    await createPods(ns, [podObject('gpu', { nodeSelector: { gpu: 'yes' } })]);
    await waitFor('gpu pod unschedulable', async () => {
      const p = await client.get<Pod>(resourcePath(R.pods, ns, 'gpu'));
      return p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message === "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.";
    });
    await patchNode('node-a', { metadata: { labels: { gpu: 'yes' } } });
    const bound = await waitFor('gpu pod bound after the label appears', async () => {
      const p = await client.get<Pod>(resourcePath(R.pods, ns, 'gpu'));
      return p.spec?.nodeName;
    });
    t.is(bound, 'node-a');
  } finally {
    await patchNode('node-b', { metadata: { labels: { disk: null } } });
    await patchNode('node-a', { metadata: { labels: { gpu: null } } });
    await cleanup(ns);
  }
});

test.serial('pod anti-affinity on hostname: one per node, the fourth waits and is retried when one goes', async (t) => {
  const ns = await namespace();
  const anti: Partial<PodSpec> = {
    affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' }] } },
    schedulerName: 'skiff-binpack',
  };
  try {
    await createPods(ns, Array.from({ length: 3 }, (_, i) => podObject(`db-${i}`, anti, { labels: { app: 'db' } })));
    t.deepEqual(counts(await placement(ns, 3)), [1, 1, 1]);
    await createPods(ns, [podObject('db-3', anti, { labels: { app: 'db' } })]);
    await waitFor('db-3 unschedulable', async () => {
      const p = await client.get<Pod>(resourcePath(R.pods, ns, 'db-3'));
      return p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message === "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.";
    });
    const victim = (await listPods(ns)).find((p) => p.metadata.name === 'db-0')!;
    await client.delete(resourcePath(R.pods, ns, 'db-0'), { gracePeriodSeconds: 0 });
    const node = await waitFor('db-3 bound once db-0 is gone', async () => (await client.get<Pod>(resourcePath(R.pods, ns, 'db-3'))).spec?.nodeName);
    t.is(node, victim.spec!.nodeName!);
  } finally {
    await cleanup(ns);
  }
});

test.serial('pods of other schedulers are left alone', async (t) => {
  const ns = await namespace();
  // Created first: the queue is FIFO, so once the second is bound the first has been seen.
  await createPods(ns, [podObject('theirs', { schedulerName: 'other-scheduler' })]);
  await createPods(ns, [podObject('ours')]);
  await waitFor('our pod bound', async () => (await client.get<Pod>(resourcePath(R.pods, ns, 'ours'))).spec?.nodeName);
  const theirs = await client.get<Pod>(resourcePath(R.pods, ns, 'theirs'));
  t.falsy(theirs.spec?.nodeName);
  t.falsy(theirs.status?.conditions?.find((c) => c.type === 'PodScheduled'));
  await cleanup(ns);
});
