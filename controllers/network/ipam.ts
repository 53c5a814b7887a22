// Address maths of Networks: whether two ranges meet, a free block of a range, a free VXLAN id,
// and each node's slice of a network's subnet. Pure, so the rules are tested without a cluster.
import { intToIp, parseCidr } from '../../kubelet/network/pod-ips.js';
import { FIRST_ALLOCATED_VNI, MAX_VNI, type NodeSlice } from '../../pkg/api/networks.js';

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

/** The CIDR with its host bits cleared (10.1.2.3/16 → 10.1.0.0/16). */
export function canonicalCidr(cidr: string): string {
  const c = parseCidr(cidr);
  return `${intToIp(c.base)}/${c.prefix}`;
}

/** Whether inner lies wholly inside outer. */
export function cidrWithin(inner: string, outer: string): boolean {
  const i = parseCidr(inner);
  const o = parseCidr(outer);
  return i.base >= o.base && i.base + i.size <= o.base + o.size;
}

/** The first /prefix block of range that meets none of taken; undefined when every block does. */
export function allocateSubnet(range: string, prefix: number, taken: Iterable<string>): string | undefined {
  const r = parseCidr(range);
  if (prefix < r.prefix || prefix > 32) throw new Error(`a /${prefix} block does not fit in ${range}`);
  const size = 2 ** (32 - prefix);
  const blocked = [...taken].map((c) => parseCidr(c));
  for (let base = r.base; base < r.base + r.size; base += size) {
    if (!blocked.some((b) => base < b.base + b.size && b.base < base + size)) return `${intToIp(base)}/${prefix}`;
  }
  return undefined;
}

/** The lowest VXLAN id from FIRST_ALLOCATED_VNI up that is not taken. */
export function allocateVni(taken: ReadonlySet<number>): number | undefined {
  for (let v = FIRST_ALLOCATED_VNI; v <= MAX_VNI; v++) if (!taken.has(v)) return v;
  return undefined;
}

export interface SliceAssignment {
  slices: NodeSlice[];
  /** nodes left without a slice because the subnet has no room */
  unplaced: string[];
}

/**
 * Gives every node a /prefix slice of subnet. A node keeps the slice it had while that slice is
 * still a /prefix of subnet (pods there keep their addresses); slices of nodes that are gone
 * become free; new nodes get the lowest free slices, in name order so the result is stable.
 */
export function assignNodeSlices(subnet: string, prefix: number, nodes: readonly string[], previous: readonly NodeSlice[] = []): SliceAssignment {
  const s = parseCidr(subnet);
  if (prefix < s.prefix || prefix > 32) throw new Error(`node subnet prefix /${prefix} does not fit in ${subnet}`);
  const size = 2 ** (32 - prefix);
  const count = 2 ** (prefix - s.prefix);
  const wanted = new Set(nodes);
  const byNode = new Map<string, number>();
  const used = new Set<number>();
  for (const p of previous) {
    if (!wanted.has(p.name) || byNode.has(p.name)) continue;
    let c;
    try {
      c = parseCidr(p.subnet);
    } catch {
      continue;
    }
    const off = c.base - s.base;
    if (c.prefix !== prefix || off < 0 || off % size !== 0 || off / size >= count || used.has(off / size)) continue;
    byNode.set(p.name, off / size);
    used.add(off / size);
  }
  const unplaced: string[] = [];
  let next = 0;
  for (const name of [...wanted].sort()) {
    if (byNode.has(name)) continue;
    while (next < count && used.has(next)) next++;
    if (next >= count) {
      unplaced.push(name);
      continue;
    }
    byNode.set(name, next);
    used.add(next);
  }
  const slices = [...byNode].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, i]) => ({ name, subnet: `${intToIp(s.base + i * size)}/${prefix}` }));
  return { slices, unplaced };
}
