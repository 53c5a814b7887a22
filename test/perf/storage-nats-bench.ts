// Storage backends side by side, all in one run on this machine: durable creates/s and latency
// through the API of a real `skiff server` on SQLite, on NATS JetStream R1 (one nats-server) and
// R3 (a 3-node cluster), next to Debian's etcd 3.4 driven directly (create-if-absent
// transactions over its JSON gateway) at the same concurrency and the same paced rate; then the
// lag from a write through one server to the watch event on another, both on the R3 cluster.
// Usage: node dist/test/perf/storage-nats-bench.js   (about 1-2 min; etcd is skipped if absent)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { apiClient, type ApiClient } from '../helpers/api-client.js';
import { freePort, natsServerAvailable, startNats, type NatsCluster } from '../helpers/nats.js';
import { startServer, type TestServer } from '../helpers/server.js';

const CLIENTS = 32;
const CLOSED_LOOP_CREATES = 3000;
const PACED_RATE = 200;
const PACED_SECONDS = 4;
const LAG_WRITES = 200;
const LAG_RATE = 100;
const ETCD_BIN = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';

interface Row {
  backend: string;
  throughput?: number;
  p50?: number;
  p99?: number;
  pacedP50?: number;
  pacedP99?: number;
  note?: string;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const body = (name: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'bench' } }, data: { 'app.properties': 'x'.repeat(400), mode: 'bench' } });

/** A create function that resolves once the write is acknowledged. */
type Create = (name: string) => Promise<void>;

async function closedLoop(create: Create, prefix: string): Promise<{ perSecond: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < CLOSED_LOOP_CREATES; i = next++) {
        const s = performance.now();
        await create(`${prefix}-${i}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { perSecond: CLOSED_LOOP_CREATES / ((performance.now() - t0) / 1000), latencies };
}

/** Open loop: one create every 1/rate s whatever the previous ones do; latency of each. */
async function paced(create: Create, prefix: string, rate: number, seconds: number, onAck?: (name: string, at: number) => void): Promise<number[]> {
  const total = rate * seconds;
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const name = `${prefix}-${i}`;
    const s = performance.now();
    pending.push(
      create(name).then(() => {
        const at = performance.now();
        latencies.push(at - s);
        onAck?.(name, at);
      }),
    );
  }
  await Promise.all(pending);
  return latencies;
}

function apiCreate(api: ApiClient, ns: string): Create {
  return async (name) => {
    const res = await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: body(name) });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${res.text.slice(0, 300)}`);
  };
}

async function namespace(api: ApiClient, name: string): Promise<void> {
  const res = await api.request('POST', '/api/v1/namespaces', { body: JSON.stringify({ metadata: { name } }) });
  if (res.status !== 201) throw new Error(`namespace ${name}: ${res.status} ${res.text}`);
}

async function measureApi(backend: string, args: string[]): Promise<Row> {
  let srv: TestServer | undefined;
  let api: ApiClient | undefined;
  try {
    srv = await startServer({ args });
    api = apiClient(srv.kubeconfig, { maxSockets: CLIENTS });
    await namespace(api, 'bench');
    const create = apiCreate(api, 'bench');
    // Warm up the connections, the JIT and the storage before measuring.
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => create(`warm-${i}`)));
    const closed = await closedLoop(create, 'c');
    const pacedLat = await paced(create, 'p', PACED_RATE, PACED_SECONDS);
    return {
      backend,
      throughput: closed.perSecond,
      p50: percentile(closed.latencies, 50),
      p99: percentile(closed.latencies, 99),
      pacedP50: percentile(pacedLat, 50),
      pacedP99: percentile(pacedLat, 99),
    };
  } finally {
    api?.close();
    await srv?.stop();
  }
}

/** etcd 3.4 alone: create-if-absent transactions (what a create through kine or the apiserver is). */
async function measureEtcd(): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-etcd-bench-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  let proc: ChildProcess | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  try {
    proc = spawn(
      ETCD_BIN,
      ['--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-cluster', `default=http://127.0.0.1:${peerPort}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const post = (path: string, payload: unknown): Promise<{ status: number; json: any }> =>
      new Promise((resolve, reject) => {
        const data = JSON.stringify(payload);
        const req = request(`${url}${path}`, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(data);
      });
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const r = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
        if (r.status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`etcd did not start:\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const value = body('x');
    const create: Create = async (name) => {
      const key = b64(`/registry/configmaps/bench/${name}`);
      const r = await post('/v3/kv/txn', {
        compare: [{ key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
        success: [{ request_put: { key, value: b64(value) } }],
      });
      if (r.status !== 200 || !r.json.succeeded) throw new Error(`etcd create ${name}: ${r.status} ${JSON.stringify(r.json)}`);
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => create(`warm-${i}`)));
    const closed = await closedLoop(create, 'c');
    const pacedLat = await paced(create, 'p', PACED_RATE, PACED_SECONDS);
    return {
      backend: 'etcd 3.4 alone (txn create-if-absent, JSON gateway; no API server in front)',
      throughput: closed.perSecond,
      p50: percentile(closed.latencies, 50),
      p99: percentile(closed.latencies, 99),
      pacedP50: percentile(pacedLat, 50),
      pacedP99: percentile(pacedLat, 99),
    };
  } finally {
    agent.destroy();
    if (proc && proc.exitCode === null) {
      proc.kill('SIGKILL');
      await new Promise((r) => proc!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lag from a write acknowledged by server A to the watch event at server B (same NATS cluster). */
async function measureLag(nats: NatsCluster): Promise<{ p50: number; p99: number; max: number }> {
  const storage = `--storage=nats://${nats.urls.replace(/nats:\/\//g, '')}/LAG`;
  const a = await startServer({ args: [storage, '--disable-controllers'] });
  const b = await startServer({ args: [storage, '--disable-controllers'] });
  const ca = apiClient(a.kubeconfig, { maxSockets: 8 });
  const cb = apiClient(b.kubeconfig);
  try {
    await namespace(ca, 'lag');
    const watch = await cb.watch('/api/v1/namespaces/lag/configmaps?watch=true');
    const arrived = new Map<string, number>();
    watch.onEvent((e) => {
      if (e.type === 'ADDED') arrived.set(e.object.metadata.name as string, e.at);
    });
    const acked = new Map<string, number>();
    await paced(apiCreate(ca, 'lag'), 'l', LAG_RATE, LAG_WRITES / LAG_RATE, (name, at) => acked.set(name, at));
    const deadline = Date.now() + 20_000;
    while (arrived.size < LAG_WRITES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (arrived.size < LAG_WRITES) throw new Error(`only ${arrived.size} of ${LAG_WRITES} events reached the other server`);
    // An event that beat the writer's own ack counts as no lag.
    const lags = [...acked].map(([name, at]) => Math.max(0, arrived.get(name)! - at));
    watch.close();
    return { p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) };
  } finally {
    ca.close();
    cb.close();
    await a.stop();
    await b.stop();
  }
}

function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined) return '—';
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
}

async function main(): Promise<void> {
  const natsVersion = natsServerAvailable() ? spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout.trim() : 'absent';
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); node ${process.version}; ${natsVersion}`);
  console.log(`closed loop: ${CLOSED_LOOP_CREATES} creates from ${CLIENTS} clients; paced: ${PACED_RATE}/s for ${PACED_SECONDS} s; ConfigMaps of ~0.5 KB\n`);
  const rows: Row[] = [];
  // A backend that fails is reported in its row; the others are still measured.
  const attempt = async (backend: string, run: () => Promise<Row>): Promise<Row> => {
    try {
      return await run();
    } catch (err) {
      return { backend, note: `failed: ${String((err as Error).message).split('\n')[0]}` };
    }
  };
  rows.push(await attempt('skiff API on sqlite', () => measureApi('skiff API on sqlite (fsync per commit)', ['--storage', 'sqlite', '--disable-controllers'])));

  let r1: NatsCluster | undefined;
  let r3: NatsCluster | undefined;
  let lag: { p50: number; p99: number; max: number } | undefined;
  if (!natsServerAvailable()) {
    rows.push({ backend: 'skiff API on nats', note: 'skipped: nats-server not installed' });
  } else {
    try {
      r1 = await startNats({ nodes: 1 });
      const r1urls = r1.urls.replace(/nats:\/\//g, '');
      rows.push(await attempt('skiff API on nats R1', () => measureApi('skiff API on nats R1 (1 nats-server)', [`--storage=nats://${r1urls}`, '--disable-controllers'])));
      await r1.stop();
      r3 = await startNats({ nodes: 3 });
      const r3urls = r3.urls.replace(/nats:\/\//g, '');
      rows.push(await attempt('skiff API on nats R3', () => measureApi('skiff API on nats R3 (3-node cluster)', [`--storage=nats://${r3urls}`, '--disable-controllers'])));
      lag = await measureLag(r3).catch((err: Error) => {
        console.log(`lag measurement failed: ${err.message}`);
        return undefined;
      });
    } finally {
      await r1?.stop();
      await r3?.stop();
    }
  }
  if (existsSync(ETCD_BIN)) rows.push(await attempt('etcd 3.4', measureEtcd));
  else rows.push({ backend: 'etcd 3.4', note: `skipped: ${ETCD_BIN} absent (apt-get install etcd-server)` });

  console.log('| backend | creates/s (32 clients) | p50 / p99 ms under that load | paced 200/s: p50 / p99 ms |');
  console.log('|---|---|---|---|');
  for (const r of rows) {
    if (r.note) console.log(`| ${r.backend} | ${r.note} | | |`);
    else console.log(`| ${r.backend} | ${fmt(r.throughput)} | ${fmt(r.p50)} / ${fmt(r.p99)} | ${fmt(r.pacedP50)} / ${fmt(r.pacedP99)} |`);
  }
  if (lag) console.log(`\nwrite through server A -> watch event at server B (nats R3, ${LAG_WRITES} writes at ${LAG_RATE}/s): p50 ${fmt(lag.p50)} ms, p99 ${fmt(lag.p99)} ms, max ${fmt(lag.max)} ms`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
