// Scheduler figures, end to end through a real `skiff server`: 5,000 Node objects, then for each
// strategy 10,000 pods created as fast as 64 concurrent clients can while the scheduler (in this
// process, binding through the API) places them. Three figures per strategy: decisions alone
// against an in-memory cache; a backlog of pending pods bound by a scheduler that starts after
// them; and streaming, where pods are created while the scheduler runs, with creation→binding
// latency (from the create request being sent to the binding being acknowledged). Plus the
// server's RSS. Every phase has fresh pods in its own namespace and deletes them afterwards, so
// each sees 5,000 empty nodes. Each run has its own scheduler under its own Lease.
// Usage: node dist/test/perf/scheduler-bench.js [nodes] [pods]   (about 3-4 minutes)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startServer } from '../helpers/server.js';
import { RestClient, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { ControllerManager } from '../../controllers/manager.js';
import { Scheduler, type Strategy } from '../../controllers/scheduler/index.js';
import { SchedulerCache } from '../../controllers/scheduler/cache.js';
import { compilePlan } from '../../controllers/scheduler/filters.js';
import { selectNode } from '../../controllers/scheduler/strategies.js';
import type { Pod } from '../../controllers/scheduler/types.js';

const NODES = Number(process.argv[2] ?? 5000);
const PODS = Number(process.argv[3] ?? 10_000);
const CONCURRENCY = 64;
const TARGET = 1000;
const STRATEGIES: Strategy[] = ['spread', 'binpack', 'random'];
// Published, not measured here: kube-scheduler's end-to-end throughput on large clusters
// (SIG Scalability / scheduler_perf reports) is in the 100-300 pods/s range.
const PEER = 'kube-scheduler (published): ~100-300 pods/s end to end on large clusters';

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user+system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function waitFor(what: string, fn: () => boolean, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? ` (${detail()})` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function nodeObject(i: number) {
  const res = { cpu: '4', memory: '16Gi', pods: '110' };
  const name = `node-${String(i).padStart(5, '0')}`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
    spec: {},
    status: { capacity: res, allocatable: res, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function podObject(name: string, strategy: Strategy) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench', strategy } },
    spec: {
      schedulerName: `skiff-${strategy}`,
      containers: [{ name: 'app', image: 'registry.example/app:1.0', resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
    },
  };
}

/** Decisions alone, against an in-memory cache: what the scheduler can do when the API is not the limit. */
function decisionsOnly(strategy: Strategy): { rate: number; used: number; maxPerNode: number } {
  const cache = new SchedulerCache();
  for (let i = 0; i < NODES; i++) cache.upsertNode(nodeObject(i));
  const t0 = performance.now();
  for (let i = 0; i < PODS; i++) {
    const p = podObject(`pod-${i}`, strategy) as Pod;
    p.metadata.namespace = 'bench';
    p.metadata.uid = String(i);
    const plan = compilePlan(p, cache);
    const d = selectNode(plan, cache.nodeList(), strategy);
    if (!d.node) throw new Error(`pod-${i} did not fit`);
    plan.info.nodeName = d.node.name;
    cache.addPod(plan.info);
  }
  const rate = PODS / ((performance.now() - t0) / 1000);
  const loads = cache.nodeList().map((n) => n.podCount);
  return { rate, used: loads.filter((x) => x > 0).length, maxPerNode: Math.max(...loads) };
}

interface Run {
  manager: ControllerManager;
  scheduler: () => Scheduler | undefined;
  bound: Map<string, number>;
}

/** A scheduler in this process under its own Lease (one per run, so a new one never waits for the last). */
async function startScheduler(client: RestClient, lease: string): Promise<Run> {
  const bound = new Map<string, number>();
  let scheduler: Scheduler | undefined;
  const manager = new ControllerManager(client, {
    leaseName: lease,
    factories: [(ctx) => (scheduler = new Scheduler(ctx, { strategy: 'spread', onBound: (p: Pod) => bound.set(`${p.metadata.namespace}/${p.metadata.name}`, performance.now()) }))],
  });
  manager.start();
  return { manager, scheduler: () => scheduler, bound };
}

function stateOf(run: Run): string {
  const s = run.scheduler();
  if (!s) return `leader: ${run.manager.isLeader}, no scheduler yet`;
  return `leader: ${run.manager.isLeader}, bound ${run.bound.size}, ${s.describe()}`;
}

async function createPods(creator: RestClient, ns: string, strategy: Strategy, sent?: Map<string, number>): Promise<void> {
  await creator.create(resourcePath(R.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await pool(PODS, CONCURRENCY, async (i) => {
    const name = `pod-${i}`;
    sent?.set(`${ns}/${name}`, performance.now());
    await creator.create(resourcePath(R.pods, ns), podObject(name, strategy));
  });
}

/** Deletes a phase's pods one by one from 64 clients (a 10,000-pod deletecollection can outlast a request timeout). */
async function deletePods(client: RestClient, ns: string): Promise<void> {
  await pool(PODS, CONCURRENCY, async (i) => {
    await client.delete(resourcePath(R.pods, ns, `pod-${i}`), { gracePeriodSeconds: 0 });
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (n: number) => `target >= ${fmt(TARGET)}: ${n >= TARGET ? 'PASS' : 'MISS'}`;

async function main(): Promise<void> {
  const began = performance.now();
  console.log(`scheduler benchmark: ${fmt(NODES)} nodes, ${fmt(PODS)} pods per strategy and phase, ${cpus().length} CPUs, ${CONCURRENCY} concurrent creators, up to 64 bindings in flight`);
  console.log('\n1. decisions alone (in-memory cache, no API; every node filtered and scored, no sampling)');
  for (const strategy of STRATEGIES) {
    const r = decisionsOnly(strategy);
    console.log(`   ${strategy.padEnd(8)} ${fmt(r.rate).padStart(7)} pods/s   ${r.used} nodes used, at most ${r.maxPerNode} pods on one`);
  }

  // The scheduler measured is the one in this process: the server runs no controllers of its own
  // (its scheduler would compete, and its node lifecycle controller would taint these agent-less,
  // never-heartbeating nodes unreachable mid-run).
  const srv = await startServer({ args: ['--disable-controllers'] });
  const client = RestClient.fromKubeconfig(srv.kubeconfig, 'scheduler-bench');
  const creator = RestClient.fromKubeconfig(srv.kubeconfig, 'scheduler-bench-creator');
  const runs: Run[] = [];
  const summary: string[] = [];
  try {
    let t0 = performance.now();
    await pool(NODES, CONCURRENCY, async (i) => {
      await creator.create(resourcePath(R.nodes), nodeObject(i));
    });
    console.log(`\ncreated ${fmt(NODES)} Node objects in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    console.log('\n2. backlog: pods created first, then a scheduler starts (lists them and binds them all through the API)');
    for (const strategy of STRATEGIES) {
      const ns = `backlog-${strategy}`;
      t0 = performance.now();
      await createPods(creator, ns, strategy);
      const createdIn = (performance.now() - t0) / 1000;
      const cpu0 = [cpuSeconds(srv.proc.pid!), cpuSeconds(process.pid)];
      const start = performance.now();
      const run = await startScheduler(client, `bench-backlog-${strategy}`);
      runs.push(run);
      await waitFor(`${PODS} bindings (${strategy})`, () => run.bound.size >= PODS, 180_000, () => stateOf(run));
      const end = Math.max(...run.bound.values());
      const cpu = [cpuSeconds(srv.proc.pid!) - cpu0[0]!, cpuSeconds(process.pid) - cpu0[1]!];
      const rate = PODS / ((end - start) / 1000);
      console.log(
        `   ${strategy.padEnd(8)} ${fmt(rate).padStart(7)} pods/s (${verdict(rate)})   ${((end - start) / 1000).toFixed(1)} s from scheduler start to the last binding; ` +
          `pods created beforehand in ${createdIn.toFixed(1)} s; CPU s: server ${cpu[0]!.toFixed(1)}, scheduler ${cpu[1]!.toFixed(1)}`,
      );
      summary.push(`${strategy} backlog ${fmt(rate)} pods/s`);
      await run.manager.stop();
      runs.splice(runs.indexOf(run), 1);
      await deletePods(client, ns);
    }

    console.log('\n3. streaming: pods created by 64 concurrent clients while the scheduler runs (end to end, creation→binding latency)');
    for (const strategy of STRATEGIES) {
      const ns = `stream-${strategy}`;
      const run = await startScheduler(client, `bench-stream-${strategy}`);
      runs.push(run);
      await waitFor('the scheduler to see every node', () => run.scheduler()?.cache.nodeList().length === NODES, 60_000);
      const sent = new Map<string, number>();
      const cpu0 = [cpuSeconds(srv.proc.pid!), cpuSeconds(process.pid)];
      const start = performance.now();
      await createPods(creator, ns, strategy, sent);
      const created = performance.now();
      await waitFor(`${PODS} bindings (${strategy})`, () => run.bound.size >= PODS, 180_000, () => stateOf(run));
      const end = Math.max(...run.bound.values());
      const cpu = [cpuSeconds(srv.proc.pid!) - cpu0[0]!, cpuSeconds(process.pid) - cpu0[1]!];
      const lat = [...run.bound].map(([k, t]) => t - sent.get(k)!);
      const rate = PODS / ((end - start) / 1000);
      const loads = run.scheduler()!.cache.nodeList().map((n) => n.podCount);
      console.log(
        `   ${strategy.padEnd(8)} ${fmt(rate).padStart(7)} pods/s (${verdict(rate)})   creation→binding p50 ${fmt(percentile(lat, 50))} ms, p99 ${fmt(percentile(lat, 99))} ms; ` +
          `creating took ${((created - start) / 1000).toFixed(1)} s; ${loads.filter((x) => x > 0).length} nodes used, at most ${Math.max(...loads)} pods on one; ` +
          `CPU s: server ${cpu[0]!.toFixed(1)}, scheduler+creators ${cpu[1]!.toFixed(1)} over ${((end - start) / 1000).toFixed(1)} s`,
      );
      const truth = new Map<string, number>();
      for (const p of (await client.get<{ items: Pod[] }>(resourcePath(R.pods, ns))).items) truth.set(p.spec!.nodeName!, (truth.get(p.spec!.nodeName!) ?? 0) + 1);
      console.log(`      per the API: ${truth.size} nodes used, at most ${Math.max(...truth.values())} pods on one; scheduler: ${run.scheduler()!.describe()}`);
      summary.push(`${strategy} streaming ${fmt(rate)} pods/s p99 ${fmt(percentile(lat, 99))} ms`);
      if (strategy === STRATEGIES[STRATEGIES.length - 1]) {
        console.log(`\nserver RSS with ${fmt(NODES)} nodes and ${fmt(PODS)} pods: ${rssMiB(srv.proc.pid!).toFixed(0)} MiB; this process (scheduler + load generator): ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
      }
      await run.manager.stop();
      runs.splice(runs.indexOf(run), 1);
      await deletePods(client, ns);
    }
    console.log(`\npeer: ${PEER}`);
    console.log(`skiff: ${summary.join('; ')}`);
    console.log(`(benchmark ran ${((performance.now() - began) / 1000).toFixed(0)} s)`);
  } finally {
    for (const r of runs) await r.manager.stop();
    client.close();
    creator.close();
    await srv.stop();
  }
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
