// The SQLite side of the store, run on the storage worker thread (sqlite-worker.ts): revisions,
// compare-and-swap, reads, history and compaction on one connection, with group commit.
//
// better-sqlite3 is synchronous, so the first write after a COMMIT opens a transaction and every
// write that arrives before the next setImmediate runs its SQL inside it (a compare-and-swap sees
// the writes queued before it, and revisions are handed out in arrival order); the setImmediate
// callback commits the batch with one fsync. Requests that arrive while a COMMIT is running wait
// in the thread's message queue and all land in the next batch. Outcomes (values and errors
// alike) leave the engine only after the COMMIT, so nothing anyone sees can be rolled back. Reads
// run on the same connection and hide the open batch by reading only rows at or below a
// committed revision.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CompactedError, ConflictError, KeyExistsError, NotFoundError, StoreError, type KeyValue, type ListOptions, type ListResult, type WatchEvent } from '../store.js';
import { prefixEnd } from './key-range.js';
import { toWire, type PrevKv, type WireError, type WriteResult } from './protocol.js';
import { openDatabase, prepareStatements, type Db, type HistoryRow, type Row, type Statements } from './schema.js';

/** A batch commits early once it holds this many writes, to bound transaction size and latency. */
const MAX_BATCH = 1000;
/** Compaction deletes in id windows this wide, one window per batch, so writes are not stalled. */
const COMPACT_WINDOW = 10_000;
const COMPACTED_META = 'compacted_revision';

/** Where the engine sends outcomes. */
export interface EngineSink {
  /** A batch ended; results holds the outcome of every request-made write in it, in order. */
  batch(revision: number, committed: boolean, results: WriteResult[]): void;
  /** A write failed on its own (its statement failed; the batch stands). */
  failed(id: number, error: WireError): void;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

interface Outcome {
  settle(): void;
  fail(err: Error): void;
}

interface Batch {
  /** the revision before the batch's first write, restored if the batch is rolled back */
  baseRevision: number;
  outcomes: Outcome[];
}

/** What a write made: its revision and, for updates and deletes, what it replaced. */
interface Written {
  rev: number;
  prev?: PrevKv;
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

function prevOf(row: Row): PrevKv {
  return { c: row.create_revision, m: row.id, v: row.value };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class SqliteEngine {
  /** the newest revision handed out, including the open batch's */
  private revision: number;
  /** the newest revision made durable */
  private committed: number;
  private compactedTo: number;
  private batch: Batch | undefined;
  /** the results of the batch being settled; undefined outside a settle */
  private out: WriteResult[] | undefined;
  private injectedCommitFailure: string | undefined;
  private closed = false;

  private constructor(
    private readonly db: Db,
    private readonly st: Statements,
    private readonly sink: EngineSink,
  ) {
    const seq = st.sequence.get()?.seq ?? 0;
    const maxId = st.maxId.get()?.id ?? 0;
    this.compactedTo = st.getMeta.get(COMPACTED_META)?.value ?? 0;
    this.revision = Math.max(seq, maxId, this.compactedTo);
    this.committed = this.revision;
  }

  static open(path: string, sink: EngineSink): SqliteEngine {
    mkdirSync(dirname(path), { recursive: true });
    const db = openDatabase(path);
    try {
      return new SqliteEngine(db, prepareStatements(db), sink);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  get committedRevision(): number {
    return this.committed;
  }

  get compactedRevision(): number {
    return this.compactedTo;
  }

  create(id: number, key: string, value: string): void {
    this.write((): Written => {
      const current = this.st.latest.get(key);
      if (current && !current.deleted) throw new KeyExistsError(key);
      const revision = ++this.revision;
      this.st.insert.run(revision, key, 1, 0, revision, 0, value);
      return { rev: revision };
    }, this.remote(id));
  }

  update(id: number, key: string, value: string, expectedModRevision: number): void {
    this.write((): Written => {
      const current = this.st.latest.get(key);
      if (!current || current.deleted) throw new NotFoundError(key);
      if (current.id !== expectedModRevision) throw new ConflictError(key, toKv(current));
      const revision = ++this.revision;
      this.st.insert.run(revision, key, 0, 0, current.create_revision, current.id, value);
      return { rev: revision, prev: prevOf(current) };
    }, this.remote(id));
  }

  delete(id: number, key: string, expectedModRevision: number | undefined): void {
    this.write((): Written => {
      const current = this.st.latest.get(key);
      if (!current || current.deleted) throw new NotFoundError(key);
      if (expectedModRevision !== undefined && current.id !== expectedModRevision) throw new ConflictError(key, toKv(current));
      const revision = ++this.revision;
      // The deletion row keeps the value, so history replays the delete with what was deleted.
      this.st.insert.run(revision, key, 0, 1, current.create_revision, current.id, current.value);
      return { rev: revision, prev: prevOf(current) };
    }, this.remote(id));
  }

  get(key: string, at: number): { revision: number; kv?: KeyValue } {
    this.ensureOpen();
    const revision = Math.min(at, this.committed);
    const row = this.st.latestAt.get(key, revision);
    if (!row || row.deleted) return { revision };
    return { revision, kv: toKv(row) };
  }

  list(prefix: string, at: number, opts: ListOptions): ListResult {
    this.ensureOpen();
    const revision = this.readableRevision(opts.revision, Math.min(at, this.committed));
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

  count(prefix: string, at: number): number {
    this.ensureOpen();
    const revision = Math.min(at, this.committed);
    const end = prefixEnd(prefix);
    const row = end === undefined ? this.st.countFrom.get(prefix, revision) : this.st.countRange.get(prefix, end, revision);
    return row?.n ?? 0;
  }

  /** Events on keys under prefix with revision in (after, upTo], oldest first, at most limit. */
  history(prefix: string, after: number, upTo: number, limit: number): WatchEvent[] {
    this.ensureOpen();
    if (after < this.compactedTo) throw new CompactedError(after, this.compactedTo);
    const bound = Math.min(upTo, this.committed);
    const end = prefixEnd(prefix);
    const rows =
      end === undefined ? this.st.historyFrom.all(after, bound, prefix, limit) : this.st.historyRange.all(after, bound, prefix, end, limit);
    return rows.map(historyEvent);
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    if (revision > this.committed) throw new StoreError(`cannot compact to revision ${revision}: newest revision is ${this.committed}`);
    if (revision <= this.compactedTo) return;
    // From here on reads below the revision are refused, so deleting rows under them is invisible.
    this.compactedTo = revision;
    await this.local(() => {
      this.st.setMeta.run(COMPACTED_META, revision);
    });
    let lo = this.st.minId.get()?.id ?? revision;
    while (lo <= revision) {
      const hi = lo + COMPACT_WINDOW;
      await this.local(() => {
        this.st.compactWindow.run({ lo, hi, rev: revision });
      });
      lo = hi;
    }
  }

  /** For tests: the next COMMIT fails with this message, as a full disk would make it. */
  failNextCommit(message: string): void {
    this.injectedCommitFailure = message;
  }

  /** Commits the open batch (settling its writes), then closes the database. */
  close(): void {
    if (this.closed) return;
    if (this.batch) this.commit(this.batch);
    this.closed = true;
    this.db.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('storage closed');
  }

  private readableRevision(requested: number | undefined, newest: number): number {
    const revision = requested && requested > 0 ? requested : newest;
    if (revision > newest) throw new StoreError(`revision ${revision} is in the future (newest is ${newest})`);
    if (revision < this.compactedTo) throw new CompactedError(revision, this.compactedTo);
    return revision;
  }

  /** A waiter for a write the main thread asked for: its outcome goes into the batch's results. */
  private remote(id: number): Waiter<Written> {
    return {
      resolve: (w) => {
        const result: WriteResult = w.prev ? { id, rev: w.rev, prev: w.prev } : { id, rev: w.rev };
        this.out!.push(result);
      },
      reject: (err) => {
        if (this.out) this.out.push({ id, error: toWire(err) });
        else this.sink.failed(id, toWire(err));
      },
    };
  }

  /** A write the engine makes for itself (compaction), settled with its batch. */
  private local(op: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => this.write(op, { resolve, reject }));
  }

  /**
   * Runs op inside the current batch's transaction. A StoreError thrown by op (the key exists,
   * a revision conflict) is that write's outcome, settled with the batch. op writes at most one
   * statement, as its last step, so a failed statement leaves nothing of op behind.
   */
  private write<T>(op: () => T, waiter: Waiter<T>): void {
    if (this.closed) {
      waiter.reject(new StoreError('storage closed'));
      return;
    }
    let batch: Batch;
    try {
      batch = this.openBatch();
    } catch (err) {
      waiter.reject(asError(err));
      return;
    }
    const revisionBefore = this.revision;
    let result: { value: T } | { error: Error };
    try {
      result = { value: op() };
    } catch (err) {
      if (!(err instanceof StoreError)) {
        if (this.db.inTransaction) {
          // SQLite undid just the failed statement (say, a constraint); the batch stands.
          this.revision = revisionBefore;
          waiter.reject(asError(err));
        } else {
          // SQLite rolled the whole transaction back (I/O error, disk full): the batch is lost.
          batch.outcomes.push({ settle: () => waiter.reject(asError(err)), fail: (e) => waiter.reject(e) });
          this.abort(batch, asError(err));
        }
        return;
      }
      result = { error: err };
    }
    batch.outcomes.push({
      settle: () => ('value' in result ? waiter.resolve(result.value) : waiter.reject(result.error)),
      fail: (e) => waiter.reject(e),
    });
    if (batch.outcomes.length >= MAX_BATCH) this.commit(batch);
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.db.exec('BEGIN IMMEDIATE');
    const batch: Batch = { baseRevision: this.revision, outcomes: [] };
    this.batch = batch;
    setImmediate(() => this.commit(batch));
    return batch;
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return;
    this.batch = undefined;
    try {
      const injected = this.injectedCommitFailure;
      if (injected !== undefined) {
        this.injectedCommitFailure = undefined;
        throw new Error(injected);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.rollback(batch, asError(err));
      return;
    }
    this.committed = this.revision;
    this.finish(batch, true, (o) => o.settle());
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
    this.finish(batch, false, (o) => o.fail(failure));
  }

  private finish(batch: Batch, committed: boolean, each: (o: Outcome) => void): void {
    const out: WriteResult[] = [];
    this.out = out;
    try {
      for (const o of batch.outcomes) each(o);
    } finally {
      this.out = undefined;
    }
    // A batch of only the engine's own writes (compaction) changes nothing the main thread tracks.
    if (out.length > 0) this.sink.batch(this.committed, committed, out);
  }
}
