// Services across hosts at size (issue 5): on a 3-host local cluster (test/helpers/local-cluster.ts)
// with 1,000 selector-less ClusterIP Services, each with a hand-made Endpoints of 2 addresses, the
// time from one Endpoints PATCH to every host's nftables table serving the new address. Each
// agent learns the change from its own Endpoints watch and rebuilds its whole table in one
// transaction (kubelet/network/service-proxy.ts).
//
// How "serving" is seen, two ways:
// - monitor (default): `nft monitor tables` in each host's namespace stamps every commit of the
//   table; once every host has committed after the PATCH, one `nft list chain` per host checks
//   that the service's chain (where its endpoints sit, see service-rules.ts) has the new address,
//   and waits for the next commit if not. Nothing runs in a host while its agent applies.
// - --poll: `nft list chain` every --interval-ms in each host. With 1,000 Services one listing
//   costs ~45 ms of CPU idle and several times that while the agents apply (all on 2 CPUs), so
//   the polls slow down what they measure and the figures come out late; kept to show that.
// The endpoint addresses (10.250.x.y) exist nowhere and no traffic is sent to them: only the
// rules are looked at.
// Needs root. Usage: node dist/test/perf/service-propagation-bench.js [--services 1000] [--updates 20] [--hosts 3] [--poll [--interval-ms 10]]
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { systemTool } from '../../kubelet/network/cni.js';
import { NETNS_DIR } from '../../kubelet/network/netns.js';
import { RestClient, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { localClusterMissing, startLocalCluster, type LocalCluster, type LocalHost } from '../helpers/local-cluster.js';

/** The agents' Services table in a local cluster (real-node.ts: skiff-svc-<bridge>, bridge skiff0). */
const TABLE = 'skiff-svc-skiff0';
const NAMESPACE = 'propbench';
const ENDPOINT_PORT = 8080;
/** Between changes, so that each one starts with every agent idle (pacing, not synchronisation). */
const PACE_MS = 250;

export interface Stats {
  median: number;
  p90: number;
  max: number;
}

export interface PropagationBenchResult {
  method: Method;
  services: number;
  hosts: number;
  createMs: number;
  /** from the first create to each host's table holding every Service */
  initialSyncMs: number[];
  /** one `nft list` in a host's namespace, idle */
  pollCost: { chainNsenterMs: number; chainIpNetnsMs: number; tableMs: number };
  patchMs: Stats;
  /** per change, the slowest host ("every host serving it") */
  everyHost: Stats & { samples: number[] };
  /** every (change, host) pair */
  perHost: Stats & { samples: number[] };
  poll?: {
    intervalMs: number;
    /** how late the figures may be: end of the seeing poll minus start of the last missing one */
    bracketMs: Stats;
    /** one poll's duration while the changes were watched (all hosts polling, agents at work) */
    durationMs: Stats & { count: number };
  };
  monitor?: { ambiguous: number; misses: number };
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { median: q(0.5), p90: q(0.9), max: s[s.length - 1]! };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** nft inside a host's namespace; nsenter --net only, the cheapest way in (no mount namespace work). */
function nftIn(h: LocalHost, args: string[]): Promise<string> {
  return run(systemTool('nsenter'), [`--net=${join(NETNS_DIR, h.netns)}`, systemTool('nft'), ...args]);
}

function endpointIp(n: number): string {
  return `10.250.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Chain name of each bench Service's port on host h, from the table itself (names carry a hash). */
async function benchChains(h: LocalHost): Promise<Map<string, string>> {
  // nft 1.0.6 takes no table here: the chains of every ip table, filtered below
  const out = await nftIn(h, ['list', 'chains', 'ip']);
  const m = new Map<string, string>();
  const re = new RegExp(`chain (svc-[0-9a-f]+-${NAMESPACE}/([^/]+)/tcp/80) \\{`, 'g');
  for (const x of out.matchAll(re)) m.set(x[2]!, x[1]!);
  return m;
}

async function median(n: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return stats(xs).median;
}

interface Seen {
  ms: number;
  /** poll: end of the seeing poll minus start of the last missing one (how late ms may be) */
  bracket?: number;
  /** poll: how long each poll of this watch took */
  polls?: number[];
  /** monitor: a later commit came before the check that found the address (ms is then an upper bound) */
  ambiguous?: boolean;
  /** monitor: commits after the PATCH that did not have the address yet */
  misses?: number;
}

// an endpoint is `IP . PORT` in the DNAT map (or `IP:PORT` when it is the only one)
function endpointPattern(ip: string): RegExp {
  return new RegExp(`[\\s{]${ip.replace(/\./g, '\\.')}(?: \\. |:)${ENDPOINT_PORT}\\b`);
}

/** Polls host h every intervalMs (start to start) until the chain lists ip; times from t0. */
async function pollFor(h: LocalHost, chain: string, ip: string, t0: number, intervalMs: number, deadlineMs: number): Promise<Seen> {
  const needle = endpointPattern(ip);
  let lastMiss = t0;
  const polls: number[] = [];
  for (;;) {
    const start = performance.now();
    const out = await nftIn(h, ['list', 'chain', 'ip', TABLE, chain]);
    const end = performance.now();
    polls.push(end - start);
    if (needle.test(out)) return { ms: end - t0, bracket: end - lastMiss, polls };
    lastMiss = start;
    if (end - t0 > deadlineMs) throw new Error(`${h.name}: ${ip} not in ${chain} after ${deadlineMs} ms`);
    const wait = start + intervalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * `nft monitor tables` in a host's namespace: the time of every commit that (re)creates the
 * Services table. The agent replaces the whole table in one transaction, and the kernel sends
 * the transaction's notifications only once it is committed, so the `add table` line arrives
 * right after the new rules went live; no nft runs in the host while the agent applies.
 */
class TableMonitor {
  readonly commits: number[] = [];
  private partial = '';
  private wake: (() => void)[] = [];
  private probeSeen = false;
  private exited?: string;

  private constructor(
    private readonly host: LocalHost,
    private readonly proc: ChildProcess,
  ) {
    proc.stdout!.on('data', (d: Buffer) => {
      const now = performance.now();
      const lines = (this.partial + d.toString('utf8')).split('\n');
      this.partial = lines.pop()!;
      for (const l of lines) {
        if (l.trim() === `add table ip ${TABLE}`) this.commits.push(now);
        else if (l.includes(PROBE_TABLE)) this.probeSeen = true;
      }
      for (const w of this.wake.splice(0)) w();
    });
    proc.on('exit', (code) => {
      this.exited = `nft monitor in ${host.netns} exited (${code})`;
      for (const w of this.wake.splice(0)) w();
    });
  }

  static async open(h: LocalHost): Promise<TableMonitor> {
    const proc = spawn(systemTool('nsenter'), [`--net=${join(NETNS_DIR, h.netns)}`, systemTool('nft'), 'monitor', 'tables'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const m = new TableMonitor(h, proc);
    // Subscribed once it reports a table of our own making (made and removed at once).
    const deadline = performance.now() + 10_000;
    while (!m.probeSeen) {
      if (m.exited) throw new Error(m.exited);
      if (performance.now() > deadline) {
        m.close();
        throw new Error(`nft monitor in ${h.netns} reported nothing within 10 s`);
      }
      await nftIn(h, ['add', 'table', 'ip', PROBE_TABLE]);
      await nftIn(h, ['delete', 'table', 'ip', PROBE_TABLE]);
      await m.change(200);
    }
    return m;
  }

  /** Resolves on the next line read (or after ms). */
  private change(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The first commit later than t. */
  async commitAfter(t: number, deadline: number): Promise<number> {
    for (;;) {
      const c = this.commits.find((x) => x > t);
      if (c !== undefined) return c;
      if (this.exited) throw new Error(this.exited);
      if (performance.now() > deadline) throw new Error(`${this.host.name}: no new ${TABLE} within the deadline`);
      await this.change(1000);
    }
  }

  close(): void {
    if (!this.exited) this.proc.kill();
  }
}

const PROBE_TABLE = 'skiff-propbench-probe';

/**
 * The first commit on each host after t0 whose table lists ip, timed from t0. Checked once every
 * host has committed after t0, so that the check's own nft does not compete with an agent's.
 */
async function commitsFor(hosts: LocalHost[], monitors: TableMonitor[], chains: string[], ip: string, t0: number, deadlineMs: number): Promise<Seen[]> {
  const deadline = t0 + deadlineMs;
  const first = await Promise.all(monitors.map((m) => m.commitAfter(t0, deadline)));
  const needle = endpointPattern(ip);
  const out: Seen[] = [];
  for (let k = 0; k < hosts.length; k++) {
    let commit = first[k]!;
    let misses = 0;
    for (;;) {
      const listed = await nftIn(hosts[k]!, ['list', 'chain', 'ip', TABLE, chains[k]!]);
      const end = performance.now();
      const latest = monitors[k]!.commits.filter((x) => x <= end).pop()!;
      if (needle.test(listed)) {
        out.push({ ms: latest - t0, ambiguous: latest !== commit, misses });
        break;
      }
      misses++;
      commit = await monitors[k]!.commitAfter(latest, deadline);
    }
  }
  return out;
}

export type Method = 'monitor' | 'poll';

export interface PropagationBenchOptions {
  count?: number;
  updates?: number;
  /** monitor (default): commit times from `nft monitor`; poll: `nft list chain` every intervalMs */
  method?: Method;
  intervalMs?: number;
}

export async function benchServicePropagation(lc: LocalCluster, opts: PropagationBenchOptions = {}, log: (s: string) => void = () => undefined): Promise<PropagationBenchResult> {
  const { count = 1000, updates = 20, method = 'monitor', intervalMs = 10 } = opts;
  const client = RestClient.fromKubeconfig(lc.kubeconfig);
  try {
    await client.create(resourcePath(R.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    const addresses = new Map<number, string[]>();
    let nextIp = 0;
    const tc = performance.now();
    await pool([...Array(count).keys()], 16, async (i) => {
      const name = `pb-${i}`;
      await client.create(resourcePath(R.services, NAMESPACE), {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: NAMESPACE },
        spec: { type: 'ClusterIP', ports: [{ port: 80, targetPort: ENDPOINT_PORT, protocol: 'TCP' }] },
      });
      const ips = [endpointIp(nextIp++), endpointIp(nextIp++)];
      addresses.set(i, ips);
      await client.create(resourcePath(R.endpoints, NAMESPACE), {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name, namespace: NAMESPACE },
        subsets: [{ addresses: ips.map((ip) => ({ ip })), ports: [{ port: ENDPOINT_PORT, protocol: 'TCP' }] }],
      });
    });
    const createMs = performance.now() - tc;
    log(`created ${count} Services + Endpoints in ${createMs.toFixed(0)} ms`);

    const chains = new Map<string, Map<string, string>>();
    const initialSyncMs = await Promise.all(
      lc.hosts.map(async (h) => {
        const deadline = performance.now() + 300_000;
        for (;;) {
          const m = await benchChains(h);
          if (m.size === count) {
            chains.set(h.name, m);
            return performance.now() - tc;
          }
          if (performance.now() > deadline) throw new Error(`${h.name}: ${m.size} of ${count} Services in ${TABLE} after 300 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }),
    );
    log(`every host's table holds all ${count} Services (${initialSyncMs.map((x) => (x / 1000).toFixed(1)).join(' / ')} s after the first create)`);

    const h0 = lc.hosts[0]!;
    const anyChain = chains.get(h0.name)!.get('pb-0')!;
    const pollCost = {
      chainNsenterMs: await median(20, () => nftIn(h0, ['list', 'chain', 'ip', TABLE, anyChain])),
      chainIpNetnsMs: await median(10, () => run(systemTool('ip'), ['netns', 'exec', h0.netns, systemTool('nft'), 'list', 'chain', 'ip', TABLE, anyChain])),
      tableMs: await median(5, () => nftIn(h0, ['list', 'table', 'ip', TABLE])),
    };
    log(`one poll: nsenter+nft list chain ${pollCost.chainNsenterMs.toFixed(1)} ms, ip netns exec+nft list chain ${pollCost.chainIpNetnsMs.toFixed(1)} ms, nft list table ${pollCost.tableMs.toFixed(1)} ms`);

    const everyHost: number[] = [];
    const perHost: number[] = [];
    const patchMs: number[] = [];
    const brackets: number[] = [];
    const polls: number[] = [];
    let ambiguous = 0;
    let misses = 0;
    const monitors = method === 'monitor' ? await Promise.all(lc.hosts.map((h) => TableMonitor.open(h))) : [];
    try {
      for (let u = 0; u < updates; u++) {
        const i = (u * 37) % count;
        const name = `pb-${i}`;
        const ip = endpointIp(nextIp++);
        const ips = [...addresses.get(i)!, ip];
        addresses.set(i, ips);
        const patch = { subsets: [{ addresses: ips.map((x) => ({ ip: x })), ports: [{ port: ENDPOINT_PORT, protocol: 'TCP' }] }] };
        const hostChains = lc.hosts.map((h) => chains.get(h.name)!.get(name)!);
        const t0 = performance.now();
        const patched = client.patch(resourcePath(R.endpoints, NAMESPACE, name), patch, 'merge').then(() => patchMs.push(performance.now() - t0));
        const seen =
          method === 'monitor'
            ? await commitsFor(lc.hosts, monitors, hostChains, ip, t0, 60_000)
            : await Promise.all(lc.hosts.map((h, k) => pollFor(h, hostChains[k]!, ip, t0, intervalMs, 60_000)));
        await patched;
        for (const x of seen) {
          perHost.push(x.ms);
          if (x.bracket !== undefined) brackets.push(x.bracket);
          polls.push(...(x.polls ?? []));
          if (x.ambiguous) ambiguous++;
          misses += x.misses ?? 0;
        }
        everyHost.push(Math.max(...seen.map((x) => x.ms)));
        log(`change ${u + 1}/${updates} (${name} += ${ip}): ${seen.map((x, k) => `${lc.hosts[k]!.name} ${x.ms.toFixed(0)}`).join(', ')} ms`);
        await new Promise((r) => setTimeout(r, PACE_MS));
      }
    } finally {
      for (const m of monitors) m.close();
    }
    return {
      method,
      services: count,
      hosts: lc.hosts.length,
      createMs,
      initialSyncMs,
      pollCost,
      patchMs: stats(patchMs),
      everyHost: { ...stats(everyHost), samples: everyHost },
      perHost: { ...stats(perHost), samples: perHost },
      ...(method === 'poll' ? { poll: { intervalMs, bracketMs: stats(brackets), durationMs: { ...stats(polls), count: polls.length } } } : { monitor: { ambiguous, misses } }),
    };
  } finally {
    client.close();
  }
}

function parseArgs(argv: string[]): { count: number; updates: number; hosts: number; method: Method; intervalMs: number } {
  const o = { count: 1000, updates: 20, hosts: 3, method: 'monitor' as Method, intervalMs: 10 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a positive integer`);
      return n;
    };
    if (flag === '--services') o.count = num();
    else if (flag === '--updates') o.updates = num();
    else if (flag === '--hosts') o.hosts = num();
    else if (flag === '--interval-ms') o.intervalMs = num();
    else if (flag === '--poll') o.method = 'poll';
    else throw new Error(`unknown argument ${argv[i]} (flags: --services N --updates N --hosts N --poll --interval-ms N)`);
  }
  return o;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('service-propagation-bench needs root (network namespaces, nftables, containers)');
  const missing = localClusterMissing();
  if (missing) throw new Error(`cannot run a local cluster here: ${missing}`);
  const o = parseArgs(process.argv.slice(2));
  const tu = performance.now();
  const lc = await startLocalCluster({ hosts: o.hosts });
  let stopping = false;
  const down = async () => {
    if (stopping) return;
    stopping = true;
    const left = await lc.down();
    if (left.length) console.error(`teardown had to force: ${left.join('; ')}`);
  };
  const onSignal = () => void down().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    console.log(`${o.hosts}-host local cluster up in ${((performance.now() - tu) / 1000).toFixed(1)} s`);
    const r = await benchServicePropagation(lc, { count: o.count, updates: o.updates, method: o.method, intervalMs: o.intervalMs }, (s) => console.log(`  ${s}`));
    const f = (x: number) => x.toFixed(0);
    const line = (s: Stats) => `median ${f(s.median)} ms, p90 ${f(s.p90)} ms, max ${f(s.max)} ms`;
    const how = r.poll ? `polled every ${r.poll.intervalMs} ms` : 'seen by nft monitor, checked with nft list chain';
    console.log(`service propagation: ${r.services} Services (2 endpoints each) on ${r.hosts} hosts, ${o.updates} Endpoints changes, ${how}`);
    console.log(`  PATCH round trip               ${line(r.patchMs)}`);
    console.log(`  change -> every host serving   ${line(r.everyHost)}`);
    console.log(`  change -> one host serving     ${line(r.perHost)} (${r.perHost.samples.length} samples)`);
    console.log(`  one poll, idle: nsenter + nft list chain ${r.pollCost.chainNsenterMs.toFixed(1)} ms (ip netns exec ${r.pollCost.chainIpNetnsMs.toFixed(1)} ms; whole table ${r.pollCost.tableMs.toFixed(1)} ms)`);
    if (r.poll) {
      console.log(`  one poll, during the changes   ${line(r.poll.durationMs)} (${r.poll.durationMs.count} polls)`);
      console.log(`  figures late by at most        ${line(r.poll.bracketMs)} (end of the seeing poll - start of the last missing one)`);
    } else {
      console.log(`  commits after a PATCH without its address: ${r.monitor!.misses}; figures that are upper bounds (a later commit before the check): ${r.monitor!.ambiguous}`);
    }
    console.log(`  target: every host within 1 s -> ${r.everyHost.max < 1000 ? 'PASS' : 'MISS'}`);
    console.log('  peer: none (kube-proxy is not installed on this machine); one proxy alone: node dist/test/perf/service-proxy-bench.js');
  } finally {
    await down();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
