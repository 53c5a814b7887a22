// The storage contract (apiserver/storage/store.ts) as ava tests, written against the interface
// only so that every backend runs the same suite: storeConformance('sqlite', openFixture).
import test, { type ExecutionContext } from 'ava';
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  type KeyValue,
  type Store,
  type WatchEvent,
} from '../../../apiserver/storage/store.js';

export interface StoreFixture {
  store: Store;
  /** Opens the same data again (after the test closed `store`), as a restarted process would. */
  reopen: () => Promise<Store>;
  /** Closes every store the fixture opened and removes its data. */
  cleanup: () => Promise<void>;
}

const WAIT_MS = 10_000;

/** Collects a watch's events; waitFor resolves once n have arrived, or fails at a deadline. */
class Collector {
  readonly events: WatchEvent[] = [];
  error: Error | undefined;
  private waiters: { n: number; resolve: () => void }[] = [];

  onEvents = (batch: WatchEvent[]): void => {
    for (const e of batch) this.events.push(e);
    this.wake();
  };

  onError = (err: Error): void => {
    this.error = err;
    this.wake();
  };

  async waitFor(n: number): Promise<WatchEvent[]> {
    if (this.events.length < n && !this.error) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} events, have ${this.events.length}`)), WAIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    }
    if (this.error) throw this.error;
    return this.events;
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.events.length >= w.n || this.error) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}

function revisions(events: WatchEvent[]): number[] {
  return events.map((e) => e.kv.modRevision);
}

function assertIncreasing(t: ExecutionContext, revs: number[]): void {
  for (let i = 1; i < revs.length; i++) {
    if (!(revs[i]! > revs[i - 1]!)) t.fail(`revisions not strictly increasing at ${i}: ${revs[i - 1]} then ${revs[i]}`);
  }
}

export function storeConformance(name: string, open: () => Promise<StoreFixture>): void {
  async function setup(t: ExecutionContext): Promise<StoreFixture> {
    const fixture = await open();
    t.teardown(() => fixture.cleanup());
    return fixture;
  }

  test(`${name}: create then get`, async (t) => {
    const { store } = await setup(t);
    const before = await store.currentRevision();
    const kv = await store.create('/registry/configmaps/default/cm1', '{"a":1}');
    t.is(kv.key, '/registry/configmaps/default/cm1');
    t.is(kv.value, '{"a":1}');
    t.true(kv.modRevision > before);
    t.is(kv.createRevision, kv.modRevision);
    t.is(await store.currentRevision(), kv.modRevision);
    const got = await store.get('/registry/configmaps/default/cm1');
    t.deepEqual(got.kv, kv);
    t.is(got.revision, kv.modRevision);
    const missing = await store.get('/registry/configmaps/default/nope');
    t.is(missing.kv, undefined);
    t.is(missing.revision, kv.modRevision);
  });

  test(`${name}: create of an existing key fails with KeyExistsError; after a delete it succeeds`, async (t) => {
    const { store } = await setup(t);
    const first = await store.create('/k', 'v1');
    const err = await t.throwsAsync(store.create('/k', 'v2'));
    t.true(err instanceof KeyExistsError, String(err));
    t.is((await store.get('/k')).kv?.value, 'v1');
    t.is(await store.currentRevision(), first.modRevision, 'a failed create does not use a revision');
    await store.delete('/k');
    const again = await store.create('/k', 'v3');
    t.true(again.createRevision > first.createRevision);
    t.is(again.createRevision, again.modRevision);
  });

  test(`${name}: update compare-and-swap`, async (t) => {
    const { store } = await setup(t);
    const created = await store.create('/k', 'v1');
    const updated = await store.update('/k', 'v2', created.modRevision);
    t.is(updated.value, 'v2');
    t.is(updated.createRevision, created.createRevision);
    t.true(updated.modRevision > created.modRevision);
    const err = await t.throwsAsync(store.update('/k', 'v3', created.modRevision));
    t.true(err instanceof ConflictError, String(err));
    t.deepEqual((err as ConflictError).current, updated);
    t.is((err as ConflictError).key, '/k');
    t.deepEqual((await store.get('/k')).kv, updated);
  });

  test(`${name}: update of a missing or deleted key fails with NotFoundError`, async (t) => {
    const { store } = await setup(t);
    const err = await t.throwsAsync(store.update('/nope', 'v', 1));
    t.true(err instanceof NotFoundError, String(err));
    const kv = await store.create('/gone', 'v');
    await store.delete('/gone');
    const err2 = await t.throwsAsync(store.update('/gone', 'v2', kv.modRevision));
    t.true(err2 instanceof NotFoundError, String(err2));
  });

  test(`${name}: delete with and without an expected revision`, async (t) => {
    const { store } = await setup(t);
    const a = await store.create('/a', 'va');
    const deleted = await store.delete('/a');
    t.is(deleted.key, '/a');
    t.is(deleted.value, 'va');
    t.is(deleted.createRevision, a.createRevision);
    t.true(deleted.modRevision > a.modRevision);
    t.is(await store.currentRevision(), deleted.modRevision);
    t.is((await store.get('/a')).kv, undefined);
    const missing = await t.throwsAsync(store.delete('/a'));
    t.true(missing instanceof NotFoundError, String(missing));

    const b = await store.create('/b', 'vb');
    const b2 = await store.update('/b', 'vb2', b.modRevision);
    const conflict = await t.throwsAsync(store.delete('/b', b.modRevision));
    t.true(conflict instanceof ConflictError, String(conflict));
    t.deepEqual((conflict as ConflictError).current, b2);
    t.deepEqual((await store.get('/b')).kv, b2);
    const ok = await store.delete('/b', b2.modRevision);
    t.is(ok.value, 'vb2');
    t.is((await store.get('/b')).kv, undefined);
  });

  test(`${name}: one revision, strictly increasing, shared by all keys`, async (t) => {
    const { store } = await setup(t);
    const seen: number[] = [await store.currentRevision()];
    const a = await store.create('/x/a', '1');
    seen.push(a.modRevision);
    const b = await store.create('/y/b', '1');
    seen.push(b.modRevision);
    const a2 = await store.update('/x/a', '2', a.modRevision);
    seen.push(a2.modRevision);
    const bd = await store.delete('/y/b');
    seen.push(bd.modRevision);
    const c = await store.create('/z', '1');
    seen.push(c.modRevision);
    assertIncreasing(t, seen);
    t.is(await store.currentRevision(), c.modRevision);
    t.is(a2.createRevision, a.modRevision);
  });

  test(`${name}: list by prefix in key order, with limit and startKey paging`, async (t) => {
    const { store } = await setup(t);
    const keys = ['/reg/pods/ns/b', '/reg/pods/ns/a', '/reg/pods/ns/a10', '/reg/pods/ns/a2', '/reg/pods/other/z', '/reg/podsx/n/q', '/reg/p'];
    for (const k of keys) await store.create(k, `v:${k}`);
    const all = await store.list('/reg/pods/');
    t.deepEqual(
      all.kvs.map((kv) => kv.key),
      ['/reg/pods/ns/a', '/reg/pods/ns/a10', '/reg/pods/ns/a2', '/reg/pods/ns/b', '/reg/pods/other/z'],
    );
    t.false(all.more);
    t.is(all.revision, await store.currentRevision());
    t.is(all.kvs[0]!.value, 'v:/reg/pods/ns/a');

    const pages: string[][] = [];
    let startKey: string | undefined;
    for (;;) {
      const page = await store.list('/reg/pods/', { limit: 2, startKey, revision: all.revision });
      pages.push(page.kvs.map((kv) => kv.key));
      t.is(page.revision, all.revision);
      if (!page.more) break;
      t.is(page.kvs.length, 2);
      startKey = page.kvs[page.kvs.length - 1]!.key + '\x00';
    }
    t.deepEqual(pages, [
      ['/reg/pods/ns/a', '/reg/pods/ns/a10'],
      ['/reg/pods/ns/a2', '/reg/pods/ns/b'],
      ['/reg/pods/other/z'],
    ]);
    const exact = await store.list('/reg/pods/', { limit: 5 });
    t.is(exact.kvs.length, 5);
    t.false(exact.more, 'more is false when the limit equals the remaining keys');
    t.deepEqual((await store.list('/reg/pods/', { startKey: '/reg/pods/ns/b' })).kvs.map((kv) => kv.key), [
      '/reg/pods/ns/b',
      '/reg/pods/other/z',
    ]);
    t.deepEqual((await store.list('/nothing/')).kvs, []);
    t.is((await store.list('')).kvs.length, keys.length);
  });

  test(`${name}: list at a past revision sees the state as it was`, async (t) => {
    const { store } = await setup(t);
    const a1 = await store.create('/p/a', 'a1');
    const b1 = await store.create('/p/b', 'b1');
    const r1 = b1.modRevision;
    await store.update('/p/a', 'a2', a1.modRevision);
    await store.delete('/p/b');
    await store.create('/p/c', 'c1');
    const old = await store.list('/p/', { revision: r1 });
    t.is(old.revision, r1);
    t.deepEqual(old.kvs, [a1, b1]);
    const older = await store.list('/p/', { revision: a1.modRevision });
    t.deepEqual(older.kvs, [a1]);
    const now = await store.list('/p/');
    t.deepEqual(
      now.kvs.map((kv) => [kv.key, kv.value]),
      [
        ['/p/a', 'a2'],
        ['/p/c', 'c1'],
      ],
    );
    const paged = await store.list('/p/', { revision: r1, limit: 1 });
    t.deepEqual(paged.kvs, [a1]);
    t.true(paged.more);
  });

  test(`${name}: count`, async (t) => {
    const { store } = await setup(t);
    t.is(await store.count('/c/'), 0);
    await store.create('/c/1', 'x');
    const two = await store.create('/c/2', 'x');
    await store.create('/c/3', 'x');
    await store.create('/d/1', 'x');
    await store.update('/c/2', 'y', two.modRevision);
    t.is(await store.count('/c/'), 3);
    await store.delete('/c/1');
    t.is(await store.count('/c/'), 2);
    t.is(await store.count(''), 3);
  });

  test(`${name}: watch from a revision replays history then live events, in order, with prevKv`, async (t) => {
    const { store } = await setup(t);
    const a = await store.create('/w/a', 'a1');
    const start = a.modRevision;
    const b = await store.create('/w/b', 'b1');
    const a2 = await store.update('/w/a', 'a2', a.modRevision);
    const bd = await store.delete('/w/b');
    const c = new Collector();
    const watcher = await store.watch('/w/', start, c.onEvents, c.onError);
    t.teardown(() => watcher.stop());
    const c1 = await store.create('/w/c', 'c1');
    const a3 = await store.update('/w/a', 'a3', a2.modRevision);
    const ad = await store.delete('/w/a', a3.modRevision);
    const events = await c.waitFor(6);
    t.deepEqual(events, [
      { type: 'put', kv: b },
      { type: 'put', kv: a2, prevKv: a },
      { type: 'delete', kv: bd, prevKv: b },
      { type: 'put', kv: c1 },
      { type: 'put', kv: a3, prevKv: a2 },
      { type: 'delete', kv: ad, prevKv: a3 },
    ]);
    t.is(bd.value, 'b1');
    // Nothing more arrives for writes outside the prefix, and nothing is repeated.
    const last = await store.create('/w/z', 'z');
    await c.waitFor(7);
    t.deepEqual(revisions(c.events).slice(-1), [last.modRevision]);
    t.is(c.events.length, 7);
  });

  test(`${name}: watch from the current revision sees only later events`, async (t) => {
    const { store } = await setup(t);
    await store.create('/n/old', 'x');
    const c = new Collector();
    const watcher = await store.watch('/n/', await store.currentRevision(), c.onEvents, c.onError);
    t.teardown(() => watcher.stop());
    const fresh = await store.create('/n/new', 'y');
    t.deepEqual(await c.waitFor(1), [{ type: 'put', kv: fresh }]);
  });

  test(`${name}: watch under a prefix ignores other keys`, async (t) => {
    const { store } = await setup(t);
    const c = new Collector();
    const watcher = await store.watch('/registry/pods/', 0, c.onEvents, c.onError);
    t.teardown(() => watcher.stop());
    await store.create('/registry/podsx/a', '1');
    await store.create('/registry/configmaps/a', '1');
    const mine = await store.create('/registry/pods/ns/a', '1');
    await store.create('/registry/poda', '1');
    const mine2 = await store.update('/registry/pods/ns/a', '2', mine.modRevision);
    const events = await c.waitFor(2);
    t.deepEqual(revisions(events), [mine.modRevision, mine2.modRevision]);
    // A sentinel write under the prefix proves nothing else was queued before it.
    const sentinel = await store.create('/registry/pods/ns/z', '1');
    await c.waitFor(3);
    t.deepEqual(revisions(c.events), [mine.modRevision, mine2.modRevision, sentinel.modRevision]);
  });

  test(`${name}: a stopped watch receives nothing more`, async (t) => {
    const { store } = await setup(t);
    const c = new Collector();
    const watcher = await store.watch('/s/', 0, c.onEvents, c.onError);
    await store.create('/s/1', 'x');
    await c.waitFor(1);
    watcher.stop();
    await store.create('/s/2', 'x');
    // A second watch seeing the write means the store has delivered it to watches by now.
    const d = new Collector();
    const w2 = await store.watch('/s/', 0, d.onEvents, d.onError);
    t.teardown(() => w2.stop());
    await d.waitFor(2);
    await store.create('/s/3', 'x');
    await d.waitFor(3);
    t.is(c.events.length, 1);
  });

  test(`${name}: 500 concurrent creates get distinct increasing revisions and a watch sees all`, async (t) => {
    const { store } = await setup(t);
    const start = await store.currentRevision();
    const c = new Collector();
    const watcher = await store.watch('/many/', start, c.onEvents, c.onError);
    t.teardown(() => watcher.stop());
    const n = 500;
    const kvs = await Promise.all(Array.from({ length: n }, (_, i) => store.create(`/many/${String(i).padStart(4, '0')}`, `v${i}`)));
    const revs = kvs.map((kv) => kv.modRevision);
    t.is(new Set(revs).size, n);
    t.true(revs.every((r) => r > start));
    t.is(Math.max(...revs), await store.currentRevision());
    const events = await c.waitFor(n);
    t.is(events.length, n);
    assertIncreasing(t, revisions(events));
    t.deepEqual([...revisions(events)].sort((x, y) => x - y), [...revs].sort((x, y) => x - y));
    const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
    for (const e of events) t.deepEqual(e.kv, byKey.get(e.kv.key));
    t.is(await store.count('/many/'), n);
  });

  test(`${name}: concurrent compare-and-swap on one key lets exactly one writer win`, async (t) => {
    const { store } = await setup(t);
    const kv = await store.create('/cas', '0');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.update('/cas', `w${i}`, kv.modRevision)));
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<KeyValue>[];
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    t.is(won.length, 1);
    t.is(lost.length, 19);
    for (const l of lost) t.true(l.reason instanceof ConflictError, String(l.reason));
    t.deepEqual((await store.get('/cas')).kv, won[0]!.value);
  });

  test(`${name}: a watch started during a stream of writes has no gap or duplicate`, async (t) => {
    const { store } = await setup(t);
    const writes: KeyValue[] = [];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop && i < 5000; i++) {
        const batch = await Promise.all(Array.from({ length: 5 }, (_, j) => store.create(`/stream/${i}-${j}`, 'x')));
        writes.push(...batch);
      }
    })();
    const waitWrites = async (n: number) => {
      const deadline = Date.now() + WAIT_MS;
      while (writes.length < n) {
        if (Date.now() > deadline) throw new Error('writer stalled');
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    await waitWrites(200);
    const from = writes[100]!.modRevision;
    const c = new Collector();
    const watcher = await store.watch('/stream/', from, c.onEvents, c.onError);
    t.teardown(() => watcher.stop());
    await waitWrites(600);
    stop = true;
    await writer;
    const expected = writes.filter((kv) => kv.modRevision > from).map((kv) => kv.modRevision).sort((x, y) => x - y);
    const events = await c.waitFor(expected.length);
    t.deepEqual(revisions(events), expected);
  });

  test(`${name}: a watch registered in the same turn as a burst of writes sees each write once`, async (t) => {
    const { store } = await setup(t);
    const start = await store.currentRevision();
    const c = new Collector();
    // No await between issuing the writes and the watch: some writes may already be durable but
    // not yet delivered to watches, and must come through the replay or the live feed, not both.
    const writes = Promise.all(Array.from({ length: 1500 }, (_, i) => store.create(`/burst/${i}`, 'x')));
    const watching = store.watch('/burst/', start, c.onEvents, c.onError);
    const kvs = await writes;
    const watcher = await watching;
    t.teardown(() => watcher.stop());
    const events = await c.waitFor(kvs.length);
    const sentinel = await store.create('/burst/sentinel', 'x');
    await c.waitFor(kvs.length + 1);
    const expected = [...kvs.map((kv) => kv.modRevision), sentinel.modRevision].sort((x, y) => x - y);
    t.deepEqual(revisions(events), expected);
  });

  test(`${name}: compaction refuses older reads and watches, keeps current state`, async (t) => {
    const { store } = await setup(t);
    const a = await store.create('/cp/a', 'a1');
    const b = await store.create('/cp/b', 'b1');
    const a2 = await store.update('/cp/a', 'a2', a.modRevision);
    await store.delete('/cp/b');
    const c = await store.create('/cp/c', 'c1');
    const compactAt = c.modRevision;
    const a3 = await store.update('/cp/a', 'a3', a2.modRevision);
    t.is(await store.compactedRevision(), 0);
    await store.compact(compactAt);
    t.is(await store.compactedRevision(), compactAt);

    const listErr = await t.throwsAsync(store.list('/cp/', { revision: b.modRevision }));
    t.true(listErr instanceof CompactedError, String(listErr));
    t.is((listErr as CompactedError).compacted, compactAt);
    const watchErr = await t.throwsAsync(store.watch('/cp/', compactAt - 1, () => {}));
    t.true(watchErr instanceof CompactedError, String(watchErr));

    t.deepEqual((await store.list('/cp/')).kvs, [a3, c]);
    t.deepEqual((await store.list('/cp/', { revision: compactAt })).kvs, [a2, c]);
    t.deepEqual((await store.get('/cp/a')).kv, a3);
    t.is(await store.count('/cp/'), 2);

    const w = new Collector();
    const watcher = await store.watch('/cp/', compactAt, w.onEvents, w.onError);
    t.teardown(() => watcher.stop());
    const cd = await store.delete('/cp/c');
    t.deepEqual(await w.waitFor(2), [
      { type: 'put', kv: a3, prevKv: a2 },
      { type: 'delete', kv: cd, prevKv: c },
    ]);
    // Compacting to an older revision is a no-op; writes continue from the same revision.
    await store.compact(1);
    t.is(await store.compactedRevision(), compactAt);
    const d = await store.create('/cp/d', 'd');
    t.true(d.modRevision > cd.modRevision);
    const future = await t.throwsAsync(store.compact(d.modRevision + 100));
    t.truthy(future);
  });

  test(`${name}: reopening keeps data, revisions and compaction`, async (t) => {
    const fixture = await setup(t);
    const store = fixture.store;
    const a = await store.create('/r/a', 'a1');
    const a2 = await store.update('/r/a', 'a2', a.modRevision);
    const b = await store.create('/r/b', 'b1');
    await store.compact(a2.modRevision);
    const bd = await store.delete('/r/b');
    const last = await store.currentRevision();
    t.is(last, bd.modRevision);
    await store.close();

    const again = await fixture.reopen();
    t.is(await again.currentRevision(), last, 'a trailing delete still counts as a revision');
    t.is(await again.compactedRevision(), a2.modRevision);
    t.deepEqual((await again.get('/r/a')).kv, a2);
    t.is((await again.get('/r/b')).kv, undefined);
    t.deepEqual((await again.list('/r/', { revision: b.modRevision })).kvs, [a2, b]);
    const c = await again.create('/r/c', 'c1');
    t.true(c.modRevision > last);
    const w = new Collector();
    const watcher = await again.watch('/r/', a2.modRevision, w.onEvents, w.onError);
    t.teardown(() => watcher.stop());
    t.deepEqual(revisions(await w.waitFor(3)), [b.modRevision, bd.modRevision, c.modRevision]);
  });

  test(`${name}: values round-trip exactly`, async (t) => {
    const { store } = await setup(t);
    const values = ['', '{"kind":"Pod","metadata":{"name":"ü-ñ-日本"}}', 'x'.repeat(1 << 20), 'line\nbreak\u0000nul'];
    for (const [i, v] of values.entries()) {
      const kv = await store.create(`/v/${i}`, v);
      t.is(kv.value, v);
      t.is((await store.get(`/v/${i}`)).kv?.value, v);
    }
    t.deepEqual(
      (await store.list('/v/')).kvs.map((kv) => kv.value),
      values,
    );
  });
}
