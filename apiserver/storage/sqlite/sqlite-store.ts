// The embedded storage backend: the Store contract on one SQLite file.
//
// Writes are group-committed. better-sqlite3 is synchronous, so the first write of an event-loop
// turn opens a transaction and every write of that turn runs its SQL inside it at once (a
// compare-and-swap sees the writes queued before it, and revisions are handed out in call order);
// a setImmediate callback then commits the batch with a single fsync. Outcomes (values and
// errors alike) are settled only after the COMMIT, and watches receive only committed batches, so
// nothing a caller or watcher sees can be rolled back. Reads run on the same connection and hide
// the open batch by reading only rows with id <= the committed revision.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type Watcher,
  type WatchEvent,
} from '../store.js';
import { prefixEnd } from './key-range.js';
import { openDatabase, prepareStatements, type Db, type HistoryRow, type Row, type Statements } from './schema.js';
import { SqliteWatch, type HistorySource } from './watch.js';

/** A batch commits early once it holds this many writes, to bound transaction size and latency. */
const MAX_BATCH = 1000;
/** Compaction deletes in id windows this wide, one window per batch, so writes are not stalled. */
const COMPACT_WINDOW = 10_000;
const COMPACTED_META = 'compacted_revision';

interface Outcome {
  settle(): void;
  fail(err: Error): void;
}

interface Batch {
  /** the revision before the batch's first write, restored if the batch is rolled back */
  baseRevision: number;
  outcomes: Outcome[];
  events: WatchEvent[];
}

export interface SqliteStoreStats {
  /** transactions committed */
  commits: number;
  /** write operations settled by those commits */
  writes: number;
}

function toKv(row: Row): KeyValue {
  return { key: row.name, value: row.value, createRevision: row.create_revision, modRevision: row.id };
}

function historyEvent(row: HistoryRow): WatchEvent {
  const kv = toKv(row);
  const prevKv: KeyValue | undefined =
    row.created === 0 && row.prev_value !== null && row.prev_create_revision !== null
      ? { key: row.name, value: row.prev_value, createRevision: row.prev_create_revision, modRevision: row.prev_revision }
      : undefined;
  const event: WatchEvent = { type: row.deleted ? 'delete' : 'put', kv };
  if (prevKv) event.prevKv = prevKv;
  return event;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class SqliteStore implements Store, HistorySource {
  /** the newest revision handed out, including the open batch's */
  private revision: number;
  /** the newest revision made durable; reads and watches never look past it */
  private committed: number;
  private compactedTo: number;
  private batch: Batch | undefined;
  private readonly settleQueue: Batch[] = [];
  private settling = false;
  private readonly watches = new Set<SqliteWatch>();
  private closed = false;
  private readonly counters: SqliteStoreStats = { commits: 0, writes: 0 };

  private constructor(
    private readonly db: Db,
    private readonly st: Statements,
  ) {
    const seq = st.sequence.get()?.seq ?? 0;
    const maxId = st.maxId.get()?.id ?? 0;
    this.compactedTo = st.getMeta.get(COMPACTED_META)?.value ?? 0;
    this.revision = Math.max(seq, maxId, this.compactedTo);
    this.committed = this.revision;
  }

  static open(path: string): SqliteStore {
    mkdirSync(dirname(path), { recursive: true });
    const db = openDatabase(path);
    try {
      return new SqliteStore(db, prepareStatements(db));
    } catch (err) {
      db.close();
      throw err;
    }
  }

  stats(): SqliteStoreStats {
    return { ...this.counters };
  }

  async currentRevision(): Promise<number> {
    this.ensureOpen();
    return this.committed;
  }

  async get(key: string): Promise<{ revision: number; kv?: KeyValue }> {
    this.ensureOpen();
    const row = this.st.latestAt.get(key, this.committed);
    if (!row || row.deleted) return { revision: this.committed };
    return { revision: this.committed, kv: toKv(row) };
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.write((batch) => {
      const current = this.st.latest.get(key);
      if (current && !current.deleted) throw new KeyExistsError(key);
      const revision = ++this.revision;
      this.st.insert.run(revision, key, 1, 0, revision, 0, value);
      const kv: KeyValue = { key, value, createRevision: revision, modRevision: revision };
      batch.events.push({ type: 'put', kv });
      return kv;
    });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.write((batch) => {
      const current = this.st.latest.get(key);
      if (!current || current.deleted) throw new NotFoundError(key);
      if (current.id !== expectedModRevision) throw new ConflictError(key, toKv(current));
      const revision = ++this.revision;
      this.st.insert.run(revision, key, 0, 0, current.create_revision, current.id, value);
      const kv: KeyValue = { key, value, createRevision: current.create_revision, modRevision: revision };
      batch.events.push({ type: 'put', kv, prevKv: toKv(current) });
      return kv;
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write((batch) => {
      const current = this.st.latest.get(key);
      if (!current || current.deleted) throw new NotFoundError(key);
      if (expectedModRevision !== undefined && current.id !== expectedModRevision) throw new ConflictError(key, toKv(current));
      const revision = ++this.revision;
      // The deletion row keeps the value, so history replays the delete with what was deleted.
      this.st.insert.run(revision, key, 0, 1, current.create_revision, current.id, current.value);
      const kv: KeyValue = { key, value: current.value, createRevision: current.create_revision, modRevision: revision };
      batch.events.push({ type: 'delete', kv, prevKv: toKv(current) });
      return kv;
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.ensureOpen();
    const revision = this.readableRevision(opts.revision);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const from = opts.startKey !== undefined && opts.startKey > prefix ? opts.startKey : prefix;
    const end = prefixEnd(prefix);
    const rows = end === undefined ? this.st.listFrom.iterate(from, revision) : this.st.listRange.iterate(from, end, revision);
    const kvs: KeyValue[] = [];
    let more = false;
    for (const row of rows) {
      if (row.deleted) continue;
      if (kvs.length >= limit) {
        more = true;
        break;
      }
      kvs.push(toKv(row));
    }
    return { revision, kvs, more };
  }

  async count(prefix: string): Promise<number> {
    this.ensureOpen();
    const end = prefixEnd(prefix);
    const row = end === undefined ? this.st.countFrom.get(prefix, this.committed) : this.st.countRange.get(prefix, end, this.committed);
    return row?.n ?? 0;
  }

  async watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    onError?: (err: Error) => void,
  ): Promise<Watcher> {
    this.ensureOpen();
    if (fromRevision < this.compactedTo) throw new CompactedError(fromRevision, this.compactedTo);
    const w = new SqliteWatch(prefix, fromRevision, onEvents, onError, (x) => this.watches.delete(x));
    // Registered before the replay reads, so every batch committed from here on reaches the watch
    // (held until the replay ends); the replay covers everything up to this committed revision.
    this.watches.add(w);
    void w.replay(this, this.committed);
    return w;
  }

  history(prefix: string, after: number, upTo: number, limit: number): WatchEvent[] {
    const end = prefixEnd(prefix);
    const rows =
      end === undefined ? this.st.historyFrom.all(after, upTo, prefix, limit) : this.st.historyRange.all(after, upTo, prefix, end, limit);
    return rows.map(historyEvent);
  }

  compacted(): number {
    return this.compactedTo;
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    if (revision > this.committed) throw new StoreError(`cannot compact to revision ${revision}: newest revision is ${this.committed}`);
    if (revision <= this.compactedTo) return;
    // From here on reads below the revision are refused, so deleting rows under them is invisible.
    this.compactedTo = revision;
    await this.write(() => {
      this.st.setMeta.run(COMPACTED_META, revision);
    });
    let lo = this.st.minId.get()?.id ?? revision;
    while (lo <= revision) {
      const hi = lo + COMPACT_WINDOW;
      await this.write(() => {
        this.st.compactWindow.run({ lo, hi, rev: revision });
      });
      lo = hi;
    }
  }

  async compactedRevision(): Promise<number> {
    this.ensureOpen();
    return this.compactedTo;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.batch) this.commit(this.batch);
    this.drain();
    this.closed = true;
    const closedError = new StoreError('storage closed');
    for (const w of [...this.watches]) w.end(closedError);
    this.db.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('storage closed');
  }

  private readableRevision(requested: number | undefined): number {
    const revision = requested && requested > 0 ? requested : this.committed;
    if (revision > this.committed) throw new StoreError(`revision ${revision} is in the future (newest is ${this.committed})`);
    if (revision < this.compactedTo) throw new CompactedError(revision, this.compactedTo);
    return revision;
  }

  /**
   * Runs op inside the current batch's transaction. A StoreError thrown by op (the key exists,
   * a revision conflict) is that write's outcome, settled with the batch. op writes at most one
   * statement, as its last step, so a failed statement leaves nothing of op behind.
   */
  private write<T>(op: (batch: Batch) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new StoreError('storage closed'));
        return;
      }
      let batch: Batch;
      try {
        batch = this.openBatch();
      } catch (err) {
        reject(asError(err));
        return;
      }
      const revisionBefore = this.revision;
      let result: { value: T } | { error: Error };
      try {
        result = { value: op(batch) };
      } catch (err) {
        if (!(err instanceof StoreError)) {
          if (this.db.inTransaction) {
            // SQLite undid just the failed statement (say, a constraint); the batch stands.
            this.revision = revisionBefore;
            reject(asError(err));
          } else {
            // SQLite rolled the whole transaction back (I/O error, disk full): the batch is lost.
            batch.outcomes.push({ settle: () => reject(asError(err)), fail: reject });
            this.abort(batch, asError(err));
          }
          return;
        }
        result = { error: err };
      }
      batch.outcomes.push({
        settle: () => ('value' in result ? resolve(result.value) : reject(result.error)),
        fail: reject,
      });
      if (batch.outcomes.length >= MAX_BATCH) this.commit(batch);
    });
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.db.exec('BEGIN IMMEDIATE');
    const batch: Batch = { baseRevision: this.revision, outcomes: [], events: [] };
    this.batch = batch;
    setImmediate(() => this.commit(batch));
    return batch;
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return;
    this.batch = undefined;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      this.rollback(batch, asError(err));
      return;
    }
    this.committed = this.revision;
    this.counters.commits++;
    this.counters.writes += batch.outcomes.length;
    this.settleQueue.push(batch);
    // Settled from a microtask so that a batch committed early (MAX_BATCH) inside a caller's
    // write() does not run watch callbacks re-entrantly inside that call.
    queueMicrotask(() => this.drain());
  }

  private abort(batch: Batch, err: Error): void {
    if (this.batch !== batch) return;
    this.batch = undefined;
    this.rollback(batch, err);
  }

  private rollback(batch: Batch, err: Error): void {
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch (rollbackErr) {
      err = new StoreError(`${err.message}; rollback also failed: ${asError(rollbackErr).message}`);
    }
    this.revision = batch.baseRevision;
    const failure = err instanceof StoreError ? err : new StoreError(`storage write failed: ${err.message}`);
    for (const o of batch.outcomes) o.fail(failure);
  }

  private drain(): void {
    if (this.settling) return;
    this.settling = true;
    try {
      for (let batch = this.settleQueue.shift(); batch; batch = this.settleQueue.shift()) {
        for (const o of batch.outcomes) o.settle();
        if (batch.events.length > 0) {
          for (const w of [...this.watches]) w.offer(batch.events);
        }
      }
    } finally {
      this.settling = false;
    }
  }
}

/** Opens (creating if needed) the SQLite store at path. */
export async function openSqliteStore(path: string): Promise<SqliteStore> {
  return SqliteStore.open(path);
}
