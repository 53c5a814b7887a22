// `skiff server`: the control plane in one process — storage, API server (HTTPS + tokens) and,
// as they land, the controllers, scheduler and a node agent.
import { existsSync, mkdirSync } from 'node:fs';
import { applyAtStart, type ManifestSync } from './apply-at-start.js';
import { resolve } from 'node:path';
import { ensurePki } from '../apiserver/auth/pki.js';
import { ensureTokens, tokenAuthenticator } from '../apiserver/auth/tokens.js';
import { openStore } from '../apiserver/storage/index.js';
import { APIServer } from '../apiserver/apiserver.js';
import { writeKubeconfig } from './kubeconfig.js';
import type { FlagSpec, FlagValues } from './flags.js';
import { logger } from '../pkg/log/logger.js';
import { UsageError } from './flags.js';
import { parseDurationMs } from './duration.js';
import { Worker } from 'node:worker_threads';
import type { ControlPlaneWorkerData } from './control-plane-worker.js';
import { RestClient } from '../pkg/client/rest.js';
import type { Strategy } from '../controllers/scheduler/index.js';
import { cpus, hostname, totalmem } from 'node:os';
import { identityFrom, nodeShapeFlags, realNodeFlags, timingFlags, timingFrom, validNodeName } from './agent.js';
import { startRealNode, type RealNode } from '../kubelet/real-node.js';
import type { OciRuntimeName } from '../kubelet/runtime/oci/oci-binary.js';

export const serverFlags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: 'where state, certificates and tokens live' },
  { name: 'bind', type: 'string', default: '0.0.0.0', help: 'address the API server listens on' },
  { name: 'port', type: 'int', default: 6443, help: 'HTTPS port of the API server (0 picks a free one)' },
  { name: 'storage', type: 'string', default: 'sqlite', help: 'sqlite, or nats://H:P[,H:P...][/STREAM][?replicas=N&write-timeout-ms=N] (tls:// also accepted)' },
  { name: 'nats-creds', type: 'string', help: 'NATS .creds file (JWT + NKey seed)' },
  { name: 'nats-token-file', type: 'string', help: 'file holding a NATS token' },
  { name: 'nats-user', type: 'string', help: 'NATS user' },
  { name: 'nats-password', type: 'string', help: 'NATS password' },
  { name: 'nats-tls-ca', type: 'string', help: 'CA bundle to verify the NATS servers (turns TLS on)' },
  { name: 'nats-tls-cert', type: 'string', help: 'client certificate for NATS mutual TLS' },
  { name: 'nats-tls-key', type: 'string', help: 'client key for NATS mutual TLS' },
  { name: 'disable-agent', type: 'boolean', default: false, help: 'run the control plane only' },
  { name: 'disable-controllers', type: 'boolean', default: false, help: 'run neither the controller manager nor the scheduler in this process (run them with `skiff controller-manager` / `skiff scheduler`)' },
  { name: 'node-name', type: 'string', help: 'name of this node when the agent runs (default: the host name)' },
  { name: 'node-ip', type: 'string', help: 'InternalIP of this node (default: first non-loopback IPv4)' },
  { name: 'runtime', type: 'string', default: 'crun', choices: ['crun', 'runc'], help: 'OCI runtime of the node agent (under conmon)' },
  ...realNodeFlags,
  ...nodeShapeFlags(String(cpus().length), `${Math.floor(totalmem() / 1024)}Ki`, 'auto'),
  ...timingFlags.filter((f) => !f.name.startsWith('sim-')),
  { name: 'file', short: 'f', type: 'list', default: [], help: 'manifest file or folder to apply at start (repeatable)' },
  { name: 'watch', type: 'boolean', default: false, help: 're-apply -f paths when they change' },
  { name: 'scheduler-strategy', type: 'string', default: 'spread', choices: ['spread', 'binpack', 'random'], help: 'pod placement strategy' },
  { name: 'node-monitor-grace-period', type: 'string', default: '40s', help: 'how long a silent node stays Ready' },
  { name: 'default-unreachable-toleration', type: 'string', default: '300s', help: 'how long pods stay on an unreachable node' },
  { name: 'cluster-cidr', type: 'string', default: '10.42.0.0/16', help: 'range node pod CIDRs are allocated from' },
  { name: 'node-cidr-mask-size', type: 'int', default: 24, help: 'prefix length of each node\'s pod CIDR' },
  { name: 'watch-cache-size', type: 'int', default: 10000, help: 'events kept for watches resuming from a resourceVersion' },
  { name: 'log-level', type: 'string', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], help: 'log level' },
];

export async function runServer(v: FlagValues): Promise<void> {
  const log = logger('server');
  const dataDir = resolve(String(v['data-dir']));
  const controllerOptions = {
    nodeMonitorGracePeriodMs: parseDurationMs(String(v['node-monitor-grace-period']), 'node-monitor-grace-period'),
    defaultUnreachableTolerationSeconds: Math.round(parseDurationMs(String(v['default-unreachable-toleration']), 'default-unreachable-toleration') / 1000),
    clusterCidr: String(v['cluster-cidr']),
    nodeCidrMaskSize: Number(v['node-cidr-mask-size']),
    dataDir,
  };
  const agentName = v['disable-agent'] ? undefined : validNodeName(String(v['node-name'] ?? hostname().toLowerCase()), '--node-name');
  const agentTiming = agentName ? timingFrom(v).timing : undefined;
  const files = v['file'] as string[];
  for (const f of files) if (!existsSync(f)) throw new UsageError(`-f ${f}: no such file or directory`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const bind = String(v['bind']);
  const pki = ensurePki(dataDir, bind !== '0.0.0.0' && bind !== '::' ? [bind] : []);
  const tokens = ensureTokens(dataDir, pki.caCert);
  const opt = (name: string) => (v[name] === undefined ? undefined : String(v[name]));
  const store = await openStore(String(v['storage']), dataDir, {
    nats: {
      credsFile: opt('nats-creds'),
      tokenFile: opt('nats-token-file'),
      user: opt('nats-user'),
      password: opt('nats-password'),
      tlsCaFile: opt('nats-tls-ca'),
      tlsCertFile: opt('nats-tls-cert'),
      tlsKeyFile: opt('nats-tls-key'),
    },
  });
  const api = new APIServer({
    store,
    pki,
    auth: tokenAuthenticator(tokens),
    nodeJoinSecret: tokens.node,
    bind,
    port: Number(v['port']),
    watchCacheSize: Number(v['watch-cache-size']),
  });
  await api.start();
  const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind.includes(':') ? `[${bind}]` : bind;
  const server = `https://${host}:${api.port}`;
  const kubeconfig = writeKubeconfig(dataDir, server, pki.caCert, tokens.admin);
  // Never log credentials a storage URL may carry (nats://user:password@host).
  log.info({ server, dataDir, storage: String(v['storage']).replace(/\/\/[^@/]*@/g, '//***@') }, 'API server ready');
  // The controllers and the scheduler run on a worker thread (see control-plane-worker.ts).
  let worker: Worker | undefined;
  if (!v['disable-controllers']) {
    const data: ControlPlaneWorkerData = {
      server,
      ca: pki.caCert,
      token: tokens.admin,
      logLevel: String(v['log-level'] ?? 'info'),
      options: controllerOptions,
      strategy: String(v['scheduler-strategy']) as Strategy,
    };
    worker = new Worker(new URL('./control-plane-worker.js', import.meta.url), { workerData: data });
    worker.on('error', (err) => log.error({ err }, 'controller manager thread failed'));
  }
  // -f manifests are applied as a client too.
  const client = new RestClient({ server, ca: pki.caCert, token: tokens.admin, userAgent: 'skiff-apply' });
  process.stdout.write(`skiff: API server at ${server}\nskiff: admin kubeconfig written to ${kubeconfig}\n`);
  // The node agent of this machine, in this process (kubelet's job; it talks to the API over HTTPS
  // like any agent, so it behaves the same as `skiff agent` on another machine).
  let node: RealNode | undefined;
  let agentClient: RestClient | undefined;
  if (agentName) {
    agentClient = new RestClient({ server, ca: pki.caCert, token: tokens.admin, userAgent: `skiff-agent/${agentName}` });
    try {
      node = await startRealNode({
        client: agentClient,
        caCert: pki.caCert,
        dataDir,
        runtime: String(v['runtime']) as OciRuntimeName,
        identity: identityFrom(v, agentName),
        timing: agentTiming!,
        kubeletPort: Number(v['kubelet-port']),
        clusterCIDR: controllerOptions.clusterCidr,
        clusterDNS: v['cluster-dns'] as string[],
        insecureRegistries: v['insecure-registry'] as string[],
        bridge: String(v['bridge']),
        netnsPrefix: String(v['netns-prefix']),
        clusterDomain: String(v['cluster-domain']),
        overlay: v['overlay'] !== false,
        podManifestPath: v['pod-manifest-path'] ? resolve(String(v['pod-manifest-path'])) : undefined,
      });
    } catch (e) {
      await api.stop();
      await store.close();
      throw e;
    }
    process.stdout.write(`skiff: node ${agentName} running containers with ${node.runtime.version}\n`);
  }
  let sync: ManifestSync | undefined;
  if (files.length) sync = await applyAtStart(client, files, Boolean(v['watch']));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await sync?.stop();
    // Containers keep running (conmon holds them); a restarted server finds them again.
    await node?.stop();
    agentClient?.close();
    if (worker) {
      const w = worker;
      // Let the managers release their leases so a standby takes over at once.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        w.once('message', () => (clearTimeout(t), resolve()));
        w.once('exit', () => (clearTimeout(t), resolve()));
        w.postMessage('stop');
      });
    }
    client.close();
    await api.stop();
    await store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
