// The Store contract on a NATS JetStream stream (DESIGN §3, §5). One stream holds every write as a
// message on its key's subject; the stream sequence is the revision. Compare-and-swap is
// JetStream's Nats-Expected-Last-Subject-Sequence check, so the cluster (R3 on three nodes)
// decides every race; Nats-Msg-Id makes a write retried after a timeout land at most once.
//
// A plain stream rather than a KV bucket: a KV bucket caps per-key history at 64 and has no
// "compact below revision R" operation, while the contract needs reads at any revision since the
// last compaction and watch replays with the previous value. Each store follows the whole stream
// into an in-memory multi-version view (view.ts); reads, counts and watches come from that view,
// and a write resolves only once the view has applied it (read-your-writes).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  headers as natsHeaders,
  nanos,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConnectionOptions,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { logger, type Logger } from '../../../pkg/log/logger.js';
import { SqliteWatch } from '../sqlite/watch.js';
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreError,
  UnavailableError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type Watcher,
  type WatchEvent,
} from '../store.js';
import { classify } from './errors.js';
import type { NatsStoreOptions } from './spec.js';
import { subjectsFor, type Subjects } from './subjects.js';
import { Tailer } from './tailer.js';
import { entryKv, View, type Entry, type Op } from './view.js';

const OP_HEADER = 'Skiff-Op';
const CREATE_REV_HEADER = 'Skiff-Create-Rev';
/** the key's newest revision as the writer saw it (its compare-and-swap condition) */
const EXPECT_HEADER = 'Skiff-Expect';
/** Each attempt of a publish waits this long for JetStream's ack before trying again. */
const ATTEMPT_TIMEOUT_MS = 2000;
/** Reads skip the catch-up round trip for this long after one failed (NATS is down). */
const DEGRADED_MS = 1000;
/** Physical purges after a compaction run this many at a time. */
const PURGE_CONCURRENCY = 8;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

interface WritePlan {
  op: Op;
  payload: string;
  createRev?: number;
  expect: number;
  result: (rev: number) => KeyValue;
}

type PublishResult = { seq: number } | { wrongLast: number; afterTransient: boolean };

interface Waiter {
  rev: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class NatsStore implements Store {
  readonly sharedWriters = true;
  private readonly view = new View();
  private readonly subjects: Subjects;
  private readonly watches = new Set<SqliteWatch>();
  /**
   * Purges owed by compactions this store has applied (its own and other servers'), run one
   * compaction later: a store still reading the stream behind the marker must not have history
   * pulled from under it, and by the next round every live store has passed the marker.
   * Subject -> purge every message below this sequence. Idempotent, so every server may run them.
   */
  private readonly deferredPurges = new Map<string, number>();
  private pending: WatchEvent[] = [];
  private flushScheduled = false;
  /** the newest revision that produced a watch event (see consistentReadRevision) */
  private lastEventRevision = 0;
  private waiters: Waiter[] = [];
  private tailer!: Tailer;
  private closed = false;
  private degradedUntil = 0;
  private readonly log: Logger;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: NatsStoreOptions,
    readonly replicas: number,
  ) {
    this.subjects = subjectsFor(`skiff.${opts.stream}`);
    this.log = logger('storage-nats');
  }

  static async open(opts: NatsStoreOptions): Promise<NatsStore> {
    const deadline = Date.now() + opts.openTimeoutMs;
    const nc = await connectWithRetry(opts, deadline);
    try {
      const jsm = await nc.jetstreamManager({ timeout: ATTEMPT_TIMEOUT_MS });
      const js = nc.jetstream({ timeout: ATTEMPT_TIMEOUT_MS });
      const replicas = await ensureStream(nc, jsm, opts, deadline);
      const store = new NatsStore(nc, js, jsm, opts, replicas);
      store.tailer = new Tailer(js, jsm, {
        stream: opts.stream,
        position: () => store.view.applied + 1,
        onMessage: (m) => store.onMessage(m),
        log: store.log,
      });
      try {
        await retryTransient(() => store.tailer.start(), deadline, 'start following the stream');
        await store.sync(deadline);
      } catch (err) {
        store.tailer.stop();
        throw err;
      }
      store.watchConnection();
      store.log.debug({ stream: opts.stream, replicas, revision: store.view.applied }, 'NATS storage open');
      return store;
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  async consistentReadRevision(): Promise<number> {
    this.ensureOpen();
    await this.syncForRead();
    return this.lastEventRevision;
  }

  async currentRevision(): Promise<number> {
    this.ensureOpen();
    await this.syncForRead();
    return this.view.applied;
  }

  async get(key: string): Promise<{ revision: number; kv?: KeyValue }> {
    this.ensureOpen();
    await this.syncForRead();
    const e = this.view.latest(key);
    return e && !e.deleted ? { revision: this.view.applied, kv: entryKv(e) } : { revision: this.view.applied };
  }

  create(key: string, value: string): Promise<KeyValue> {
    return this.write(key, (cur, synced) => {
      if (cur && !cur.deleted) {
        // The view may trail the stream: confirm before refusing.
        if (!synced) return 'sync';
        throw new KeyExistsError(key);
      }
      return { op: 'create', payload: value, expect: cur?.rev ?? 0, result: (rev) => ({ key, value, createRevision: rev, modRevision: rev }) };
    });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.write(key, (cur, synced) => {
      if (!cur || cur.deleted || cur.rev !== expectedModRevision) {
        if (!synced && (!cur || cur.rev < expectedModRevision)) return 'sync';
        if (!cur || cur.deleted) throw new NotFoundError(key);
        throw new ConflictError(key, entryKv(cur));
      }
      const createRevision = cur.createRev;
      return { op: 'update', payload: value, createRev: createRevision, expect: cur.rev, result: (rev) => ({ key, value, createRevision, modRevision: rev }) };
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write(key, (cur, synced) => {
      if (!cur || cur.deleted || (expectedModRevision !== undefined && cur.rev !== expectedModRevision)) {
        if (!synced && (!cur || cur.deleted || cur.rev < (expectedModRevision ?? 0))) return 'sync';
        if (!cur || cur.deleted) throw new NotFoundError(key);
        throw new ConflictError(key, entryKv(cur));
      }
      const { value, createRev: createRevision } = cur;
      return { op: 'delete', payload: '', createRev: createRevision, expect: cur.rev, result: (rev) => ({ key, value, createRevision, modRevision: rev }) };
    });
  }

  /**
   * Runs one compare-and-swap write: decide from the view, publish, and confirm from the view
   * that the write took effect; on a lost race, decide again from the view, which by then holds
   * the winner (so a conflict reports the current value).
   */
  private async write(key: string, decide: (cur: Entry | undefined, synced: boolean) => WritePlan | 'sync'): Promise<KeyValue> {
    this.ensureOpen();
    const deadline = Date.now() + this.opts.writeTimeoutMs;
    const subject = this.subjects.forKey(key);
    let synced = false;
    let subjectLast: number | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      const cur = this.view.latest(key);
      const plan = decide(cur, synced);
      if (plan === 'sync') {
        await this.sync(deadline);
        synced = true;
        continue;
      }
      // A fresh id per decision: a retry of the same decision (after a timeout) reuses it so
      // JetStream stores it at most once; a new decision must not be mistaken for the old one.
      const msgId = randomUUID();
      const r = await this.publish(subject, plan.payload, plan.op, plan.createRev, plan.expect, subjectLast ?? cur?.rev ?? 0, msgId, deadline);
      synced = true;
      if ('seq' in r) {
        await this.waitApplied(r.seq, deadline);
        if (this.view.entryAtRev(key, r.seq)) return plan.result(r.seq);
        subjectLast = r.seq;
        continue;
      }
      await this.waitApplied(r.wrongLast, deadline);
      if (r.afterTransient) {
        const e = this.view.entryAtRev(key, r.wrongLast);
        if (e && e.deleted === (plan.op === 'delete') && (plan.op === 'delete' || e.value === plan.payload)) return plan.result(r.wrongLast);
      }
      subjectLast = r.wrongLast;
    }
    throw new StoreError(`write to ${key}: gave up after repeated revision races`);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.ensureOpen();
    let at: number;
    if (opts.revision && opts.revision > 0) {
      at = opts.revision;
      if (at > this.view.applied) await this.syncForRead();
      if (at > this.view.applied) throw new StoreError(`revision ${at} is in the future (newest is ${this.view.applied})`);
    } else {
      await this.syncForRead();
      at = this.view.applied;
    }
    if (at < this.view.compacted) throw new CompactedError(at, this.view.compacted);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const { kvs, more } = this.view.list(prefix, at, opts.startKey, limit);
    return { revision: at, kvs, more };
  }

  async count(prefix: string): Promise<number> {
    this.ensureOpen();
    await this.syncForRead();
    return this.view.count(prefix);
  }

  async watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    onError?: (err: Error) => void,
  ): Promise<Watcher> {
    this.ensureOpen();
    if (fromRevision < this.view.compacted) throw new CompactedError(fromRevision, this.view.compacted);
    // Watches are fed from the view, which the tailer keeps following across reconnects and
    // leader changes, so a NATS outage only pauses them; they end only when the store closes.
    const w = new SqliteWatch(prefix, fromRevision, onEvents, onError, (x) => this.watches.delete(x));
    this.watches.add(w);
    void w.replay(
      { history: (p, after, upTo, limit) => this.view.history(p, after, upTo, limit), compacted: () => this.view.compacted },
      this.view.applied,
    );
    return w;
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    const deadline = Date.now() + this.opts.writeTimeoutMs;
    if (revision > this.view.applied) await this.sync(deadline);
    if (revision > this.view.applied) throw new StoreError(`cannot compact to revision ${revision}: newest revision is ${this.view.applied}`);
    if (revision <= this.view.compacted) return;
    const due = [...this.deferredPurges].map(([subject, below]) => ({ subject, below }));
    this.deferredPurges.clear();
    const r = await this.publish(this.subjects.compacted, String(revision), undefined, undefined, undefined, undefined, randomUUID(), deadline);
    if (!('seq' in r)) throw new StoreError('compaction marker rejected');
    await this.waitApplied(r.seq, deadline);
    // The marker already makes every store refuse older revisions; the purges only free space,
    // so a failed one is logged and costs nothing worse than disk use.
    due.push({ subject: this.subjects.compacted, below: r.seq });
    let failed = 0;
    const queue = [...due];
    await Promise.all(
      Array.from({ length: Math.min(PURGE_CONCURRENCY, queue.length) }, async () => {
        for (let step = queue.shift(); step; step = queue.shift()) {
          try {
            await this.jsm.streams.purge(this.opts.stream, { filter: step.subject, seq: step.below });
          } catch {
            failed++;
          }
        }
      }),
    );
    if (failed > 0) this.log.warn({ failed, of: due.length, revision }, 'some purges after compaction failed; the history they hold stays on disk');
  }

  async compactedRevision(): Promise<number> {
    this.ensureOpen();
    return this.view.compacted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tailer.stop();
    const closedError = new StoreError('storage closed');
    for (const w of [...this.watches]) w.end(closedError);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(closedError);
    }
    this.waiters = [];
    await this.nc.close().catch(() => {});
  }

  /** The view's newest applied revision (for tests and diagnostics). */
  appliedRevision(): number {
    return this.view.applied;
  }

  private ensureOpen(): void {
    if (this.closed) throw new StoreError('storage closed');
  }

  private onMessage(m: JsMsg): void {
    if (this.closed) return;
    const seq = m.seq;
    if (seq <= this.view.applied) return;
    if (m.subject === this.subjects.compacted) {
      this.view.skip(seq);
      const revision = Number(decoder.decode(m.data));
      if (Number.isInteger(revision)) {
        for (const step of this.view.compact(revision)) {
          const subject = this.subjects.forKey(step.key);
          this.deferredPurges.set(subject, Math.max(step.below, this.deferredPurges.get(subject) ?? 0));
        }
      }
    } else {
      const key = this.subjects.keyOf(m.subject);
      const op = m.headers?.get(OP_HEADER) as Op | undefined;
      if (key === undefined || (op !== 'create' && op !== 'update' && op !== 'delete')) {
        this.view.skip(seq);
      } else {
        const createRaw = m.headers?.get(CREATE_REV_HEADER);
        const expectRaw = m.headers?.get(EXPECT_HEADER);
        const ev = this.view.applyWrite(
          seq,
          key,
          op,
          op === 'delete' ? '' : decoder.decode(m.data),
          createRaw ? Number(createRaw) : undefined,
          expectRaw ? Number(expectRaw) : undefined,
        );
        if (ev) {
          this.pending.push(ev);
          this.lastEventRevision = seq;
        }
      }
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands the events applied since the last flush to the watches, then wakes waiting writes. */
  private flush(): void {
    this.flushScheduled = false;
    const events = this.pending;
    this.pending = [];
    if (events.length > 0) for (const w of [...this.watches]) w.offer(events);
    const applied = this.view.applied;
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.rev <= applied) {
        clearTimeout(w.timer);
        w.resolve();
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  /** Resolves once the view (and every watch) has seen revision rev. */
  private waitApplied(rev: number, deadline: number): Promise<void> {
    if (rev <= this.view.applied && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        rev,
        resolve,
        reject,
        timer: setTimeout(
          () => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            reject(new UnavailableError(`storage: revision ${rev} is committed in NATS but this server has not caught up with it (at ${this.view.applied}); NATS may be unreachable`));
          },
          Math.max(1, deadline - Date.now()),
        ),
      };
      this.waiters.push(waiter);
    });
  }

  /** Waits until the view has every message the stream held when this was called. */
  private async sync(deadline: number): Promise<void> {
    const last = await retryTransient(async () => (await this.jsm.streams.info(this.opts.stream)).state.last_seq, deadline, 'read the stream state');
    await this.waitApplied(last, deadline);
    this.degradedUntil = 0;
  }

  /**
   * Reads catch up with the stream first (so a read on one server sees a write acknowledged by
   * another); while NATS is unreachable they answer from the view as it is instead of failing.
   */
  private async syncForRead(): Promise<void> {
    if (Date.now() < this.degradedUntil) return;
    try {
      await this.sync(Date.now() + this.opts.readSyncTimeoutMs);
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err;
      this.degradedUntil = Date.now() + DEGRADED_MS;
      this.log.warn({ err: err.message, revision: this.view.applied }, 'NATS unavailable: serving reads from this server\'s copy');
    }
  }

  /**
   * Publishes one write, retrying the same message (same Nats-Msg-Id, so it lands at most once)
   * through timeouts, reconnects and leader elections until the deadline.
   */
  private async publish(
    subject: string,
    payload: string,
    op: Op | undefined,
    createRev: number | undefined,
    expect: number | undefined,
    expectedLast: number | undefined,
    msgId: string,
    deadline: number,
  ): Promise<PublishResult> {
    const h = natsHeaders();
    if (op) h.set(OP_HEADER, op);
    if (createRev !== undefined) h.set(CREATE_REV_HEADER, String(createRev));
    if (expect !== undefined) h.set(EXPECT_HEADER, String(expect));
    if (expectedLast !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(expectedLast));
    h.set('Nats-Msg-Id', msgId);
    const data = encoder.encode(payload);
    const maxPayload = this.nc.info?.max_payload;
    if (maxPayload && data.length + 512 > maxPayload) {
      throw new StoreError(`value of ${data.length} bytes is too large for the NATS servers' max_payload (${maxPayload} bytes); raise max_payload in the NATS server configuration`);
    }
    let transient = false;
    let lastReason = '';
    for (let backoff = 50; ; backoff = Math.min(backoff * 2, 500)) {
      if (this.closed) throw new StoreError('storage closed');
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const ack = await this.js.publish(subject, data, { headers: h, timeout: Math.min(ATTEMPT_TIMEOUT_MS, Math.max(left, 100)) });
        return { seq: ack.seq };
      } catch (err) {
        const f = classify(err);
        if (f.kind === 'wrong-last-sequence') return { wrongLast: f.actual, afterTransient: transient };
        if (f.kind !== 'transient') throw new StoreError(`NATS rejected the write to ${subject}: ${f.reason}`);
        transient = true;
        lastReason = f.reason;
      }
      await sleep(Math.min(backoff, Math.max(0, deadline - Date.now())));
    }
    throw new UnavailableError(`storage unavailable: NATS did not acknowledge the write within ${this.opts.writeTimeoutMs} ms (${lastReason}); it may or may not have been applied`);
  }

  /**
   * After a retried publish lost its compare-and-swap, tells whether the message that won is
   * this write's own earlier attempt (stored before the timeout that caused the retry).
   */
  private async isOwnWrite(key: string, rev: number, value: string, deleted: boolean, deadline: number): Promise<boolean> {
    await this.waitApplied(rev, deadline);
    const e: Entry | undefined = this.view.entryAtRev(key, rev);
    return !!e && e.deleted === deleted && e.value === value;
  }

  private async settled(rev: number, kv: KeyValue, deadline: number): Promise<KeyValue> {
    await this.waitApplied(rev, deadline);
    return kv;
  }

  private watchConnection(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') this.log.warn({ server: s.data }, 'disconnected from NATS; reconnecting');
        else if (s.type === 'reconnect') {
          this.log.info({ server: s.data }, 'reconnected to NATS');
          void this.tailer.replace('reconnected').catch(() => {});
        }
      }
    })().catch(() => {});
  }
}

async function retryTransient<T>(fn: () => Promise<T>, deadline: number, what: string): Promise<T> {
  let lastReason = '';
  for (let backoff = 50; ; backoff = Math.min(backoff * 2, 500)) {
    try {
      return await fn();
    } catch (err) {
      const f = classify(err);
      if (f.kind !== 'transient') throw err instanceof StoreError ? err : new StoreError(`NATS: could not ${what}: ${f.reason}`);
      lastReason = f.reason;
    }
    if (Date.now() + backoff > deadline) break;
    await sleep(backoff);
  }
  throw new UnavailableError(`storage unavailable: could not ${what} (${lastReason})`);
}

function connectionOptions(opts: NatsStoreOptions): ConnectionOptions {
  const co: ConnectionOptions = {
    servers: opts.servers,
    name: 'skiff-apiserver',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    timeout: 3000,
    pingInterval: 10_000,
    maxPingOut: 2,
  };
  if (opts.credsFile) co.authenticator = credsAuthenticator(readFileSync(opts.credsFile));
  if (opts.tokenFile) co.token = readFileSync(opts.tokenFile, 'utf8').trim();
  if (opts.user !== undefined) co.user = opts.user;
  if (opts.password !== undefined) co.pass = opts.password;
  if (opts.tlsCaFile || opts.tlsCertFile || opts.servers.some((s) => s.startsWith('tls://'))) {
    co.tls = {};
    if (opts.tlsCaFile) co.tls.caFile = opts.tlsCaFile;
    if (opts.tlsCertFile) co.tls.certFile = opts.tlsCertFile;
    if (opts.tlsKeyFile) co.tls.keyFile = opts.tlsKeyFile;
  }
  return co;
}

async function connectWithRetry(opts: NatsStoreOptions, deadline: number): Promise<NatsConnection> {
  const co = connectionOptions(opts);
  for (;;) {
    try {
      return await connect(co);
    } catch (err) {
      const f = classify(err);
      if (f.kind !== 'transient' || Date.now() + 500 > deadline) {
        throw new StoreError(`cannot connect to NATS at ${opts.servers.join(',')}: ${f.reason}`);
      }
      await sleep(500);
    }
  }
}

/** Finds or creates the stream; returns its replica count. */
async function ensureStream(nc: NatsConnection, jsm: JetStreamManager, opts: NatsStoreOptions, deadline: number): Promise<number> {
  const root = `skiff.${opts.stream}`;
  for (;;) {
    try {
      const info = await jsm.streams.info(opts.stream);
      if (!info.config.subjects?.includes(`${root}.>`)) {
        throw new StoreError(`NATS stream ${opts.stream} exists but does not hold subjects ${root}.> (not a skiff stream?)`);
      }
      return info.config.num_replicas;
    } catch (err) {
      if (err instanceof StoreError) throw err;
      const f = classify(err);
      if (f.kind === 'fatal') throw new StoreError(`NATS: cannot read stream ${opts.stream}: ${f.reason}`);
      if (f.kind === 'transient') {
        if (Date.now() + 250 > deadline) throw new UnavailableError(`storage unavailable: JetStream did not answer (${f.reason})`);
        await sleep(250);
        continue;
      }
    }
    const replicas = opts.replicas ?? defaultReplicas(nc);
    try {
      await jsm.streams.add({
        name: opts.stream,
        subjects: [`${root}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        num_replicas: replicas,
        max_msgs: -1,
        max_bytes: -1,
        max_age: 0,
        max_msgs_per_subject: -1,
        duplicate_window: nanos(120_000),
        allow_direct: true,
      });
      return replicas;
    } catch (err) {
      const f = classify(err);
      if (/already in use/i.test(f.reason)) continue;
      if (f.kind === 'fatal') throw new StoreError(`NATS: cannot create stream ${opts.stream} with ${replicas} replicas: ${f.reason}`);
      if (Date.now() + 250 > deadline) throw new UnavailableError(`storage unavailable: cannot create stream ${opts.stream} (${f.reason})`);
      await sleep(250);
    }
  }
}

/** R3 when the cluster has at least three servers, R1 otherwise. */
function defaultReplicas(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  const servers = new Set([...(info.connect_urls ?? [])]);
  return servers.size + 1 >= 3 ? 3 : 1;
}
