// Storage backend figures: write throughput with 32 concurrent writers (group commit) against a
// single writer awaiting each write (one fsync per write, the peer baseline measured in the same
// run), and read costs over 10,000 keys. The main thread's event-loop utilisation during the writes
// shows how much of it the storage takes away from serving requests. Usage: node dist/test/perf/storage-bench.js [DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStore, type SqliteStore } from '../../apiserver/storage/sqlite/index.js';

const CONCURRENT_WRITERS = 32;
const WRITE_SECONDS = 5;
const LIST_KEYS = 10_000;

function configMap(name: string): string {
  // About the size of a small ConfigMap as the apiserver stores it.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'bench', uid: `uid-${name}`, creationTimestamp: new Date().toISOString(), labels: { app: 'bench' } },
    data: { 'config.yaml': 'x'.repeat(400) },
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function writers(store: SqliteStore, concurrency: number, seconds: number, prefix: string) {
  const latencies: number[] = [];
  const before = store.stats();
  // How much of the caller's event loop the writes keep busy: what is left for serving requests.
  const elu = performance.eventLoopUtilization();
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        await store.create(`${prefix}/w${w}-${i}`, configMap(`w${w}-${i}`));
        latencies.push(performance.now() - t0);
        n++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const busy = performance.eventLoopUtilization(elu).utilization;
  const after = store.stats();
  latencies.sort((a, b) => a - b);
  return {
    writesPerSec: n / elapsed,
    commits: after.commits - before.commits,
    perCommit: n / (after.commits - before.commits),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    busy,
  };
}

async function timed<T>(runs: number, fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const times: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, result };
}

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'skiff-storage-bench-'));
const ownDir = process.argv[2] === undefined;
const store = await openSqliteStore(join(dir, `bench-${process.pid}.db`));
try {
  const fmt = (x: number) => x.toFixed(x < 10 ? 2 : 0);
  const single = await writers(store, 1, 2, '/registry/configmaps/single');
  const group = await writers(store, CONCURRENT_WRITERS, WRITE_SECONDS, '/registry/configmaps/group');
  console.log(`creates, 1 writer awaiting each:   ${fmt(single.writesPerSec)}/s  (p50 ${fmt(single.p50)} ms, p99 ${fmt(single.p99)} ms)`);
  console.log(
    `creates, ${CONCURRENT_WRITERS} concurrent writers:     ${fmt(group.writesPerSec)}/s  (p50 ${fmt(group.p50)} ms, p99 ${fmt(group.p99)} ms, ` +
      `${fmt(group.perCommit)} writes per fsync)`,
  );
  console.log(`main thread busy while writing:     ${(single.busy * 100).toFixed(0)}% (1 writer), ${(group.busy * 100).toFixed(0)}% (${CONCURRENT_WRITERS} writers)`);
  console.log(`group commit / one-fsync-per-write: ${(group.writesPerSec / single.writesPerSec).toFixed(1)}x`);

  const prefix = '/registry/configmaps/listbench/';
  await Promise.all(Array.from({ length: LIST_KEYS }, (_, i) => store.create(`${prefix}cm-${String(i).padStart(5, '0')}`, configMap(`cm-${i}`))));
  const loadedAt = await store.currentRevision();
  // Touch a tenth of the keys so reads must pick the newest of several rows per key.
  const some = await store.list(prefix, { limit: LIST_KEYS / 10 });
  await Promise.all(some.kvs.map((kv) => store.update(kv.key, configMap(kv.key) + ' ', kv.modRevision)));

  const full = await timed(5, () => store.list(prefix));
  console.log(`list ${full.result.kvs.length} keys (one call):          ${fmt(full.ms)} ms`);
  const old = await timed(5, () => store.list(prefix, { revision: loadedAt }));
  console.log(`list ${old.result.kvs.length} keys at an older revision: ${fmt(old.ms)} ms`);
  const paged = await timed(3, async () => {
    let startKey: string | undefined;
    let total = 0;
    for (;;) {
      const page = await store.list(prefix, { limit: 500, startKey });
      total += page.kvs.length;
      if (!page.more) return total;
      startKey = page.kvs[page.kvs.length - 1]!.key + '\x00';
    }
  });
  console.log(`list ${paged.result} keys in pages of 500:     ${fmt(paged.ms)} ms`);
  const counted = await timed(5, () => store.count(prefix));
  console.log(`count ${counted.result} keys:                     ${fmt(counted.ms)} ms`);
  const replay = await timed(3, async () => {
    let seen = 0;
    const target = await store.currentRevision();
    const from = loadedAt - LIST_KEYS;
    await new Promise<void>((resolve, reject) => {
      let w: { stop(): void } | undefined;
      let done = false;
      const finish = () => {
        done = true;
        w?.stop();
        resolve();
      };
      store
        .watch(prefix, from, (events) => {
          seen += events.length;
          if (events[events.length - 1]!.kv.modRevision >= target) finish();
        }, reject)
        .then((watcher) => {
          w = watcher;
          if (done) watcher.stop();
        }, reject);
    });
    return seen;
  });
  console.log(`watch replay of ${replay.result} events:          ${fmt(replay.ms)} ms`);
} finally {
  await store.close();
  if (ownDir) rmSync(dir, { recursive: true, force: true });
  else for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, `bench-${process.pid}.db${suffix}`), { force: true });
}
