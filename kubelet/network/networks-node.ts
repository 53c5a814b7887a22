// The node side of extra Networks: a bridge per network this node has a slice of (the slice's
// first host address as gateway), a VXLAN device per overlay network (peers from the other
// nodes' slices, reached through their VTEP addresses), the isolation table, and for each pod one
// more interface per network it names (net1, net2, ... in order) with an address from the slice,
// or, on a cni network, whatever its plugins make (cni-network.ts; ADD on attach, DEL on detach).
// The default network (eth0) stays with PodNetwork and VxlanOverlay. Plain iproute2 commands,
// optionally inside a named netns (a simulated host), so one code path serves both.
import { existsSync } from 'node:fs';
import type { KObject } from '../../pkg/api/types.js';
import type { Logger } from '../../pkg/log/logger.js';
import { DEFAULT_NETWORK } from '../../pkg/api/networks.js';
import { AttachmentStore, checkUid, type AttachmentRecord, type BridgeAttachmentRecord, type CniAttachmentRecord, type PodRecord } from './attachment-store.js';
import { cniAdd, cniDel, missingPlugins, podCniArgs, resultAddress, type CniRuntime } from './cni-network.js';
import { runTool, systemTool, ToolError } from './cni.js';
import { DEFAULT_ISOLATION_TABLE, buildIsolationRuleset, checkTableName, removeTableScript } from './isolation-rules.js';
import { enableIpForward } from './nat.js';
import { checkNetnsName } from './netns.js';
import { allocateAddress, hostVethName, isPodAddressOf, planNodeNetworks, type CniNetwork, type LocalNetwork, type NodeNetworksPlan } from './networks-plan.js';
import { VxlanOverlay } from './overlay.js';
import { podMtuFor } from './overlay-plan.js';

export interface NodeNetworksOptions {
  nodeName: string;
  /** underlay address, the VTEP of every overlay network */
  nodeIP: string;
  /** per-pod attachment records and owned devices, kept across restarts */
  stateDir: string;
  /** CNI plugins for driver cni (CNI_PATH), default /usr/lib/cni */
  cniBinDir?: string;
  /** limit for each CNI plugin call, default 30 s */
  cniTimeoutMs?: number;
  /** run everything inside this named netns (tests, several simulated hosts on one machine) */
  netns?: string;
  /** nftables table of the isolation rules, default skiff-isolation */
  table?: string;
  log?: Logger;
}

export interface Attachment {
  network: string;
  /** net1, net2, ... in the order the networks were named */
  interface: string;
  ip: string;
  prefix: number;
}

const DEFAULT_MTU = 1500;

export class NodeNetworks {
  private readonly store: AttachmentStore;
  private readonly sh: NodeShell;
  private readonly table: string;
  private readonly binDir: string;
  private readonly log: Logger | undefined;
  /** what the last sync found; attach works from it */
  private plan: NodeNetworksPlan | undefined;
  /** networks whose devices failed to come up in the last sync, with the error */
  private failed = new Map<string, string>();
  private readonly overlays = new Map<string, VxlanOverlay>();
  /** every operation runs on this chain: devices, records and address allocation never race */
  private chain: Promise<unknown> = Promise.resolve();
  private pendingSync: { args: [KObject[], KObject[]]; promise: Promise<void> } | undefined;
  private destroyed = false;

  constructor(private readonly opts: NodeNetworksOptions) {
    if (opts.netns !== undefined) checkNetnsName(opts.netns);
    this.table = opts.table ?? DEFAULT_ISOLATION_TABLE;
    this.binDir = opts.cniBinDir ?? '/usr/lib/cni';
    checkTableName(this.table);
    this.sh = new NodeShell(opts.netns);
    this.log = opts.log;
    this.store = new AttachmentStore(opts.stateDir);
  }

  /**
   * Makes this node's bridges, VXLAN devices and isolation table match the Networks. Calls made
   * while one is waiting to run merge into it (the latest arguments win).
   */
  sync(networks: KObject[], nodes: KObject[]): Promise<void> {
    if (this.pendingSync) {
      this.pendingSync.args = [networks, nodes];
      return this.pendingSync.promise;
    }
    const pending = { args: [networks, nodes] as [KObject[], KObject[]], promise: undefined as unknown as Promise<void> };
    pending.promise = this.enqueue(() => {
      this.pendingSync = undefined;
      return this.syncNow(...pending.args);
    });
    this.pendingSync = pending;
    return pending.promise;
  }

  /**
   * Gives the pod one interface per network (after the last sync), `default` left out: eth0 is
   * PodNetwork's. Re-attaching returns the same interfaces and addresses; networks no longer
   * named lose theirs.
   */
  attach(pod: { uid: string; namespace: string; name: string }, netnsPath: string, networks: string[]): Promise<Attachment[]> {
    checkUid(pod.uid);
    return this.enqueue(() => this.attachNow(pod, netnsPath, networks));
  }

  attachments(uid: string): Attachment[] {
    return (this.store.pod(uid)?.attachments ?? []).filter(complete).map(publicView);
  }

  detach(uid: string): Promise<void> {
    checkUid(uid);
    return this.enqueue(() => this.detachNow(uid));
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.chain.catch(() => undefined);
    const errors: string[] = [];
    for (const p of this.store.allPods()) await this.detachNow(p.uid).catch((e: Error) => errors.push(e.message));
    for (const d of this.store.ownedDevices()) {
      await this.deleteLink(d.name)
        .then(() => this.store.removeDevice(d.kind, d.name))
        .catch((e: Error) => errors.push(e.message));
    }
    this.overlays.clear();
    await this.sh.nft(removeTableScript(this.table)).catch((e: Error) => errors.push(e.message));
    if (errors.length) throw new Error(`node networks: destroy left things behind: ${errors.join('; ')}`);
    this.store.removeAll();
  }

  // ---- sync ----

  private async syncNow(networks: KObject[], nodes: KObject[]): Promise<void> {
    const plan = planNodeNetworks(networks, nodes, this.opts.nodeName, this.opts.nodeIP);
    for (const w of plan.warnings) this.log?.warn(w);
    const errors: string[] = [];
    const failed = new Map<string, string>();
    const wanted = new Map<string, LocalNetwork>(plan.local.map((n) => [n.name, n]));

    // Devices of networks that are gone, lost this node's slice or changed shape go first: a new
    // network may reuse a bridge name or VNI an old one had.
    for (const d of this.store.ownedDevices()) {
      const n = wanted.get(d.network);
      const keep = n && (d.kind === 'bridge' ? n.bridge === d.name : n.vxlan?.device === d.name);
      if (keep) continue;
      try {
        if (d.kind === 'vxlan') this.overlays.delete(d.network);
        await this.deleteLink(d.name);
        this.store.removeDevice(d.kind, d.name);
      } catch (e) {
        errors.push(`removing ${d.kind} ${d.name} of Network ${d.network}: ${(e as Error).message}`);
      }
    }

    if (plan.local.length) await this.sh.enableForwarding();
    const underlayMTU = plan.local.length ? await this.sh.underlayMtu(this.opts.nodeIP) : DEFAULT_MTU;
    for (const n of plan.local) {
      try {
        await this.ensureNetwork(n, underlayMTU);
      } catch (e) {
        failed.set(n.name, (e as Error).message);
        errors.push(`Network ${n.name}: ${(e as Error).message}`);
      }
    }

    try {
      const extras = plan.isolation.some((s) => s.network !== DEFAULT_NETWORK);
      await this.sh.nft(extras ? buildIsolationRuleset(this.table, plan.isolation) : removeTableScript(this.table));
    } catch (e) {
      errors.push(`isolation table ${this.table}: ${(e as Error).message}`);
    }

    this.plan = plan;
    this.failed = failed;
    if (errors.length) throw new Error(`node networks sync: ${errors.join('; ')}`);
  }

  private mtuOf(n: LocalNetwork, underlayMTU: number): number {
    return n.vxlan ? podMtuFor(underlayMTU) : underlayMTU;
  }

  private async ensureNetwork(n: LocalNetwork, underlayMTU: number): Promise<void> {
    const mtu = this.mtuOf(n, underlayMTU);
    // recorded before it exists: a crash in between still leaves it known as ours
    this.store.addDevice({ kind: 'bridge', name: n.bridge, network: n.name });
    const link = await this.sh.link(n.bridge);
    if (link && link.kind !== 'bridge') throw new Error(`device ${n.bridge} exists and is a ${link.kind ?? 'plain'} device, not a bridge`);
    if (!link) await this.sh.ip(['link', 'add', 'name', n.bridge, 'mtu', String(mtu), 'type', 'bridge']);
    else if (link.mtu !== mtu) await this.sh.ip(['link', 'set', 'dev', n.bridge, 'mtu', String(mtu)]);
    const want = `${n.gateway}/${n.prefix}`;
    const have = await this.sh.addresses(n.bridge);
    // a slice that changed leaves its old gateway behind
    for (const a of have) if (a !== want) await this.sh.ip(['addr', 'del', a, 'dev', n.bridge]);
    if (!have.includes(want)) await this.sh.ip(['addr', 'replace', want, 'dev', n.bridge]);
    if (!link?.up) await this.sh.ip(['link', 'set', 'dev', n.bridge, 'up']);

    if (!n.vxlan) return;
    const { vni, device, peers } = n.vxlan;
    let ov = this.overlays.get(n.name);
    if (ov && (ov.device !== device || ov.vni !== vni || ov.podCIDR !== n.slice)) {
      this.overlays.delete(n.name);
      ov = undefined;
    }
    if (!ov) {
      this.store.addDevice({ kind: 'vxlan', name: device, network: n.name });
      ov = await VxlanOverlay.open({ vni, device, localIP: this.opts.nodeIP, podCIDR: n.slice, underlayMTU, netns: this.opts.netns });
      this.overlays.set(n.name, ov);
    }
    await ov.sync(peers);
    if (ov.lastSync.skipped.length) {
      this.log?.warn({ network: n.name, skipped: ov.lastSync.skipped.map((s) => `${s.peer.node}: ${s.reason}`) }, 'overlay peers left out');
    }
  }

  // ---- attach / detach ----

  private usable(name: string): LocalNetwork | CniNetwork {
    const plan = this.plan;
    if (!plan) throw new Error(`Network ${name}: this node has not synced its Networks yet`);
    const why = plan.unusable.get(name);
    if (why) throw new Error(why);
    const c = plan.cni.find((x) => x.name === name);
    if (c) return c;
    const n = plan.local.find((l) => l.name === name);
    if (!n) throw new Error(`unknown network ${JSON.stringify(name)}`);
    const failed = this.failed.get(name);
    if (failed) throw new Error(`Network ${name} could not be set up on node ${this.opts.nodeName}: ${failed}`);
    return n;
  }

  private async attachNow(pod: { uid: string; namespace: string; name: string }, netnsPath: string, networks: string[]): Promise<Attachment[]> {
    if (this.destroyed) throw new Error('node networks have been destroyed');
    if (!existsSync(netnsPath)) throw new Error(`network namespace ${netnsPath} of pod ${pod.namespace}/${pod.name} does not exist`);
    const names = [...new Set(networks.filter((n) => n !== DEFAULT_NETWORK))];
    const nets = names.map((n) => this.usable(n));
    for (const n of nets) {
      if (!isCni(n)) continue;
      const missing = missingPlugins(n.conf, this.binDir);
      if (missing.length) throw new Error(`Network ${n.name}: CNI plugin ${missing.join(', ')} is not installed in ${this.binDir}`);
    }
    const prev = this.store.pod(pod.uid);

    const want: AttachmentRecord[] = [];
    for (const [i, n] of nets.entries()) {
      const iface = `net${i + 1}`;
      if (isCni(n)) {
        // What the plugins made for this pod stays as it was made, even if the Network was edited
        // since: a pod's interfaces change when it is re-created, as with any runtime.
        const old = prev?.netnsPath === netnsPath ? prev.attachments.find((a) => a.kind === 'cni' && a.network === n.name && a.interface === iface) : undefined;
        want.push(old ?? { kind: 'cni', network: n.name, interface: iface, conf: n.conf, containerId: pod.uid, cniArgs: podCniArgs(pod) });
        continue;
      }
      const old = prev?.attachments.find((a): a is BridgeAttachmentRecord => a.kind !== 'cni' && a.network === n.name);
      const used = this.store.usedAddresses(n.name, pod.uid);
      const ip = old && old.slice === n.slice && isPodAddressOf(n.slice, old.ip) && !used.has(old.ip) ? old.ip : allocateAddress(n.name, n.slice, used);
      want.push({
        network: n.name,
        interface: iface,
        ip,
        prefix: n.prefix,
        slice: n.slice,
        subnet: n.subnet,
        gateway: n.gateway,
        bridge: n.bridge,
        hostVeth: hostVethName(pod.uid, n.name),
      });
    }

    // Interfaces no longer wanted as they are go before the record forgets them (last made, first undone).
    for (const a of [...(prev?.attachments ?? [])].reverse()) {
      if (want.some((w) => w === a || sameAttachment(w, a))) continue;
      // A plugin that fails DEL here must not keep the pod from its new interfaces: logged only.
      if (a.kind === 'cni') await this.cniRelease(a, prev!.netnsPath, false);
      else await this.deleteLink(a.hostVeth);
    }
    const rec: PodRecord = { uid: pod.uid, namespace: pod.namespace, name: pod.name, netnsPath, attachments: want };
    this.store.putPod(rec);
    try {
      for (const a of want) {
        if (a.kind === 'cni') {
          await this.ensureCniAttachment(rec, a);
          continue;
        }
        const n = nets.find((x) => x.name === a.network) as LocalNetwork;
        await this.ensureAttachment(a, netnsPath, (await this.sh.link(n.bridge))?.mtu ?? DEFAULT_MTU);
      }
    } catch (e) {
      try {
        await this.detachNow(pod.uid);
      } catch (cleanup) {
        throw new Error(`${(e as Error).message}; removing the half-attached interfaces failed too: ${(cleanup as Error).message}`, { cause: e });
      }
      throw e;
    }
    return want.map(publicView);
  }

  private async ensureAttachment(a: BridgeAttachmentRecord, netnsPath: string, mtu: number): Promise<void> {
    const pod = new PodShell(netnsPath);
    const host = await this.sh.link(a.hostVeth);
    if (host && host.master === a.bridge && host.up) {
      const podLink = await pod.link(a.interface);
      if (podLink?.up && (await pod.addresses(a.interface)).includes(`${a.ip}/${a.prefix}`)) {
        await this.routeInPod(pod, a);
        return;
      }
    }
    if (host) await this.deleteLink(a.hostVeth);
    // a leftover interface of that name in the pod (say, from an agent that lost its records)
    if (await pod.link(a.interface)) await pod.ip(['link', 'delete', 'dev', a.interface]);
    await this.sh.ip(['link', 'add', a.hostVeth, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', a.interface, 'mtu', String(mtu), 'netns', netnsPath]);
    await this.sh.ip(['link', 'set', 'dev', a.hostVeth, 'master', a.bridge, 'up']);
    await pod.ip(['addr', 'replace', `${a.ip}/${a.prefix}`, 'dev', a.interface]);
    await pod.ip(['link', 'set', 'dev', a.interface, 'up']);
    await this.routeInPod(pod, a);
  }

  /** The rest of the network (other nodes' slices) via the gateway; never a default route. */
  private async routeInPod(pod: PodShell, a: BridgeAttachmentRecord): Promise<void> {
    if (a.subnet === a.slice) return;
    await pod.ip(['route', 'replace', a.subnet, 'via', a.gateway, 'dev', a.interface]);
  }

  /**
   * Runs the plugins' ADD unless an earlier ADD's interface is still there with its address. The
   * record holds the list before ADD starts and the result right after, so DEL always has both.
   */
  private async ensureCniAttachment(rec: PodRecord, a: CniAttachmentRecord): Promise<void> {
    const pod = new PodShell(rec.netnsPath);
    if (a.started) {
      if (a.result && a.ip && (await pod.addresses(a.interface)).includes(`${a.ip}/${a.prefix}`)) return;
      // Half made (an agent stopped during ADD) or changed behind our back: undo what the plugins
      // hold (IPAM leases would clash with a second ADD), then add afresh.
      await this.cniRelease(a, rec.netnsPath, true);
      delete a.result;
      delete a.ip;
      delete a.prefix;
    } else if (await pod.link(a.interface)) {
      // a leftover of that name (an agent that lost its records) would make the plugin fail
      await pod.ip(['link', 'delete', 'dev', a.interface]);
    }
    a.started = true;
    this.store.putPod(rec);
    let result;
    try {
      result = await cniAdd(a.conf, this.cniRuntime(a, rec.netnsPath));
    } catch (e) {
      // What the plugins made up to the failure is undone now. A DEL failing as well (often the
      // same broken configuration) is only logged: the ADD error is the one the pod reports.
      await this.cniRelease(a, rec.netnsPath, false);
      a.started = false;
      this.store.putPod(rec);
      throw e;
    }
    a.result = result;
    this.store.putPod(rec);
    const addr = resultAddress(result, a.interface);
    if (!addr) {
      throw new Error(`Network ${a.network}: the CNI plugins gave ${a.interface} no IPv4 address (skiff lists one per network in the pod's IPs; configure an IPAM such as host-local)`);
    }
    a.ip = addr.ip;
    a.prefix = addr.prefix;
    this.store.putPod(rec);
    this.log?.info({ network: a.network, pod: `${rec.namespace}/${rec.name}`, interface: a.interface, ip: `${addr.ip}/${addr.prefix}` }, 'attached through CNI');
  }

  private cniRuntime(a: CniAttachmentRecord, netnsPath: string): CniRuntime {
    // CNI_NETNS is optional for DEL: a namespace that is gone took the plugins' interfaces with it.
    const netns = existsSync(netnsPath) ? netnsPath : '';
    return { containerId: a.containerId, netns, ifName: a.interface, binDir: this.binDir, args: a.cniArgs, timeoutMs: this.opts.cniTimeoutMs, hostNetns: this.opts.netns };
  }

  /**
   * DEL of every plugin, in reverse, with the recorded list and result. Failures are logged; with
   * strict they are also thrown (after all plugins had their turn), else the caller goes on: DEL
   * is meant to be idempotent, and a record kept for a plugin that keeps failing would hold the
   * pod's deletion (and the agent's shutdown) forever.
   */
  private async cniRelease(a: CniAttachmentRecord, netnsPath: string, strict: boolean): Promise<void> {
    const out = await cniDel(a.conf, this.cniRuntime(a, netnsPath), a.result);
    if (out.skipped.length) this.log?.warn({ network: a.network, interface: a.interface, skipped: out.skipped }, 'CNI DEL skipped plugins that are not installed');
    if (!out.errors.length) return;
    this.log?.warn({ network: a.network, interface: a.interface, errors: out.errors }, 'CNI DEL failed; what those plugins hold may stay behind');
    if (strict) throw new Error(`Network ${a.network} (${a.interface}): ${out.errors.join('; ')}`);
  }

  private async detachNow(uid: string): Promise<void> {
    const rec = this.store.pod(uid);
    if (!rec) return;
    const errors: string[] = [];
    const kept: AttachmentRecord[] = [];
    for (const a of [...rec.attachments].reverse()) {
      try {
        if (a.kind !== 'cni') await this.deleteLink(a.hostVeth);
        else if (a.started) await this.cniRelease(a, rec.netnsPath, true);
      } catch (e) {
        errors.push((e as Error).message);
        // A veth that would not go is retried on the next detach; a plugin's DEL is not (see cniRelease).
        if (a.kind !== 'cni') kept.unshift(a);
      }
    }
    if (kept.length) this.store.putPod({ ...rec, attachments: kept });
    else this.store.removePod(uid);
    if (errors.length) throw new Error(`detaching pod ${rec.namespace}/${rec.name} (${uid}): ${errors.join('; ')}`);
  }

  /** Deleting one end of a veth takes the other with it; a missing device is fine. */
  private async deleteLink(name: string): Promise<void> {
    try {
      await this.sh.ip(['link', 'delete', 'dev', name]);
    } catch (e) {
      if (!(e instanceof ToolError && /Cannot find device|does not exist/i.test(e.stderr))) throw e;
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.destroyed) throw new Error('node networks have been destroyed');
      return fn();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function isCni(n: LocalNetwork | CniNetwork): n is CniNetwork {
  return 'conf' in n;
}

/** Only for records whose attach finished (cni ones have their address then). */
function publicView(a: AttachmentRecord): Attachment {
  return { network: a.network, interface: a.interface, ip: a.ip!, prefix: a.prefix! };
}

function complete(a: AttachmentRecord): boolean {
  return a.ip !== undefined && a.prefix !== undefined;
}

function sameAttachment(a: AttachmentRecord, b: AttachmentRecord): boolean {
  if (a.kind === 'cni' || b.kind === 'cni') return false;
  return a.network === b.network && a.interface === b.interface && a.ip === b.ip && a.prefix === b.prefix && a.bridge === b.bridge && a.hostVeth === b.hostVeth;
}

// ---- running iproute2 / nft in the node's netns and in a pod's ----

interface LinkInfo {
  kind?: string;
  mtu?: number;
  master?: string;
  up: boolean;
}

abstract class IpShell {
  abstract ip(args: string[]): Promise<string>;

  async link(dev: string): Promise<LinkInfo | undefined> {
    let out: string;
    try {
      out = await this.ip(['-d', '-j', 'link', 'show', 'dev', dev]);
    } catch (e) {
      if (e instanceof ToolError && /does not exist|Cannot find device/i.test(e.stderr)) return undefined;
      throw e;
    }
    const l = (JSON.parse(out || '[]') as { mtu?: number; master?: string; flags?: string[]; linkinfo?: { info_kind?: string } }[])[0];
    if (!l) return undefined;
    return { kind: l.linkinfo?.info_kind, mtu: l.mtu, master: l.master, up: (l.flags ?? []).includes('UP') };
  }

  /** IPv4 addresses of dev as `a.b.c.d/len` */
  async addresses(dev: string): Promise<string[]> {
    const out = await this.ip(['-j', '-4', 'addr', 'show', 'dev', dev]);
    const rows = JSON.parse(out || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    return rows.flatMap((r) => (r.addr_info ?? []).filter((a) => a.local).map((a) => `${a.local}/${a.prefixlen}`));
  }
}

class NodeShell extends IpShell {
  constructor(readonly netns: string | undefined) {
    super();
  }

  ip(args: string[]): Promise<string> {
    return runTool('ip', this.netns ? ['-n', this.netns, ...args] : args);
  }

  nft(script: string): Promise<string> {
    if (!this.netns) return runTool('nft', ['-f', '-'], { input: script });
    return runTool('ip', ['netns', 'exec', this.netns, systemTool('nft'), '-f', '-'], { input: script });
  }

  async enableForwarding(): Promise<void> {
    if (!this.netns) {
      enableIpForward();
      return;
    }
    // /proc/sys/net is per network namespace: written from inside
    await runTool('ip', ['netns', 'exec', this.netns, systemTool('sysctl'), '-qw', 'net.ipv4.ip_forward=1']);
  }

  /** MTU of the link holding the underlay address; the common default when none does (no VXLAN is then possible anyway). */
  async underlayMtu(address: string): Promise<number> {
    const rows = JSON.parse((await this.ip(['-j', '-4', 'addr', 'show'])) || '[]') as { ifname?: string; mtu?: number; addr_info?: { local?: string }[] }[];
    const l = rows.find((r) => (r.addr_info ?? []).some((a) => a.local === address));
    if (l?.mtu && l.ifname !== 'lo' && l.mtu >= 1280) return Math.min(l.mtu, 9000);
    return DEFAULT_MTU;
  }
}

/** A pod's netns by path: `ip -n` for pinned ones under /run/netns, nsenter for any other. */
class PodShell extends IpShell {
  private readonly name: string | undefined;
  constructor(readonly path: string) {
    super();
    const m = /^\/run\/netns\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/.exec(path);
    this.name = m?.[1];
  }

  ip(args: string[]): Promise<string> {
    if (this.name) return runTool('ip', ['-n', this.name, ...args]);
    return runTool('nsenter', [`--net=${this.path}`, systemTool('ip'), ...args]);
  }
}
