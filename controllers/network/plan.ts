// What one Network's status should be, given the rest of the cluster: its subnet (asked for or
// allocated), its VXLAN id, its scope, each node's slice and the pods on it, and a Ready
// condition that names the first problem. Pure; the controller supplies the world and writes the
// answer.
import { parseCidr } from '../../kubelet/network/pod-ips.js';
import {
  DEFAULT_NETWORK,
  DEFAULT_NETWORK_VNI,
  MAX_VNI,
  bridgeName,
  cniConfigProblem,
  scopeOf,
  type Network,
  type NetworkDriver,
  type NetworkStatus,
  type NodeSlice,
} from '../../pkg/api/networks.js';
import { allocateSubnet, allocateVni, assignNodeSlices, canonicalCidr, cidrsOverlap } from './ipam.js';

export { cniConfigProblem };

export const DEFAULT_NODE_SUBNET_PREFIX = 24;
/** The size of a subnet allocated to a Network that asks for none. */
export const ALLOCATED_SUBNET_PREFIX = 16;

/** Another Network, as far as it constrains this one. */
export interface OtherNetwork {
  name: string;
  /** the subnet and VXLAN id it holds (its status, or what this controller just gave it) */
  subnet?: string;
  vni?: number;
  /** what it asks for while it holds nothing yet; counted only for networks older than this one */
  wantsSubnet?: string;
  wantsVni?: number;
  older: boolean;
}

export interface PlanInput {
  network: Network;
  others: OtherNetwork[];
  /** Node names with their pod CIDR (the default network's slices) */
  nodes: { name: string; podCIDR?: string }[];
  pods: number;
  clusterCidr: string;
  serviceCidr: string;
  networkCidr: string;
}

export interface ReadyVerdict {
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface Plan {
  status: Omit<NetworkStatus, 'conditions'>;
  ready: ReadyVerdict;
}

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

class Problem extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function planNetwork(input: PlanInput): Plan {
  const net = input.network;
  const spec = net.spec ?? {};
  const base: Omit<NetworkStatus, 'conditions'> = { observedGeneration: net.metadata.generation, scope: scopeOf(spec), pods: input.pods };
  try {
    const held = net.metadata.name === DEFAULT_NETWORK ? planDefault(input) : planOther(input);
    return { status: { ...base, ...held.status }, ready: held.ready };
  } catch (e) {
    if (!(e instanceof Problem)) throw e;
    return { status: base, ready: { status: 'False', reason: e.reason, message: e.message } };
  }
}

interface Held {
  status: Pick<NetworkStatus, 'subnet' | 'vni' | 'nodes'>;
  ready: ReadyVerdict;
}

function planDefault(input: PlanInput): Held {
  const spec = input.network.spec ?? {};
  const driver: NetworkDriver = spec.driver ?? 'overlay';
  if (driver !== 'overlay') throw new Problem('InvalidSpec', `the default network is an overlay; spec.driver ${driver} is not supported for it`);
  if (spec.subnet !== undefined && spec.subnet !== input.clusterCidr) {
    throw new Problem('InvalidSpec', `the default network's subnet is the cluster CIDR ${input.clusterCidr}; spec.subnet ${spec.subnet} differs`);
  }
  if (spec.vni !== undefined && spec.vni !== DEFAULT_NETWORK_VNI) throw new Problem('InvalidSpec', `the default network's VNI is ${DEFAULT_NETWORK_VNI}; spec.vni ${spec.vni} differs`);
  if (spec.cni !== undefined) throw new Problem('InvalidSpec', 'spec.cni is only used by driver cni');
  // Node IPAM already gave each node its block of the cluster CIDR; those are the slices.
  const nodes: NodeSlice[] = input.nodes
    .filter((n) => n.podCIDR)
    .map((n) => ({ name: n.name, subnet: n.podCIDR!, bridge: bridgeName(DEFAULT_NETWORK) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const waiting = input.nodes.length - nodes.length;
  return {
    status: { subnet: input.clusterCidr, vni: DEFAULT_NETWORK_VNI, nodes },
    ready: { status: 'True', reason: 'Ready', message: `${nodes.length} node(s) on ${input.clusterCidr}${waiting ? `; ${waiting} waiting for a pod CIDR` : ''}` },
  };
}

function planOther(input: PlanInput): Held {
  const net = input.network;
  const spec = net.spec ?? {};
  const driver: NetworkDriver = spec.driver ?? 'overlay';
  checkDriverFields(net);
  if (driver === 'cni') return planCni(input);
  const prefix = spec.nodeSubnetPrefix ?? DEFAULT_NODE_SUBNET_PREFIX;
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 30) throw new Problem('InvalidSpec', `spec.nodeSubnetPrefix ${prefix} must be an integer from 1 to 30`);

  const subnet = chooseSubnet(input, prefix);
  const vni = driver === 'overlay' ? chooseVni(input) : undefined;
  const previous = net.status?.subnet === subnet ? (net.status?.nodes ?? []) : [];
  const { slices, unplaced } = assignNodeSlices(subnet, prefix, input.nodes.map((n) => n.name), previous);
  const bridge = bridgeName(net.metadata.name!);
  const nodes = slices.map((s) => ({ ...s, bridge }));
  const status = { subnet, ...(vni !== undefined ? { vni } : {}), nodes };
  if (unplaced.length) {
    return {
      status,
      ready: { status: 'False', reason: 'NodeSubnetsExhausted', message: `${subnet} has no free /${prefix} for node(s) ${unplaced.join(', ')}` },
    };
  }
  return { status, ready: { status: 'True', reason: 'Ready', message: `${slices.length} node(s) on ${subnet}` } };
}

function checkDriverFields(net: Network): void {
  const spec = net.spec ?? {};
  const driver = spec.driver ?? 'overlay';
  if (spec.vni !== undefined && driver !== 'overlay') throw new Problem('InvalidSpec', `spec.vni is only used by driver overlay, not ${driver}`);
  if (driver !== 'cni') {
    if (spec.cni !== undefined) throw new Problem('InvalidSpec', `spec.cni is only used by driver cni, not ${driver}`);
    return;
  }
  const problem = cniConfigProblem(spec.cni);
  if (problem) throw new Problem('InvalidCNIConfig', problem);
}

/**
 * A cni network's plugin owns its interfaces and addresses: no slices, no bridge, no VNI. Its
 * subnet is what the user states (spec.subnet) or what a host-local IPAM in the config hands out;
 * otherwise unknown (the isolation rules then leave the network out).
 */
function planCni(input: PlanInput): Held {
  const spec = input.network.spec ?? {};
  const stated = spec.subnet ?? hostLocalSubnet(spec.cni);
  if (stated !== undefined) checkClaimedSubnet(input, stated, spec.subnet !== undefined ? 'spec.subnet' : 'the host-local IPAM range of spec.cni');
  const types = cniPluginTypes(spec.cni).join(' + ');
  return {
    status: stated !== undefined ? { subnet: stated } : {},
    ready: { status: 'True', reason: 'Ready', message: `CNI plugin ${types}${stated !== undefined ? ` on ${stated}` : ''}` },
  };
}

function cniPluginTypes(cni: unknown): string[] {
  const c = cni as { type?: string; plugins?: { type: string }[] };
  return c.plugins ? c.plugins.map((p) => p.type) : [c.type!];
}

/**
 * The one IPv4 subnet a host-local IPAM of the configuration (old `subnet` form or `ranges`)
 * allocates from; undefined when there is none, or several (status holds one).
 */
export function hostLocalSubnet(cni: unknown): string | undefined {
  if (!cni || typeof cni !== 'object') return undefined;
  const c = cni as { ipam?: unknown; plugins?: unknown };
  const plugins = Array.isArray(c.plugins) ? (c.plugins as unknown[]) : [c];
  const found = new Set<string>();
  for (const p of plugins) {
    const ipam = (p as { ipam?: unknown } | null)?.ipam as { type?: unknown; subnet?: unknown; ranges?: unknown } | undefined;
    if (!ipam || typeof ipam !== 'object' || ipam.type !== 'host-local') continue;
    const candidates: unknown[] = [ipam.subnet];
    if (Array.isArray(ipam.ranges)) for (const set of ipam.ranges) if (Array.isArray(set)) for (const r of set) candidates.push((r as { subnet?: unknown } | null)?.subnet);
    for (const s of candidates) {
      if (typeof s !== 'string' || !CIDR.test(s)) continue;
      try {
        found.add(canonicalCidr(s));
      } catch {
        // not an address range: the plugin will say so
      }
    }
  }
  return found.size === 1 ? [...found][0] : undefined;
}

function blockersFor(input: PlanInput): { what: string; cidr: string }[] {
  const reserved = [
    { what: `the cluster CIDR ${input.clusterCidr}`, cidr: input.clusterCidr },
    { what: `the service range ${input.serviceCidr}`, cidr: input.serviceCidr },
  ];
  const othersHeld = input.others.flatMap((o) => {
    const c = o.subnet ?? (o.older ? o.wantsSubnet : undefined);
    return c && CIDR.test(c) ? [{ what: `Network ${o.name} (${c})`, cidr: c }] : [];
  });
  return [...reserved, ...othersHeld];
}

/** Throws a Problem unless cidr is a canonical IPv4 CIDR (holding a node's slice, when given) that overlaps nothing held. */
function checkClaimedSubnet(input: PlanInput, cidr: string, what: string, nodePrefix?: number): void {
  if (!CIDR.test(cidr)) throw new Problem('InvalidSubnet', `${what} ${JSON.stringify(cidr)} is not an IPv4 CIDR`);
  let c;
  try {
    c = parseCidr(cidr);
  } catch (e) {
    throw new Problem('InvalidSubnet', `${what}: ${(e as Error).message}`);
  }
  if (canonicalCidr(cidr) !== cidr) throw new Problem('InvalidSubnet', `${what} ${cidr} has host bits set (did you mean ${canonicalCidr(cidr)}?)`);
  if (nodePrefix !== undefined && c.prefix > nodePrefix) {
    throw new Problem('InvalidSubnet', `${what} ${cidr} is smaller than one node's slice (/${nodePrefix}); lower spec.nodeSubnetPrefix or widen the subnet`);
  }
  const hit = blockersFor(input).filter((b) => cidrsOverlap(cidr, b.cidr));
  if (hit.length) throw new Problem('SubnetConflict', `${what} ${cidr} overlaps ${hit.map((h) => h.what).join(', ')}`);
}

function chooseSubnet(input: PlanInput, nodePrefix: number): string {
  const net = input.network;
  const asked = net.spec?.subnet;
  const blockers = blockersFor(input);
  if (asked !== undefined) {
    checkClaimedSubnet(input, asked, 'spec.subnet', nodePrefix);
    return asked;
  }
  if (nodePrefix < ALLOCATED_SUBNET_PREFIX) {
    throw new Problem('InvalidSpec', `spec.nodeSubnetPrefix /${nodePrefix} is wider than an allocated subnet (/${ALLOCATED_SUBNET_PREFIX}); give spec.subnet`);
  }
  // Keep what was allocated before, so pods keep their addresses.
  const had = net.status?.subnet;
  if (had && CIDR.test(had) && parseCidr(had).prefix === ALLOCATED_SUBNET_PREFIX && !blockers.some((b) => cidrsOverlap(had, b.cidr))) return had;
  const got = allocateSubnet(input.networkCidr, ALLOCATED_SUBNET_PREFIX, blockers.map((b) => b.cidr));
  if (!got) throw new Problem('SubnetExhausted', `no free /${ALLOCATED_SUBNET_PREFIX} left in the network range ${input.networkCidr}; give spec.subnet`);
  return got;
}

function chooseVni(input: PlanInput): number {
  const net = input.network;
  const taken = new Map<number, string>([[DEFAULT_NETWORK_VNI, `the default network`]]);
  for (const o of input.others) {
    const v = o.vni ?? (o.older ? o.wantsVni : undefined);
    if (v !== undefined && !taken.has(v)) taken.set(v, `Network ${o.name}`);
  }
  const asked = net.spec?.vni;
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 1 || asked > MAX_VNI) throw new Problem('InvalidSpec', `spec.vni ${asked} must be an integer from 1 to ${MAX_VNI}`);
    const owner = taken.get(asked);
    if (owner) throw new Problem('VNIConflict', `spec.vni ${asked} is used by ${owner}`);
    return asked;
  }
  const had = net.status?.vni;
  if (had !== undefined && had >= 1 && had <= MAX_VNI && !taken.has(had)) return had;
  const got = allocateVni(new Set(taken.keys()));
  if (got === undefined) throw new Problem('VNIExhausted', 'no free VXLAN id left');
  return got;
}
