// Pod start-up on a real one-node cluster (issue 4): `skiff server` with its node agent (conmon +
// crun, CNI bridge), busybox already in the image store. Figures:
//   1. creation (client timestamp before the POST) → a pod watch sees phase Running with the
//      container running: 50 pods one after another, then 50 created at once; p50/p90/p99/max;
//   2. peers in the same run: a private dockerd (own data/exec root, own bridge, no iptables) with
//      the same busybox image — `docker run --rm … true`, `docker run -d … sleep`, and create+start
//      through the Engine API — and plain `crun run` of the image's unpacked rootfs;
//   3. disk of each new container's upper+work dirs;
//   4. server RSS (API server and agent in one process) and conmon RSS with 30 pods running.
// Needs root. Usage: node dist/test/perf/pod-startup-bench.js   (about 75 s)
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { repoRoot } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { RestClient, resourcePath, type WatchHandle } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { detectOciBinary, findExecutable, runtimeArgv, wrapForCreate, type OciBinary } from '../../kubelet/runtime/oci/oci-binary.js';
import { buildSpec, containerCgroupPath, podCgroupParent } from '../../kubelet/runtime/oci/spec.js';
import { cgroupDirs, removeCgroupTree } from '../../kubelet/runtime/oci/cgroups.js';
import type { KObject } from '../../pkg/api/types.js';

const PODS = 50;
const WARMUP_PODS = 3;
const MEMORY_AT = 30;
const PEER_RUNS = 20;
const PEER_WARMUP = 2;
const NS = 'default';
const LABEL = 'bench=pod-startup';
const IMAGE = 'busybox:latest';
const TARGET_P50 = 150;
const TARGET_P99 = 400;
const TARGET_DISK_KB = 12;

interface PodObj extends KObject {
  spec?: { nodeName?: string };
  status?: { phase?: string; podIP?: string; containerStatuses?: { containerID?: string; state?: { running?: unknown } }[] };
}

// What an interrupted run must still undo (the finally blocks do it on a normal exit).
const undo = new Set<() => Promise<unknown>>();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`${sig}: cleaning up`);
    void (async () => {
      for (const f of [...undo].reverse()) await f().catch((e: unknown) => console.error(e));
      process.exit(130);
    })();
  });
}

const out = (what: string, text: string) => console.log(`${what.padEnd(58)} ${text}`);
const ms = (x: number) => `${x.toFixed(1)} ms`;

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const median = (xs: number[]) => percentile(xs, 50);

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}
/** Proportional set size: shared pages (the binary's text, libc) divided among the processes mapping them. */
function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  if (!m) throw new Error(`no Pss for pid ${pid}`);
  return Number(m[1]);
}
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

function pgrep(pattern: string): number[] {
  const r = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number).filter((p) => p !== process.pid);
}

/** Runs argv to completion; ms of wall time. The child inherits nothing (a detached container would hold pipes open). */
function timed(argv: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`))));
  });
}

/** A /24 in 10.x that no route of this machine covers, for the docker bridge. */
function freeSubnet(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const second = 100 + Math.floor(Math.random() * 50);
    if (!routes.includes(`10.${second}.`)) return `10.${second}.${Math.floor(Math.random() * 250)}`;
  }
  throw new Error('no free 10.x.y.0/24 for the docker bridge');
}

function podManifest(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { bench: 'pod-startup' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
    },
  };
}

const isRunning = (p: PodObj) => p.status?.phase === 'Running' && !!p.status.containerStatuses?.[0]?.state?.running;

/** One watch on the namespace's pods: the moment each pod is first seen Running. */
class RunningWatch {
  private readonly seen = new Map<string, { at: number; pod: PodObj }>();
  /** when the watch first showed the pod bound to the node, and with the agent's first status */
  readonly bound = new Map<string, number>();
  readonly firstStatus = new Map<string, number>();
  private readonly waiters = new Map<string, (v: { at: number; pod: PodObj }) => void>();
  private handle?: WatchHandle;
  private stopped = false;
  private rv = '';

  constructor(private readonly client: RestClient) {}

  async start(): Promise<void> {
    const list = await this.client.get<{ metadata: { resourceVersion: string } }>(resourcePath(R.pods, NS), { labelSelector: LABEL });
    this.rv = list.metadata.resourceVersion;
    this.open();
  }

  private open(): void {
    const h = this.client.watch<PodObj>(resourcePath(R.pods, NS), { labelSelector: LABEL, resourceVersion: this.rv, allowWatchBookmarks: true }, (ev) => {
      const at = performance.now();
      if (ev.object?.metadata?.resourceVersion) this.rv = ev.object.metadata.resourceVersion;
      if (ev.type === 'ERROR') {
        // Too old a version (410): go on from now; pods already Running are found by running().
        console.error(`pod watch error, restarting from now: ${JSON.stringify(ev.object)}`);
        this.rv = '';
        return;
      }
      if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
      const name = ev.object.metadata.name!;
      if (ev.object.spec?.nodeName && !this.bound.has(name)) this.bound.set(name, at);
      if ((ev.object.status?.podIP || ev.object.status?.containerStatuses) && !this.firstStatus.has(name)) this.firstStatus.set(name, at);
      if (this.seen.has(name) || !isRunning(ev.object)) return;
      const v = { at, pod: ev.object };
      this.seen.set(name, v);
      this.waiters.get(name)?.(v);
      this.waiters.delete(name);
    });
    this.handle = h;
    // The server may end a watch at its timeout; carry on from the last version seen.
    h.done.then(
      () => !this.stopped && this.open(),
      (e) => {
        if (!this.stopped) {
          console.error(`pod watch failed, reopening: ${String(e)}`);
          this.open();
        }
      },
    );
  }

  running(name: string, timeoutMs = 120_000): Promise<{ at: number; pod: PodObj }> {
    const have = this.seen.get(name);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(name);
        reject(new Error(`pod ${name} not Running within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(name, (v) => {
        clearTimeout(t);
        resolve(v);
      });
    });
  }

  forget(): void {
    this.seen.clear();
    this.bound.clear();
    this.firstStatus.clear();
  }

  stop(): void {
    this.stopped = true;
    this.handle?.stop();
  }
}

interface Started {
  ms: number;
  pod: PodObj;
  /** ms from the POST: its 201, the watch showing the binding, the agent's first status, Running */
  phases: { created: number; bound?: number; firstStatus?: number; running: number };
}

async function createAndWait(client: RestClient, watch: RunningWatch, name: string): Promise<Started> {
  const t0 = performance.now();
  await client.create(resourcePath(R.pods, NS), podManifest(name));
  const created = performance.now() - t0;
  const { at, pod } = await watch.running(name);
  const rel = (t?: number) => (t === undefined ? undefined : t - t0);
  return { ms: at - t0, pod, phases: { created, bound: rel(watch.bound.get(name)), firstStatus: rel(watch.firstStatus.get(name)), running: at - t0 } };
}

/** Medians of the steps between the milestones a watch shows (the agent coalesces status writes, so a pod may skip one). */
function phaseLines(runs: Started[]): void {
  const steps: [string, (p: Started['phases']) => number | undefined][] = [
    ['POST → 201', (p) => p.created],
    ['201 → bound (scheduler, binding, watch)', (p) => (p.bound === undefined ? undefined : p.bound - p.created)],
    ['bound → agent\'s first status (the agent saw the pod)', (p) => (p.bound === undefined || p.firstStatus === undefined || p.firstStatus >= p.running ? undefined : p.firstStatus - p.bound)],
    ['first status → Running (netns, CNI, rootfs, conmon+crun, PATCH)', (p) => (p.firstStatus === undefined || p.firstStatus >= p.running ? undefined : p.running - p.firstStatus)],
    ['bound → Running', (p) => (p.bound === undefined ? undefined : p.running - p.bound)],
  ];
  for (const [what, f] of steps) {
    const xs = runs.map((r) => f(r.phases)).filter((x): x is number => x !== undefined);
    out(`    ${what}`, xs.length ? `median ${ms(median(xs))}  (${xs.length} pods)` : 'not seen');
  }
}

async function deleteAll(client: RestClient, dataDir: string): Promise<void> {
  const list = await client.get<{ items: PodObj[] }>(resourcePath(R.pods, NS), { labelSelector: LABEL });
  await Promise.all(list.items.map((p) => client.delete(resourcePath(R.pods, NS, p.metadata.name), { gracePeriodSeconds: 1 }).catch(() => undefined)));
  await waitFor('the bench pods to be gone', 120_000, async () => (await client.get<{ items: unknown[] }>(resourcePath(R.pods, NS), { labelSelector: LABEL })).items.length === 0, 200);
  await waitFor('their conmon processes to exit', 60_000, async () => pgrep(`conmon .*${dataDir}`).length === 0, 200);
}

function latencyLine(what: string, xs: number[], withTargets: boolean): void {
  const p50 = percentile(xs, 50);
  const p99 = percentile(xs, 99);
  out(what, `p50 ${ms(p50)}  p90 ${ms(percentile(xs, 90))}  p99 ${ms(p99)}  max ${ms(Math.max(...xs))}`);
  if (withTargets) {
    out('  target p50 <= 150 ms', p50 <= TARGET_P50 ? 'PASS' : 'MISS');
    out('  target p99 <= 400 ms', p99 <= TARGET_P99 ? 'PASS' : 'MISS');
  }
}

interface SkiffFigures {
  sequentialP50: number;
}

async function benchSkiff(cluster: RealCluster): Promise<SkiffFigures> {
  const { server } = cluster;
  const dataDir = server.dataDir;
  const pid = server.proc.pid!;
  const client = RestClient.fromKubeconfig(server.kubeconfig, 'pod-startup-bench');
  const watch = new RunningWatch(client);
  try {
    const rssStart = rssKiB(pid);
    await watch.start();
    // The first pods pay for the bridge, the NAT table and cold code paths; not counted.
    const warm: number[] = [];
    for (let i = 0; i < WARMUP_PODS; i++) warm.push((await createAndWait(client, watch, `warm-${i}`)).ms);
    await deleteAll(client, dataDir);
    watch.forget();
    const rssBefore = rssKiB(pid);

    const seq: number[] = [];
    const seqRuns: Started[] = [];
    const pods: PodObj[] = [];
    let mem: { server: number; conmon: number; conmonPss: number; conmons: number } | undefined;
    for (let i = 0; i < PODS; i++) {
      const r = await createAndWait(client, watch, `seq-${String(i).padStart(2, '0')}`);
      seq.push(r.ms);
      seqRuns.push(r);
      pods.push(r.pod);
      if (i + 1 === MEMORY_AT) {
        const conmons = pgrep(`conmon .*${dataDir}`);
        mem = { server: rssKiB(pid), conmon: conmons.reduce((a, p) => a + rssKiB(p), 0), conmonPss: conmons.reduce((a, p) => a + pssKiB(p), 0), conmons: conmons.length };
      }
    }

    const diskBytes: number[] = [];
    for (const p of pods) {
      const id = p.status!.containerStatuses![0]!.containerID!.replace(/^\w+:\/\//, '');
      const dir = join(dataDir, 'pods', p.metadata.uid!, 'containers', id);
      const du = execFileSync('du', ['-s', '--block-size=1', join(dir, 'upper'), join(dir, 'work')], { encoding: 'utf8' });
      diskBytes.push(du.trim().split('\n').reduce((a, l) => a + Number(l.split('\t')[0]), 0));
    }
    await deleteAll(client, dataDir);
    watch.forget();

    const burstStart = performance.now();
    const burst = await Promise.all(Array.from({ length: PODS }, (_, i) => createAndWait(client, watch, `burst-${String(i).padStart(2, '0')}`)));
    const burstAll = performance.now() - burstStart;
    await deleteAll(client, dataDir);

    console.log(`\n1. pod start-up, creation → Running seen by a watch (busybox, pre-pulled, IfNotPresent)`);
    out(`  warm-up (${WARMUP_PODS} pods, not counted)`, warm.map(ms).join(', '));
    latencyLine(`  ${PODS} pods one after another`, seq, true);
    out('  where the time goes (one after another), from the watch:', '');
    phaseLines(seqRuns);
    latencyLine(`  ${PODS} pods created at once`, burst.map((b) => b.ms), false);
    out(`  ${PODS} pods at once: first POST → last Running`, ms(burstAll));
    out('  where the time goes (at once):', '');
    phaseLines(burst);

    console.log(`\n3. disk per new container (upper + work, du --block-size=1), ${pods.length} containers`);
    const diskKb = median(diskBytes) / 1024;
    out('  median', `${diskKb.toFixed(1)} KB (max ${(Math.max(...diskBytes) / 1024).toFixed(1)} KB)   target <= ${TARGET_DISK_KB} KB: ${diskKb <= TARGET_DISK_KB ? 'PASS' : 'MISS'}`);

    console.log(`\n4. memory with ${MEMORY_AT} pods running (VmRSS)`);
    if (!mem) throw new Error('no memory snapshot');
    if (mem.conmons !== MEMORY_AT) out('  warning', `${mem.conmons} conmon processes, expected ${MEMORY_AT}`);
    out('  skiff server (API server + agent, one process) at start', mib(rssStart));
    out('  same, after the warm-up pods were deleted', mib(rssBefore));
    out(`  same, ${MEMORY_AT} pods running`, `${mib(mem.server)} (Δ ${mib(mem.server - rssBefore)})`);
    out(`  conmon, ${mem.conmons} processes`, `${mib(mem.conmon)} (${(mem.conmon / mem.conmons).toFixed(0)} KiB each; PSS ${(mem.conmonPss / mem.conmons).toFixed(0)} KiB each)`);
    out('  per pod: (Δ server + conmon) / pods', `${((mem.server - rssBefore + mem.conmon) / MEMORY_AT).toFixed(0)} KiB RSS; with conmon's PSS ${((mem.server - rssBefore + mem.conmonPss) / MEMORY_AT).toFixed(0)} KiB`);
    return { sequentialP50: median(seq) };
  } finally {
    watch.stop();
    client.close();
  }
}

/** The busybox OCI layout (hack/), its layer unpacked as a plain rootfs, and a docker archive of it. */
function buildImage(work: string): { layout: string; rootfs: string } {
  const layout = join(work, 'busybox-oci');
  execFileSync('sh', [join(repoRoot, 'hack', 'build-busybox-image.sh'), layout, IMAGE], { stdio: 'pipe' });
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: { digest: string }[] };
  const rootfs = join(work, 'rootfs');
  mkdirSync(rootfs);
  execFileSync('tar', ['--numeric-owner', '-xzf', join(layout, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7)), '-C', rootfs]);
  return { layout, rootfs };
}

interface CrunFigures {
  detached: number;
  foreground: number;
}

/** Plain `crun run` of the image's rootfs with a spec from the agent's builder, in a netns of its own. */
async function benchCrun(work: string, rootfs: string): Promise<CrunFigures> {
  const bin: OciBinary = await detectOciBinary({ runtime: 'crun', stateRoot: join(work, 'crun-state') });
  const uid = `podbench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const netns = `skiff-podbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', netns]);
  const undoNetns = async () => spawnSync('ip', ['netns', 'del', netns]);
  undo.add(undoNetns);
  const pod = { metadata: { name: 'bench', namespace: 'perf', uid }, spec: {} };
  const detached: number[] = [];
  const foreground: number[] = [];
  let n = 0;
  const bundle = (id: string, command: string[]) => {
    const dir = join(work, 'bundles', id);
    mkdirSync(dir, { recursive: true });
    const spec = buildSpec({ pod, container: { name: 'c', command }, rootfs, netnsPath: `/run/netns/${netns}`, cgroupsPath: containerCgroupPath(uid, id), nofileHard: 20000 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  };
  const done = (id: string) => {
    removeCgroupTree(bin.layout, containerCgroupPath(uid, id));
    rmSync(join(work, 'bundles', id), { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < PEER_WARMUP + PEER_RUNS; i++) {
      let id = `d${n++}${randomBytes(3).toString('hex')}`;
      let dir = bundle(id, ['sleep', '3600']);
      const d = await timed(wrapForCreate(bin, runtimeArgv(bin, ['run', '--detach', '--bundle', dir, id])));
      execFileSync(runtimeArgv(bin, [])[0]!, runtimeArgv(bin, ['delete', '--force', id]).slice(1));
      done(id);
      id = `f${n++}${randomBytes(3).toString('hex')}`;
      dir = bundle(id, ['true']);
      const f = await timed(wrapForCreate(bin, runtimeArgv(bin, ['run', '--bundle', dir, id])));
      done(id);
      if (i >= PEER_WARMUP) {
        detached.push(d);
        foreground.push(f);
      }
    }
  } finally {
    removeCgroupTree(bin.layout, podCgroupParent(uid));
    for (const d of cgroupDirs(bin.layout, '/skiff')) {
      try {
        rmdirSync(d);
      } catch {
        /* other pods of other sessions use it */
      }
    }
    if (!interrupted) {
      undo.delete(undoNetns);
      execFileSync('ip', ['netns', 'del', netns]);
    }
  }
  return { detached: median(detached), foreground: median(foreground) };
}

/** A dockerd of our own: temp data/exec roots, a bridge we create, no iptables; stop() leaves nothing. */
class PrivateDocker {
  readonly sock: string;
  readonly env: NodeJS.ProcessEnv;
  private proc?: ChildProcess;
  private readonly log: string[] = [];
  readonly bridge = `skd${randomBytes(3).toString('hex')}`;

  constructor(private readonly dir: string) {
    this.sock = join(dir, 'docker.sock');
    // The CLI's own config (and anything it caches) stays in the temp dir too.
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.sock}`, DOCKER_CONFIG: join(dir, 'cli') };
  }

  docker(args: string[]): string {
    return execFileSync('docker', args, { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async start(): Promise<void> {
    const subnet = freeSubnet();
    execFileSync('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', this.bridge]);
    execFileSync('ip', ['link', 'set', this.bridge, 'up']);
    writeFileSync(join(this.dir, 'daemon.json'), '{}');
    this.proc = spawn(
      'dockerd',
      [
        '--config-file', join(this.dir, 'daemon.json'),
        '--data-root', join(this.dir, 'data'),
        '--exec-root', join(this.dir, 'exec'),
        '--pidfile', join(this.dir, 'docker.pid'),
        '--host', `unix://${this.sock}`,
        '--bridge', this.bridge,
        '--iptables=false', '--ip-masq=false', '--ip-forward=false', '--userland-proxy=false',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout!.on('data', (d: Buffer) => this.log.push(d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => this.log.push(d.toString()));
    await waitFor('dockerd to answer', 60_000, async () => {
      if (this.proc!.exitCode !== null) throw new Error(`dockerd exited ${this.proc!.exitCode}: ${this.log.join('')}`);
      return (await this.api('GET', '/_ping')).status === 200;
    });
  }

  api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest({ socketPath: this.sock, method, path: `/v1.41${path}`, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {} }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  pid(): number {
    return this.proc!.pid!;
  }

  /** Stops dockerd (it stops its containerd), then removes whatever is left; returns what had to be forced. */
  async stop(): Promise<string[]> {
    const left: string[] = [];
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    for (const pid of pgrep(`containerd.*${this.dir}`)) {
      left.push(`process left: ${pid}`);
      spawnSync('kill', ['-9', String(pid)]);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      left.push(`mount left: ${m}`);
      spawnSync('umount', ['-l', m]);
    }
    const ports = spawnSync('ip', ['-o', 'link', 'show', 'master', this.bridge], { encoding: 'utf8' }).stdout.trim();
    if (ports) left.push(`links on ${this.bridge}: ${ports.split('\n').map((l) => l.split(': ')[1]).join(' ')}`);
    if (spawnSync('ip', ['link', 'show', this.bridge]).status === 0) execFileSync('ip', ['link', 'del', this.bridge]);
    const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout;
    if (/docker/i.test(tables)) left.push(`nft tables mentioning docker: ${tables.split('\n').filter((l) => /docker/i.test(l)).join('; ')}`);
    return left;
  }
}

interface DockerFigures {
  runRm: number;
  runDetached: number;
  api: number;
}

async function benchDocker(work: string, layout: string): Promise<DockerFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-podbench-docker-'));
  const d = new PrivateDocker(dir);
  const runRm: number[] = [];
  const runDetached: number[] = [];
  const api: number[] = [];
  const undoDocker = async () => {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  undo.add(undoDocker);
  try {
    await d.start();
    const archive = join(work, 'busybox-docker.tar');
    execFileSync('skopeo', ['copy', '--quiet', `oci:${layout}:${IMAGE}`, `docker-archive:${archive}:${IMAGE}`], { stdio: 'pipe' });
    d.docker(['load', '-q', '-i', archive]);
    const rssBefore = { dockerd: rssKiB(d.pid()), containerd: pgrep(`containerd --config ${dir}`).reduce((a, p) => a + rssKiB(p), 0) };

    const docker = (args: string[]) => ['docker', ...args];
    for (let i = 0; i < PEER_WARMUP + PEER_RUNS; i++) {
      const measured = i >= PEER_WARMUP;
      const a = await timed(docker(['run', '--rm', IMAGE, 'true']), d.env);
      // `docker run -d` returns once the start call returned, i.e. with the process running.
      const name = `bench-d-${i}`;
      const b = await timed(docker(['run', '-d', '--name', name, IMAGE, 'sleep', '3600']), d.env);
      if (d.docker(['inspect', '-f', '{{.State.Running}}', name]).trim() !== 'true') throw new Error(`docker container ${name} is not running`);
      d.docker(['rm', '-f', name]);
      const t0 = performance.now();
      const created = await d.api('POST', '/containers/create', { Image: IMAGE, Cmd: ['sleep', '3600'] });
      if (created.status !== 201) throw new Error(`docker create: ${created.status} ${created.text}`);
      const id = (JSON.parse(created.text) as { Id: string }).Id;
      const started = await d.api('POST', `/containers/${id}/start`);
      const c = performance.now() - t0;
      if (started.status !== 204) throw new Error(`docker start: ${started.status} ${started.text}`);
      await d.api('DELETE', `/containers/${id}?force=1`);
      if (measured) {
        runRm.push(a);
        runDetached.push(b);
        api.push(c);
      }
    }

    // Memory and disk per container for the same 30 sleeping containers.
    const ids: string[] = [];
    for (let i = 0; i < MEMORY_AT; i++) ids.push(d.docker(['run', '-d', IMAGE, 'sleep', '3600']).trim());
    const shims = pgrep(`containerd-shim.*${dir}`);
    const shimKiB = shims.reduce((a, p) => a + rssKiB(p), 0);
    const shimPss = shims.reduce((a, p) => a + pssKiB(p), 0);
    const dockerdKiB = rssKiB(d.pid());
    const containerdKiB = pgrep(`containerd --config ${dir}`).reduce((a, p) => a + rssKiB(p), 0);
    const disk: number[] = [];
    const initDisk: number[] = [];
    const duBytes = (...paths: string[]) =>
      execFileSync('du', ['-s', '--block-size=1', ...paths], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .reduce((a, l) => a + Number(l.split('\t')[0]), 0);
    for (const id of ids) {
      const [upper, wdir, lower] = d.docker(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.WorkDir}} {{.GraphDriver.Data.LowerDir}}', id]).trim().split(' ');
      disk.push(duBytes(upper!, wdir!));
      // Docker puts the mount points of /etc/hosts, resolv.conf, hostname, /dev/console in a
      // per-container "-init" layer under the upper one; skiff's go into its upper dir.
      const init = lower!.split(':')[0]!;
      if (!/-init\/diff$/.test(init)) throw new Error(`docker: no init layer first in LowerDir ${lower}`);
      initDisk.push(duBytes(init, init.replace(/\/diff$/, '/work')));
    }
    d.docker(['rm', '-f', ...ids]);

    console.log(`\n2. peer: dockerd ${d.docker(['version', '-f', '{{.Server.Version}}']).trim()} (own data root, bridge ${d.bridge}, no iptables), ${PEER_RUNS} runs each, medians`);
    out('  docker run --rm busybox true (CLI, to exit and removal)', ms(median(runRm)));
    out('  docker run -d busybox sleep (CLI, returns once running)', ms(median(runDetached)));
    out('  Engine API create + start (in-process client)', ms(median(api)));
    out(`  disk per new container (upper + work), ${ids.length} containers`, `${(median(disk) / 1024).toFixed(1)} KB, plus its -init layer ${(median(initDisk) / 1024).toFixed(1)} KB`);
    out(`  ${MEMORY_AT} containers: containerd-shim RSS`, `${mib(shimKiB)} (${shims.length} shims, ${(shimKiB / Math.max(1, shims.length)).toFixed(0)} KiB each; PSS ${(shimPss / Math.max(1, shims.length)).toFixed(0)} KiB each)`);
    out(`  ${MEMORY_AT} containers: Δ dockerd, Δ containerd`, `${mib(dockerdKiB - rssBefore.dockerd)}, ${mib(containerdKiB - rssBefore.containerd)}`);
    const daemons = dockerdKiB - rssBefore.dockerd + containerdKiB - rssBefore.containerd;
    out('  per container: (Δ dockerd + Δ containerd + shims) / n', `${((daemons + shimKiB) / MEMORY_AT).toFixed(0)} KiB RSS; with the shims' PSS ${((daemons + shimPss) / MEMORY_AT).toFixed(0)} KiB`);
    return { runRm: median(runRm), runDetached: median(runDetached), api: median(api) };
  } finally {
    if (!interrupted) {
      undo.delete(undoDocker);
      const left = await d.stop();
      rmSync(dir, { recursive: true, force: true });
      if (left.length) console.log(`  docker cleanup had to force: ${left.join('; ')}`);
    }
  }
}

async function main(): Promise<void> {
  const missing = realNodeMissing();
  if (missing) throw new Error(`pod-startup-bench needs a real node: ${missing}`);
  for (const bin of ['dockerd', 'docker', 'skopeo']) if (!findExecutable(bin)) throw new Error(`${bin} is not installed (apt-get install -y docker.io skopeo)`);
  console.log(`pod-startup-bench: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, kernel ${release()}, Node ${process.version}`);
  const work = mkdtempSync(join(tmpdir(), 'skiff-podbench-'));
  undo.add(async () => rmSync(work, { recursive: true, force: true }));
  let cluster: RealCluster | undefined;
  try {
    const c = await startRealCluster();
    cluster = c;
    const undoCluster = () => c.stop();
    undo.add(undoCluster);
    const skiff = await benchSkiff(c);
    undo.delete(undoCluster);
    cluster = undefined;
    const left = await c.stop();
    if (left.length) console.log(`  cluster cleanup had to force: ${left.join('; ')}`);

    const { layout, rootfs } = buildImage(work);
    const docker = await benchDocker(work, layout);
    const crun = await benchCrun(work, rootfs);
    console.log(`\n2. peer: plain crun (same rootfs unpacked, spec from the agent's builder, own netns), ${PEER_RUNS} runs each, medians`);
    out('  crun run --detach (sleep; returns once running)', ms(crun.detached));
    out('  crun run (true, to exit)', ms(crun.foreground));

    const r = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    console.log(`\nratios (skiff: p50 of ${PODS} pods one after another, ${ms(skiff.sequentialP50)})`);
    out('  skiff / docker run -d', r(skiff.sequentialP50, docker.runDetached));
    out('  skiff / docker Engine API create+start', r(skiff.sequentialP50, docker.api));
    out('  skiff / docker run --rm true', r(skiff.sequentialP50, docker.runRm));
    out('  skiff / crun run --detach', r(skiff.sequentialP50, crun.detached));
    out('  skiff / crun run (true)', r(skiff.sequentialP50, crun.foreground));
  } finally {
    // An interrupted run is undone by the signal handler alone (the steps above fail meanwhile).
    if (!interrupted) {
      undo.clear();
      if (cluster) {
        const left = await cluster.stop().catch((e: unknown) => [String(e)]);
        if (left.length) console.log(`  cluster cleanup had to force: ${left.join('; ')}`);
      }
      rmSync(work, { recursive: true, force: true });
    }
  }
}

main().catch((e: unknown) => {
  if (interrupted) return;
  console.error(e);
  process.exitCode = 1;
});
