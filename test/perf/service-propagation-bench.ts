// Services across hosts at size (issue 5): on a 3-host local cluster (test/helpers/local-cluster.ts)
// with 1,000 selector-less ClusterIP Services, each with a hand-made Endpoints of 2 addresses, the
// time from one Endpoints PATCH to every host's nftables table serving the new address. Each
// agent learns the change from its own Endpoints watch and rebuilds its whole table
// (kubelet/network/service-proxy.ts); the bench reads each host's table from outside, polling the
// service's own chain (where its endpoints sit, see service-rules.ts) in the host's namespace.
//
// A poll is an `nft list chain` run in the host's namespace: the address was absent at the last
// poll that missed it and present at the one that saw it, so the figure reported (the end of the
// first poll that saw it) is an upper bound, at most one interval plus one poll's cost late; the
// cost of one poll is measured and printed. The endpoint addresses (10.250.x.y) exist nowhere and
// no traffic is sent to them: only the rules are looked at.
// Needs root. Usage: node dist/test/perf/service-propagation-bench.js [services=1000] [updates=20] [intervalMs=10] [hosts=3]
import { execFile } from 'node:child_process';
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
  services: number;
  hosts: number;
  createMs: number;
  /** from the first create to each host's table holding every Service */
  initialSyncMs: number[];
  pollCost: { chainNsenterMs: number; chainIpNetnsMs: number; tableMs: number };
  patchMs: Stats;
  /** per change, the slowest host ("every host serving it") */
  everyHost: Stats & { samples: number[] };
  /** every (change, host) pair */
  perHost: Stats & { samples: number[] };
  /** how late the figures may be: end of the seeing poll minus start of the last missing one */
  bracketMs: Stats;
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
  let out: string;
  try {
    // nft 1.0.6 takes no table here: the chains of every ip table, filtered below
    out = await nftIn(h, ['list', 'chains', 'ip']);
  } catch {
    return new Map(); // the table is not there yet
  }
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
  bracket: number;
}

/** Polls host h every intervalMs (start to start) until the chain lists ip; times from t0. */
async function watchFor(h: LocalHost, chain: string, ip: string, t0: number, intervalMs: number, deadlineMs: number): Promise<Seen> {
  // an endpoint is `IP . PORT` in the DNAT map (or `IP:PORT` when it is the only one)
  const needle = new RegExp(`[\\s{]${ip.replace(/\./g, '\\.')}(?: \\. |:)${ENDPOINT_PORT}\\b`);
  let lastMiss = t0;
  for (;;) {
    const start = performance.now();
    const out = await nftIn(h, ['list', 'chain', 'ip', TABLE, chain]);
    const end = performance.now();
    if (needle.test(out)) return { ms: end - t0, bracket: end - lastMiss };
    lastMiss = start;
    if (end - t0 > deadlineMs) throw new Error(`${h.name}: ${ip} not in ${chain} after ${deadlineMs} ms`);
    const wait = start + intervalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

export async function benchServicePropagation(lc: LocalCluster, count = 1000, updates = 20, intervalMs = 10, log: (s: string) => void = () => undefined): Promise<PropagationBenchResult> {
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
    const brackets: number[] = [];
    const patchMs: number[] = [];
    for (let u = 0; u < updates; u++) {
      const i = (u * 37) % count;
      const name = `pb-${i}`;
      const ip = endpointIp(nextIp++);
      const ips = [...addresses.get(i)!, ip];
      addresses.set(i, ips);
      const patch = { subsets: [{ addresses: ips.map((x) => ({ ip: x })), ports: [{ port: ENDPOINT_PORT, protocol: 'TCP' }] }] };
      const t0 = performance.now();
      const patched = client.patch(resourcePath(R.endpoints, NAMESPACE, name), patch, 'merge').then(() => patchMs.push(performance.now() - t0));
      const seen = await Promise.all(lc.hosts.map((h) => watchFor(h, chains.get(h.name)!.get(name)!, ip, t0, intervalMs, 60_000)));
      await patched;
      for (const s of seen) {
        perHost.push(s.ms);
        brackets.push(s.bracket);
      }
      everyHost.push(Math.max(...seen.map((s) => s.ms)));
      log(`change ${u + 1}/${updates} (${name} += ${ip}): ${seen.map((s, k) => `${lc.hosts[k]!.name} ${s.ms.toFixed(0)}`).join(', ')} ms`);
      await new Promise((r) => setTimeout(r, PACE_MS));
    }
    return {
      services: count,
      hosts: lc.hosts.length,
      createMs,
      initialSyncMs,
      pollCost,
      patchMs: stats(patchMs),
      everyHost: { ...stats(everyHost), samples: everyHost },
      perHost: { ...stats(perHost), samples: perHost },
      bracketMs: stats(brackets),
    };
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('service-propagation-bench needs root (network namespaces, nftables, containers)');
  const missing = localClusterMissing();
  if (missing) throw new Error(`cannot run a local cluster here: ${missing}`);
  const count = Number(process.argv[2] ?? 1000);
  const updates = Number(process.argv[3] ?? 20);
  const intervalMs = Number(process.argv[4] ?? 10);
  const hosts = Number(process.argv[5] ?? 3);
  const tu = performance.now();
  const lc = await startLocalCluster({ hosts });
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
    console.log(`${hosts}-host local cluster up in ${((performance.now() - tu) / 1000).toFixed(1)} s`);
    const r = await benchServicePropagation(lc, count, updates, intervalMs, (s) => console.log(`  ${s}`));
    const f = (x: number) => x.toFixed(0);
    const line = (s: Stats) => `median ${f(s.median)} ms, p90 ${f(s.p90)} ms, max ${f(s.max)} ms`;
    console.log(`service propagation: ${r.services} Services (2 endpoints each) on ${r.hosts} hosts, ${updates} Endpoints changes, polled every ${intervalMs} ms`);
    console.log(`  PATCH round trip               ${line(r.patchMs)}`);
    console.log(`  change -> every host serving   ${line(r.everyHost)}`);
    console.log(`  change -> one host serving     ${line(r.perHost)} (${r.perHost.samples.length} samples)`);
    console.log(`  poll: one nft list chain ${r.pollCost.chainNsenterMs.toFixed(1)} ms (via ip netns exec ${r.pollCost.chainIpNetnsMs.toFixed(1)} ms; whole table ${r.pollCost.tableMs.toFixed(1)} ms); figures late by at most ${line(r.bracketMs)}`);
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
