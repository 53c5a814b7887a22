// `skiff agent`: one node agent against a server, running real containers (conmon + crun or runc)
// or, with --runtime simulated, pretending to. The shared flags and their parsing are exported for
// `skiff simulate` and `skiff server`.
import { cpus, hostname, networkInterfaces, totalmem } from 'node:os';
import { readFileSync, existsSync, statfsSync } from 'node:fs';
import { RestClient } from '../pkg/client/rest.js';
import { dirname, resolve } from 'node:path';
import { joinCluster } from './agent-join.js';
import { NodeAgent } from '../kubelet/agent.js';
import { AgentHost } from '../kubelet/agent-host.js';
import { StatusManager } from '../kubelet/status-manager.js';
import { SimulatedProber } from '../kubelet/prober/simulated.js';
import { SimulatedRuntime } from '../kubelet/runtime/simulated.js';
import { logger } from '../pkg/log/logger.js';
import { isDns1123Subdomain } from '../pkg/api/validation.js';
import { parseQuantity, QuantityError } from '../pkg/api/quantity.js';
import type { FlagSpec, FlagValues } from './flags.js';
import { UsageError } from './flags.js';
import { parseDurationMs } from './duration.js';
import type { AgentTiming } from '../kubelet/agent.js';
import { defaultSimulatedRuntimeOptions, type SimulatedRuntimeOptions } from '../kubelet/runtime/simulated.js';
import { startRealNode } from '../kubelet/real-node.js';
import type { NodeIdentity } from '../kubelet/node-object.js';
import type { OciRuntimeName } from '../kubelet/runtime/oci/oci-binary.js';

export const nodeShapeFlags = (cpu: string, memory: string, storage = '100Gi'): FlagSpec[] => [
  { name: 'cpu', type: 'string', default: cpu, help: 'CPU capacity the node reports' },
  { name: 'memory', type: 'string', default: memory, help: 'memory capacity the node reports (a quantity: 16Gi)' },
  { name: 'max-pods', type: 'int', default: 110, help: 'pods the node accepts' },
  { name: 'ephemeral-storage', type: 'string', default: storage, help: "ephemeral-storage capacity the node reports ('auto': the size of the data dir's filesystem)" },
  { name: 'labels', type: 'list', default: [], help: 'extra node labels k=v,k2=v2 (repeatable)' },
];

/** Flags of a node that runs real containers (skiff agent, skiff server). */
export const realNodeFlags: FlagSpec[] = [
  { name: 'kubelet-port', type: 'int', default: 10250, help: 'port of the node server (logs, exec, port-forward; only the API server may call it)' },
  { name: 'cluster-dns', type: 'list', default: [], help: 'nameserver(s) pods with dnsPolicy ClusterFirst get (default: the node serves the cluster DNS on its pod bridge gateway)' },
  { name: 'cluster-domain', type: 'string', default: 'cluster.local', help: 'the cluster DNS domain' },
  { name: 'pod-manifest-path', type: 'string', help: 'folder of static pod manifests, run as mirror pods and followed as they change' },
  { name: 'overlay', type: 'boolean', default: true, help: "VXLAN to the other nodes' pod CIDRs (--overlay=false: pods reach only their own node)" },
  { name: 'insecure-registry', type: 'list', default: [], help: 'registry host[:port] pulled over plain HTTP (loopback always is)' },
  { name: 'bridge', type: 'string', default: 'skiff0', help: 'bridge device of the pod network' },
  { name: 'netns-prefix', type: 'string', default: 'skiff-', help: 'prefix of the pods\' network namespaces under /run/netns (several agents on one machine use different ones)' },
];

export const timingFlags: FlagSpec[] = [
  { name: 'heartbeat-interval', type: 'string', default: '10s', help: 'how often the node Lease is renewed' },
  { name: 'node-status-interval', type: 'string', default: '1m', help: 'how often the full node status is reported' },
  { name: 'restart-backoff', type: 'string', default: '10s', help: 'first CrashLoopBackOff delay (doubles per restart, up to 5m)' },
  { name: 'sync-frequency', type: 'string', default: '1m', help: "how often running pods' configMap, secret, projected and downwardAPI volumes are refreshed besides watched changes (0: only on changes)" },
  { name: 'sim-start-delay', type: 'string', default: '200ms', help: 'simulated runtime: time a container takes to start' },
  { name: 'sim-stop-delay', type: 'string', default: '100ms', help: 'simulated runtime: longest time a container takes to stop' },
];

export function quantityFlag(v: FlagValues, name: string): string {
  const s = String(v[name]);
  try {
    parseQuantity(s);
  } catch (e) {
    if (e instanceof QuantityError) throw new UsageError(`invalid value "${s}" for --${name}: ${e.message}`);
    throw e;
  }
  return s;
}

export function parseLabels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid label "${item}" for --labels: use key=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function timingFrom(v: FlagValues): { timing: AgentTiming; sim: SimulatedRuntimeOptions } {
  const ms = (n: string) => parseDurationMs(String(v[n]), n);
  const renew = ms('heartbeat-interval');
  if (renew <= 0) throw new UsageError('--heartbeat-interval must be positive');
  const statusEvery = ms('node-status-interval');
  if (statusEvery <= 0) throw new UsageError('--node-status-interval must be positive');
  return {
    timing: {
      leaseRenewIntervalMs: renew,
      // kubelet writes 40 s with a 10 s renewal: keep that ratio for shorter test periods.
      leaseDurationSeconds: Math.max(1, Math.ceil((renew * 4) / 1000)),
      nodeStatusIntervalMs: statusEvery,
      restartBackoffMs: ms('restart-backoff'),
      volumeResyncMs: ms('sync-frequency'),
    },
    // skiff server has no simulated runtime and so no sim-* flags.
    sim: v['sim-start-delay'] === undefined ? defaultSimulatedRuntimeOptions : { startDelayMs: ms('sim-start-delay'), stopDelayMs: ms('sim-stop-delay') },
  };
}

function osImage(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch {
    /* no os-release: fall through */
  }
  return 'Linux';
}

function firstIPv4(): string {
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}

export const agentFlags: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the server to join (the main way)' },
  { name: 'server', type: 'string', help: 'API server URL to join (with --token-file; see docs/join.md)' },
  { name: 'token-file', type: 'string', help: "file holding the join token (the server's DIR/node-token, or `skiff token create`)" },
  { name: 'ca-file', type: 'string', help: "the server's CA certificate; only needed for a token without a CA hash" },
  { name: 'node-name', type: 'string', help: 'name of the Node (default: the host name)' },
  { name: 'node-ip', type: 'string', help: 'InternalIP the node reports (default: first non-loopback IPv4)' },
  { name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: 'the node credential (agent/kubeconfig), images and container state' },
  { name: 'runtime', type: 'string', default: 'crun', choices: ['crun', 'runc', 'simulated'], help: 'container runtime: crun or runc under conmon, or simulated (no processes)' },
  ...realNodeFlags,
  { name: 'cluster-cidr', type: 'string', default: '10.42.0.0/16', help: "the cluster's pod range (the server's --cluster-cidr)" },
  ...nodeShapeFlags(String(cpus().length), `${Math.floor(totalmem() / 1024)}Ki`, 'auto'),
  ...timingFlags,
];

export async function clientFromFlags(v: FlagValues, nodeName: string, userAgent: string): Promise<RestClient> {
  if (v['kubeconfig']) {
    if (v['server'] || v['token-file']) throw new UsageError('use either --kubeconfig or --server with --token-file, not both');
    return RestClient.fromKubeconfig(String(v['kubeconfig']), userAgent);
  }
  if (!v['server'] || !v['token-file']) throw new UsageError('give --kubeconfig FILE, or --server URL with --token-file FILE');
  for (const f of ['token-file', 'ca-file']) if (v[f] && !existsSync(String(v[f]))) throw new UsageError(`--${f}: ${String(v[f])} does not exist`);
  return joinCluster({
    server: String(v['server']),
    tokenFile: String(v['token-file']),
    caFile: v['ca-file'] ? String(v['ca-file']) : undefined,
    dataDir: resolve(String(v['data-dir'])),
    nodeName,
    userAgent,
  });
}

export function validNodeName(name: string, flag: string): string {
  const problems = isDns1123Subdomain(name);
  if (problems.length) throw new UsageError(`invalid ${flag} "${name}": ${problems[0]}`);
  return name;
}

/** Stops the host and the client on SIGTERM/SIGINT, and exits. */
export function stopOnSignals(host: AgentHost, client: RestClient, statusManager: StatusManager): void {
  const stop = () => {
    host.stop();
    statusManager.shutdown();
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export async function runAgent(v: FlagValues): Promise<void> {
  const { timing, sim } = timingFrom(v);
  if (String(v['runtime']) !== 'simulated') return runRealAgent(v, timing);
  const runtime = new SimulatedRuntime(sim);
  const name = validNodeName(String(v['node-name'] ?? hostname().toLowerCase()), '--node-name');
  const client = await clientFromFlags(v, name, `skiff-agent/${name}`);
  const statusManager = new StatusManager(client, 4);
  const agent = new NodeAgent(
    { ...identityFrom(v, name), runtimeVersion: runtime.version },
    { client, runtime, prober: new SimulatedProber(), statusManager },
    timing,
  );
  const host = new AgentHost(client, [agent], { spreadMs: timing.leaseRenewIntervalMs });
  stopOnSignals(host, client, statusManager);
  await host.start();
  logger('agent').info({ node: name, runtime: String(v['runtime']) }, 'node agent running');
  process.stdout.write(`skiff: node ${name} registered (runtime ${String(v['runtime'])})\n`);
}

/** `skiff agent` with real containers. */
async function runRealAgent(v: FlagValues, timing: AgentTiming): Promise<void> {
  const name = validNodeName(String(v['node-name'] ?? hostname().toLowerCase()), '--node-name');
  const client = await clientFromFlags(v, name, `skiff-agent/${name}`);
  const ca = client.config.ca;
  if (!ca) throw new UsageError('agent: the kubeconfig names no certificate authority; the node server needs it to check the API server');
  let node;
  try {
    node = await startRealNode({
      client,
      caCert: String(ca),
      dataDir: resolve(String(v['data-dir'])),
      runtime: String(v['runtime']) as OciRuntimeName,
      identity: identityFrom(v, name),
      timing,
      kubeletPort: Number(v['kubelet-port']),
      clusterDNS: v['cluster-dns'] as string[],
      insecureRegistries: v['insecure-registry'] as string[],
      bridge: String(v['bridge']),
      netnsPrefix: String(v['netns-prefix']),
      clusterCIDR: String(v['cluster-cidr']),
      clusterDomain: String(v['cluster-domain']),
      overlay: v['overlay'] !== false,
      podManifestPath: v['pod-manifest-path'] ? resolve(String(v['pod-manifest-path'])) : undefined,
    });
  } catch (e) {
    client.close();
    throw e;
  }
  const stop = () => {
    void node.stop().finally(() => {
      client.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  logger('agent').info({ node: name, runtime: node.runtime.version, kubeletPort: node.kubeletPort }, 'node agent running');
  process.stdout.write(`skiff: node ${name} registered (runtime ${node.runtime.version}, node server on :${node.kubeletPort})\n`);
}

/** The Node's identity from the shape flags. */
export function identityFrom(v: FlagValues, name: string): Omit<NodeIdentity, 'runtimeVersion' | 'kubeletPort'> {
  return {
    name,
    address: String(v['node-ip'] ?? firstIPv4()),
    cpu: quantityFlag(v, 'cpu'),
    memory: quantityFlag(v, 'memory'),
    ephemeralStorage: v['ephemeral-storage'] === 'auto' ? filesystemSize(String(v['data-dir'])) : quantityFlag(v, 'ephemeral-storage'),
    maxPods: Number(v['max-pods']),
    labels: parseLabels((v['labels'] as string[]) ?? []),
    osImage: osImage(),
  };
}

/** The size of the filesystem holding dir (or its nearest existing parent), as a quantity in Ki. */
function filesystemSize(dir: string): string {
  let p = resolve(dir);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  const s = statfsSync(p);
  return `${Math.floor((s.blocks * s.bsize) / 1024)}Ki`;
}

export { osImage };
