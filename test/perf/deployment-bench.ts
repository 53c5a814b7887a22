// Deployment of 1,000 replicas on 100 simulated nodes: from `kubectl apply` to every pod Running
// (target ≤ 5 s), then the control plane's and the simulator's memory. Needs the Deployment and
// ReplicaSet controllers and the scheduler in the server; when they are missing it says so and
// measures the node side alone (1,000 pods created already bound, round-robin, to all Running).
// Usage: node dist/test/perf/deployment-bench.js [--nodes 100] [--replicas 1000]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { startServer, repoRoot, skiffBin, type TestServer } from '../helpers/server.js';
import { RestClient, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { ControllerManager } from '../../controllers/manager.js';
import { controllerFactories } from '../../controllers/index.js';
import { nodeLifecycleController } from '../../controllers/nodelifecycle/node-lifecycle.js';
import { nodeIpamController } from '../../controllers/nodeipam/node-ipam.js';
import { endpointsController } from '../../controllers/endpoints/endpoints-controller.js';
import { endpointSliceController } from '../../controllers/endpointslice/endpointslice-controller.js';
import { setRootLogger } from '../../pkg/log/logger.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 100);
const REPLICAS = arg('replicas', 1000);
const TARGET_MS = 5000;

function rssMiB(pid: number | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function line(what: string, text: string): void {
  console.log(`${what.padEnd(56)} ${text}`);
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  line(what, `not reached within ${timeoutMs / 1000} s`);
  return false;
}

async function countRunning(client: RestClient, selector: string): Promise<number> {
  const l = await client.get<{ items: unknown[] }>(resourcePath(R.pods, 'default'), { labelSelector: selector, fieldSelector: 'status.phase=Running' });
  return l.items.length;
}

async function main(): Promise<void> {
  setRootLogger(pino({ level: 'warn', base: undefined }));
  const srv: TestServer = await startServer();
  const client = RestClient.fromKubeconfig(srv.kubeconfig, 'deployment-bench');
  const work = mkdtempSync(join(tmpdir(), 'skiff-deploy-bench-'));
  let sim: ChildProcess | undefined;
  let manager: ControllerManager | undefined;
  try {
    const mine = [nodeLifecycleController, nodeIpamController, endpointsController, endpointSliceController];
    if (!mine.every((f) => controllerFactories.includes(f))) {
      manager = new ControllerManager(client, { leaseName: 'deployment-bench-node-controllers', factories: mine });
      manager.start();
      line('node controllers', 'run by the bench (not yet wired into the server)');
    }
    const probe = spawnSync(process.execPath, [skiffBin, 'simulate', '--help'], { encoding: 'utf8' });
    const cmd = probe.status === 0 && /--nodes/.test(probe.stdout) ? [skiffBin, 'simulate'] : [join(repoRoot, 'dist', 'cmd', 'simulate.js')];
    const simOut: string[] = [];
    const t0 = performance.now();
    sim = spawn(process.execPath, [...cmd, '--nodes', String(NODES), '--kubeconfig', srv.kubeconfig, '--sim-start-delay', '100ms', '--cpu', '32', '--memory', '64Gi', '--max-pods', '110'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' },
    });
    sim.stdout!.on('data', (d: Buffer) => simOut.push(d.toString()));
    sim.stderr!.on('data', (d: Buffer) => simOut.push(d.toString()));
    if (!(await until('simulated nodes registered', async () => /simulated nodes registered/.test(simOut.join('')), 60_000))) throw new Error(simOut.join(''));
    await until(
      'nodes with pod CIDRs',
      async () => {
        const l = await client.get<{ items: { spec?: { podCIDR?: string } }[] }>(resourcePath(R.nodes));
        return l.items.filter((n) => n.spec?.podCIDR).length >= NODES;
      },
      60_000,
    );
    line(`${NODES} simulated nodes registered with pod CIDRs`, `${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const manifest = join(work, 'deploy.yaml');
    writeFileSync(
      manifest,
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench
  namespace: default
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: {app: bench}
  template:
    metadata:
      labels: {app: bench}
    spec:
      containers:
      - name: c
        image: busybox
        resources: {requests: {cpu: 10m, memory: 16Mi}}
`,
    );
    const start = performance.now();
    const applied = await srv.kubectl(['apply', '-f', manifest]);
    if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
    const hasRs = await until('a ReplicaSet for the Deployment (Deployment controller)', async () => {
      const l = await client.get<{ items: unknown[] }>(resourcePath(R.replicasets, 'default'));
      return l.items.length > 0;
    }, 10_000);
    let measured = false;
    if (hasRs) {
      const ok = await until(`${REPLICAS} pods Running`, async () => (await countRunning(client, 'app=bench')) >= REPLICAS, 120_000);
      if (ok) {
        const ms = performance.now() - start;
        line(`Deployment of ${REPLICAS} on ${NODES} nodes: apply → all Running`, `${(ms / 1000).toFixed(2)} s   target ≤ ${TARGET_MS / 1000} s   ${ms <= TARGET_MS ? 'PASS' : 'MISS'}`);
        measured = true;
      } else {
        const l = await client.get<{ items: { spec?: { nodeName?: string } }[] }>(resourcePath(R.pods, 'default'), { labelSelector: 'app=bench' });
        line('pods created / bound / Running', `${l.items.length} / ${l.items.filter((p) => p.spec?.nodeName).length} / ${await countRunning(client, 'app=bench')}`);
      }
    }
    if (!measured) {
      line('Deployment figure', 'not measurable in this build (needs Deployment/ReplicaSet controllers and the scheduler)');
      await srv.kubectl(['delete', '-f', manifest, '--wait=false']);
      // The node side alone: pods created already bound, round-robin over the nodes.
      const nodes = Array.from({ length: NODES }, (_, i) => `sim-node-${i}`);
      const s2 = performance.now();
      const queue = Array.from({ length: REPLICAS }, (_, i) => i);
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
            await client.create(resourcePath(R.pods, 'default'), {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: `bound-${i}`, labels: { app: 'bound' } },
              spec: { nodeName: nodes[i % NODES], containers: [{ name: 'c', image: 'busybox' }] },
            });
          }
        }),
      );
      const created = performance.now() - s2;
      const ok = await until(`${REPLICAS} pre-bound pods Running`, async () => (await countRunning(client, 'app=bound')) >= REPLICAS, 120_000);
      if (ok) {
        line(`${REPLICAS} pre-bound pods: create (32 clients)`, `${(created / 1000).toFixed(2)} s`);
        line(`${REPLICAS} pre-bound pods: create → all Running (node side)`, `${((performance.now() - s2) / 1000).toFixed(2)} s`);
      }
    }
    line('control plane RSS (skiff server)', `${rssMiB(srv.proc.pid).toFixed(0)} MiB`);
    if (manager) line('node controllers RSS (bench process, incl. itself)', `${rssMiB(process.pid).toFixed(0)} MiB`);
    line(`simulator RSS (${NODES} nodes)`, `${rssMiB(sim.pid).toFixed(0)} MiB`);
  } finally {
    if (sim && sim.exitCode === null) {
      const gone = new Promise((r) => sim!.once('exit', r));
      sim.kill('SIGTERM');
      await gone;
    }
    await manager?.stop();
    client.close();
    await srv.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
