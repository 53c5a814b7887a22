// The pure half of the VXLAN overlay: names and addresses derived from the options, the entries a
// set of peers needs (route + permanent neighbour + fdb entry each, the flannel layout), what the
// kernel reports it has (`ip -j` / `bridge -j` output), and the batch lines that turn one into the
// other. Nothing here runs a command, so all of it is unit-testable without root.
import { createHash } from 'node:crypto';
import { intToIp, ipToInt, parseCidr } from './pod-ips.js';

export interface OverlayPeer {
  node: string;
  podCIDR: string;
  vtepIP: string;
  vtepMAC: string;
}

/** One peer's three kernel entries, keyed the way the kernel keys them. */
export interface PeerEntries {
  node: string;
  /** normalised pod CIDR: the route's destination */
  dst: string;
  /** network address of the pod CIDR: the route's gateway and the neighbour's address */
  gw: string;
  mac: string;
  vtepIP: string;
}

export interface SkippedPeer {
  peer: OverlayPeer;
  reason: string;
}

export interface RouteEntry {
  dst: string;
  gateway?: string;
  onlink: boolean;
}
export interface NeighEntry {
  dst: string;
  lladdr?: string;
  permanent: boolean;
}
export interface FdbEntry {
  mac: string;
  dst?: string;
  permanent: boolean;
}

export interface OverlayState {
  routes: RouteEntry[];
  neighs: NeighEntry[];
  fdb: FdbEntry[];
}

export interface SyncPlan {
  /** `bridge -batch -` lines: fdb removals and replacements */
  bridge: string[];
  /** `ip -batch -` lines: route and neighbour removals, then neighbours, then routes */
  ip: string[];
}

export const VXLAN_OVERHEAD = 50; // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
export const MAX_VNI = 0xffffff;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const DEVICE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function defaultDeviceName(vni: number): string {
  return `skiff.${vni}`;
}

export function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 1 || vni > MAX_VNI) throw new Error(`invalid VNI ${vni} (1..${MAX_VNI})`);
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`invalid VXLAN UDP port ${port}`);
}

export function checkDeviceName(name: string): void {
  if (!DEVICE_RE.test(name)) throw new Error(`invalid overlay device name ${JSON.stringify(name)} (letters, digits, _ . -; at most 15 chars)`);
}

/** Lower-case colon form, or throws. */
export function normalizeMac(mac: string): string {
  const m = mac.trim().toLowerCase();
  if (!MAC_RE.test(m)) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  const first = parseInt(m.slice(0, 2), 16);
  if (first & 1) throw new Error(`${mac} is a multicast MAC address, not a VTEP's`);
  if (m === '00:00:00:00:00:00') throw new Error('the all-zero MAC address is not a VTEP\'s');
  return m;
}

/** Canonical dotted quad, or throws. */
export function normalizeIp(ip: string): string {
  return intToIp(ipToInt(ip));
}

/** `10.42.3.7/24` → `10.42.3.0/24`. */
export function normalizeCidr(cidr: string): string {
  const c = parseCidr(cidr);
  return `${intToIp(c.base)}/${c.prefix}`;
}

/** The pod CIDR's network address: the VTEP's own /32 and the gateway peers route through (flannel's layout). */
export function networkAddress(cidr: string): string {
  return intToIp(parseCidr(cidr).base);
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

/**
 * A locally administered unicast MAC derived from VNI and underlay address: a device re-created
 * after a reboot or a mismatch gets its old MAC back, so the peers' fdb and neighbour entries stay
 * valid without waiting for the Node annotation to go round.
 */
export function vtepMacFor(vni: number, localIP: string): string {
  const h = createHash('sha256').update(`skiff-vxlan/${vni}/${normalizeIp(localIP)}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function podMtuFor(underlayMTU: number): number {
  if (!Number.isInteger(underlayMTU) || underlayMTU < 576 + VXLAN_OVERHEAD || underlayMTU > 65535) {
    throw new Error(`underlay MTU ${underlayMTU} leaves no room for VXLAN (needs ${576 + VXLAN_OVERHEAD}..65535)`);
  }
  return underlayMTU - VXLAN_OVERHEAD;
}

/**
 * The entries the given peers need, in node-name order. Peers that cannot be routed are skipped with
 * the reason: our own pod CIDR or VTEP, malformed fields, and conflicts with a peer earlier in order
 * (overlapping pod CIDR, a MAC already taken) — one bad Node must not take the others' routes down.
 */
export function desiredEntries(self: { podCIDR: string; vtepIP: string; mac: string }, peers: OverlayPeer[]): { entries: PeerEntries[]; skipped: SkippedPeer[] } {
  const entries: PeerEntries[] = [];
  const skipped: SkippedPeer[] = [];
  const ownCidr = normalizeCidr(self.podCIDR);
  const ownIp = normalizeIp(self.vtepIP);
  const ownMac = normalizeMac(self.mac);
  const byMac = new Map<string, PeerEntries>();
  const blocks = new BlockSet<PeerEntries>();
  const sorted = [...peers].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  for (const peer of sorted) {
    let e: PeerEntries;
    try {
      const dst = normalizeCidr(peer.podCIDR);
      e = { node: peer.node, dst, gw: networkAddress(dst), mac: normalizeMac(peer.vtepMAC), vtepIP: normalizeIp(peer.vtepIP) };
    } catch (err) {
      skipped.push({ peer, reason: (err as Error).message });
      continue;
    }
    if (e.dst === ownCidr || e.vtepIP === ownIp) {
      skipped.push({ peer, reason: 'this node itself' });
      continue;
    }
    if (cidrsOverlap(e.dst, ownCidr)) {
      skipped.push({ peer, reason: `pod CIDR ${e.dst} overlaps this node's ${ownCidr}` });
      continue;
    }
    if (e.mac === ownMac) {
      skipped.push({ peer, reason: `VTEP MAC ${e.mac} is this node's` });
      continue;
    }
    const macOwner = byMac.get(e.mac);
    if (macOwner) {
      skipped.push({ peer, reason: `VTEP MAC ${e.mac} already used by node ${macOwner.node}` });
      continue;
    }
    const cidrOwner = blocks.overlapping(e.dst);
    if (cidrOwner) {
      skipped.push({ peer, reason: `pod CIDR ${e.dst} (overlaps ${cidrOwner.dst}) already used by node ${cidrOwner.node}` });
      continue;
    }
    byMac.set(e.mac, e);
    blocks.add(e.dst, e);
    entries.push(e);
  }
  return { entries, skipped };
}

/**
 * CIDR blocks with an overlap test that does not compare every pair (thousands of nodes): aligned
 * blocks overlap only when one holds the other's base address, so it is enough to look up the new
 * block's enclosing blocks (one per prefix length) and search the sorted bases inside it.
 */
class BlockSet<T> {
  private readonly byKey = new Map<string, T>();
  private readonly bases: { base: number; value: T }[] = [];

  add(cidr: string, value: T): void {
    const c = parseCidr(cidr);
    this.byKey.set(`${c.base}/${c.prefix}`, value);
    let lo = 0;
    let hi = this.bases.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bases[mid]!.base < c.base) lo = mid + 1;
      else hi = mid;
    }
    this.bases.splice(lo, 0, { base: c.base, value });
  }

  overlapping(cidr: string): T | undefined {
    const c = parseCidr(cidr);
    for (let p = 0; p <= c.prefix; p++) {
      const size = 2 ** (32 - p);
      const base = p === 0 ? 0 : c.base - (c.base % size);
      const hit = this.byKey.get(`${base}/${p}`);
      if (hit !== undefined) return hit;
    }
    let lo = 0;
    let hi = this.bases.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bases[mid]!.base < c.base) lo = mid + 1;
      else hi = mid;
    }
    const next = this.bases[lo];
    return next && next.base < c.base + c.size ? next.value : undefined;
  }
}

// ---- what the kernel has (JSON from iproute2 6.x) ----

export function parseRoutes(json: string): RouteEntry[] {
  const rows = parseRows(json) as { dst?: string; gateway?: string; flags?: string[]; type?: string }[];
  return rows
    .filter((r) => typeof r.dst === 'string' && (r.type === undefined || r.type === 'unicast'))
    .map((r) => ({ dst: r.dst!.includes('/') ? r.dst! : `${r.dst}/32`, gateway: r.gateway, onlink: (r.flags ?? []).includes('onlink') }));
}

export function parseNeighs(json: string): NeighEntry[] {
  const rows = parseRows(json) as { dst?: string; lladdr?: string; state?: string[] }[];
  return rows
    .filter((r) => typeof r.dst === 'string')
    .map((r) => ({ dst: r.dst!, lladdr: r.lladdr?.toLowerCase(), permanent: (r.state ?? []).includes('PERMANENT') }));
}

export function parseFdb(json: string): FdbEntry[] {
  const rows = parseRows(json) as { mac?: string; dst?: string; state?: string; flags?: string[] }[];
  return rows
    .filter((r) => typeof r.mac === 'string')
    .map((r) => ({ mac: r.mac!.toLowerCase(), dst: r.dst, permanent: r.state === 'permanent' }));
}

function parseRows(json: string): unknown[] {
  const text = json.trim();
  if (!text) return [];
  const v = JSON.parse(text) as unknown;
  if (!Array.isArray(v)) throw new Error('unexpected iproute2 JSON: not an array');
  return v;
}

/**
 * The batch lines that make the device hold exactly `want`. Only differences are written, so a
 * sync with nothing to change runs no writer at all. Anything on the device that no peer asks for
 * goes: the device is the overlay's alone.
 */
export function planSync(dev: string, want: PeerEntries[], have: OverlayState): SyncPlan {
  const bridge: string[] = [];
  const ipDel: string[] = [];
  const neighAdd: string[] = [];
  const routeAdd: string[] = [];

  const wantRoute = new Map(want.map((e) => [e.dst, e]));
  const wantNeigh = new Map(want.map((e) => [e.gw, e]));
  const wantFdb = new Map(want.map((e) => [e.mac, e]));

  const haveRoute = new Map<string, RouteEntry>();
  for (const r of have.routes) {
    if (!wantRoute.has(r.dst)) ipDel.push(`route del ${r.dst} dev ${dev}`);
    else haveRoute.set(r.dst, r);
  }
  const haveNeigh = new Map<string, NeighEntry>();
  for (const n of have.neighs) {
    if (!wantNeigh.has(n.dst)) ipDel.push(`neigh del ${n.dst} dev ${dev}`);
    else haveNeigh.set(n.dst, n);
  }
  // One MAC may show up more than once (several dsts appended): anything but the single wanted dst goes.
  const fdbOk = new Set<string>();
  for (const f of have.fdb) {
    const w = wantFdb.get(f.mac);
    if (w && f.dst === w.vtepIP && f.permanent && !fdbOk.has(f.mac)) {
      fdbOk.add(f.mac);
      continue;
    }
    if (!w || f.dst !== w.vtepIP) bridge.push(`fdb del ${f.mac} dev ${dev}${f.dst ? ` dst ${f.dst}` : ''} self`);
  }
  for (const e of want) {
    if (!fdbOk.has(e.mac)) bridge.push(`fdb replace ${e.mac} dev ${dev} dst ${e.vtepIP} self permanent`);
    const n = haveNeigh.get(e.gw);
    if (!n || n.lladdr !== e.mac || !n.permanent) neighAdd.push(`neigh replace ${e.gw} lladdr ${e.mac} dev ${dev} nud permanent`);
    const r = haveRoute.get(e.dst);
    if (!r || r.gateway !== e.gw || !r.onlink) routeAdd.push(`route replace ${e.dst} via ${e.gw} dev ${dev} onlink`);
  }
  return { bridge, ip: [...ipDel, ...neighAdd, ...routeAdd] };
}

// ---- the device itself ----

export interface DeviceWant {
  vni: number;
  localIP: string;
  port: number;
}

/** `ip -d -j link show dev X` → why the device cannot be adopted as it is (empty: it can). */
export function deviceMismatches(linkJson: string, want: DeviceWant): string[] {
  const rows = parseRows(linkJson) as { linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }[];
  const link = rows[0];
  if (!link) return ['no such device'];
  const kind = link.linkinfo?.info_kind;
  if (kind !== 'vxlan') return [`it is a ${kind ?? 'plain'} device, not vxlan`];
  const d = link.linkinfo?.info_data ?? {};
  const out: string[] = [];
  if (d.id !== want.vni) out.push(`VNI ${String(d.id)} instead of ${want.vni}`);
  if (d.local !== want.localIP) out.push(`local ${String(d.local ?? 'unset')} instead of ${want.localIP}`);
  if (d.port !== want.port) out.push(`port ${String(d.port)} instead of ${want.port}`);
  if (d.learning !== false) out.push('learning is on');
  if (d.group !== undefined || d.remote !== undefined) out.push(`it has a default remote (${String(d.group ?? d.remote)})`);
  return out;
}
