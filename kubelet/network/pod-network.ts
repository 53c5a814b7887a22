// The pod network of one node, built from the CNI reference plugins: every pod gets a pinned netns
// with lo up (loopback), eth0 on the node's bridge with the address the caller allocated (bridge +
// static IPAM), and its hostPorts (portmap). Egress leaves through an nftables masquerade.
// Each pod's set-up is recorded under stateDir before any change, so a restarted agent finds (and
// can tear down) whatever it built, including half-built pods.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { invokeCni, pluginAvailable, runTool, type CniResult } from './cni.js';
import { createNetns, deleteNetns, listNetns, netnsExists, netnsNameFor, netnsPath } from './netns.js';
import { cleanupPortmapLeftovers, enableIpForward, ensureNatTable, natTableName, removeNatTable } from './nat.js';
import { cidrContains, intToIp, ipToInt, parseCidr } from './pod-ips.js';

export interface PodNetworkOptions {
  /** the agent's data dir for this network's state, e.g. <data>/network */
  stateDir: string;
  /** the node's pod CIDR, e.g. 10.244.3.0/24; the bridge takes its first host address as gateway */
  podCIDR: string;
  /** the whole cluster's pod range (pod-to-pod traffic inside it is not masqueraded); default podCIDR */
  clusterCIDR?: string;
  /** bridge device name, default 'skiff0' (max 15 chars) */
  bridge?: string;
  /** prefix of the pinned netns names /run/netns/<prefix><uid…>, default 'skiff-'; several agents on one machine use different prefixes */
  netnsPrefix?: string;
  cniBinDir?: string; // default /usr/lib/cni
  mtu?: number;
  /** limit for each CNI plugin call, default 30 s */
  cniTimeoutMs?: number;
}

export interface HostPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  hostIP?: string;
}

export interface PodNetworkStatus {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  netnsPath: string;
  hostPorts?: HostPortMapping[];
}

/** What is on disk per pod; `phase: 'adding'` means set-up started and did not finish. */
interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  netnsName: string;
  hostPorts: HostPortMapping[];
  phase: 'adding' | 'ready';
  /** the bridge plugin's ADD result, handed to portmap as prevResult */
  result?: CniResult;
}

/**
 * Whether a link exists in this process's network namespace: /proc/sys/net follows the caller's
 * namespace, /sys/class/net the mount's (an agent run with `nsenter --net` shares the root's /sys).
 */
function linkExists(name: string): boolean {
  return existsSync(`/proc/sys/net/ipv4/conf/${name}`);
}

const IFNAME = 'eth0';
const CNI_VERSION = '1.0.0';
const REQUIRED_PLUGINS = ['bridge', 'loopback', 'static'] as const;

// ---- pure helpers (config building and validation) ----

/** The first host address of the CIDR (the bridge's address, the pods' default gateway). */
export function gatewayFor(podCIDR: string): string {
  const c = parseCidr(podCIDR);
  if (c.size < 4) throw new Error(`pod CIDR ${podCIDR} is too small (needs at least a /30)`);
  return intToIp(c.base + 1);
}

/** Throws unless ip is a usable pod address of the CIDR (not network, gateway or broadcast). */
export function checkPodIp(podCIDR: string, ip: string): void {
  const c = parseCidr(podCIDR);
  const n = ipToInt(ip);
  if (!cidrContains(podCIDR, ip)) throw new Error(`pod IP ${ip} is outside the pod CIDR ${podCIDR}`);
  const off = n - c.base;
  if (off === 0) throw new Error(`pod IP ${ip} is the network address of ${podCIDR}`);
  if (off === 1) throw new Error(`pod IP ${ip} is the gateway of ${podCIDR}`);
  if (off === c.size - 1) throw new Error(`pod IP ${ip} is the broadcast address of ${podCIDR}`);
}

export function checkBridgeName(bridge: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(bridge)) {
    throw new Error(`invalid bridge name ${JSON.stringify(bridge)} (1-15 letters, digits, _ . -)`);
  }
}

export function checkHostPorts(ports: HostPortMapping[]): void {
  const seen = new Set<string>();
  for (const p of ports) {
    for (const [k, v] of [['hostPort', p.hostPort], ['containerPort', p.containerPort]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`hostPort mapping: ${k} ${v} is not a port number (1-65535)`);
    }
    if (!['TCP', 'UDP', 'SCTP'].includes(p.protocol)) throw new Error(`hostPort mapping: unknown protocol ${JSON.stringify(p.protocol)}`);
    if (p.hostIP !== undefined && p.hostIP !== '') ipToInt(p.hostIP);
    const key = `${p.hostIP ?? ''}:${p.hostPort}/${p.protocol}`;
    if (seen.has(key)) throw new Error(`hostPort ${key} is mapped twice`);
    seen.add(key);
  }
}

export function networkName(bridge: string): string {
  return `skiff-${bridge}`;
}

export function loopbackConfig(): Record<string, unknown> & { type: string } {
  return { cniVersion: CNI_VERSION, name: 'skiff-lo', type: 'loopback' };
}

/**
 * bridge + static IPAM. ip undefined builds the DEL config of a pod whose address is not known
 * (static IPAM allocates nothing, so DEL needs no address).
 */
export function bridgeConfig(o: { bridge: string; podCIDR: string; ip?: string; mtu?: number }): Record<string, unknown> & { type: string } {
  const gateway = gatewayFor(o.podCIDR);
  const prefix = parseCidr(o.podCIDR).prefix;
  const conf: Record<string, unknown> & { type: string } = {
    cniVersion: CNI_VERSION,
    name: networkName(o.bridge),
    type: 'bridge',
    bridge: o.bridge,
    isGateway: true,
    isDefaultGateway: false,
    // egress NAT is ours (nftables), not the plugin's iptables rules
    ipMasq: false,
    hairpinMode: true,
    ipam: {
      type: 'static',
      addresses: o.ip ? [{ address: `${o.ip}/${prefix}`, gateway }] : [],
      routes: [{ dst: '0.0.0.0/0', gw: gateway }],
    },
  };
  if (o.mtu !== undefined) conf.mtu = o.mtu;
  return conf;
}

export function portmapConfig(o: { bridge: string; hostPorts: HostPortMapping[]; prevResult?: CniResult }): Record<string, unknown> & { type: string } {
  const conf: Record<string, unknown> & { type: string } = {
    cniVersion: CNI_VERSION,
    name: networkName(o.bridge),
    type: 'portmap',
    capabilities: { portMappings: true },
    // hairpin and localhost access to a hostPort need the source rewritten
    snat: true,
    runtimeConfig: {
      portMappings: o.hostPorts.map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: p.protocol.toLowerCase(),
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      })),
    },
  };
  if (o.prevResult) conf.prevResult = o.prevResult;
  return conf;
}

function samePorts(a: HostPortMapping[], b: HostPortMapping[]): boolean {
  const key = (p: HostPortMapping) => `${p.hostIP ?? ''}|${p.hostPort}|${p.containerPort}|${p.protocol}`;
  const ka = a.map(key).sort();
  const kb = b.map(key).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i]);
}

const UID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkUid(uid: string): void {
  if (!UID_RE.test(uid)) throw new Error(`invalid pod uid ${JSON.stringify(uid)}`);
}

// ---- the node's pod network ----

export class PodNetwork {
  readonly gateway: string;
  readonly bridge: string;
  readonly podCIDR: string;
  readonly clusterCIDR: string;
  readonly netnsPrefix: string;
  readonly natTable: string;
  private readonly binDir: string;
  private readonly podsDir: string;
  private readonly mtu: number | undefined;
  private readonly cniTimeoutMs: number | undefined;
  /** per-pod chains of operations: one pod's steps run in order, different pods in parallel */
  private readonly locks = new Map<string, Promise<void>>();
  /** the bridge plugin creates the bridge on the first ADD; until that worked, ADDs go one at a time */
  private bridgeReady: boolean;
  private bridgeGate: Promise<void> | undefined;
  private destroyed = false;

  private constructor(opts: PodNetworkOptions) {
    this.podCIDR = opts.podCIDR;
    this.clusterCIDR = opts.clusterCIDR ?? opts.podCIDR;
    this.bridge = opts.bridge ?? 'skiff0';
    this.netnsPrefix = opts.netnsPrefix ?? 'skiff-';
    this.binDir = opts.cniBinDir ?? '/usr/lib/cni';
    this.mtu = opts.mtu;
    this.cniTimeoutMs = opts.cniTimeoutMs;
    this.gateway = gatewayFor(this.podCIDR);
    this.natTable = natTableName(this.bridge);
    this.podsDir = join(opts.stateDir, 'pods');
    this.bridgeReady = linkExists(this.bridge);
  }

  static async open(opts: PodNetworkOptions): Promise<PodNetwork> {
    const pod = parseCidr(opts.podCIDR);
    const clusterCIDR = opts.clusterCIDR ?? opts.podCIDR;
    const cluster = parseCidr(clusterCIDR);
    if (cluster.prefix > pod.prefix || !cidrContains(clusterCIDR, intToIp(pod.base))) {
      throw new Error(`pod CIDR ${opts.podCIDR} is not inside the cluster CIDR ${clusterCIDR}`);
    }
    checkBridgeName(opts.bridge ?? 'skiff0');
    netnsNameFor(opts.netnsPrefix ?? 'skiff-', '0'); // validates the prefix
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 576 || opts.mtu > 65535)) {
      throw new Error(`invalid MTU ${opts.mtu}`);
    }
    const binDir = opts.cniBinDir ?? '/usr/lib/cni';
    const missing = REQUIRED_PLUGINS.filter((p) => !pluginAvailable(binDir, p));
    if (missing.length) {
      throw new Error(`CNI plugins missing in ${binDir}: ${missing.join(', ')} (Debian: apt-get install containernetworking-plugins)`);
    }

    const net = new PodNetwork(opts);
    mkdirSync(net.podsDir, { recursive: true });
    enableIpForward();
    await ensureNatTable(net.natTable, net.podCIDR, net.clusterCIDR);
    // A pod whose set-up was cut short has no usable network; clear it so the caller's next setUp starts clean.
    for (const rec of net.readRecords()) {
      if (rec.phase !== 'ready') await net.tearDown(rec.uid);
    }
    return net;
  }

  /**
   * Creates the bridge with the gateway address now rather than at the first pod, for services
   * that listen on the gateway (the node's cluster DNS). The bridge plugin adopts it as it is.
   */
  async ensureBridge(): Promise<void> {
    this.checkOpen();
    if (!linkExists(this.bridge)) {
      await runTool('ip', ['link', 'add', 'name', this.bridge, 'type', 'bridge']).catch((e) => {
        if (!linkExists(this.bridge)) throw e;
      });
    }
    if (this.mtu !== undefined) await runTool('ip', ['link', 'set', 'dev', this.bridge, 'mtu', String(this.mtu)]);
    const prefix = parseCidr(this.podCIDR).prefix;
    const out = await runTool('ip', ['-j', '-4', 'addr', 'show', 'dev', this.bridge]);
    const has = (JSON.parse(out) as { addr_info?: { local?: string }[] }[]).some((l) => (l.addr_info ?? []).some((a) => a.local === this.gateway));
    if (!has) await runTool('ip', ['addr', 'add', `${this.gateway}/${prefix}`, 'dev', this.bridge]);
    await runTool('ip', ['link', 'set', 'dev', this.bridge, 'up']);
    this.bridgeReady = true;
  }

  /**
   * ip null: the pod is not on this (the default) network — only its namespace with lo is made,
   * for the caller to attach it to its own networks.
   */
  async setUp(pod: { uid: string; namespace: string; name: string }, ip: string | null, hostPorts: HostPortMapping[] = []): Promise<PodNetworkStatus> {
    this.checkOpen();
    checkUid(pod.uid);
    if (ip !== null) checkPodIp(this.podCIDR, ip);
    checkHostPorts(hostPorts);
    if (hostPorts.length && !pluginAvailable(this.binDir, 'portmap')) {
      throw new Error(`hostPorts need the CNI portmap plugin, missing in ${this.binDir}`);
    }
    const netnsName = netnsNameFor(this.netnsPrefix, pod.uid);
    return this.withLock(pod.uid, async () => {
      this.checkOpen();
      const existing = this.readRecord(pod.uid);
      if (existing && (await this.isIntact(existing, ip, hostPorts))) return this.status(existing);
      if (existing || netnsExists(netnsName)) await this.teardownPod(pod.uid, existing);

      const clash = this.readRecords().find((r) => r.uid !== pod.uid && r.netnsName === netnsName);
      if (clash) throw new Error(`pods ${clash.uid} and ${pod.uid} map to the same network namespace name ${netnsName}`);
      const ipUser = ip === null ? undefined : this.readRecords().find((r) => r.uid !== pod.uid && r.ip === ip);
      if (ipUser) throw new Error(`pod IP ${ip} is already used by pod ${ipUser.namespace}/${ipUser.name} (${ipUser.uid})`);

      const rec: PodRecord = { uid: pod.uid, namespace: pod.namespace, name: pod.name, ip: ip ?? '', netnsName, hostPorts, phase: 'adding' };
      this.writeRecord(rec);
      try {
        await this.serializedUntilBridge(() => this.addPod(rec));
      } catch (e) {
        try {
          await this.teardownPod(pod.uid, rec);
        } catch (cleanupErr) {
          throw new Error(`${(e as Error).message}; cleaning up the half set-up pod failed too: ${(cleanupErr as Error).message}`, { cause: e });
        }
        throw e;
      }
      return this.status(rec);
    });
  }

  async tearDown(uid: string): Promise<void> {
    checkUid(uid);
    await this.withLock(uid, () => this.teardownPod(uid, this.readRecord(uid)));
  }

  async list(): Promise<PodNetworkStatus[]> {
    return this.readRecords()
      .filter((r) => r.phase === 'ready')
      .map((r) => this.status(r));
  }

  /** Tears down every pod, then the bridge, the NAT table and (if unused) portmap's shared chains. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await Promise.all([...this.locks.values()]);
    const errors: string[] = [];
    for (const rec of this.readRecords()) {
      await this.tearDown(rec.uid).catch((e: Error) => errors.push(e.message));
    }
    // namespaces under our prefix without a record (state dir lost or record write interrupted)
    for (const name of listNetns(this.netnsPrefix)) {
      await deleteNetns(name).catch((e: Error) => errors.push(e.message));
    }
    // bridge DEL leaves the bridge device behind: it is ours to remove
    if (linkExists(this.bridge)) {
      await runTool('ip', ['link', 'delete', this.bridge, 'type', 'bridge']).catch((e: Error) => {
        if (linkExists(this.bridge)) errors.push(e.message);
      });
    }
    this.bridgeReady = false;
    await removeNatTable(this.natTable).catch((e: Error) => errors.push(e.message));
    // Shared with every other portmap user on the host: removed only when nobody maps a port any more.
    await cleanupPortmapLeftovers().catch((e: Error) => errors.push(e.message));
    try {
      // temp files of record writes cut short by a crash
      for (const f of readdirSync(this.podsDir)) if (f.startsWith('.') && f.endsWith('.tmp')) rmSync(join(this.podsDir, f), { force: true });
      rmdirSync(this.podsDir);
    } catch {
      // not empty (a failed teardown keeps its record for a retry) or already gone
    }
    if (errors.length) throw new Error(`pod network ${this.bridge}: destroy left things behind: ${errors.join('; ')}`);
  }

  // ---- internals ----

  private async addPod(rec: PodRecord): Promise<void> {
    const path = await createNetns(rec.netnsName);
    await this.cni('ADD', loopbackConfig(), rec.uid, path, 'lo');
    if (!rec.ip) {
      rec.phase = 'ready';
      this.writeRecord(rec);
      return;
    }
    const result = await this.cni('ADD', bridgeConfig({ bridge: this.bridge, podCIDR: this.podCIDR, ip: rec.ip, mtu: this.mtu }), rec.uid, path, IFNAME);
    if (!result) throw new Error(`CNI bridge ADD for pod ${rec.uid} returned no result`);
    rec.result = result;
    this.writeRecord(rec);
    if (rec.hostPorts.length) {
      await this.cni('ADD', portmapConfig({ bridge: this.bridge, hostPorts: rec.hostPorts, prevResult: result }), rec.uid, path, IFNAME);
    }
    rec.phase = 'ready';
    this.writeRecord(rec);
  }

  /**
   * Every step runs even when an earlier one failed, so a retry has as little as possible left to
   * do; the record stays (and the error is thrown) until all steps succeeded.
   */
  private async teardownPod(uid: string, rec: PodRecord | undefined): Promise<void> {
    const netnsName = rec?.netnsName ?? netnsNameFor(this.netnsPrefix, uid);
    const path = netnsPath(netnsName);
    const errors: string[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        errors.push((e as Error).message);
      }
    };
    if (rec?.hostPorts.length) {
      await step(() => this.cni('DEL', portmapConfig({ bridge: this.bridge, hostPorts: rec.hostPorts, prevResult: rec.result }), uid, path, IFNAME));
    }
    if (netnsExists(netnsName)) {
      if (rec?.ip !== '') await step(() => this.cni('DEL', bridgeConfig({ bridge: this.bridge, podCIDR: this.podCIDR, ip: rec?.ip, mtu: this.mtu }), uid, path, IFNAME));
      await step(() => this.cni('DEL', loopbackConfig(), uid, path, 'lo'));
    }
    // Deleting the namespace also destroys the veth pair if bridge DEL could not.
    await step(() => deleteNetns(netnsName));
    if (errors.length) throw new Error(`tearing down the network of pod ${uid} failed: ${errors.join('; ')}`);
    rmSync(this.recordPath(uid), { force: true });
  }

  private async isIntact(rec: PodRecord, ip: string | null, hostPorts: HostPortMapping[]): Promise<boolean> {
    if (rec.phase !== 'ready' || rec.ip !== (ip ?? '') || !samePorts(rec.hostPorts, hostPorts)) return false;
    if (ip === null) return netnsExists(rec.netnsName);
    if (!netnsExists(rec.netnsName) || !linkExists(this.bridge)) return false;
    try {
      const out = await runTool('ip', ['-n', rec.netnsName, '-j', '-4', 'addr', 'show', 'dev', IFNAME]);
      const links = JSON.parse(out) as { addr_info?: { local?: string }[] }[];
      return links.some((l) => (l.addr_info ?? []).some((a) => a.local === ip));
    } catch {
      return false;
    }
  }

  private cni(command: 'ADD' | 'DEL', config: Record<string, unknown> & { type: string }, uid: string, netns: string, ifName: string) {
    return invokeCni({ command, config, containerId: uid, netns, ifName, binDir: this.binDir, timeoutMs: this.cniTimeoutMs });
  }

  /** Runs fn alone while the bridge does not exist yet (concurrent creation races in the plugin), in parallel after. */
  private async serializedUntilBridge<T>(fn: () => Promise<T>): Promise<T> {
    while (!this.bridgeReady) {
      if (!this.bridgeGate) {
        const run = fn();
        this.bridgeGate = run.then(
          () => {
            this.bridgeReady = true;
          },
          () => undefined,
        );
        try {
          return await run;
        } finally {
          this.bridgeGate = undefined;
        }
      }
      await this.bridgeGate;
    }
    return fn();
  }

  private async withLock<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uid) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(uid, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(uid) === tail) this.locks.delete(uid);
    }
  }

  private checkOpen(): void {
    if (this.destroyed) throw new Error(`pod network ${this.bridge} has been destroyed`);
  }

  private status(rec: PodRecord): PodNetworkStatus {
    const s: PodNetworkStatus = { uid: rec.uid, namespace: rec.namespace, name: rec.name, ip: rec.ip, netnsPath: netnsPath(rec.netnsName) };
    if (rec.hostPorts.length) s.hostPorts = rec.hostPorts;
    return s;
  }

  private recordPath(uid: string): string {
    return join(this.podsDir, `${uid}.json`);
  }

  private writeRecord(rec: PodRecord): void {
    const tmp = join(this.podsDir, `.${rec.uid}.${randomBytes(4).toString('hex')}.tmp`);
    writeFileSync(tmp, JSON.stringify(rec, null, 2));
    renameSync(tmp, this.recordPath(rec.uid));
  }

  private readRecord(uid: string): PodRecord | undefined {
    let text: string;
    try {
      text = readFileSync(this.recordPath(uid), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const rec = JSON.parse(text) as PodRecord;
    if (rec.uid !== uid || typeof rec.ip !== 'string' || typeof rec.netnsName !== 'string' || !Array.isArray(rec.hostPorts)) {
      throw new Error(`pod network record ${this.recordPath(uid)} is malformed`);
    }
    return rec;
  }

  private readRecords(): PodRecord[] {
    if (!existsSync(this.podsDir)) return [];
    const out: PodRecord[] = [];
    for (const f of readdirSync(this.podsDir)) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const rec = this.readRecord(f.slice(0, -'.json'.length));
      if (rec) out.push(rec);
    }
    return out;
  }
}
