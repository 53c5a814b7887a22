// The cluster converges: a real `skiff server` (controllers and scheduler inside), simulated nodes
// from `skiff simulate` as separate processes, and the real kubectl. Placement strategies, an
// unschedulable pod's per-reason event, and failover when a node dies.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, skiffBin, type TestServer } from '../helpers/server.js';
import { waitFor as waitForCondition } from '../helpers/wait.js';

let srv: TestServer;
let work: string;
const sims = new Map<string, ChildProcess>();

function simulate(prefix: string, nodes: number): ChildProcess {
  const p = spawn(
    process.execPath,
    [skiffBin, 'simulate', '--nodes', String(nodes), '--kubeconfig', srv.kubeconfig, '--name-prefix', prefix, '--cpu', '2', '--memory', '4Gi', '--heartbeat-interval', '1s', '--sim-start-delay', '50ms'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' } },
  );
  sims.set(prefix, p);
  return p;
}

async function stopSim(prefix: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const p = sims.get(prefix);
  if (!p) return;
  sims.delete(prefix);
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill(signal);
  });
}

// Polls every 200 ms.
function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>): Promise<T> {
  return waitForCondition(what, ms, fn, 200);
}

async function json(args: string[]): Promise<any> {
  const r = await srv.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function podsPerNode(selector: string): Promise<Map<string, number>> {
  const pods = await json(['get', 'pods', '-l', selector]);
  const m = new Map<string, number>();
  for (const p of pods.items) if (p.spec.nodeName && !p.metadata.deletionTimestamp) m.set(p.spec.nodeName, (m.get(p.spec.nodeName) ?? 0) + 1);
  return m;
}

function deployment(name: string, replicas: number, opts: { strategy?: string; cpu?: string } = {}): string {
  const annotations = opts.strategy ? `\n      annotations:\n        scheduler.skiff.dev/strategy: ${opts.strategy}` : '';
  const resources = opts.cpu ? `\n        resources:\n          requests:\n            cpu: ${opts.cpu}` : '';
  const p = join(work, `${name}.yaml`);
  writeFileSync(
    p,
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}${annotations}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: c\n        image: busybox${resources}\n`,
  );
  return p;
}

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'skiff-cluster-'));
  srv = await startServer({ args: ['--node-monitor-grace-period', '3s', '--default-unreachable-toleration', '2s'] });
  simulate('a-', 2);
  simulate('b-', 1);
  await waitFor('3 Ready nodes', 30_000, async () => {
    const nodes = await json(['get', 'nodes']);
    const ready = nodes.items.filter((n: any) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === 3;
  });
});

test.after.always(async () => {
  for (const p of [...sims.keys()]) await stopSim(p, 'SIGTERM');
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('spread places a Deployment of 6 as 2/2/2', async (t) => {
  const r = await srv.kubectl(['apply', '-f', deployment('spread', 6)]);
  t.is(r.code, 0, r.stderr);
  const m = await waitFor('6 spread pods bound', 30_000, async () => {
    const m = await podsPerNode('app=spread');
    return [...m.values()].reduce((a, b) => a + b, 0) === 6 && m;
  });
  t.deepEqual([...m.values()].sort(), [2, 2, 2]);
  const st = await srv.kubectl(['rollout', 'status', 'deploy/spread', '--timeout=60s']);
  t.is(st.code, 0, st.stderr);
  await srv.kubectl(['delete', 'deploy', 'spread', '--wait=true', '--timeout=60s']);
});

test.serial('binpack fills one node before the next', async (t) => {
  // 2 CPUs per node, 500m per pod: four pods fill a node.
  const r = await srv.kubectl(['apply', '-f', deployment('packed', 6, { strategy: 'binpack', cpu: '500m' })]);
  t.is(r.code, 0, r.stderr);
  const m = await waitFor('6 binpacked pods bound', 30_000, async () => {
    const m = await podsPerNode('app=packed');
    return [...m.values()].reduce((a, b) => a + b, 0) === 6 && m;
  });
  t.deepEqual([...m.values()].sort(), [2, 4]);
  await srv.kubectl(['delete', 'deploy', 'packed', '--wait=true', '--timeout=60s']);
});

test.serial('random places every pod', async (t) => {
  const r = await srv.kubectl(['apply', '-f', deployment('rnd', 6, { strategy: 'random' })]);
  t.is(r.code, 0, r.stderr);
  await waitFor('6 random pods bound', 30_000, async () => {
    const m = await podsPerNode('app=rnd');
    return [...m.values()].reduce((a, b) => a + b, 0) === 6;
  });
  t.pass();
  await srv.kubectl(['delete', 'deploy', 'rnd', '--wait=true', '--timeout=60s']);
});

test.serial('a pod asking for more than any node has stays Pending with the per-reason event', async (t) => {
  const p = join(work, 'big.yaml');
  writeFileSync(p, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests:\n        cpu: "16"\n');
  t.is((await srv.kubectl(['apply', '-f', p])).code, 0);
  const out = await waitFor('FailedScheduling event', 30_000, async () => {
    const r = await srv.kubectl(['describe', 'pod', 'big']);
    return /FailedScheduling/.test(r.stdout) && r.stdout;
  });
  t.regex(out, /0\/3 nodes are available: 3 Insufficient cpu/);
  const pod = await json(['get', 'pod', 'big']);
  t.is(pod.status.phase, 'Pending');
  t.truthy(pod.status.conditions.find((c: any) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'));
  await srv.kubectl(['delete', 'pod', 'big', '--wait=false']);
});

test.serial('failover: pods of a dead node are recreated on the others; the node comes back Ready', async (t) => {
  const r = await srv.kubectl(['apply', '-f', deployment('web', 6)]);
  t.is(r.code, 0, r.stderr);
  t.is((await srv.kubectl(['rollout', 'status', 'deploy/web', '--timeout=60s'])).code, 0);
  const before = await podsPerNode('app=web');
  t.true((before.get('b-0') ?? 0) > 0, `spread should have put pods on b-0: ${JSON.stringify([...before])}`);
  const killedAt = Date.now();
  await stopSim('b-');
  await waitFor('b-0 NotReady with the unreachable taint', 20_000, async () => {
    const n = await json(['get', 'node', 'b-0']);
    return n.spec.taints?.some((x: any) => x.key === 'node.kubernetes.io/unreachable');
  });
  const after = await waitFor('all 6 web pods on the live nodes and available', 60_000, async () => {
    const m = await podsPerNode('app=web');
    const d = await json(['get', 'deploy', 'web']);
    return !m.has('b-0') && [...m.values()].reduce((a, b) => a + b, 0) === 6 && d.status.availableReplicas === 6 && m;
  });
  t.log(`failover took ${Date.now() - killedAt} ms (grace 3 s + toleration 2 s)`);
  t.false(after.has('b-0'));
  const avail = (await json(['get', 'deploy', 'web'])).status.conditions.find((c: any) => c.type === 'Available');
  t.is(avail.status, 'True');
  simulate('b-', 1);
  await waitFor('b-0 Ready again', 30_000, async () => {
    const n = await json(['get', 'node', 'b-0']);
    return n.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True') && !n.spec.taints?.some((x: any) => x.key === 'node.kubernetes.io/unreachable');
  });
  t.pass();
});
