// A multi-host cluster on one machine (DESIGN §7): N "hosts", each a network namespace with its
// own address on an underlay bridge and a `skiff agent` running real containers inside it, and
// `skiff server --disable-agent` in the root namespace. Used by the e2e tests and by
// `hack/local-cluster`.
//
// Every process is started detached, its output appended to DIR/<name>.log, and recorded with the
// rest of the cluster's layout in DIR/state.json. So a cluster outlives the process that started it
// (the CLI's `up` returns), and any later process can act on it: attachLocalCluster(DIR) gives the
// same LocalCluster back from the state file.
//
// Layout (tag = the cluster's name): bridge skul<tag> with 10.x.0.1/24 in the root namespace; host
// hI is namespace skh<tag>-I with eth0 = 10.x.0.(10+I)/24 whose peer skh<tag>vI sits on the bridge;
// its agent's pods get namespaces skp<tag>hI-*; its data dir is DIR/hI. The agents reach the API
// server through the bridge address, the API server reaches each node server the same way.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { systemTool } from '../../kubelet/network/cni.js';
import { NETNS_DIR } from '../../kubelet/network/netns.js';
import { agentFlags } from '../../cmd/agent.js';
import { realNodeMissing } from './real-node.js';
import { repoRoot, skiffBin } from './server.js';
import { waitFor } from './wait.js';
import { checkTag, createBridge, createHost, freeSecondOctets, linkExists, planUnderlay, setHostLink, type UnderlayPlan } from './local-cluster-net.js';
import { forceCleanup } from './local-cluster-cleanup.js';
import { isOurs, stopProcess, signal, waitGone } from './local-cluster-procs.js';

export interface LocalClusterOptions {
  hosts: number;
  /** default: a new temp dir (removed by down()); a given dir must be empty or absent */
  dir?: string;
  serverArgs?: string[];
  agentArgs?: string[];
  /** unique tag in every device and namespace name: 1-8 of [a-z0-9]; default random */
  name?: string;
}

export interface LocalHost {
  /** node name: h1, h2, ... */
  name: string;
  netns: string;
  /** underlay address (the node's InternalIP) */
  ip: string;
  dataDir: string;
  /** the agent process, when this process started it */
  proc?: ChildProcess;
  /** pid of the running agent, if it runs */
  pid(): number | undefined;
}

export interface LocalCluster {
  dir: string;
  /** admin kubeconfig (https://127.0.0.1:PORT) */
  kubeconfig: string;
  /** the API server as the hosts reach it: https://<underlay gateway>:PORT */
  serverURL: string;
  underlayBridge: string;
  hosts: LocalHost[];
  /** SIGKILL the agent and cut the host off the underlay (a dead machine); containers stay as they are */
  kill(host: string): Promise<void>;
  /** heal the link and start the agent again (same data dir: it takes its containers over) */
  start(host: string): Promise<void>;
  /** link down on the underlay side only (a partition); the agent keeps running */
  cut(host: string): Promise<void>;
  heal(host: string): Promise<void>;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** tears everything down; lists what had to be forced (empty when everything went cleanly) */
  down(): Promise<string[]>;
}

interface HostState {
  name: string;
  netns: string;
  veth: string;
  ip: string;
  podNetnsPrefix: string;
  dataDir: string;
  pid?: number;
  linkUp: boolean;
}

interface ClusterState {
  version: 1;
  tag: string;
  dir: string;
  /** the dir was made for the cluster: down() removes it */
  removeDir: boolean;
  bridge: string;
  gateway: string;
  clusterCidr: string;
  serverURL?: string;
  serverPid?: number;
  serverArgs: string[];
  agentArgs: string[];
  hosts: HostState[];
}

const STATE_FILE = 'state.json';

/** Why a local cluster cannot run here, or undefined when it can. */
export function localClusterMissing(): string | undefined {
  const real = realNodeMissing();
  if (real) return real;
  for (const [bin, pkg] of [['nsenter', 'util-linux'], ['kubectl', 'kubectl'], ['sysctl', 'procps'], ['umount', 'mount']] as const) {
    try {
      systemTool(bin);
    } catch {
      return `${bin} is not installed (${pkg})`;
    }
  }
  if (!existsSync('/proc/self/ns/net')) return 'network namespaces are not supported by this kernel';
  return undefined;
}

/** The caller's environment minus node_modules/.bin on PATH (npx puts an unrelated `nft` there). */
function childEnv(): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.includes('node_modules'));
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!path.includes(d)) path.push(d);
  return { ...process.env, PATH: path.join(delimiter) };
}

function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(cmd, args, { env: childEnv(), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) || (err && code === 1 ? err.message : '') });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

async function mustRun(cmd: string, args: string[], what: string): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/** Text appended to a log file since offset (what a restarted process wrote). */
function readFrom(path: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(Math.min(size - offset, 4 * 1024 * 1024));
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Waits until what a process appended to its log since offset passes done(); fails at once, with
 * the log's tail, when the process is gone.
 */
async function untilLogged(what: string, log: string, offset: number, running: () => boolean, done: (text: string) => boolean, ms = 60_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = readFrom(log, offset);
    if (done(text)) return text;
    // read again after the check: the process may have written its last words and exited
    if (!running()) throw new Error(`waiting for ${what}: the process exited; ${log} ends:\n${tail(readFrom(log, offset))}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; ${log} ends:\n${tail(text)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Whether a process we just spawned still runs. Its exit status, not its command line: between
 * fork and exec /proc/PID/cmdline still shows ours, which the marker check would take for "gone".
 */
function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Starts a detached process whose output is appended to logPath; it outlives this process. */
function spawnDetached(cmd: string, args: string[], logPath: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: childEnv(), cwd: repoRoot });
    // A failure to exec shows up as the process being gone; the waiters report it with the log.
    child.on('error', () => undefined);
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

const agentMarker = (h: HostState) => `--data-dir ${h.dataDir} `;
const serverMarker = (s: ClusterState) => `--data-dir ${join(s.dir, 'server')} `;

class Cluster implements LocalCluster {
  readonly hosts: LocalHost[];
  private readonly procs = new Map<string, ChildProcess>();

  constructor(private readonly s: ClusterState) {
    const procs = this.procs;
    this.hosts = s.hosts.map((h) => ({
      name: h.name,
      netns: h.netns,
      get ip() {
        return h.ip;
      },
      dataDir: h.dataDir,
      get proc() {
        return procs.get(h.name);
      },
      pid: () => (isOurs(h.pid, agentMarker(h)) ? h.pid : undefined),
    }));
  }

  get dir(): string {
    return this.s.dir;
  }
  get kubeconfig(): string {
    return join(this.s.dir, 'kubeconfig');
  }
  get serverURL(): string {
    return this.s.serverURL ?? '';
  }
  get underlayBridge(): string {
    return this.s.bridge;
  }
  /** New addresses for a cluster that has not started anything yet. */
  replan(plan: UnderlayPlan, clusterCidr: string): void {
    this.s.gateway = plan.gateway;
    this.s.clusterCidr = clusterCidr;
    for (const h of this.s.hosts) h.ip = plan.hosts.find((p) => p.name === h.name)!.ip;
    this.save();
  }

  get state(): Readonly<ClusterState> {
    return this.s;
  }

  save(): void {
    const tmp = join(this.s.dir, `.${STATE_FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify(this.s, null, 2) + '\n');
    renameSync(tmp, join(this.s.dir, STATE_FILE));
  }

  host(name: string): HostState {
    const h = this.s.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in this cluster (hosts: ${this.s.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  serverAlive(): boolean {
    return isOurs(this.s.serverPid, serverMarker(this.s));
  }

  agentAlive(h: HostState): boolean {
    return isOurs(h.pid, agentMarker(h));
  }

  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
    return run(systemTool('kubectl'), ['--kubeconfig', this.kubeconfig, '--cache-dir', join(this.s.dir, 'kubectl-cache'), ...args], opts);
  }

  async startServer(): Promise<void> {
    const s = this.s;
    const dataDir = join(s.dir, 'server');
    const log = join(s.dir, 'server.log');
    const from = logSize(log);
    const args = [
      '--max-semi-space-size=4', skiffBin, 'server', '--disable-agent', '--data-dir', dataDir, '--bind', '0.0.0.0', '--port', '0',
      '--cluster-cidr', s.clusterCidr, '--node-monitor-grace-period', '8s', '--default-unreachable-toleration', '5s', ...s.serverArgs,
    ];
    const child = spawnDetached(process.execPath, args, log);
    s.serverPid = child.pid;
    this.save();
    const out = await untilLogged('the API server to start', log, from, () => running(child), (text) => /kubeconfig written/.test(text));
    const local = /API server at (https:\/\/\S+)/.exec(out)?.[1];
    if (!local) throw new Error(`the server log names no API server URL:\n${tail(out)}`);
    const port = new URL(local).port;
    s.serverURL = `https://${s.gateway}:${port}`;
    // The user's kubeconfig is the server's (loopback); the agents' names the underlay address,
    // which the serving certificate covers because the bridge existed at the server's first start.
    const admin = readFileSync(join(dataDir, 'kubeconfig'), 'utf8');
    writeFileSync(join(s.dir, 'kubeconfig'), admin, { mode: 0o600 });
    const doc = yaml.load(admin) as { clusters: { cluster: { server: string } }[] };
    for (const c of doc.clusters) c.cluster.server = s.serverURL;
    writeFileSync(join(s.dir, 'agent-kubeconfig'), yaml.dump(doc), { mode: 0o600 });
    this.save();
  }

  /** Starts h's agent inside its namespace and waits until it has registered its Node. */
  async startAgent(h: HostState): Promise<void> {
    const log = join(this.s.dir, `${h.name}.log`);
    const from = logSize(log);
    // nsenter --net only: the agent keeps the root mount namespace, so its pod namespaces under
    // /run/netns and its overlay mounts are visible to everyone (`ip netns exec` would not).
    const args = [
      `--net=${join(NETNS_DIR, h.netns)}`, process.execPath, '--max-semi-space-size=4', skiffBin, 'agent',
      '--kubeconfig', join(this.s.dir, 'agent-kubeconfig'), '--data-dir', h.dataDir, '--node-name', h.name, '--node-ip', h.ip,
      '--netns-prefix', h.podNetnsPrefix, '--restart-backoff', '1s', '--heartbeat-interval', '2s',
      // agents that route the cluster's pod range themselves (the overlay) must know it
      ...(agentFlags.some((f) => f.name === 'cluster-cidr') ? ['--cluster-cidr', this.s.clusterCidr] : []),
      ...this.s.agentArgs,
    ];
    const child = spawnDetached(systemTool('nsenter'), args, log);
    h.pid = child.pid;
    this.procs.set(h.name, child);
    this.save();
    await untilLogged(`the agent of ${h.name} to register`, log, from, () => running(child), (text) => text.includes(`node ${h.name} registered`));
  }

  async kill(name: string): Promise<void> {
    const h = this.host(name);
    if (this.agentAlive(h)) {
      signal(h.pid!, 'SIGKILL');
      if (!(await waitGone(h.pid!, 10_000))) throw new Error(`the agent of ${name} (pid ${h.pid}) survived SIGKILL`);
    }
    h.pid = undefined;
    this.procs.delete(name);
    await setHostLink(h, false);
    h.linkUp = false;
    this.save();
  }

  async start(name: string): Promise<void> {
    const h = this.host(name);
    if (this.agentAlive(h)) throw new Error(`the agent of ${name} is running (pid ${h.pid})`);
    await setHostLink(h, true);
    h.linkUp = true;
    this.save();
    await this.startAgent(h);
  }

  async cut(name: string): Promise<void> {
    const h = this.host(name);
    await setHostLink(h, false);
    h.linkUp = false;
    this.save();
  }

  async heal(name: string): Promise<void> {
    const h = this.host(name);
    await setHostLink(h, true);
    h.linkUp = true;
    this.save();
  }

  async waitNodesReady(ms: number): Promise<void> {
    const want = this.s.hosts.map((h) => h.name);
    await waitFor(`nodes ${want.join(', ')} to be Ready with a pod CIDR`, ms, async () => {
      const r = await this.kubectl(['get', 'nodes', '-o', 'json']);
      if (r.code !== 0) throw new Error(r.stderr);
      type Node = { metadata: { name: string }; spec?: { podCIDR?: string }; status?: { conditions?: { type: string; status: string }[] } };
      const nodes = (JSON.parse(r.stdout) as { items: Node[] }).items;
      const ready = (n: Node) => !!n.spec?.podCIDR && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return want.every((w) => nodes.some((n) => n.metadata.name === w && ready(n)));
    }, 250);
  }

  /** Deletes workloads and pods through the API so each agent tears its pods down itself. */
  private async deleteWorkloads(left: string[]): Promise<void> {
    // A partitioned host whose agent runs can still clean up once it hears of the deletions.
    for (const h of this.s.hosts) if (!h.linkUp && this.agentAlive(h)) await this.heal(h.name).catch((e: Error) => left.push(`heal ${h.name}: ${e.message}`));
    const live = new Set(this.s.hosts.filter((h) => this.agentAlive(h)).map((h) => h.name));
    await this.kubectl(['delete', 'deployments,replicasets,daemonsets,statefulsets,jobs,cronjobs', '--all', '-A', '--wait=false']);
    await this.kubectl(['delete', 'pods', '--all', '-A', '--grace-period=1', '--wait=false']);
    // Pods of a dead host stay Terminating; their containers are removed by force (and reported).
    await waitFor('the pods of running hosts to be gone', 60_000, async () => {
      const r = await this.kubectl(['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{.spec.nodeName}{"\\n"}{end}']);
      if (r.code !== 0) throw new Error(r.stderr);
      const nodes = r.stdout.split('\n').slice(0, -1);
      return nodes.every((n) => n !== '' && !live.has(n));
    }, 250).catch((e: Error) => left.push(e.message));
  }

  async down(): Promise<string[]> {
    const left: string[] = [];
    if (this.serverAlive() && existsSync(this.kubeconfig)) await this.deleteWorkloads(left);
    await Promise.all(
      this.s.hosts.map(async (h) => {
        if (this.agentAlive(h) && (await stopProcess(h.pid!, 10_000)) === 'killed') left.push(`the agent of ${h.name} ignored SIGTERM`);
        h.pid = undefined;
      }),
    );
    this.procs.clear();
    if (this.serverAlive() && (await stopProcess(this.s.serverPid!, 15_000)) === 'killed') left.push('the server ignored SIGTERM');
    this.s.serverPid = undefined;
    left.push(...(await forceCleanup({ dir: this.s.dir, tag: this.s.tag, bridge: this.s.bridge, hosts: this.s.hosts })));
    if (this.s.removeDir) rmSync(this.s.dir, { recursive: true, force: true });
    else rmSync(join(this.s.dir, STATE_FILE), { force: true });
    return left;
  }
}

/** Brings up a cluster of opts.hosts hosts, every Node Ready; on failure removes what it made and throws. */
export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  const missing = localClusterMissing();
  if (missing) throw new Error(`cannot run a local cluster here: ${missing}`);
  const tag = opts.name ?? randomBytes(3).toString('hex');
  checkTag(tag);
  let [underlay, pods] = freeSecondOctets(2) as [number, number];
  let plan = planUnderlay(tag, opts.hosts, underlay);
  // A cluster of the same name would be torn down with ours on the first failure: refuse at once.
  const taken = [plan.bridge, ...plan.hosts.map((h) => h.veth)].find(linkExists) ?? plan.hosts.map((h) => h.netns).find((n) => existsSync(join(NETNS_DIR, n)));
  if (taken) throw new Error(`${taken} exists already: is a local cluster named ${tag} running?`);
  let dir: string;
  let removeDir: boolean;
  if (opts.dir) {
    dir = resolve(opts.dir);
    removeDir = !existsSync(dir);
    if (!removeDir && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty (a cluster there? \`hack/local-cluster down --dir ${dir}\`)`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } else {
    dir = mkdtempSync(join(tmpdir(), 'skiff-lc-'));
    removeDir = true;
  }
  const cluster = new Cluster({
    version: 1,
    tag,
    dir,
    removeDir,
    bridge: plan.bridge,
    gateway: plan.gateway,
    clusterCidr: `10.${pods}.0.0/16`,
    serverArgs: opts.serverArgs ?? [],
    agentArgs: opts.agentArgs ?? [],
    hosts: plan.hosts.map((h) => ({ name: h.name, netns: h.netns, veth: h.veth, ip: h.ip, podNetnsPrefix: h.podNetnsPrefix, dataDir: join(dir, h.name), linkUp: true })),
  });
  // Recorded before anything exists, so `down` can clean up after an interrupted `up`.
  cluster.save();
  try {
    for (let attempt = 1; !(await createBridge(plan)); attempt++) {
      if (attempt === 5) throw new Error(`the underlay ranges picked kept clashing with other interfaces' addresses`);
      [underlay, pods] = freeSecondOctets(2) as [number, number];
      plan = planUnderlay(tag, opts.hosts, underlay);
      cluster.replan(plan, `10.${pods}.0.0/16`);
    }
    for (const h of plan.hosts) await createHost(plan, h);
    const image = join(dir, 'busybox');
    await mustRun('sh', [join(repoRoot, 'hack', 'build-busybox-image.sh'), image, 'busybox:latest'], 'building the busybox image');
    await Promise.all(cluster.state.hosts.map((h) => mustRun(process.execPath, [skiffBin, 'images', 'import', '--data-dir', h.dataDir, image], `importing busybox into ${h.name}`)));
    await cluster.startServer();
    await Promise.all(cluster.state.hosts.map((h) => cluster.startAgent(h)));
    await cluster.waitNodesReady(90_000);
    return cluster;
  } catch (e) {
    const left = await cluster.down().catch((err: Error) => [`cleanup failed: ${err.message}`]);
    (e as Error).message += left.length ? `\n(cleaning up had to force: ${left.join('; ')})` : '';
    throw e;
  }
}

/** The cluster recorded in dir/state.json, to act on one another process started. */
export function attachLocalCluster(dir: string): LocalCluster {
  const path = join(resolve(dir), STATE_FILE);
  if (!existsSync(path)) throw new Error(`no local cluster in ${dir} (no ${STATE_FILE})`);
  const s = JSON.parse(readFileSync(path, 'utf8')) as ClusterState;
  if (s.version !== 1) throw new Error(`${path}: unknown state version ${String(s.version)}`);
  return new Cluster(s);
}

/** One line per host: agent pid (or down) and link state, for `hack/local-cluster status`. */
export function describeLocalCluster(c: LocalCluster): string {
  const s = (c as Cluster).state;
  const lines = [`dir ${c.dir}`, `kubeconfig ${c.kubeconfig}`, `server ${c.serverURL} (${(c as Cluster).serverAlive() ? `pid ${s.serverPid}` : 'not running'})`, `underlay ${c.underlayBridge} ${s.gateway}/24`];
  for (const h of s.hosts) lines.push(`${h.name} ${h.ip} netns ${h.netns} agent ${(c as Cluster).agentAlive(h) ? `pid ${h.pid}` : 'not running'} link ${h.linkUp ? 'up' : 'cut'}`);
  return lines.join('\n');
}
