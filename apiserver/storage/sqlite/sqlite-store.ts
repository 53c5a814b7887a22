// The embedded storage backend: the Store contract on one SQLite file, with the database on a
// worker thread (sqlite-worker.ts, engine.ts) so that COMMIT's fsync and the WAL checkpoints do not
// block the API server's event loop.
//
// This main-thread half posts the requests of each event-loop turn to the worker in one message
// and settles promises from its replies. A write's reply arrives only after its batch committed
// (or was rolled back); the main thread then resolves the writes of the batch and hands the
// batch's events, rebuilt from the replies and the written values it kept, to its watches in
// revision order. Reads and watch replays are served by the worker at the revision the main
// thread has seen committed, so nothing it returns is ahead of what the watches were given.
import { Worker } from 'node:worker_threads';
import {
  CompactedError,
  StoreError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type Watcher,
  type WatchEvent,
} from '../store.js';
import { fromWire, type Reply, type Request, type RequestBody, type WriteResult } from './protocol.js';
import { SqliteWatch, type HistorySource } from './watch.js';

export interface SqliteStoreStats {
  /** transactions committed */
  commits: number;
  /** write operations settled by those commits */
  writes: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** the request, kept for writes so that the reply can omit what the main thread already has */
  req: RequestBody;
}

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);

export class SqliteStore implements Store {
  readonly sharedWriters = false;
  /** the newest revision whose batch the main thread has settled */
  private committed: number;
  private compactedTo: number;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private queue: Request[] = [];
  private flushScheduled = false;
  private readonly watches = new Set<SqliteWatch>();
  /** set once close() starts or the worker died; every later call fails with it */
  private unusable: StoreError | undefined;
  private closing: Promise<void> | undefined;
  private workerGone = false;
  private readonly counters: SqliteStoreStats = { commits: 0, writes: 0 };
  private readonly history: HistorySource = {
    history: (prefix, after, upTo, limit) => this.call({ op: 'history', prefix, after, upTo, limit }) as Promise<WatchEvent[]>,
    compacted: () => this.compactedTo,
  };

  private constructor(
    private readonly worker: Worker,
    ready: { revision: number; compacted: number },
  ) {
    this.committed = ready.revision;
    this.compactedTo = ready.compacted;
    worker.on('message', (reply: Reply) => {
      try {
        this.onReply(reply);
      } catch (err) {
        this.crashed(`a storage worker reply could not be handled: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    worker.on('error', (err) => this.crashed(`the storage worker failed: ${err.message}`));
    worker.on('messageerror', (err) => this.crashed(`a storage worker reply could not be read: ${err.message}`));
    worker.on('exit', (code) => this.crashed(`the storage worker exited (code ${code})`));
    // Like the in-process store, an idle store does not keep the process alive; a pending request does.
    worker.unref();
  }

  static async open(path: string): Promise<SqliteStore> {
    const worker = new Worker(WORKER_URL, { workerData: { path } });
    let ready: { revision: number; compacted: number };
    // Only these listeners are removed afterwards: Worker keeps internal listeners of its own.
    let onMessage!: (reply: Reply) => void;
    let onError!: (err: Error) => void;
    let onExit!: (code: number) => void;
    try {
      ready = await new Promise((resolve, reject) => {
        onMessage = (reply) => {
          if (reply.t === 'ready') resolve(reply);
          else if (reply.t === 'openFailed') reject(new Error(reply.message));
          else reject(new Error(`storage worker sent ${reply.t} before it was ready`));
        };
        onError = (err) => reject(new Error(`storage worker failed to start: ${err.message}`));
        onExit = (code) => reject(new Error(`storage worker exited (code ${code}) before it was ready`));
        worker.once('message', onMessage).once('error', onError).once('exit', onExit);
      });
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    }
    return new SqliteStore(worker, ready);
  }

  stats(): SqliteStoreStats {
    return { ...this.counters };
  }

  /** Every revision here is a write with an event. */
  consistentReadRevision(): Promise<number> {
    return this.currentRevision();
  }

  async currentRevision(): Promise<number> {
    this.ensureUsable();
    return this.committed;
  }

  get(key: string): Promise<{ revision: number; kv?: KeyValue }> {
    return this.call({ op: 'get', key, at: this.committed }) as Promise<{ revision: number; kv?: KeyValue }>;
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.call({ op: 'create', key, value }) as Promise<KeyValue>;
  }

  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.call({ op: 'update', key, value, expected: expectedModRevision }) as Promise<KeyValue>;
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.call({ op: 'delete', key, expected: expectedModRevision }) as Promise<KeyValue>;
  }

  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.call({ op: 'list', prefix, at: this.committed, opts }) as Promise<ListResult>;
  }

  count(prefix: string): Promise<number> {
    return this.call({ op: 'count', prefix, at: this.committed }) as Promise<number>;
  }

  async watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    onError?: (err: Error) => void,
  ): Promise<Watcher> {
    this.ensureUsable();
    if (fromRevision < this.compactedTo) throw new CompactedError(fromRevision, this.compactedTo);
    const w = new SqliteWatch(prefix, fromRevision, onEvents, onError, (x) => this.watches.delete(x));
    // Registered before the replay reads, so every batch settled from here on reaches the watch
    // (held until the replay ends); the replay covers everything up to the revision settled now.
    this.watches.add(w);
    void w.replay(this.history, this.committed);
    return w;
  }

  async compact(revision: number): Promise<void> {
    this.ensureUsable();
    if (revision > this.committed) throw new StoreError(`cannot compact to revision ${revision}: newest revision is ${this.committed}`);
    if (revision <= this.compactedTo) return;
    // From here on this side refuses reads and watches below the revision; the worker does the same
    // from the moment it takes the request, before it deletes anything.
    this.compactedTo = revision;
    await this.call({ op: 'compact', revision });
  }

  async compactedRevision(): Promise<number> {
    this.ensureUsable();
    return this.compactedTo;
  }

  /** For tests: the next COMMIT fails as a full disk would make it fail. */
  async injectCommitFailure(message: string): Promise<void> {
    await this.call({ op: 'failNextCommit', message });
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.unusable ??= new StoreError('storage closed');
    if (!this.workerGone) {
      // Writes already queued go out before the close and are committed by it.
      const closed = this.send({ op: 'close' });
      try {
        await closed;
      } catch {
        // The worker died meanwhile; crashed() has failed everything that was waiting.
      }
    }
    this.workerGone = true;
    await this.worker.terminate();
    const closedError = new StoreError('storage closed');
    for (const w of [...this.watches]) w.end(closedError);
    for (const p of this.pending.values()) p.reject(closedError);
    this.pending.clear();
    // A worker failure has been reported by now; from here on the store is simply closed.
    this.unusable = closedError;
  }

  private ensureUsable(): void {
    if (this.unusable) throw this.unusable;
  }

  private call(req: RequestBody): Promise<unknown> {
    if (this.unusable) return Promise.reject(this.unusable);
    return this.send(req);
  }

  private send(req: RequestBody): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject, req });
      this.queue.push({ id, ...req } as Request);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // One message per turn: every request made in this turn reaches the worker together.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const requests = this.queue;
    this.queue = [];
    try {
      this.worker.postMessage(requests);
    } catch {
      // Some argument cannot be copied to the worker (only untyped callers can pass one): send the
      // requests one by one so that only the offending ones fail.
      for (const r of requests) {
        try {
          this.worker.postMessage([r]);
        } catch (err) {
          this.take(r.id)?.reject(new StoreError(`cannot pass ${r.op} to the storage worker: ${err instanceof Error ? err.message : String(err)}`));
        }
      }
    }
  }

  private take(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return p;
  }

  private onReply(reply: Reply): void {
    if (reply.t === 'batch') {
      this.onBatch(reply.revision, reply.committed, reply.results);
    } else if (reply.t === 'done') {
      const p = this.take(reply.id);
      if (!p) return;
      if (reply.error) p.reject(fromWire(reply.error));
      else p.resolve(reply.value);
    } else {
      this.crashed(`the storage worker sent an unexpected ${reply.t} message`);
    }
  }

  private onBatch(revision: number, committed: boolean, results: WriteResult[]): void {
    if (committed) {
      this.committed = Math.max(this.committed, revision);
      this.counters.commits++;
      this.counters.writes += results.length;
    }
    const events: WatchEvent[] = [];
    for (const r of results) {
      const p = this.take(r.id);
      if (!p) continue;
      if ('error' in r) {
        p.reject(fromWire(r.error));
        continue;
      }
      const event = eventOf(p.req, r.rev, r.prev);
      events.push(event);
      p.resolve(event.kv);
    }
    if (events.length > 0) {
      for (const w of [...this.watches]) w.offer(events);
    }
  }

  /** The worker is gone: nothing waiting may hang, and nothing later may pretend to work. */
  private crashed(reason: string): void {
    if (this.workerGone) return;
    this.workerGone = true;
    const err = new StoreError(`${reason}; storage is unavailable and the outcome of pending writes is unknown`);
    this.unusable ??= err;
    this.queue = [];
    for (const w of [...this.watches]) w.fail(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    void this.worker.terminate();
  }
}

/** The event of a committed write, from the request and what the worker reported. */
function eventOf(req: RequestBody, rev: number, prev: { c: number; m: number; v: string } | undefined): WatchEvent {
  if (req.op === 'create') {
    return { type: 'put', kv: { key: req.key, value: req.value, createRevision: rev, modRevision: rev } };
  }
  if ((req.op === 'update' || req.op === 'delete') && prev) {
    const prevKv: KeyValue = { key: req.key, value: prev.v, createRevision: prev.c, modRevision: prev.m };
    if (req.op === 'update') {
      return { type: 'put', kv: { key: req.key, value: req.value, createRevision: prev.c, modRevision: rev }, prevKv };
    }
    return { type: 'delete', kv: { key: req.key, value: prev.v, createRevision: prev.c, modRevision: rev }, prevKv };
  }
  throw new StoreError(`storage worker reported a write result for a ${req.op} request`);
}

/** Opens (creating if needed) the SQLite store at path. */
export async function openSqliteStore(path: string): Promise<SqliteStore> {
  return SqliteStore.open(path);
}
