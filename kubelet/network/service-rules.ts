// The nftables ruleset that puts Services on the data path (kube-proxy's job), built as text from
// Services and their core/v1 Endpoints. Pure: the same objects give the same text byte for byte,
// so a rebuild with nothing changed is a no-op for the kernel's view and tests can compare text.
//
// Shape (one `ip` table per agent, replaced as a whole in one transaction):
//   nat prerouting / nat output  -> chain services: one verdict-map lookup on
//     daddr . l4proto . dport (ClusterIPs, externalIPs, load-balancer IPs), one on l4proto . dport
//     for NodePorts on any local address -> per service-port chain: one rule that marks and DNATs
//     to the endpoint a random number (or a hash of the client address) picks from an anonymous
//     map. kube-proxy uses a chain per endpoint instead (it needs one for its per-endpoint
//     affinity sets and hairpin rules; this table needs neither): measured on 1,000 Services with
//     2,500 endpoints, dropping those 2,500 chains halves the time of a whole-table rebuild
//     (~0.5 s -> ~0.25 s for nft alone).
//   filter prerouting / filter output (before NAT) -> new connections to a service port without
//     ready endpoints are rejected, as kube-proxy does (ICMP port unreachable, TCP reset for TCP).
//   nat postrouting -> every packet whose connection was DNATed here is masqueraded (see below).
// Maps keep the per-packet cost one hash lookup however many Services there are.
import { createHash } from 'node:crypto';
import type { KObject } from '../../pkg/api/types.js';
import { ipToInt, parseCidr } from './pod-ips.js';

/**
 * Bit set on packets DNATed by this table. Masquerade is decided on a connection's first packet
 * only, so the mark matters only there; it is cleared before masquerading so that a packet which
 * goes out again (e.g. wrapped by VXLAN) is not masqueraded twice.
 */
export const MASQUERADE_MARK = 0x4000;

/** Fixed so that the client-to-endpoint hash (session affinity) survives every rebuild. */
const AFFINITY_SEED = 0x5f1e3c2d;

// reject-service 2, no-endpoints 3, filter-prerouting 1, filter-output 1, services 3,
// nat-prerouting 1, nat-output 1, nat-postrouting 1
const FIXED_RULES = 13;

const PROTOCOLS: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

export interface ServiceEndpoint {
  ip: string;
  port: number;
}

/** One service port as it lands on the data path. */
export interface ServicePortPlan {
  /** namespace/name/protocol/port, unique per service port */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
  /** ClusterIP first, then externalIPs and load-balancer ingress IPs */
  frontends: string[];
  nodePort?: number;
  affinity: boolean;
  /** ready endpoints, sorted by address then port */
  endpoints: ServiceEndpoint[];
}

export interface ServiceRuleset {
  text: string;
  /** rules in chains (not map elements) */
  rules: number;
  ports: ServicePortPlan[];
  /** objects or fields left out because they cannot be put on the data path, one line each */
  warnings: string[];
}

export interface ServiceRulesetOptions {
  /** pod range of the cluster; checked, and the masquerade comment in the ruleset names it */
  clusterCIDR: string;
  /** extra addresses NodePorts answer on even when they are not local (local ones always do) */
  nodeIPs?: string[];
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function isIPv4(ip: string): boolean {
  try {
    ipToInt(ip);
    return /^\d+\.\d+\.\d+\.\d+$/.test(ip);
  } catch {
    return false;
  }
}

function validPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** nft identifiers: letters, digits and `-_./`; names from the API are already that, but never trust them. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_');
}

// The hash makes a name unique whatever `safe` and the length cap did to the readable part
// (nftables names stop at 255 bytes).
function serviceChain(p: ServicePortPlan): string {
  return `svc-${shortHash(p.key)}-${`${safe(p.namespace)}/${safe(p.name)}`.slice(0, 160)}/${p.protocol}/${p.port}`;
}

function byKey(a: KObject): string {
  return `${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`;
}

function compareEndpoints(a: ServiceEndpoint, b: ServiceEndpoint): number {
  return ipToInt(a.ip) - ipToInt(b.ip) || a.port - b.port;
}

/**
 * Ready endpoints of one service port, from the Endpoints object of the same name. Endpoints carry
 * the resolved target port (numeric or named targetPort alike) under the service port's name, so
 * the match is by port name and protocol, as kube-proxy does. notReadyAddresses never serve.
 */
function readyEndpoints(ep: KObject | undefined, portName: string, protocol: string, where: string, warnings: string[]): ServiceEndpoint[] {
  if (!ep) return [];
  const seen = new Set<string>();
  const out: ServiceEndpoint[] = [];
  for (const subset of arr(ep.subsets)) {
    const port = arr(subset.ports).find((p) => str(p.name) === portName && (str(p.protocol) || 'TCP') === protocol);
    if (!port) continue;
    if (!validPort(port.port)) {
      warnings.push(`${where}: Endpoints port ${JSON.stringify(port.port)} is not a valid port, subset skipped`);
      continue;
    }
    for (const a of arr(subset.addresses)) {
      const ip = str(a.ip);
      // IPv6 endpoints belong to an ip6 table, which this proxy does not build
      if (!isIPv4(ip)) {
        if (!ip.includes(':')) warnings.push(`${where}: endpoint address ${JSON.stringify(a.ip)} is not an IPv4 address, skipped`);
        continue;
      }
      const id = `${ip}:${port.port}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ ip, port: port.port });
    }
  }
  return out.sort(compareEndpoints);
}

/** The service ports that go on the data path, in a stable order; what cannot go there is explained in warnings. */
export function planServicePorts(services: KObject[], endpoints: KObject[], warnings: string[] = []): ServicePortPlan[] {
  const epByKey = new Map<string, KObject>();
  for (const e of endpoints) epByKey.set(byKey(e), e);
  const plans: ServicePortPlan[] = [];
  for (const svc of [...services].sort((a, b) => (byKey(a) < byKey(b) ? -1 : byKey(a) > byKey(b) ? 1 : 0))) {
    const spec = obj(svc.spec);
    const where = `service ${byKey(svc)}`;
    const type = str(spec.type) || 'ClusterIP';
    if (type === 'ExternalName') continue; // a DNS alias, nothing on the data path
    const ips = [str(spec.clusterIP), ...(Array.isArray(spec.clusterIPs) ? spec.clusterIPs.map(str) : [])];
    // headless services (None) are resolved by DNS to the pods directly; no address, nothing to do
    if (ips[0] === 'None' || ips[0] === '') continue;
    const clusterIP = ips.find(isIPv4);
    if (!clusterIP) {
      if (!ips.some((ip) => ip.includes(':'))) warnings.push(`${where}: clusterIP ${JSON.stringify(spec.clusterIP)} is not an IPv4 address, skipped`);
      continue;
    }
    const extra: string[] = [];
    for (const ip of Array.isArray(spec.externalIPs) ? spec.externalIPs.map(str) : []) {
      if (isIPv4(ip)) extra.push(ip);
      else if (!ip.includes(':')) warnings.push(`${where}: externalIP ${JSON.stringify(ip)} is not an IPv4 address, skipped`);
    }
    if (type === 'LoadBalancer') {
      for (const ing of arr(obj(obj(svc.status).loadBalancer).ingress)) if (isIPv4(str(ing.ip))) extra.push(str(ing.ip));
    }
    const frontends = [clusterIP, ...[...new Set(extra)].filter((ip) => ip !== clusterIP).sort((a, b) => ipToInt(a) - ipToInt(b))];
    const affinity = str(spec.sessionAffinity) === 'ClientIP';
    // externalTrafficPolicy/internalTrafficPolicy Local are served as Cluster: this proxy is not
    // told which endpoints are on its own node, and every DNATed connection is masqueraded anyway
    // (so the client address Local exists to preserve is gone regardless).
    const ep = epByKey.get(byKey(svc));
    const seenPorts = new Set<string>();
    for (const sp of arr(spec.ports)) {
      const protoName = str(sp.protocol) || 'TCP';
      const protocol = PROTOCOLS[protoName] as ServicePortPlan['protocol'] | undefined;
      if (!protocol) {
        warnings.push(`${where}: protocol ${JSON.stringify(protoName)} is not supported, port skipped`);
        continue;
      }
      if (!validPort(sp.port)) {
        warnings.push(`${where}: port ${JSON.stringify(sp.port)} is not a valid port, skipped`);
        continue;
      }
      if (seenPorts.has(`${protocol}/${sp.port}`)) {
        warnings.push(`${where}: port ${sp.port}/${protoName} is declared twice, the second one skipped`);
        continue;
      }
      seenPorts.add(`${protocol}/${sp.port}`);
      const portName = str(sp.name);
      let nodePort: number | undefined;
      if ((type === 'NodePort' || type === 'LoadBalancer') && sp.nodePort !== undefined && sp.nodePort !== 0) {
        if (validPort(sp.nodePort)) nodePort = sp.nodePort;
        else warnings.push(`${where}: nodePort ${JSON.stringify(sp.nodePort)} is not a valid port, NodePort skipped`);
      }
      plans.push({
        key: `${byKey(svc)}/${protocol}/${sp.port}`,
        namespace: svc.metadata.namespace ?? '',
        name: svc.metadata.name ?? '',
        portName,
        protocol,
        port: sp.port,
        frontends,
        nodePort,
        affinity,
        endpoints: readyEndpoints(ep, portName, protoName, `${where} port ${portName || sp.port}`, warnings),
      });
    }
  }
  return plans;
}

/**
 * The whole table as one `nft -f` script: declaring the table first makes the delete safe when it
 * does not exist yet, and nft applies the script as one transaction, so packets see either the old
 * rules or the new ones, never a half-built table.
 */
export function buildServiceRules(table: string, services: KObject[], endpoints: KObject[], opts: ServiceRulesetOptions): ServiceRuleset {
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(table)) throw new Error(`invalid nftables table name ${JSON.stringify(table)}`);
  parseCidr(opts.clusterCIDR); // throws on a malformed range: the caller's configuration is wrong
  for (const ip of opts.nodeIPs ?? []) if (!isIPv4(ip)) throw new Error(`node IP ${JSON.stringify(ip)} is not an IPv4 address`);
  const nodeIPs = [...new Set(opts.nodeIPs ?? [])].sort((a, b) => ipToInt(a) - ipToInt(b));
  const warnings: string[] = [];
  const ports = planServicePorts(services, endpoints, warnings);

  const serviceIps: string[] = [];
  const noEndpointIps: string[] = [];
  const nodePorts: string[] = [];
  const noEndpointNodePorts: string[] = [];
  const chains: string[] = [];
  let rules = 0;
  const frontendOwner = new Map<string, string>();
  const nodePortOwner = new Map<string, string>();

  for (const p of ports) {
    const svcChain = serviceChain(p);
    const has = p.endpoints.length > 0;
    const target = has ? `goto ${svcChain}` : 'goto reject-service';
    for (const ip of p.frontends) {
      const k = `${ip} . ${p.protocol} . ${p.port}`;
      const owner = frontendOwner.get(k);
      if (owner) {
        warnings.push(`${p.key}: ${ip}:${p.port}/${p.protocol} already belongs to ${owner}, skipped`);
        continue;
      }
      frontendOwner.set(k, p.key);
      (has ? serviceIps : noEndpointIps).push(`${k} : ${target}`);
    }
    if (p.nodePort !== undefined) {
      const k = `${p.protocol} . ${p.nodePort}`;
      const owner = nodePortOwner.get(k);
      if (owner) warnings.push(`${p.key}: nodePort ${p.nodePort}/${p.protocol} already belongs to ${owner}, skipped`);
      else {
        nodePortOwner.set(k, p.key);
        (has ? nodePorts : noEndpointNodePorts).push(`${k} : ${target}`);
      }
    }
    if (!has) continue;
    let to: string;
    if (p.endpoints.length === 1) to = `${p.endpoints[0]!.ip}:${p.endpoints[0]!.port}`;
    else {
      // ClientIP affinity: a stateless hash of the client address, so the choice survives the
      // whole-table rebuilds (a set with timeouts would be emptied by each of them). The cost:
      // sessionAffinityConfig.clientIP.timeoutSeconds is not honoured (a client sticks for as long
      // as the endpoint list is unchanged), and a change of the list moves some clients.
      const n = p.endpoints.length;
      const how = p.affinity ? `jhash ip saddr mod ${n} seed 0x${AFFINITY_SEED.toString(16)}` : `numgen random mod ${n}`;
      to = `${how} map { ${p.endpoints.map((ep, i) => `${i} : ${ep.ip} . ${ep.port}`).join(', ')} }`;
    }
    chains.push(`  chain ${svcChain} {`, `    meta mark set meta mark | 0x${MASQUERADE_MARK.toString(16)} meta l4proto ${p.protocol} dnat ip to ${to}`, '  }');
    rules++;
  }

  const elements = (xs: string[]) => (xs.length ? [`    elements = {`, ...xs.map((x) => `      ${x},`), `    }`] : []);
  const verdictMap = (name: string, type: string, xs: string[]) => [`  map ${name} {`, `    type ${type} : verdict`, ...elements(xs), '  }'];
  const mark = `0x${MASQUERADE_MARK.toString(16)}`;
  // Loopback is left out of NodePorts: DNAT of 127.0.0.0/8 to a pod needs route_localnet, which
  // kube-proxy's nftables mode does not turn on either.
  const local = 'fib daddr type local ip daddr != 127.0.0.0/8';
  const head = [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    `  comment "Services of the cluster (pods ${opts.clusterCIDR}); built by the skiff service proxy, replaced as a whole"`,
    ...verdictMap('service-ips', 'ipv4_addr . inet_proto . inet_service', serviceIps),
    ...verdictMap('service-nodeports', 'inet_proto . inet_service', nodePorts),
    ...verdictMap('no-endpoint-services', 'ipv4_addr . inet_proto . inet_service', noEndpointIps),
    ...verdictMap('no-endpoint-nodeports', 'inet_proto . inet_service', noEndpointNodePorts),
    `  set nodeport-ips {`,
    `    type ipv4_addr`,
    ...elements(nodeIPs),
    `  }`,
    `  chain reject-service {`,
    `    meta l4proto tcp reject with tcp reset`,
    `    reject`,
    `  }`,
    // Only new connections: packets of an established one still carry the service address here
    // (NAT undoes it later), and cutting those off is not this chain's business.
    `  chain no-endpoints {`,
    `    ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
    `    ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports`,
    `    ${local} meta l4proto . th dport vmap @no-endpoint-nodeports`,
    `  }`,
    // Before NAT and before routing, so a service without endpoints is refused even where no route
    // to the service range exists.
    `  chain filter-prerouting {`,
    `    type filter hook prerouting priority dstnat - 10; policy accept;`,
    `    ct state new jump no-endpoints`,
    `  }`,
    `  chain filter-output {`,
    `    type filter hook output priority -110; policy accept;`,
    `    ct state new jump no-endpoints`,
    `  }`,
    `  chain services {`,
    `    ip daddr . meta l4proto . th dport vmap @service-ips`,
    `    ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports`,
    `    ${local} meta l4proto . th dport vmap @service-nodeports`,
    `  }`,
    `  chain nat-prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    jump services`,
    `  }`,
    // traffic from the node itself (host processes, hostNetwork pods)
    `  chain nat-output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    jump services`,
    `  }`,
    // Every connection DNATed here is masqueraded. Why all of them: (a) NodePort traffic from
    // outside must come back through this node to be un-DNATed; (b) a pod reaching itself through
    // its service (hairpin) would otherwise get a reply from its own address; (c) without
    // br_netfilter, a reply between two pods on the same bridge is switched at layer 2 and never
    // meets this node's conntrack, so the client would see it come from the pod instead of the
    // service address and drop it. Telling these cases apart needs per-node endpoint knowledge
    // and bridge details; one rule is correct on every topology. The cost: backends see the
    // node's address instead of the client's (no client IP preservation, hence no Local policy).
    `  chain nat-postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    meta mark & ${mark} == ${mark} meta mark set meta mark ^ ${mark} masquerade fully-random`,
    `  }`,
  ];
  rules += FIXED_RULES;
  const text = [...head, ...chains, '}', ''].join('\n');
  return { text, rules, ports, warnings };
}

/** The ruleset text alone (see buildServiceRules). */
export function buildServiceRuleset(table: string, services: KObject[], endpoints: KObject[], opts: ServiceRulesetOptions): string {
  return buildServiceRules(table, services, endpoints, opts).text;
}

/** Script that removes the table; never fails on a missing one. */
export function deleteTableScript(table: string): string {
  return `table ip ${table} {}\ndelete table ip ${table}\n`;
}
