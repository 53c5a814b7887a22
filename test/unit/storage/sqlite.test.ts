import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../apiserver/storage/index.js';
import { openSqliteStore, type SqliteStore } from '../../../apiserver/storage/sqlite/index.js';
import type { Store } from '../../../apiserver/storage/store.js';
import { storeConformance, type StoreFixture } from './conformance.js';

async function sqliteFixture(): Promise<StoreFixture & { file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-sqlite-'));
  const file = join(dir, 'state.db');
  const opened: Store[] = [await openSqliteStore(file)];
  return {
    file,
    store: opened[0]!,
    reopen: async () => {
      const s = await openSqliteStore(file);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

storeConformance('sqlite', sqliteFixture);

test('sqlite: concurrent writes share commits (group commit)', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store as SqliteStore;
  const before = store.stats();
  await Promise.all(Array.from({ length: 300 }, (_, i) => store.create(`/g/${i}`, 'x')));
  const after = store.stats();
  t.is(after.writes - before.writes, 300);
  t.true(after.commits - before.commits <= 2, `300 concurrent writes took ${after.commits - before.commits} commits`);
});

test('sqlite: a batch larger than the cap is split into several commits, in order', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store as SqliteStore;
  const seen: number[] = [];
  const watcher = await store.watch('/big/', 0, (events) => {
    for (const e of events) seen.push(e.kv.modRevision);
  });
  t.teardown(() => watcher.stop());
  const kvs = await Promise.all(Array.from({ length: 2500 }, (_, i) => store.create(`/big/${i}`, 'x')));
  t.deepEqual(
    kvs.map((kv) => kv.modRevision),
    Array.from({ length: 2500 }, (_, i) => i + 1),
  );
  t.true(store.stats().commits >= 3);
  t.deepEqual(seen, kvs.map((kv) => kv.modRevision));
});

test('sqlite: a second connection cannot open a file in use', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  await fixture.store.create('/a', 'x');
  const err = await t.throwsAsync(fixture.reopen());
  t.regex(err!.message, /in use/);
});

test('openStore: sqlite in the data dir; unknown backends are refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-openstore-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore('sqlite', join(dir, 'data'));
  const kv = await store.create('/x', 'y');
  t.is(kv.modRevision, 1);
  await store.close();
  await t.throwsAsync(openStore('etcd', dir), { message: /unknown storage backend/ });
});

test('sqlite: a failed statement fails only its own write', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store;
  const results = await Promise.allSettled([
    store.create('/f/a', 'a'),
    // Only reachable from untyped callers; the NOT NULL constraint rejects it inside the batch.
    store.create('/f/bad', undefined as unknown as string),
    store.create('/f/b', 'b'),
  ]);
  t.is(results[0].status, 'fulfilled');
  t.is(results[1].status, 'rejected');
  t.is(results[2].status, 'fulfilled');
  const revs = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.modRevision] : []));
  t.deepEqual(revs, [1, 2], 'the failed write did not use up a revision');
  t.is(await store.currentRevision(), 2);
});

test('sqlite: when COMMIT fails every write of the batch is rejected and nothing is seen', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store as SqliteStore;
  const seen: number[] = [];
  const watcher = await store.watch('/cf/', 0, (events) => seen.push(...events.map((e) => e.kv.modRevision)));
  t.teardown(() => watcher.stop());
  await store.create('/cf/first', 'x');
  // The next COMMIT fails the way a full disk would make it fail, without committing.
  await store.injectCommitFailure('disk I/O error (injected)');
  const failed = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.create(`/cf/${i}`, 'x')));
  t.true(failed.every((r) => r.status === 'rejected' && /injected/.test(String(r.reason))));
  t.is(await store.currentRevision(), 1);
  t.is((await store.get('/cf/0')).kv, undefined);
  const after = await store.create('/cf/after', 'x');
  t.is(after.modRevision, 2, 'revisions of the rolled-back batch are handed out again');
  const deadline = Date.now() + 5000;
  while (seen.length < 2 && Date.now() < deadline) await new Promise<void>((resolve) => setImmediate(resolve));
  t.deepEqual(seen, [1, 2]);
});

test('sqlite: compaction removes superseded rows and deleted keys from the file', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store as SqliteStore;
  let kv = await store.create('/cmp/kept', '0');
  for (let i = 1; i <= 100; i++) kv = await store.update('/cmp/kept', String(i), kv.modRevision);
  await store.create('/cmp/gone', 'x');
  await store.delete('/cmp/gone');
  const beforeCompact = await store.currentRevision();
  const later = await store.update('/cmp/kept', 'later', kv.modRevision);
  await store.compact(beforeCompact);
  t.deepEqual((await store.list('/cmp/', { revision: beforeCompact })).kvs, [kv]);
  await store.close();
  // The store's own connection is exclusive; once it is closed the file can be read directly.
  const db = new Database(fixture.file, { readonly: true });
  try {
    t.deepEqual(db.prepare('SELECT id, name FROM kv ORDER BY id').all(), [
      { id: kv.modRevision, name: '/cmp/kept' },
      { id: later.modRevision, name: '/cmp/kept' },
    ]);
  } finally {
    db.close();
  }
});

test('sqlite: close commits the writes made before it and ends watches with "storage closed"', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store;
  let watchError: Error | undefined;
  const watcher = await store.watch('/cl/', 0, () => {}, (err) => (watchError = err));
  t.teardown(() => watcher.stop());
  const writes = Array.from({ length: 20 }, (_, i) => store.create(`/cl/${i}`, 'x'));
  await store.close();
  const done = await Promise.all(writes);
  t.deepEqual(
    done.map((kv) => kv.modRevision),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  t.regex(String(watchError), /storage closed/);
  await t.throwsAsync(store.create('/cl/late', 'x'), { message: /storage closed/ });
  await t.throwsAsync(store.get('/cl/0'), { message: /storage closed/ });
  await store.close();
  const again = await fixture.reopen();
  t.is(await again.count('/cl/'), 20);
});

test('sqlite: a dead storage worker fails pending writes, watches and later calls instead of hanging', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store;
  await store.create('/dead/a', 'x');
  let watchError: Error | undefined;
  const watcher = await store.watch('/dead/', 0, () => {}, (err) => (watchError = err));
  t.teardown(() => watcher.stop());
  const worker = (store as unknown as { worker: { terminate(): Promise<number> } }).worker;
  const pending = Array.from({ length: 5 }, (_, i) => store.create(`/dead/${i}`, 'x'));
  await worker.terminate();
  const results = await Promise.allSettled(pending);
  for (const r of results) {
    t.is(r.status, 'rejected');
    if (r.status === 'rejected') t.regex(String(r.reason), /storage worker exited/);
  }
  t.regex(String(watchError), /storage worker exited/);
  await t.throwsAsync(store.get('/dead/a'), { message: /unavailable/ });
  await t.throwsAsync(store.watch('/dead/', 0, () => {}), { message: /unavailable/ });
  await store.close();
  // The file is free again and holds what was acknowledged.
  const again = await fixture.reopen();
  t.is((await again.get('/dead/a')).kv?.value, 'x');
});

test('sqlite: writes arriving while a COMMIT runs are committed together in the next one', async (t) => {
  const fixture = await sqliteFixture();
  t.teardown(() => fixture.cleanup());
  const store = fixture.store as SqliteStore;
  // 32 writers that each write again as soon as their previous write is acknowledged: every
  // commit after the first carries the writes that queued up during the one before.
  const before = store.stats();
  await Promise.all(
    Array.from({ length: 32 }, async (_, w) => {
      for (let i = 0; i < 20; i++) await store.create(`/gc/${w}/${i}`, 'x');
    }),
  );
  const after = store.stats();
  t.is(after.writes - before.writes, 640);
  t.true(after.commits - before.commits < 640 / 4, `640 writes from 32 writers took ${after.commits - before.commits} commits`);
});
