// The underlay of a local cluster: one bridge in the root network namespace standing for the
// machines' shared LAN, and per "host" a network namespace wired to it by a veth pair. Every name
// carries the cluster's tag so several clusters (and other tests) can share the machine, and the
// names stay parseable (the tag is what precedes the last marker letter), so one cluster's prefix is
// never a prefix of another's.
import { execFileSync } from 'node:child_process';
import { runTool, systemTool } from '../../kubelet/network/cni.js';

/** Linux interface names hold at most 15 characters (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;
export const MAX_HOSTS = 200;

export interface HostPlan {
  /** node name: h1, h2, ... */
  name: string;
  index: number;
  /** the host's network namespace (/run/netns/<netns>) */
  netns: string;
  /** root side of the host's veth, attached to the underlay bridge */
  veth: string;
  ip: string;
  /** --netns-prefix of the host's agent: its pods' namespaces */
  podNetnsPrefix: string;
}

export interface UnderlayPlan {
  tag: string;
  bridge: string;
  /** 10.x.0 */
  net24: string;
  gateway: string;
  hosts: HostPlan[];
}

export function checkTag(tag: string): void {
  if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`invalid local cluster name ${JSON.stringify(tag)}: 1 to 8 lowercase letters or digits`);
}

export function planUnderlay(tag: string, hosts: number, second: number): UnderlayPlan {
  checkTag(tag);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) throw new Error(`hosts must be 1 to ${MAX_HOSTS}, not ${hosts}`);
  const net24 = `10.${second}.0`;
  const plan: UnderlayPlan = {
    tag,
    bridge: `skul${tag}`,
    net24,
    gateway: `${net24}.1`,
    hosts: Array.from({ length: hosts }, (_, k) => {
      const i = k + 1;
      return { name: `h${i}`, index: i, netns: `skh${tag}-${i}`, veth: `skh${tag}v${i}`, ip: `${net24}.${10 + i}`, podNetnsPrefix: `skp${tag}h${i}-` };
    }),
  };
  for (const n of [plan.bridge, ...plan.hosts.map((h) => h.veth)]) {
    if (n.length > IFNAME_MAX) throw new Error(`interface name ${n} is longer than ${IFNAME_MAX} characters: use a shorter cluster name`);
  }
  return plan;
}

/**
 * Patterns of every name a cluster gives out, for finding its leftovers. Exact patterns, not bare
 * prefixes: cluster "ab"'s veth prefix skhabv is also the start of cluster "abv1"'s names.
 */
export function tagPatterns(tag: string): { bridge: RegExp; veth: RegExp; netns: RegExp; podNetns: RegExp } {
  checkTag(tag);
  return { bridge: new RegExp(`^skul${tag}$`), veth: new RegExp(`^skh${tag}v\\d+$`), netns: new RegExp(`^skh${tag}-\\d+$`), podNetns: new RegExp(`^skp${tag}h\\d+-`) };
}

function parseCidr(cidr: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr);
  if (!m) return undefined;
  const addr = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  return [addr, m[5] === undefined ? 32 : Number(m[5])];
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  const bits = Math.min(a[1], b[1]);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a[0] & mask) >>> 0) === ((b[0] & mask) >>> 0);
}

/** Destinations of every IPv4 route of the root namespace (all tables). */
function routeDestinations(): [number, number][] {
  const out = execFileSync(systemTool('ip'), ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  const dests: [number, number][] = [];
  for (const line of out.split('\n')) {
    const words = line.trim().split(/\s+/);
    // "default ...", "10.1.0.0/24 dev ...", "local 10.1.0.1 dev ... table local", "broadcast ..."
    const dst = ['local', 'broadcast', 'unicast', 'unreachable', 'blackhole', 'prohibit', 'throw', 'anycast', 'multicast'].includes(words[0]!) ? words[1] : words[0];
    if (dst === 'default') dests.push([0, 0]);
    else if (dst) {
      const c = parseCidr(dst);
      if (c) dests.push(c);
    }
  }
  return dests;
}

/**
 * Second octets x such that 10.x.0.0/16 meets no route of this machine (the default route aside:
 * it covers everything). Random, so clusters started side by side rarely pick the same.
 */
export function freeSecondOctets(count: number): number[] {
  const dests = routeDestinations().filter((d) => d[1] > 0);
  const free: number[] = [];
  for (let x = 100; x < 250; x++) if (!dests.some((d) => overlaps(d, [((10 << 24) | (x << 16)) >>> 0, 16]))) free.push(x);
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [free[i], free[j]] = [free[j]!, free[i]!];
  }
  if (free.length < count) throw new Error('no free 10.x.0.0/16 ranges left for a local cluster');
  return free.slice(0, count);
}

const ip = (args: string[]) => runTool('ip', args);

/**
 * Creates the bridge with the gateway address, up, before any host is wired. False (and no bridge)
 * when another interface got an address in the same 10.x.0.0/16 meanwhile: a cluster started at the
 * same moment picked the same range, and the caller should pick another.
 */
export async function createBridge(plan: UnderlayPlan): Promise<boolean> {
  await ip(['link', 'add', plan.bridge, 'type', 'bridge', 'forward_delay', '0']);
  await ip(['addr', 'add', `${plan.gateway}/24`, 'dev', plan.bridge]);
  const range = `${plan.net24.replace(/\.0$/, '')}.0.0/16`;
  const users = (await ip(['-4', '-o', 'addr', 'show', 'to', range])).split('\n').map((l) => /^\d+:\s+(\S+)/.exec(l)?.[1]).filter(Boolean);
  if (users.some((dev) => dev !== plan.bridge)) {
    await ip(['link', 'delete', plan.bridge]);
    return false;
  }
  await ip(['link', 'set', plan.bridge, 'up']);
  return true;
}

/** The host's namespace with eth0 on the underlay, lo, a default route via the bridge and forwarding on. */
export async function createHost(plan: UnderlayPlan, h: HostPlan): Promise<void> {
  await ip(['netns', 'add', h.netns]);
  await ip(['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
  await ip(['link', 'set', h.veth, 'master', plan.bridge]);
  await ip(['link', 'set', h.veth, 'up']);
  const inNs = (args: string[]) => ip(['-n', h.netns, ...args]);
  await inNs(['link', 'set', 'lo', 'up']);
  await inNs(['addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
  await inNs(['link', 'set', 'eth0', 'up']);
  await inNs(['route', 'add', 'default', 'via', plan.gateway]);
  await ip(['netns', 'exec', h.netns, systemTool('sysctl'), '-qw', 'net.ipv4.ip_forward=1']);
}

/** Carrier of the host's underlay port: down is a pulled cable, seen from the host as NO-CARRIER. */
export async function setHostLink(h: { veth: string }, up: boolean): Promise<void> {
  await ip(['link', 'set', h.veth, up ? 'up' : 'down']);
}

export function linkExists(name: string): boolean {
  try {
    execFileSync(systemTool('ip'), ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Links of the root namespace whose names match. */
export function linksMatching(re: RegExp): string[] {
  const out = execFileSync(systemTool('ip'), ['-o', 'link', 'show'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && re.test(n));
}
