// Starts real `nats-server -js` processes for tests: one node, or a cluster of several, each on
// free loopback ports with JetStream storage in a temp dir. Nodes can be killed and restarted
// (same ports, same storage) for failure tests; stop() ends every process and removes the dirs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? 'nats-server';

/** True when the nats-server binary can be run (tests skip themselves otherwise). */
export function natsServerAvailable(): boolean {
  const r = spawnSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

export interface NatsNode {
  name: string;
  clientPort: number;
  routePort: number;
  url: string;
  running(): boolean;
}

export interface NatsCluster {
  nodes: NatsNode[];
  /** comma-separated client URLs of every node, as `--storage` takes them */
  urls: string;
  /** nats-server output so far (for failure messages) */
  output(): string;
  /** SIGKILL one node (no clean shutdown) and wait until it has exited. */
  kill(i: number): Promise<void>;
  /** Starts a killed node again with the same ports and storage. */
  restart(i: number): Promise<void>;
  /** Kills every node and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago: bound on loopback by the OS, then released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface NodeState extends NatsNode {
  conf: string;
  proc?: ChildProcess;
}

function configFor(node: NodeState, dir: string, peers: NodeState[], syncAlways: boolean): string {
  const lines = [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.clientPort}`,
    // Values up to a few MiB must fit in one message (the store keeps one value per message).
    'max_payload: 8MB',
    'jetstream {',
    `  store_dir: "${join(dir, node.name)}"`,
    '  max_memory_store: 256MB',
    '  max_file_store: 4GB',
    '}',
  ];
  if (syncAlways) lines.splice(lines.length - 1, 0, '  sync_interval: always');
  if (peers.length > 1) {
    const routes = peers.filter((p) => p !== node).map((p) => `nats-route://127.0.0.1:${p.routePort}`);
    lines.push('cluster {', '  name: skiff-test', `  listen: 127.0.0.1:${node.routePort}`, `  routes: [${routes.join(', ')}]`, '}');
  }
  return lines.join('\n') + '\n';
}

export interface StartNatsOptions {
  /** number of nodes (1 = no cluster block) */
  nodes?: number;
  /** fsync every write (sync_interval: always), where the server supports it */
  syncAlways?: boolean;
  /** deadline for the nodes to start and JetStream to be usable */
  timeoutMs?: number;
}

/** True when this nats-server accepts `sync_interval` (2.10 and later). */
function supportsSyncInterval(): boolean {
  const r = spawnSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  const m = /v(\d+)\.(\d+)/.exec(r.stdout ?? '');
  return !!m && (Number(m[1]) > 2 || (Number(m[1]) === 2 && Number(m[2]) >= 10));
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsCluster> {
  const count = opts.nodes ?? 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const dir = mkdtempSync(join(tmpdir(), 'skiff-nats-'));
  const log: string[] = [];
  const nodes: NodeState[] = [];
  for (let i = 0; i < count; i++) {
    const clientPort = await freePort();
    const routePort = await freePort();
    nodes.push({
      name: `n${i + 1}`,
      clientPort,
      routePort,
      url: `nats://127.0.0.1:${clientPort}`,
      conf: join(dir, `n${i + 1}.conf`),
      running() {
        return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
      },
    });
  }
  const syncAlways = !!opts.syncAlways && supportsSyncInterval();
  for (const node of nodes) {
    mkdirSync(join(dir, node.name), { recursive: true });
    writeFileSync(node.conf, configFor(node, dir, nodes, syncAlways));
  }

  const launch = (node: NodeState): void => {
    const proc = spawn(NATS_SERVER_BIN, ['-c', node.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tag = (d: Buffer) => log.push(`[${node.name}] ${d.toString()}`);
    proc.stdout!.on('data', tag);
    proc.stderr!.on('data', tag);
    proc.on('error', (err) => log.push(`[${node.name}] spawn failed: ${err.message}\n`));
    node.proc = proc;
  };
  const exited = (p: ChildProcess) =>
    new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

  let stopped = false;
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    output: () => log.join(''),
    async kill(i) {
      const node = nodes[i]!;
      if (!node.proc || !node.running()) return;
      node.proc.kill('SIGKILL');
      await exited(node.proc);
    },
    async restart(i) {
      const node = nodes[i]!;
      if (node.running()) return;
      launch(node);
      await waitReachable(node, timeoutMs, log);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const node of nodes) {
        if (node.proc && node.running()) {
          node.proc.kill('SIGKILL');
          await exited(node.proc);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const node of nodes) launch(node);
    for (const node of nodes) await waitReachable(node, timeoutMs, log);
    await waitJetStream(cluster.urls, timeoutMs, log);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitReachable(node: NodeState, timeoutMs: number, log: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!node.running() && node.proc?.exitCode !== null && node.proc?.exitCode !== undefined) {
      throw new Error(`nats-server ${node.name} exited with ${node.proc.exitCode}:\n${log.join('')}`);
    }
    try {
      const nc = await connect({ servers: node.url, reconnect: false, timeout: 1000 });
      await nc.close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nats-server ${node.name} not reachable on ${node.url}:\n${log.join('')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Waits until JetStream answers (in a cluster: a meta leader has been elected). */
async function waitJetStream(urls: string, timeoutMs: number, log: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const nc = await connect({ servers: urls.split(','), timeout: 2000 });
  try {
    for (;;) {
      try {
        const jsm = await nc.jetstreamManager({ timeout: 2000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`JetStream not ready: ${String(err)}\n${log.join('')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await nc.close();
  }
}

/** The index of the node leading a stream (waits for one to be elected). */
export async function streamLeader(cluster: NatsCluster, stream: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const nc = await connect({ servers: cluster.nodes.filter((n) => n.running()).map((n) => n.url), timeout: 2000 });
  try {
    const jsm = await nc.jetstreamManager();
    for (;;) {
      try {
        const leader = (await jsm.streams.info(stream)).cluster?.leader;
        const i = cluster.nodes.findIndex((n) => n.name === leader);
        if (i >= 0) return i;
      } catch {
        // no leader yet
      }
      if (Date.now() > deadline) throw new Error(`no leader elected for stream ${stream}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}
