// The node's view of the extra Networks (pkg/api/networks.ts), computed from the Network and Node
// objects alone: which bridges and VXLAN devices this node needs, the CNI configuration lists of
// cni networks (whose plugins build everything at attach), which networks a pod cannot join
// here and why, the subnets the isolation rules keep apart, and how pod addresses and host-side
// interface names are chosen. Pure, so all of it is tested without root.
import { createHash } from 'node:crypto';
import type { KObject } from '../../pkg/api/types.js';
import { DEFAULT_NETWORK, bridgeName, nodeSlice, type Network, type NetworkDriver } from '../../pkg/api/networks.js';
import { vtepMacFor, normalizeIp, cidrsOverlap, type OverlayPeer } from './overlay-plan.js';
import { VTEP_IP_ANNOTATION } from './overlay.js';
import { intToIp, ipToInt, parseCidr } from './pod-ips.js';
import { buildCniConfList, type CniConfList } from './cni-network.js';

/** One network this node carries: its bridge, the node's slice, and for overlays the VXLAN device. */
export interface LocalNetwork {
  name: string;
  driver: Exclude<NetworkDriver, 'cni'>;
  /** the whole network's subnet (pods route it via the gateway) */
  subnet: string;
  /** this node's slice of it: the bridge's L2 segment */
  slice: string;
  prefix: number;
  /** the slice's first host address, held by the bridge */
  gateway: string;
  bridge: string;
  internal: boolean;
  vxlan?: { vni: number; device: string; peers: OverlayPeer[] };
}

/** A cni network pods may join here: its plugins own the interfaces, nothing is built beforehand. */
export interface CniNetwork {
  name: string;
  /** the list ADD runs with (spec.cni, normalized) */
  conf: CniConfList;
}

/** A subnet the isolation table knows about. */
export interface IsolatedSubnet {
  network: string;
  subnet: string;
  /** talks only within itself */
  internal: boolean;
  /** egress leaves masqueraded behind the node */
  masquerade: boolean;
}

export interface NodeNetworksPlan {
  /** networks with a slice here: their devices are kept */
  local: LocalNetwork[];
  /** cni networks pods can join (Ready ones with a usable configuration) */
  cni: CniNetwork[];
  /** networks pods cannot join on this node (now), with the reason attach reports; may name local ones (not Ready) */
  unusable: Map<string, string>;
  isolation: IsolatedSubnet[];
  /** things left out that an operator may want to know about (bad peers, overlapping subnets) */
  warnings: string[];
}

const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function vxlanDeviceName(vni: number): string {
  return `skv${vni}`;
}

/**
 * Host end of a pod's veth on one network: 15 characters at most, the same for the same pod and
 * network across agent restarts, distinct for different ones in practice (48 bits of a hash).
 */
export function hostVethName(uid: string, network: string): string {
  return `skx${createHash('sha256').update(`${uid}/${network}`).digest('hex').slice(0, 12)}`;
}

export function isReady(net: Network): boolean {
  return net.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function canonical(cidr: string): string {
  const c = parseCidr(cidr);
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function planNodeNetworks(networks: KObject[], nodes: KObject[], nodeName: string, nodeIP: string): NodeNetworksPlan {
  const local: LocalNetwork[] = [];
  const cni: CniNetwork[] = [];
  const unusable = new Map<string, string>();
  const isolation: IsolatedSubnet[] = [];
  const warnings: string[] = [];
  const self = normalizeIp(nodeIP);
  const vtepOf = new Map<string, string>();
  for (const n of nodes) {
    const ip = n.metadata?.annotations?.[VTEP_IP_ANNOTATION];
    if (n.metadata?.name && ip) vtepOf.set(n.metadata.name, ip);
  }

  // When subnets overlap (they should not: the controller refuses it), the one that holds it by
  // right wins the isolation rule: the default network, then Ready ones, then the oldest.
  const key = (n: Network) => [n.metadata.name === DEFAULT_NETWORK ? 0 : 1, isReady(n) ? 0 : 1, n.metadata.creationTimestamp ?? '', n.metadata.name!] as const;
  const sorted = [...(networks as Network[])].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    return 0;
  });
  for (const net of sorted) {
    const name = net.metadata.name!;
    const driver: NetworkDriver = net.spec?.driver ?? 'overlay';
    const internal = name !== DEFAULT_NETWORK && net.spec?.internal === true;

    const subnet = net.status?.subnet;
    if (subnet) {
      try {
        const c = canonical(subnet);
        const clash = isolation.find((i) => cidrsOverlap(i.subnet, c));
        if (clash) warnings.push(`Network ${name}: subnet ${c} overlaps Network ${clash.network} (${clash.subnet}); left out of the isolation rules`);
        else isolation.push({ network: name, subnet: c, internal, masquerade: name !== DEFAULT_NETWORK && !internal && driver !== 'cni' });
      } catch (e) {
        warnings.push(`Network ${name}: status.subnet: ${(e as Error).message}`);
      }
    }
    if (name === DEFAULT_NETWORK) continue;

    if (driver === 'cni') {
      // Ready or not, there is nothing to keep on the node: the pods' records hold what DEL needs.
      if (!isReady(net)) {
        unusable.set(name, notReadyReason(net));
        continue;
      }
      try {
        cni.push({ name, conf: buildCniConfList(name, net.spec?.cni) });
      } catch (e) {
        unusable.set(name, (e as Error).message);
      }
      continue;
    }

    const why = shapeProblem(net, driver, nodeName);
    if (why) {
      unusable.set(name, why);
      continue;
    }
    // A network that lost Ready keeps its devices here (its pods keep working); only new
    // attachments wait for it.
    if (!isReady(net)) unusable.set(name, notReadyReason(net));
    const slice = nodeSlice(net, nodeName)!;
    const c = parseCidr(slice.subnet);
    const bridge = slice.bridge ?? bridgeName(name);
    if (!IFNAME_RE.test(bridge)) {
      unusable.set(name, `Network ${name}: bridge name ${JSON.stringify(bridge)} is not a valid interface name`);
      continue;
    }
    const ln: LocalNetwork = {
      name,
      driver: driver as LocalNetwork['driver'],
      subnet: canonical(subnet!),
      slice: canonical(slice.subnet),
      prefix: c.prefix,
      gateway: intToIp(c.base + 1),
      bridge,
      internal,
    };
    if (driver === 'overlay') {
      const vni = net.status!.vni!;
      const peers: OverlayPeer[] = [];
      for (const s of net.status?.nodes ?? []) {
        if (s.name === nodeName) continue;
        const vtep = vtepOf.get(s.name);
        if (!vtep) {
          warnings.push(`Network ${name}: node ${s.name} publishes no ${VTEP_IP_ANNOTATION} yet; its pods are not reachable`);
          continue;
        }
        try {
          const vtepIP = normalizeIp(vtep);
          if (vtepIP === self) {
            warnings.push(`Network ${name}: node ${s.name} claims this node's VTEP address ${vtepIP}`);
            continue;
          }
          peers.push({ node: s.name, podCIDR: canonical(s.subnet), vtepIP, vtepMAC: vtepMacFor(vni, vtepIP) });
        } catch (e) {
          warnings.push(`Network ${name}: node ${s.name}: ${(e as Error).message}`);
        }
      }
      ln.vxlan = { vni, device: vxlanDeviceName(vni), peers };
    }
    local.push(ln);
  }
  return { local, cni, unusable, isolation, warnings };
}

function notReadyReason(net: Network): string {
  const cond = net.status?.conditions?.find((c) => c.type === 'Ready');
  return `Network ${net.metadata.name} is not Ready${cond?.reason ? ` (${cond.reason}${cond.message ? `: ${cond.message}` : ''})` : ''}`;
}

/** Why this node cannot carry the network at all (nothing to build a bridge from). */
function shapeProblem(net: Network, driver: NetworkDriver, nodeName: string): string | undefined {
  const name = net.metadata.name!;
  if (!isReady(net) && !nodeSlice(net, nodeName)) return notReadyReason(net);
  if (driver !== 'bridge' && driver !== 'overlay') return `Network ${name}: unknown driver ${JSON.stringify(driver)}`;
  if (!net.status?.subnet) return `Network ${name} has no subnet in its status yet`;
  const slice = nodeSlice(net, nodeName);
  if (!slice) return `Network ${name} has no slice for node ${nodeName} yet`;
  let c;
  try {
    c = parseCidr(slice.subnet);
    parseCidr(net.status.subnet);
  } catch (e) {
    return `Network ${name}: ${(e as Error).message}`;
  }
  if (c.size < 4) return `Network ${name}: the slice ${slice.subnet} of node ${nodeName} is too small for pods (needs at least a /30)`;
  if (driver === 'overlay') {
    const vni = net.status.vni;
    if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 1 || vni > 0xffffff) return `Network ${name} has no valid VNI in its status yet`;
  }
  return undefined;
}

/**
 * The lowest address of the slice that is neither the network address, the gateway (first host),
 * the broadcast address nor in use. Throws when none is left.
 */
export function allocateAddress(network: string, slice: string, used: ReadonlySet<string>): string {
  const c = parseCidr(slice);
  for (let off = 2; off <= c.size - 2; off++) {
    const ip = intToIp(c.base + off);
    if (!used.has(ip)) return ip;
  }
  throw new Error(`Network ${network}: address space of this node's slice ${slice} is exhausted`);
}

/** Whether ip is an address allocateAddress could have handed out from slice. */
export function isPodAddressOf(slice: string, ip: string): boolean {
  const c = parseCidr(slice);
  let n: number;
  try {
    n = ipToInt(ip);
  } catch {
    return false;
  }
  const off = n - c.base;
  return off >= 2 && off <= c.size - 2;
}
