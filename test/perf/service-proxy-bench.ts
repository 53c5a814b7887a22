// Services data path at size: 1,000 Services (2-3 ready endpoints each, some NodePort, some
// ClientIP) in one table, then 20 single-Endpoints changes, each timed from update() to flush()
// resolving (the whole table rebuilt and swapped by one `nft -f -` transaction). Reports the
// median/p90/max, the first full apply, the pure ruleset build time and the rule count. Runs
// in a throwaway network namespace. No kube-proxy on this machine, so no peer ratio.
// Needs root. Usage: node dist/test/perf/service-proxy-bench.js [services=1000] [updates=20]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createNetns, deleteNetns } from '../../kubelet/network/netns.js';
import { ServiceProxy } from '../../kubelet/network/service-proxy.js';
import { buildServiceRules } from '../../kubelet/network/service-rules.js';
import type { KObject } from '../../pkg/api/types.js';

export interface ServiceProxyBenchResult {
  services: number;
  endpoints: number;
  rules: number;
  scriptBytes: number;
  buildMs: number;
  firstApplyMs: number;
  updateMs: { median: number; p90: number; max: number; samples: number[] };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function podIp(n: number): string {
  return `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

function cluster(count: number): { services: KObject[]; endpoints: KObject[]; nextPod: number } {
  const services: KObject[] = [];
  const endpoints: KObject[] = [];
  let pod = 10;
  for (let i = 0; i < count; i++) {
    const name = `svc-${i}`;
    const nodePort = i % 4 === 0;
    services.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: `ns-${i % 20}` },
      spec: {
        type: nodePort ? 'NodePort' : 'ClusterIP',
        clusterIP: `10.96.${i >> 8}.${i & 255}`,
        sessionAffinity: i % 10 === 0 ? 'ClientIP' : 'None',
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', ...(nodePort ? { nodePort: 30000 + i } : {}) }],
      },
    });
    const n = 2 + (i % 2);
    const addresses = Array.from({ length: n }, () => ({ ip: podIp(pod++) }));
    endpoints.push({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: `ns-${i % 20}` }, subsets: [{ addresses, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }] });
  }
  return { services, endpoints, nextPod: pod };
}

export async function benchServiceProxy(count = 1000, updates = 20): Promise<ServiceProxyBenchResult> {
  if (process.getuid?.() !== 0) throw new Error('service-proxy-bench needs root (network namespace, nftables)');
  const netns = `skiff-svcbench-${randomBytes(3).toString('hex')}`;
  await createNetns(netns);
  const proxy = new ServiceProxy({ table: 'skiff-svc-bench', nodeIPs: ['192.0.2.1'], clusterCIDR: '10.64.0.0/10', netns });
  try {
    const c = cluster(count);
    const tb = performance.now();
    const built = buildServiceRules('skiff-svc-bench', c.services, c.endpoints, { clusterCIDR: '10.64.0.0/10', nodeIPs: ['192.0.2.1'] });
    const buildMs = performance.now() - tb;

    const t0 = performance.now();
    proxy.update(c.services, c.endpoints);
    await proxy.flush();
    const firstApplyMs = performance.now() - t0;

    const samples: number[] = [];
    let pod = c.nextPod;
    for (let u = 0; u < updates; u++) {
      // one pod of one service replaced, as a rollout step would do
      const i = (u * 37) % count;
      const ep = structuredClone(c.endpoints[i]!) as KObject & { subsets: { addresses: { ip: string }[] }[] };
      ep.subsets[0]!.addresses[0] = { ip: podIp(pod++) };
      c.endpoints[i] = ep;
      const t = performance.now();
      proxy.update(c.services, c.endpoints);
      await proxy.flush();
      samples.push(performance.now() - t);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      services: count,
      endpoints: c.endpoints.reduce((n, e) => n + (e as unknown as { subsets: { addresses: unknown[] }[] }).subsets[0]!.addresses.length, 0),
      rules: proxy.stats.rules,
      scriptBytes: Buffer.byteLength(built.text),
      buildMs,
      firstApplyMs,
      updateMs: { median: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), max: sorted[sorted.length - 1]!, samples },
    };
  } finally {
    await proxy.destroy().catch((e: unknown) => console.error(`removing the bench table: ${String(e)}`));
    await deleteNetns(netns);
  }
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1000);
  const updates = Number(process.argv[3] ?? 20);
  const r = await benchServiceProxy(count, updates);
  const f = (x: number) => x.toFixed(1);
  console.log(`service proxy: ${r.services} Services, ${r.endpoints} endpoints, ${r.rules} rules, ${(r.scriptBytes / 1024).toFixed(0)} KiB nft script`);
  console.log(`  ruleset build (pure)        ${f(r.buildMs)} ms`);
  console.log(`  first full apply            ${f(r.firstApplyMs)} ms`);
  console.log(`  Endpoints change -> applied median ${f(r.updateMs.median)} ms, p90 ${f(r.updateMs.p90)} ms, max ${f(r.updateMs.max)} ms (${r.updateMs.samples.length} updates)`);
  console.log(`  target: well within 1 s -> ${r.updateMs.max < 1000 ? 'PASS' : 'MISS'}`);
  console.log('  peer: none (kube-proxy is not installed on this machine)');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
