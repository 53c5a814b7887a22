// The apiserver's watch cache: every object of the store held in memory (parsed, and serialized
// once with its resourceVersion), fed by a single watch on the store, plus a window of recent
// events so that watches can resume from a resourceVersion. Lists and watches are served from it;
// writes go to the store and then wait until the cache has caught up (read-your-writes).
import type { KObject } from '../../pkg/api/types.js';
import type { Store, WatchEvent, Watcher } from '../storage/store.js';
import { logger } from '../../pkg/log/logger.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CachedObject {
  key: string;
  obj: KObject;
  /** JSON of obj, resourceVersion included; reused by every list and watch that sends it */
  json: string;
  rev: number;
}

export interface CacheEvent {
  type: EventType;
  rev: number;
  /** '/registry/<group>/<plural>/' */
  resource: string;
  key: string;
  cur: CachedObject;
  /** the object before this event (MODIFIED and DELETED) */
  prev?: CachedObject;
}

export type Subscriber = (ev: CacheEvent) => void;

const REGISTRY = '/registry/';

/** '/registry/apps/deployments/ns/name' -> '/registry/apps/deployments/' */
export function resourcePrefixOf(key: string): string {
  let slashes = 0;
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) === 47 && ++slashes === 4) return key.slice(0, i + 1);
  }
  return key;
}

export function decode(key: string, value: string, rev: number): CachedObject {
  const obj = JSON.parse(value) as KObject;
  obj.metadata.resourceVersion = String(rev);
  return { key, obj, json: JSON.stringify(obj), rev };
}

/** how long a consistent read waits for the store before it is served from the cache */
const CATCH_UP_MS = 3_000;

export class WatchCache {
  private readonly resources = new Map<string, Map<string, CachedObject>>();
  private readonly sortedKeys = new Map<string, string[]>();
  private history: CacheEvent[] = [];
  private historyStart = 0; // index of the oldest kept event in `history` (ring trimmed lazily)
  /** the oldest revision a watch can start from (events after it are all in history) */
  private oldestRev = 0;
  private current = 0;
  /** events up to this revision are history only: the state already includes them */
  private seededUntil = 0;
  private lastRecorded = 0;
  private readonly subscribers = new Set<Subscriber>();
  private waiters: { rev: number; resolve: () => void }[] = [];
  private watcher?: Watcher;
  private readonly log = logger('watch-cache');
  private asking?: Promise<number>;
  private askNext?: Promise<number>;

  constructor(
    private readonly store: Store,
    private readonly historySize = 10_000,
  ) {}

  async start(): Promise<void> {
    const res = await this.store.list(REGISTRY);
    for (const kv of res.kvs) this.put(decode(kv.key, kv.value, kv.modRevision));
    this.current = res.revision;
    // Seed the event window from the store's history so that watches resume across a restart
    // (clients hold resourceVersions from before it).
    const from = Math.max(await this.store.compactedRevision(), res.revision - this.historySize, 0);
    this.oldestRev = from;
    this.seededUntil = res.revision;
    this.watcher = await this.store.watch(
      REGISTRY,
      from,
      (events) => this.apply(events),
      (err) => this.log.fatal({ err }, 'store watch failed; the cache can no longer follow the store'),
    );
  }

  stop(): void {
    this.watcher?.stop();
  }

  get revision(): number {
    return this.current;
  }

  /** Resolves once every write up to rev is visible in the cache. */
  waitFor(rev: number): Promise<void> {
    if (rev <= this.current) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ rev, resolve }));
  }

  /**
   * Waits until the cache holds every write the store had committed when this was called: a
   * consistent read, as Kubernetes serves gets and lists without a resourceVersion. Only a store
   * with other writers needs the round trip. If the store cannot say, or the cache does not catch
   * up within ms, the read is served from the cache as it is (stale by the lag) rather than failed:
   * reads go on while the store is unavailable.
   */
  /** whether other servers write to the store too (then reads may need catchUp) */
  get sharedWriters(): boolean {
    return this.store.sharedWriters;
  }

  async catchUp(ms = CATCH_UP_MS): Promise<void> {
    if (!this.store.sharedWriters) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ms);
      timer.unref();
    });
    try {
      const rev = await Promise.race([this.newestRevision(), late]);
      if (rev === 'late' || rev <= this.current) return;
      const waiter = { rev, resolve: () => {} };
      const seen = new Promise<'ok'>((resolve) => {
        waiter.resolve = () => resolve('ok');
        this.waiters.push(waiter);
      });
      if ((await Promise.race([seen, late])) === 'late') {
        // A waiter left behind would only go with a later write.
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.log.warn({ revision: rev, cached: this.current }, 'the cache did not catch up with the store in time; serving the read from the cache');
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'newest revision unknown; serving the read from the cache');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The store's newest revision, asked at most once at a time: callers arriving while a question
   * is out share the next one, which starts after they arrived (an answer to an older question
   * could miss a write acknowledged just before them).
   */
  private newestRevision(): Promise<number> {
    if (!this.asking) {
      this.asking = this.store.consistentReadRevision().finally(() => {
        this.asking = undefined;
      });
      return this.asking;
    }
    this.askNext ??= this.asking
      .catch(() => undefined)
      .then(() => {
        this.askNext = undefined;
        return this.newestRevision();
      });
    return this.askNext;
  }

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  get(key: string): CachedObject | undefined {
    return this.resources.get(resourcePrefixOf(key))?.get(key);
  }

  /** Objects of a resource (optionally one namespace), in key order. */
  list(resource: string, namespace?: string): CachedObject[] {
    const m = this.resources.get(resource);
    if (!m) return [];
    let keys = this.sortedKeys.get(resource);
    if (!keys) {
      keys = [...m.keys()].sort();
      this.sortedKeys.set(resource, keys);
    }
    const out: CachedObject[] = [];
    if (namespace) {
      const p = `${resource}${namespace}/`;
      let lo = lowerBound(keys, p);
      for (; lo < keys.length && keys[lo]!.startsWith(p); lo++) out.push(m.get(keys[lo]!)!);
    } else {
      for (const k of keys) out.push(m.get(k)!);
    }
    return out;
  }

  count(resource: string): number {
    return this.resources.get(resource)?.size ?? 0;
  }

  /**
   * Events of one resource with revision > rev, or undefined if rev is older than the window
   * the cache keeps (the caller answers 410 Gone).
   */
  eventsSince(rev: number, resource: string): CacheEvent[] | undefined {
    if (rev < this.oldestRev) return undefined;
    const out: CacheEvent[] = [];
    // Binary search the first event after rev.
    let lo = this.historyStart;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.history[mid]!.rev <= rev) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.history.length; i++) {
      const ev = this.history[i]!;
      if (ev.resource === resource) out.push(ev);
    }
    return out;
  }

  get oldestWatchableRevision(): number {
    return this.oldestRev;
  }

  private put(c: CachedObject): CachedObject | undefined {
    const r = resourcePrefixOf(c.key);
    let m = this.resources.get(r);
    if (!m) this.resources.set(r, (m = new Map()));
    const prev = m.get(c.key);
    m.set(c.key, c);
    if (!prev) this.sortedKeys.delete(r);
    return prev;
  }

  private remove(key: string): CachedObject | undefined {
    const r = resourcePrefixOf(key);
    const m = this.resources.get(r);
    const prev = m?.get(key);
    if (prev) {
      m!.delete(key);
      this.sortedKeys.delete(r);
    }
    return prev;
  }

  private apply(events: WatchEvent[]): void {
    for (const e of events) {
      const rev = e.kv.modRevision;
      if (rev <= this.seededUntil) {
        if (rev > this.lastRecorded) this.record(historyEvent(e));
        continue;
      }
      if (rev <= this.current) continue; // already seen (replay overlap)
      let ev: CacheEvent;
      if (e.type === 'put') {
        const cur = decode(e.kv.key, e.kv.value, rev);
        const prev = this.put(cur);
        ev = { type: prev ? 'MODIFIED' : 'ADDED', rev, resource: resourcePrefixOf(e.kv.key), key: e.kv.key, cur, prev };
      } else {
        const prev = this.remove(e.kv.key);
        // A deleted object is reported with the revision of its deletion, as Kubernetes does.
        const cur = decode(e.kv.key, e.kv.value, rev);
        ev = { type: 'DELETED', rev, resource: resourcePrefixOf(e.kv.key), key: e.kv.key, cur, prev };
      }
      this.current = rev;
      this.record(ev);
      for (const s of this.subscribers) {
        try {
          s(ev);
        } catch (err) {
          this.log.error({ err }, 'watch subscriber failed');
        }
      }
    }
    if (this.waiters.length) {
      const ready = this.waiters.filter((w) => w.rev <= this.current);
      if (ready.length) {
        this.waiters = this.waiters.filter((w) => w.rev > this.current);
        for (const w of ready) w.resolve();
      }
    }
  }

  private record(ev: CacheEvent): void {
    this.lastRecorded = ev.rev;
    this.history.push(ev);
    const kept = this.history.length - this.historyStart;
    if (kept > this.historySize) {
      const dropped = this.history[this.historyStart]!;
      this.historyStart++;
      this.oldestRev = dropped.rev;
      // Compact the array now and then instead of shifting on every event.
      if (this.historyStart > 4096 && this.historyStart > this.history.length / 2) {
        this.history = this.history.slice(this.historyStart);
        this.historyStart = 0;
      }
    }
  }
}

/** A past event rebuilt from the store's history (for the window only). */
function historyEvent(e: WatchEvent): CacheEvent {
  const rev = e.kv.modRevision;
  const cur = decode(e.kv.key, e.kv.value, rev);
  const prev = e.prevKv ? decode(e.prevKv.key, e.prevKv.value, e.prevKv.modRevision) : undefined;
  const type: EventType = e.type === 'delete' ? 'DELETED' : prev ? 'MODIFIED' : 'ADDED';
  return { type, rev, resource: resourcePrefixOf(e.kv.key), key: e.kv.key, cur, prev };
}

function lowerBound(a: string[], x: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
