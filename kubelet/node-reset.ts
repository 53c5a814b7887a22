// `skiff reset`: takes a node apart the way kubeadm reset does. Like kubelet, the agent leaves its
// pods running when it stops, and its bridge, nftables tables, VXLAN device, pod namespaces,
// cgroups and mounts stay with them. Pods go through the production paths (OciPodRuntime,
// NodeNetworks, PodNetwork, ServiceProxy) opened without an API server; what those cannot reach
// (a container without a record, a stray conmon) is removed with the runtime binaries. Every step
// is best-effort; a scan of the machine before and after says what was removed and what is left.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import type { RestClient } from '../pkg/client/rest.js';
import { OciPodRuntime } from './runtime/oci-pod-runtime.js';
import { findExecutable, OCI_RUNTIMES, type OciRuntimeName } from './runtime/oci/oci-binary.js';
import { cgroupDirs, readCgroupLayout, removeCgroupTree } from './runtime/oci/cgroups.js';
import { podCgroupParent } from './runtime/oci/spec.js';
import { removeTableScript } from './network/isolation-rules.js';
import { NodeNetworks } from './network/networks-node.js';
import { PodNetwork } from './network/pod-network.js';
import { ServiceProxy } from './network/service-proxy.js';
import { cleanupPortmapLeftovers, natTableName, removeNatTable } from './network/nat.js';
import { deleteNetns, listNetns, netnsExists } from './network/netns.js';
import { runTool, systemTool, ToolError } from './network/cni.js';
import { intToIp, ipToInt, parseCidr } from './network/pod-ips.js';
import { readMountInfo, unmount } from './volumes/mounts.js';

export interface NodeResetOptions {
  /** absolute data dir of the node (`skiff server`'s or `skiff agent`'s --data-dir) */
  dataDir: string;
  bridge?: string;
  netnsPrefix?: string;
  /** the agent's VXLAN device (skiff.1); null leaves VXLAN devices alone (a node run with --overlay=false) */
  overlayDevice?: string | null;
  /** how long a container gets between SIGTERM and SIGKILL */
  graceMs?: number;
  /** delete the data dir too (API data, certificates, images) */
  purge?: boolean;
}

export type ResetKind = 'pod' | 'container' | 'conmon' | 'netns' | 'link' | 'nft-table' | 'cgroup' | 'mount' | 'data-dir';

export interface ResetItem {
  kind: ResetKind;
  name: string;
}

export interface ResetReport {
  /** what was there before and is gone now */
  removed: ResetItem[];
  /** steps that failed (the scan after them decides whether anything stayed) */
  failed: string[];
  /** what the production code logged as going wrong on the way */
  warnings: string[];
  /** still there after every step */
  left: ResetItem[];
}

const DEFAULT_BRIDGE = 'skiff0';
const DEFAULT_NETNS_PREFIX = 'skiff-';
const DEFAULT_OVERLAY_DEVICE = 'skiff.1';
const DEFAULT_GRACE_MS = 5000;

/** What the node left on this machine, as far as it can be told apart from other nodes' things. */
interface NodeFacts {
  dataDir: string;
  bridge: string;
  netnsPrefix: string;
  /** pods known from any record: their cgroups are ours */
  uids: Set<string>;
  /** the node's pod CIDR (sandbox records, else the bridge's address) */
  podCIDR?: string;
  /** VXLAN device judged to be this node's */
  overlayDevice?: string;
  /** devices the Networks of this node made (DATA/networks/devices.json) */
  networkDevices: string[];
}

export async function resetNode(o: NodeResetOptions): Promise<ResetReport> {
  const dataDir = resolve(o.dataDir);
  if (dataDir === '/') throw new Error('refusing to reset with / as the data dir');
  const facts = gatherFacts(dataDir, o);
  const before = scanNode(facts);
  const existedBefore = existsSync(dataDir);
  const failed: string[] = [];
  const warnings: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
    try {
      await fn();
    } catch (e) {
      failed.push(`${what}: ${(e as Error).message}`);
    }
  };
  const log = collectingLogger(warnings);
  const tables = tableNames(facts.bridge);

  // Its store creates its folder: opened only for a node that had Networks, so reset makes no dirs.
  let networks: NodeNetworks | undefined;
  if (existsSync(join(dataDir, 'networks'))) {
    await step('reading the Networks of the node', () => {
      networks = new NodeNetworks({
        // Only sync() uses the node's name and address; destroy() and detach() work from the records.
        nodeName: 'reset',
        nodeIP: '127.0.0.1',
        stateDir: join(dataDir, 'networks'),
        table: tables.isolation,
        log,
      });
    });
  }
  let podNetwork: PodNetwork | undefined;
  if (existsSync(join(dataDir, 'pods')) || existsSync(join(dataDir, 'runtime'))) {
    await step('stopping the pods', async () => {
      const runtime = await OciPodRuntime.open({
        dataDir,
        runtime: recordedRuntime(dataDir),
        nodeName: 'reset',
        hostIP: '127.0.0.1',
        client: offlineClient(),
        bridge: facts.bridge,
        netnsPrefix: facts.netnsPrefix,
        detachNetworks: networks ? (uid) => networks!.detach(uid) : undefined,
        log,
      });
      try {
        const pods = await runtime.listPodSandboxes();
        await Promise.all(
          pods.map((s) =>
            step(`pod ${s.namespace}/${s.name}`, async () => {
              // No spec: no preStop hooks to run, only SIGTERM, the grace period and SIGKILL.
              const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { uid: s.uid, namespace: s.namespace, name: s.name }, spec: {} };
              await runtime.stopPodSandbox(pod, o.graceMs ?? DEFAULT_GRACE_MS);
              await runtime.removePodSandbox(pod);
            }),
          ),
        );
        if (facts.podCIDR) podNetwork = await runtime.openNetwork(facts.podCIDR);
      } finally {
        runtime.close();
      }
    });
  }
  await step('deleting containers left in the runtime state', () => deleteStrayContainers(dataDir));
  await step('stopping conmon processes', () => killConmons(dataDir));
  if (networks) await step('removing the Networks of the node', () => networks!.destroy());
  else await step(`removing the isolation table ${tables.isolation}`, () => runTool('nft', ['-f', '-'], { input: removeTableScript(tables.isolation) }));
  if (!podNetwork && facts.podCIDR && existsSync(dataDir)) {
    await step(`opening the pod network ${facts.bridge}`, async () => {
      podNetwork = await PodNetwork.open({ stateDir: join(dataDir, 'network'), podCIDR: facts.podCIDR!, bridge: facts.bridge, netnsPrefix: facts.netnsPrefix });
    });
  }
  if (podNetwork) await step(`removing the pod network ${facts.bridge}`, () => podNetwork!.destroy());
  else await step(`removing the pod network ${facts.bridge}`, () => removePodNetworkUnopened(facts));
  // destroy() only deletes the table; the addresses are checked by the constructor and used for nothing else.
  await step(`removing the Services table ${tables.services}`, () =>
    new ServiceProxy({ table: tables.services, nodeIPs: ['127.0.0.1'], clusterCIDR: facts.podCIDR ?? '10.42.0.0/16', log }).destroy(),
  );
  if (facts.overlayDevice) await step(`removing the overlay device ${facts.overlayDevice}`, () => deleteLink(facts.overlayDevice!));
  await step('removing pod cgroups', () => removePodCgroups(facts.uids));
  await step(`unmounting under ${dataDir}`, () => unmountUnder(dataDir));
  await step('removing runtime state', () => removeRuntimeState(dataDir, facts.uids));
  if (o.purge) await step(`deleting ${dataDir}`, () => purge(dataDir));

  const after = scanNode(facts);
  const key = (i: ResetItem) => `${i.kind} ${i.name}`;
  const still = new Set(after.map(key));
  const removed = before.filter((i) => !still.has(key(i)));
  if (o.purge && existsSync(dataDir)) after.push({ kind: 'data-dir', name: dataDir });
  else if (o.purge && existedBefore) removed.push({ kind: 'data-dir', name: dataDir });
  return { removed, failed, warnings, left: after };
}

/** Nft tables of the agent with this bridge (nat.ts, real-node.ts). */
function tableNames(bridge: string): { nat: string; services: string; isolation: string } {
  return { nat: natTableName(bridge), services: `skiff-svc-${bridge}`, isolation: `skiff-isolation-${bridge}` };
}

function gatherFacts(dataDir: string, o: NodeResetOptions): NodeFacts {
  const bridge = o.bridge ?? DEFAULT_BRIDGE;
  const uids = new Set<string>();
  let podCIDR: string | undefined;
  for (const uid of listDir(join(dataDir, 'pods'))) {
    uids.add(uid);
    const sb = readJson<{ podCIDR?: string }>(join(dataDir, 'pods', uid, 'sandbox.json'));
    if (sb?.podCIDR) podCIDR ??= sb.podCIDR;
  }
  for (const id of listDir(join(dataDir, 'runtime', 'containers'))) {
    const uid = readJson<{ pod?: { uid?: string } }>(join(dataDir, 'runtime', 'containers', id, 'meta.json'))?.pod?.uid;
    if (uid) uids.add(uid);
  }
  for (const f of listDir(join(dataDir, 'network', 'pods'))) if (f.endsWith('.json') && !f.startsWith('.')) uids.add(f.slice(0, -5));
  for (const d of listDir(join(dataDir, 'logs'))) {
    const uid = d.split('_')[2];
    if (uid) uids.add(uid);
  }
  podCIDR ??= bridgeCIDR(bridge);
  const owned = readJson<unknown>(join(dataDir, 'networks', 'devices.json'));
  const networkDevices = (Array.isArray(owned) ? (owned as { name?: unknown }[]) : []).map((d) => d?.name).filter((n): n is string => typeof n === 'string');
  const device = o.overlayDevice === undefined ? DEFAULT_OVERLAY_DEVICE : o.overlayDevice;
  return {
    dataDir,
    bridge,
    netnsPrefix: o.netnsPrefix ?? DEFAULT_NETNS_PREFIX,
    uids,
    podCIDR,
    overlayDevice: device && ownsOverlayDevice(device, podCIDR) ? device : undefined,
    networkDevices,
  };
}

/** The subnet of the bridge's IPv4 address (the gateway of the node's pod CIDR). */
function bridgeCIDR(bridge: string): string | undefined {
  const r = spawnSync(systemTool('ip'), ['-j', '-4', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  try {
    const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    const a = links[0]?.addr_info?.find((x) => x.local && x.prefixlen !== undefined);
    if (!a) return undefined;
    const mask = a.prefixlen === 0 ? 0 : (~0 << (32 - a.prefixlen!)) >>> 0;
    return `${intToIp((ipToInt(a.local!) & mask) >>> 0)}/${a.prefixlen}`;
  } catch {
    return undefined;
  }
}

/**
 * The VXLAN device carries the network address of its node's pod CIDR as a /32 (overlay.ts), so
 * another node's device on this machine is told apart; without a known pod CIDR it is taken as ours.
 */
function ownsOverlayDevice(device: string, podCIDR: string | undefined): boolean {
  const r = spawnSync(systemTool('ip'), ['-j', '-d', 'addr', 'show', 'dev', device], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  let link: { linkinfo?: { info_kind?: string }; addr_info?: { family?: string; local?: string; prefixlen?: number }[] } | undefined;
  try {
    link = (JSON.parse(r.stdout || '[]') as (typeof link)[])[0];
  } catch {
    return false;
  }
  if (!link || link.linkinfo?.info_kind !== 'vxlan') return false;
  if (!podCIDR) return true;
  const network = intToIp(parseCidr(podCIDR).base);
  return (link.addr_info ?? []).some((a) => a.family === 'inet' && a.local === network && a.prefixlen === 32);
}

/** The runtime the node's containers were made with (their records say), else crun-or-runc. */
function recordedRuntime(dataDir: string): OciRuntimeName | undefined {
  for (const id of listDir(join(dataDir, 'runtime', 'containers'))) {
    const name = readJson<{ runtime?: string }>(join(dataDir, 'runtime', 'containers', id, 'meta.json'))?.runtime;
    if (name && (OCI_RUNTIMES as readonly string[]).includes(name) && findExecutable(name)) return name as OciRuntimeName;
  }
  return undefined;
}

/**
 * Stopping and removing pods reads no ConfigMap or Secret; the runtime still wants a client for
 * the paths that do (starting containers, setting up volumes). This one says why it cannot.
 */
function offlineClient(): RestClient {
  const refuse = () => Promise.reject(new Error('skiff reset runs without an API server'));
  return { get: refuse, list: refuse, patch: refuse, create: refuse, update: refuse, delete: refuse } as unknown as RestClient;
}

/** A logger that keeps the warnings of the production code for the report. */
function collectingLogger(into: string[]): Logger {
  return pino(
    { level: 'warn', base: undefined, timestamp: false },
    {
      write(line: string) {
        try {
          const { level: _l, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
          into.push(Object.keys(rest).length ? `${String(msg)} ${JSON.stringify(rest)}` : String(msg));
        } catch {
          into.push(line.trim());
        }
      },
    },
  );
}

/** Containers the runtime state still holds (no record the pod runtime could follow): deleted with crun/runc. */
async function deleteStrayContainers(dataDir: string): Promise<void> {
  const stateRoot = join(dataDir, 'runtime', 'state');
  const ids = listDir(stateRoot);
  const errors: string[] = [];
  for (const id of ids) {
    let gone = false;
    let last = '';
    for (const rt of OCI_RUNTIMES) {
      const bin = findExecutable(rt);
      if (!bin) continue;
      const r = spawnSync(bin, ['--root', stateRoot, 'delete', '--force', id], { encoding: 'utf8', timeout: 30_000 });
      if (!existsSync(join(stateRoot, id))) {
        gone = true;
        break;
      }
      last = (r.stderr || r.error?.message || '').trim();
    }
    if (!gone) errors.push(`container ${id}: ${last || 'neither crun nor runc could delete it'}`);
  }
  if (errors.length) throw new Error(errors.join('; '));
}

/** conmon processes whose command line names a path in the data dir. */
function conmonsOf(dataDir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S)/.exec(stat);
      if (!m || m[1] !== 'conmon' || m[2] === 'Z') continue;
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => within(dataDir, a) || a.split('=').slice(1).some((v) => within(dataDir, v)))) out.push(Number(p));
    } catch {
      /* the process ended */
    }
  }
  return out;
}

async function killConmons(dataDir: string): Promise<void> {
  const pids = conmonsOf(dataDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (conmonsOf(dataDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const left = conmonsOf(dataDir);
  if (left.length) throw new Error(`conmon ${left.join(', ')} did not exit after SIGKILL`);
}

/**
 * The pod network when no pod CIDR is known (no record, no address on the bridge): PodNetwork
 * cannot be opened without one, so the same things its destroy() removes go one by one.
 */
async function removePodNetworkUnopened(f: NodeFacts): Promise<void> {
  const errors: string[] = [];
  const names = new Set(listNetns(f.netnsPrefix));
  const recDir = join(f.dataDir, 'network', 'pods');
  for (const file of listDir(recDir)) {
    const n = readJson<{ netnsName?: string }>(join(recDir, file))?.netnsName;
    if (n) names.add(n);
  }
  for (const n of names) await deleteNetns(n).catch((e: Error) => errors.push(e.message));
  await deleteLink(f.bridge).catch((e: Error) => errors.push(e.message));
  await removeNatTable(natTableName(f.bridge)).catch((e: Error) => errors.push(e.message));
  await cleanupPortmapLeftovers().catch((e: Error) => errors.push(e.message));
  if (!errors.length) rmSync(recDir, { recursive: true, force: true });
  if (errors.length) throw new Error(errors.join('; '));
}

async function deleteLink(name: string): Promise<void> {
  try {
    await runTool('ip', ['link', 'delete', 'dev', name]);
  } catch (e) {
    if (!(e instanceof ToolError && /Cannot find device|does not exist/i.test(e.stderr))) throw e;
  }
}

async function removePodCgroups(uids: Set<string>): Promise<void> {
  const layout = readCgroupLayout();
  const busy: string[] = [];
  for (const uid of uids) busy.push(...removeCgroupTree(layout, podCgroupParent(uid)));
  if (busy.length) throw new Error(`still busy: ${busy.join(', ')}`);
}

/** Mount points strictly below dir (the dir itself may be a mount of its own), deepest first. */
async function mountsBelow(dir: string): Promise<string[]> {
  const points = new Set((await readMountInfo()).map((m) => m.mountPoint).filter((p) => p.startsWith(`${dir}/`)));
  return [...points].sort((a, b) => b.length - a.length);
}

async function unmountUnder(dataDir: string): Promise<void> {
  const errors: string[] = [];
  // Stacked mounts show one mount point several times: go round until none is left or nothing moves.
  for (let round = 0; round < 5; round++) {
    const points = await mountsBelow(dataDir);
    if (!points.length) return;
    for (const p of points) await unmount(p).catch((e: Error) => errors.push(e.message));
    if (errors.length) break;
  }
  const left = await mountsBelow(dataDir);
  if (left.length) throw new Error(`still mounted: ${left.join(', ')}${errors.length ? ` (${errors.join('; ')})` : ''}`);
}

/**
 * What belonged to the removed containers and pods: runtime records, pod dirs, logs. Never
 * recursive into anything still mounted (a pod dir could hold a bind mount of a host directory).
 */
async function removeRuntimeState(dataDir: string, uids: Set<string>): Promise<void> {
  const stateRoot = join(dataDir, 'runtime', 'state');
  const running = new Set(listDir(stateRoot));
  const errors: string[] = [];
  const mounted = await mountsBelow(dataDir);
  const remove = (p: string) => {
    if (mounted.some((m) => m === p || m.startsWith(`${p}/`))) {
      errors.push(`${p} still has mounts`);
      return;
    }
    try {
      rmSync(p, { recursive: true, force: true });
    } catch (e) {
      errors.push((e as Error).message);
    }
  };
  for (const sub of ['containers', 'exits', 'sockets']) {
    for (const id of listDir(join(dataDir, 'runtime', sub))) if (!running.has(id)) remove(join(dataDir, 'runtime', sub, id));
  }
  for (const uid of listDir(join(dataDir, 'pods'))) if (uids.has(uid)) remove(join(dataDir, 'pods', uid));
  for (const d of listDir(join(dataDir, 'logs'))) if (uids.has(d.split('_')[2] ?? '')) remove(join(dataDir, 'logs', d));
  if (errors.length) throw new Error(errors.join('; '));
}

async function purge(dataDir: string): Promise<void> {
  const mounted = await mountsBelow(dataDir);
  // rm -r would follow into a bind mount of a host directory: nothing is deleted while one is there
  if (mounted.length) throw new Error(`not deleted: still mounted below it: ${mounted.join(', ')}`);
  rmSync(dataDir, { recursive: true, force: true });
}

/** Everything of this node on the machine now. */
function scanNode(f: NodeFacts): ResetItem[] {
  const items: ResetItem[] = [];
  for (const uid of listDir(join(f.dataDir, 'pods'))) {
    const sb = readJson<{ namespace?: string; name?: string }>(join(f.dataDir, 'pods', uid, 'sandbox.json'));
    items.push({ kind: 'pod', name: sb?.namespace && sb.name ? `${sb.namespace}/${sb.name} (${uid})` : uid });
  }
  const ids = new Set([...listDir(join(f.dataDir, 'runtime', 'state')), ...listDir(join(f.dataDir, 'runtime', 'containers'))]);
  for (const id of ids) items.push({ kind: 'container', name: id });
  for (const pid of conmonsOf(f.dataDir)) items.push({ kind: 'conmon', name: `pid ${pid}` });
  const netns = new Set(listNetns(f.netnsPrefix));
  for (const file of listDir(join(f.dataDir, 'network', 'pods'))) {
    const n = readJson<{ netnsName?: string }>(join(f.dataDir, 'network', 'pods', file))?.netnsName;
    if (n && netnsExists(n)) netns.add(n);
  }
  for (const n of netns) items.push({ kind: 'netns', name: n });
  for (const l of [f.bridge, f.overlayDevice, ...f.networkDevices]) if (l && linkExists(l)) items.push({ kind: 'link', name: l });
  const wanted = new Set(Object.values(tableNames(f.bridge)));
  const tables = spawnSync(systemTool('nft'), ['list', 'tables'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of tables.split('\n')) {
    const [, family, name] = line.trim().split(/\s+/);
    if (name && wanted.has(name)) items.push({ kind: 'nft-table', name: `${family} ${name}` });
  }
  const layout = readCgroupLayout();
  for (const uid of f.uids) {
    // one item per pod, however many hierarchies (cgroup v1) hold it
    const dirs = cgroupDirs(layout, podCgroupParent(uid)).filter((d) => existsSync(d));
    if (dirs.length) items.push({ kind: 'cgroup', name: `${podCgroupParent(uid)} (${dirs.length === 1 ? dirs[0] : `${dirs.length} hierarchies`})` });
  }
  const mountText = readFileSync('/proc/self/mountinfo', 'utf8');
  const mounts = new Set<string>();
  for (const line of mountText.split('\n')) {
    const p = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p && p.startsWith(`${f.dataDir}/`)) mounts.add(p);
  }
  for (const m of mounts) items.push({ kind: 'mount', name: m });
  return items;
}

/** `skiff server`, `skiff agent` or `skiff up` on this data dir, or any node process holding a file in it open. */
export function nodeProcessUsing(dataDirIn: string): { pid: number; command: string } | undefined {
  const dataDir = resolve(dataDirIn);
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const exe = readlinkSync(`/proc/${p}/exe`);
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const skiff = argv.findIndex((a) => /(^|\/)skiff(\.js)?$|(^|\/)cmd\/main\.js$/.test(a));
      const isNode = /(^|\/)node(js)?[^/]*$/.test(exe) || skiff >= 0;
      if (!isNode) continue;
      // Container processes run under the pods' cgroups: they are what reset stops.
      if (readFileSync(`/proc/${p}/cgroup`, 'utf8').includes('/skiff/pod')) continue;
      const command = argv.join(' ');
      if (skiff >= 0 && ['server', 'agent', 'up'].includes(argv[skiff + 1] ?? '') && sameDir(dataDir, argDataDir(p, argv.slice(skiff + 2)))) return { pid: Number(p), command };
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        let target: string;
        try {
          target = readlinkSync(`/proc/${p}/fd/${fd}`);
        } catch {
          continue;
        }
        if (target === dataDir || within(dataDir, target)) return { pid: Number(p), command };
      }
    } catch {
      /* ended, or not ours to look at */
    }
  }
  return undefined;
}

/** The --data-dir a skiff process runs with: flag, then SKIFF_DATA_DIR, then the default; relative to its cwd. */
function argDataDir(pid: string, args: string[]): string {
  let dir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--data-dir') dir = args[i + 1];
    else if (a.startsWith('--data-dir=')) dir = a.slice('--data-dir='.length);
  }
  if (dir === undefined) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('SKIFF_DATA_DIR='));
      if (env) dir = env.slice('SKIFF_DATA_DIR='.length);
    } catch {
      /* unreadable: the default */
    }
  }
  dir ??= '/var/lib/skiff';
  let cwd = '/';
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    /* gone */
  }
  return resolve(cwd, dir);
}

function sameDir(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

function within(dir: string, p: string): boolean {
  return p.startsWith(`${dir}/`);
}

function linkExists(name: string): boolean {
  return existsSync(`/proc/sys/net/ipv4/conf/${name}`) || spawnSync(systemTool('ip'), ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
