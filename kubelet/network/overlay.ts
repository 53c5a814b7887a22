// The overlay network driver: a VXLAN device per node (flannel's "vxlan" backend layout) and, for
// every other node, a route to its pod CIDR via that CIDR's network address, a permanent neighbour
// entry giving that address the peer VTEP's MAC, and an fdb entry sending that MAC to the peer's
// underlay address. No learning, no multicast: the Node objects are the only source of peers.
import type { KObject } from '../../pkg/api/types.js';
import { runTool, systemTool, ToolError } from './cni.js';
import { enableIpForward } from './nat.js';
import { checkNetnsName } from './netns.js';
import {
  checkDeviceName,
  checkPort,
  checkVni,
  defaultDeviceName,
  desiredEntries,
  deviceMismatches,
  networkAddress,
  normalizeCidr,
  normalizeIp,
  normalizeMac,
  parseFdb,
  parseNeighs,
  parseRoutes,
  planSync,
  podMtuFor,
  vtepMacFor,
  type OverlayPeer,
  type SkippedPeer,
} from './overlay-plan.js';

export type { OverlayPeer, SkippedPeer } from './overlay-plan.js';

export const VTEP_IP_ANNOTATION = 'networking.skiff.dev/vtep-ip';
export const VTEP_MAC_ANNOTATION = 'networking.skiff.dev/vtep-mac';
export const VNI_ANNOTATION = 'networking.skiff.dev/vni';

export const DEFAULT_VNI = 1;
export const DEFAULT_VXLAN_PORT = 8472;

export interface OverlayOptions {
  /** VXLAN network identifier, default 1 */
  vni?: number;
  /** device name, default `skiff.<vni>` (at most 15 chars) */
  device?: string;
  /** the node's underlay address (its InternalIP): VXLAN packets leave from it */
  localIP: string;
  /** this node's pod CIDR; its network address becomes the device's /32 */
  podCIDR: string;
  /** UDP port, default 8472 (the Linux kernel's and flannel's) */
  port?: number;
  /** read from the device holding localIP when absent */
  underlayMTU?: number;
  /** run every command inside this named network namespace (/run/netns/<name>): simulated hosts */
  netns?: string;
}

export class VxlanOverlay {
  readonly device: string;
  readonly vni: number;
  readonly port: number;
  readonly vtepIP: string;
  readonly podCIDR: string;
  readonly netns: string | undefined;
  /** MTU pods on this overlay must use (underlay − 50) */
  readonly podMTU: number;
  /** what the last sync did: entries written or removed (0 when the kernel already matched) and peers left out, with the reason */
  lastSync: { changes: number; skipped: SkippedPeer[] } = { changes: 0, skipped: [] };
  private queue: Promise<void> = Promise.resolve();
  private destroyed = false;

  /** the device's MAC address */
  readonly mac: string;
  /** kernel interface index of the device (changes only when it is re-created) */
  readonly ifindex: number;
  /** false when open() adopted a matching device */
  readonly created: boolean;

  private constructor(o: {
    device: string;
    vni: number;
    port: number;
    vtepIP: string;
    podCIDR: string;
    netns?: string;
    podMTU: number;
    mac: string;
    ifindex: number;
    created: boolean;
  }) {
    this.mac = o.mac;
    this.ifindex = o.ifindex;
    this.created = o.created;
    this.device = o.device;
    this.vni = o.vni;
    this.port = o.port;
    this.vtepIP = o.vtepIP;
    this.podCIDR = o.podCIDR;
    this.netns = o.netns;
    this.podMTU = o.podMTU;
  }

  /**
   * Creates the device or adopts the one left by an earlier agent. A device of the right kind, VNI,
   * local address and port is kept (its MAC, its entries: no traffic blip), with MTU, address and
   * up state corrected in place; anything else under that name is replaced.
   */
  static async open(opts: OverlayOptions): Promise<VxlanOverlay> {
    const vni = opts.vni ?? DEFAULT_VNI;
    checkVni(vni);
    const device = opts.device ?? defaultDeviceName(vni);
    checkDeviceName(device);
    const port = opts.port ?? DEFAULT_VXLAN_PORT;
    checkPort(port);
    const localIP = normalizeIp(opts.localIP);
    const podCIDR = normalizeCidr(opts.podCIDR);
    if (opts.netns !== undefined) checkNetnsName(opts.netns);
    const sh = new Shell(opts.netns);

    const underlayMTU = opts.underlayMTU ?? (await underlayMtuOf(sh, localIP));
    const podMTU = podMtuFor(underlayMTU);
    const vtepAddr = networkAddress(podCIDR);

    const existing = await sh.ipJson(['-d', 'link', 'show', 'dev', device]);
    const mismatches = existing === undefined ? ['absent'] : deviceMismatches(existing, { vni, localIP, port });
    const created = mismatches.length > 0;
    if (existing !== undefined && !created) {
      await fixInPlace(sh, device, existing, podMTU, vtepAddr);
    } else {
      if (existing !== undefined) await sh.ip(['link', 'delete', 'dev', device]);
      const mac = vtepMacFor(vni, localIP);
      await sh.ip(['link', 'add', device, 'address', mac, 'mtu', String(podMTU), 'type', 'vxlan', 'id', String(vni), 'local', localIP, 'dstport', String(port), 'nolearning']);
      await sh.ip(['addr', 'replace', `${vtepAddr}/32`, 'dev', device]);
      await sh.ip(['link', 'set', 'dev', device, 'up']);
    }

    await sh.enableForwarding();
    const link = JSON.parse((await sh.ipJson(['link', 'show', 'dev', device])) ?? '[]') as { ifindex?: number; address?: string }[];
    const l = link[0];
    if (!l?.address || typeof l.ifindex !== 'number') throw new Error(`overlay device ${device} vanished while being set up`);
    return new VxlanOverlay({ device, vni, port, vtepIP: localIP, podCIDR, netns: opts.netns, podMTU, mac: normalizeMac(l.address), ifindex: l.ifindex, created });
  }

  /** Node annotations this node publishes so peers can reach it */
  annotations(): Record<string, string> {
    return { [VTEP_IP_ANNOTATION]: this.vtepIP, [VTEP_MAC_ANNOTATION]: this.mac, [VNI_ANNOTATION]: String(this.vni) };
  }

  /**
   * Makes the device's routes, neighbours and fdb entries exactly those the peers need: missing or
   * changed entries are replaced, entries of peers no longer listed removed, everything else left
   * alone. At most one `bridge -batch` and one `ip -batch` whatever the number of peers. Calls run
   * one after the other.
   */
  sync(peers: OverlayPeer[]): Promise<void> {
    const run = this.queue.then(() => this.syncNow(peers));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Removes the device (and with it its routes, neighbours and fdb entries); a missing device is fine. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.queue;
    const sh = new Shell(this.netns);
    try {
      await sh.ip(['link', 'delete', 'dev', this.device]);
    } catch (e) {
      if (!(e instanceof ToolError && /Cannot find device|does not exist/i.test(e.stderr))) throw e;
    }
  }

  private async syncNow(peers: OverlayPeer[]): Promise<void> {
    if (this.destroyed) throw new Error(`overlay ${this.device} has been destroyed`);
    const { entries, skipped } = desiredEntries({ podCIDR: this.podCIDR, vtepIP: this.vtepIP, mac: this.mac }, peers);
    const sh = new Shell(this.netns);
    const dev = this.device;
    const [routes, neighs, fdb] = await Promise.all([
      sh.run('ip', ['-j', '-4', 'route', 'show', 'dev', dev]),
      sh.run('ip', ['-j', '-4', 'neigh', 'show', 'dev', dev]),
      sh.run('bridge', ['-j', 'fdb', 'show', 'dev', dev]),
    ]);
    const plan = planSync(dev, entries, { routes: parseRoutes(routes), neighs: parseNeighs(neighs), fdb: parseFdb(fdb) });
    // fdb first: a neighbour and route only start pointing at a MAC the device can already deliver to
    if (plan.bridge.length) await sh.run('bridge', ['-batch', '-'], plan.bridge.join('\n') + '\n');
    if (plan.ip.length) await sh.run('ip', ['-batch', '-'], plan.ip.join('\n') + '\n');
    this.lastSync = { changes: plan.bridge.length + plan.ip.length, skipped };
  }
}

/**
 * Peers from Node objects: spec.podCIDR (or the first IPv4 entry of spec.podCIDRs) and the VTEP
 * annotations. Nodes missing either, publishing malformed values, or (when vni is given) another
 * VNI are skipped; self is excluded by name.
 */
export function peersFromNodes(nodes: KObject[], selfName: string, opts: { vni?: number } = {}): OverlayPeer[] {
  const peers: OverlayPeer[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name;
    if (!name || name === selfName) continue;
    const ann = n.metadata.annotations ?? {};
    const spec = (n.spec ?? {}) as { podCIDR?: unknown; podCIDRs?: unknown };
    const cidrs = [spec.podCIDR, ...(Array.isArray(spec.podCIDRs) ? spec.podCIDRs : [])].filter((c): c is string => typeof c === 'string' && !c.includes(':'));
    const podCIDR = cidrs[0];
    const vtepIP = ann[VTEP_IP_ANNOTATION];
    const vtepMAC = ann[VTEP_MAC_ANNOTATION];
    if (!podCIDR || !vtepIP || !vtepMAC) continue;
    if (opts.vni !== undefined && ann[VNI_ANNOTATION] !== undefined && ann[VNI_ANNOTATION] !== String(opts.vni)) continue;
    try {
      peers.push({ node: name, podCIDR: normalizeCidr(podCIDR), vtepIP: normalizeIp(vtepIP), vtepMAC: normalizeMac(vtepMAC) });
    } catch {
      // a malformed Node must not break the others' routes
    }
  }
  return peers.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

// ---- running iproute2, optionally inside a named netns ----

class Shell {
  constructor(readonly netns: string | undefined) {}

  run(cmd: 'ip' | 'bridge', args: string[], input?: string): Promise<string> {
    // `-n NS` makes ip and bridge switch namespaces themselves: no extra process
    return runTool(cmd, this.netns ? ['-n', this.netns, ...args] : args, { input });
  }

  ip(args: string[]): Promise<string> {
    return this.run('ip', args);
  }

  /** JSON of `ip -j <args>`, undefined when the device does not exist. */
  async ipJson(args: string[]): Promise<string | undefined> {
    try {
      return await this.run('ip', ['-j', ...args]);
    } catch (e) {
      if (e instanceof ToolError && /does not exist|Cannot find device/i.test(e.stderr)) return undefined;
      throw e;
    }
  }

  async enableForwarding(): Promise<void> {
    if (!this.netns) {
      enableIpForward();
      return;
    }
    // /proc/sys/net is per network namespace: it has to be written from inside
    await runTool('ip', ['netns', 'exec', this.netns, systemTool('sysctl'), '-qw', 'net.ipv4.ip_forward=1']);
  }
}

async function underlayMtuOf(sh: Shell, localIP: string): Promise<number> {
  const links = JSON.parse(await sh.ip(['-j', '-4', 'addr', 'show'])) as { ifname: string; mtu: number; addr_info?: { local?: string }[] }[];
  const holder = links.find((l) => (l.addr_info ?? []).some((a) => a.local === localIP));
  if (!holder) throw new Error(`no device${sh.netns ? ` in netns ${sh.netns}` : ''} holds the underlay address ${localIP}: pass underlayMTU or fix localIP`);
  return holder.mtu;
}

/** MTU, the single /32 address and the up flag of an adopted device, changed only where they differ. */
async function fixInPlace(sh: Shell, device: string, linkJson: string, mtu: number, vtepAddr: string): Promise<void> {
  const link = (JSON.parse(linkJson) as { mtu?: number; flags?: string[] }[])[0] ?? {};
  if (link.mtu !== mtu) await sh.ip(['link', 'set', 'dev', device, 'mtu', String(mtu)]);
  const addrs = JSON.parse((await sh.ipJson(['-4', 'addr', 'show', 'dev', device])) ?? '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  const have = (addrs[0]?.addr_info ?? []).filter((a) => a.local);
  // a pod CIDR that changed leaves the old network address behind
  for (const a of have) {
    if (a.local !== vtepAddr || a.prefixlen !== 32) await sh.ip(['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', device]);
  }
  if (!have.some((a) => a.local === vtepAddr && a.prefixlen === 32)) await sh.ip(['addr', 'replace', `${vtepAddr}/32`, 'dev', device]);
  if (!(link.flags ?? []).includes('UP')) await sh.ip(['link', 'set', 'dev', device, 'up']);
}
