// NATS node failures under the store: a 3-node cluster (R3 stream) loses one node during a stream
// of writes (nothing acknowledged is lost, writes go on), then two (writes fail with
// UnavailableError, reads and watches carry on from the local copy), then gets them back.
import test from 'ava';
import { connect } from 'nats';
import type { NatsStore } from '../../../apiserver/storage/nats/index.js';
import { UnavailableError, type KeyValue, type WatchEvent } from '../../../apiserver/storage/store.js';
import { natsServerAvailable, startNats, type NatsCluster } from '../../helpers/nats.js';
import { openOn, uniqueStream } from './nats-fixture.js';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The index of the node leading the stream. */
async function streamLeader(cluster: NatsCluster, stream: string): Promise<number> {
  const nc = await connect({ servers: cluster.nodes.filter((n) => n.running()).map((n) => n.url), timeout: 2000 });
  try {
    const info = await (await nc.jetstreamManager()).streams.info(stream);
    const leader = info.cluster?.leader;
    const i = cluster.nodes.findIndex((n) => n.name === leader);
    if (i < 0) throw new Error(`no leader for ${stream}: ${JSON.stringify(info.cluster)}`);
    return i;
  } finally {
    await nc.close();
  }
}

/** Creates /f/<i> for i in [from, to), a few at a time; retries a write that found NATS unavailable. */
async function writeRange(store: NatsStore, from: number, to: number, acked: Map<string, KeyValue>, onProgress?: (n: number) => Promise<void>): Promise<number> {
  let unavailable = 0;
  for (let i = from; i < to; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, to - i) }, async (_, j) => {
        const key = `/f/${String(i + j).padStart(5, '0')}`;
        for (;;) {
          try {
            acked.set(key, await store.create(key, `v${i + j}`));
            return;
          } catch (err) {
            if (!(err instanceof UnavailableError)) {
              // An earlier attempt that timed out may have landed: then the key exists.
              if ((err as Error).constructor.name === 'KeyExistsError') {
                acked.set(key, (await store.get(key)).kv!);
                return;
              }
              throw err;
            }
            unavailable++;
          }
        }
      }),
    );
    await onProgress?.(i + 10 - from);
  }
  return unavailable;
}

function collect(events: WatchEvent[]): (batch: WatchEvent[]) => void {
  return (batch) => {
    for (const e of batch) events.push(e);
  };
}

if (!natsServerAvailable()) {
  test('nats-failover: nats-server is not installed (apt-get install nats-server)', (t) => {
    t.fail('nats-server binary not found on PATH');
  });
} else {
  test.serial('nats-failover: killing the stream leader during 1,000 writes loses no acknowledged write', async (t) => {
    const cluster = await startNats({ nodes: 3 });
    t.teardown(() => cluster.stop());
    const stream = uniqueStream();
    const store = await openOn(cluster, stream, '?replicas=3');
    const other = await openOn(cluster, stream);
    t.teardown(async () => {
      await store.close();
      await other.close();
    });
    const events: WatchEvent[] = [];
    let watchError: Error | undefined;
    const w = await other.watch('/f/', 0, collect(events), (e) => (watchError = e));
    t.teardown(() => w.stop());

    const acked = new Map<string, KeyValue>();
    let killed = -1;
    const started = Date.now();
    const unavailable = await writeRange(store, 0, 1000, acked, async (n) => {
      if (killed < 0 && n >= 300) {
        killed = await streamLeader(cluster, stream);
        await cluster.kill(killed);
      }
    });
    t.log(`1000 writes in ${Date.now() - started} ms with node ${killed} (the stream leader) killed after 300; ${unavailable} retried after 503`);
    t.is(acked.size, 1000);
    const list = await store.list('/f/');
    t.is(list.kvs.length, 1000);
    for (const kv of list.kvs) t.deepEqual(kv, acked.get(kv.key));
    await until('the other store to see every write', () => events.length >= 1000);
    t.is(watchError, undefined);
    t.is(new Set(events.map((e) => e.kv.modRevision)).size, events.length, 'no duplicate events');
    t.is(events.length, 1000);

    await cluster.restart(killed);
    const after = await store.create('/f/after-restart', 'x');
    await until('the watch to see the write after the restart', () => events.some((e) => e.kv.key === '/f/after-restart'));
    t.true(after.modRevision > Math.max(...[...acked.values()].map((kv) => kv.modRevision)));
  });

  test.serial('nats-failover: without quorum writes fail with UnavailableError, reads go on; back with quorum, writes resume', async (t) => {
    const cluster = await startNats({ nodes: 3 });
    t.teardown(() => cluster.stop());
    const stream = uniqueStream();
    const store = await openOn(cluster, stream, '?replicas=3&write-timeout-ms=3000&read-sync-timeout-ms=500');
    const other = await openOn(cluster, stream, '?write-timeout-ms=3000&read-sync-timeout-ms=500');
    t.teardown(async () => {
      await store.close();
      await other.close();
    });
    const events: WatchEvent[] = [];
    let watchError: Error | undefined;
    const w = await other.watch('/f/', 0, collect(events), (e) => (watchError = e));
    t.teardown(() => w.stop());

    const acked = new Map<string, KeyValue>();
    await writeRange(store, 0, 200, acked);
    await cluster.kill(0);
    await cluster.kill(1);

    const t0 = Date.now();
    const err = await t.throwsAsync(store.create('/f/during-outage', 'x'));
    t.true(err instanceof UnavailableError, String(err));
    t.regex(err!.message, /unavailable/i);
    t.true(Date.now() - t0 < 10_000, 'the write fails within its timeout');
    // Reads answer from the local copy while NATS has no quorum.
    t.is((await store.list('/f/')).kvs.length >= 200, true);
    t.deepEqual((await other.get('/f/00000')).kv, acked.get('/f/00000'));
    t.is(watchError, undefined);

    await cluster.restart(0);
    await cluster.restart(1);
    const unavailable = await writeRange(store, 200, 400, acked);
    t.log(`writes after quorum returned: ${unavailable} retried after 503`);
    await until('the watch to catch up', () => events.length >= 400);
    t.is(watchError, undefined);
    const revs = events.map((e) => e.kv.modRevision);
    t.is(new Set(revs).size, revs.length, 'no duplicate events');
    for (let i = 1; i < revs.length; i++) t.true(revs[i]! > revs[i - 1]!);
    const list = await other.list('/f/');
    // The write during the outage may or may not have landed (its outcome was unknown).
    const keys = list.kvs.map((kv) => kv.key).filter((k) => k !== '/f/during-outage');
    t.is(keys.length, 400);
    for (const kv of list.kvs) if (acked.has(kv.key)) t.deepEqual(kv, acked.get(kv.key));
  });
}
