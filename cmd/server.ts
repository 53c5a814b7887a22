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
  { name: 'node-name', type: 'string', help: 'name of this node when the agent runs' },
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
  if (!v['disable-agent']) log.info('no node agent runs inside the server in this build (containers come with the crun runtime); join simulated nodes with `skiff agent --runtime simulated` or `skiff simulate`');
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
  let sync: ManifestSync | undefined;
  if (files.length) sync = await applyAtStart(client, files, Boolean(v['watch']));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await sync?.stop();
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
