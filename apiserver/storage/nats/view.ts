// The in-memory multi-version index each store instance rebuilds from the JetStream stream and
// then follows: every retained write of every key, in revision (= stream sequence) order. Reads
// at a past revision, counts, and watch replays with prevKv are answered from it, so they need no
// round trip to NATS; the stream stays the only source of truth.
import type { KeyValue, WatchEvent } from '../store.js';

export type Op = 'create' | 'update' | 'delete';

export interface Entry {
  rev: number;
  key: string;
  deleted: boolean;
  createRev: number;
  /** for a delete, the value that was deleted */
  value: string;
  /** the entry this one replaced, for prevKv (cleared once it can no longer be replayed) */
  prev?: Entry;
}

/** A physical purge that removes a key's history made unreachable by a compaction. */
export interface PurgeStep {
  key: string;
  /** every message of the key with a sequence below this goes */
  below: number;
}

export function entryKv(e: Entry): KeyValue {
  return { key: e.key, value: e.value, createRevision: e.createRev, modRevision: e.rev };
}

function lowerBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The newest entry of a history with rev <= at (histories are ascending). */
function entryAt(history: Entry[], at: number): Entry | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i]!.rev <= at) return history[i];
  }
  return undefined;
}

export class View {
  /** the newest stream sequence applied (writes, markers, or gaps left by purges) */
  applied = 0;
  compacted = 0;
  private log: Entry[] = [];
  private readonly byKey = new Map<string, Entry[]>();
  /** every key with retained history, sorted */
  private readonly keys: string[] = [];

  /** The key's newest entry (a deletion included), if any is retained. */
  latest(key: string): Entry | undefined {
    const h = this.byKey.get(key);
    return h ? h[h.length - 1] : undefined;
  }

  entryAtRev(key: string, rev: number): Entry | undefined {
    const h = this.byKey.get(key);
    const e = h ? entryAt(h, rev) : undefined;
    return e && e.rev === rev ? e : undefined;
  }

  /**
   * Applies one write read from the stream, deciding whether it takes effect. Every store
   * decides alike from the same sequence of messages, so this check is the compare-and-swap that
   * counts (JetStream's own per-subject check is not reliable under concurrent publishes to a
   * clustered stream on nats-server 2.9, and only saves most losers from being stored at all).
   * `expect` is the revision the writer saw as the key's newest: a write is void when the key has
   * moved on since. When expect is newer than anything this view holds for the key, the view
   * missed that history (a compaction purged it while the view was behind) and the message is
   * taken as written. Returns the watch event, or undefined for a void or already applied write.
   */
  applyWrite(rev: number, key: string, op: Op, value: string, createRev: number | undefined, expect: number | undefined): WatchEvent | undefined {
    if (rev <= this.applied) return undefined;
    this.applied = rev;
    const cur = this.latest(key);
    const live = cur && !cur.deleted ? cur : undefined;
    const missed = expect !== undefined && expect > (cur?.rev ?? 0);
    let entry: Entry;
    if (op === 'create') {
      if (live && !missed) return undefined;
      entry = { rev, key, deleted: false, createRev: rev, value };
    } else {
      if (!missed && (!live || (expect !== undefined && live.rev !== expect))) return undefined;
      const prev = missed ? undefined : live;
      if (op === 'update') {
        entry = { rev, key, deleted: false, createRev: createRev ?? live?.createRev ?? rev, value, prev };
      } else {
        // A deletion message carries no value: the event reports the value it removed.
        entry = { rev, key, deleted: true, createRev: createRev ?? live?.createRev ?? rev, value: live?.value ?? cur?.value ?? '', prev };
      }
    }
    this.append(entry);
    return toEvent(entry);
  }

  /** Records a sequence that carried no write (a marker), so `applied` keeps up with the stream. */
  skip(rev: number): void {
    if (rev > this.applied) this.applied = rev;
  }

  /**
   * The purges that remove from the stream what compact(revision) forgets: for each key, the
   * messages older than its newest one at the revision, and that one too when it is a deletion.
   * Only keys with history the view still holds are covered.
   */
  purgePlan(revision: number): PurgeStep[] {
    const steps: PurgeStep[] = [];
    for (const [key, history] of this.byKey) {
      if (history[0]!.rev > revision) continue;
      let i = 0;
      while (i + 1 < history.length && history[i + 1]!.rev <= revision) i++;
      const newest = history[i]!;
      if (newest.deleted) steps.push({ key, below: newest.rev + 1 });
      else if (i > 0) steps.push({ key, below: newest.rev });
    }
    return steps;
  }

  /**
   * Forgets history at or below revision, keeping each live key's newest value, and returns the
   * purges that remove the same history from the stream (purgePlan taken before forgetting).
   */
  compact(revision: number): PurgeStep[] {
    if (revision <= this.compacted) return [];
    const steps = this.purgePlan(revision);
    this.compacted = revision;
    const dropped = new Set<Entry>();
    const emptied: string[] = [];
    for (const [key, history] of this.byKey) {
      if (history[0]!.rev > revision) continue;
      let i = 0;
      while (i + 1 < history.length && history[i + 1]!.rev <= revision) i++;
      const newest = history[i]!;
      if (newest.deleted) {
        for (let j = 0; j <= i; j++) dropped.add(history[j]!);
        history.splice(0, i + 1);
        if (history.length === 0) emptied.push(key);
        else history[0]!.prev = undefined;
      } else {
        if (i > 0) {
          for (let j = 0; j < i; j++) dropped.add(history[j]!);
          history.splice(0, i);
        }
        // Its own event is below the compacted revision, so nothing replays it any more.
        newest.prev = undefined;
      }
    }
    for (const key of emptied) {
      this.byKey.delete(key);
      const at = lowerBound(this.keys, key);
      if (this.keys[at] === key) this.keys.splice(at, 1);
    }
    if (dropped.size > 0) this.log = this.log.filter((e) => !dropped.has(e));
    return steps;
  }

  list(prefix: string, at: number, startKey: string | undefined, limit: number): { kvs: KeyValue[]; more: boolean } {
    const from = startKey !== undefined && startKey > prefix ? startKey : prefix;
    const kvs: KeyValue[] = [];
    let more = false;
    for (let i = lowerBound(this.keys, from); i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (!key.startsWith(prefix)) break;
      const e = entryAt(this.byKey.get(key)!, at);
      if (!e || e.deleted) continue;
      if (kvs.length >= limit) {
        more = true;
        break;
      }
      kvs.push(entryKv(e));
    }
    return { kvs, more };
  }

  count(prefix: string): number {
    let n = 0;
    for (let i = lowerBound(this.keys, prefix); i < this.keys.length; i++) {
      const key = this.keys[i]!;
      if (!key.startsWith(prefix)) break;
      const h = this.byKey.get(key)!;
      if (!h[h.length - 1]!.deleted) n++;
    }
    return n;
  }

  /** Events on keys under prefix with revision in (after, upTo], oldest first, at most limit. */
  history(prefix: string, after: number, upTo: number, limit: number): WatchEvent[] {
    const out: WatchEvent[] = [];
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.rev <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length && out.length < limit; i++) {
      const e = this.log[i]!;
      if (e.rev > upTo) break;
      if (e.key.startsWith(prefix)) out.push(toEvent(e));
    }
    return out;
  }

  private append(entry: Entry): void {
    this.log.push(entry);
    const h = this.byKey.get(entry.key);
    if (h) {
      h.push(entry);
      return;
    }
    this.byKey.set(entry.key, [entry]);
    this.keys.splice(lowerBound(this.keys, entry.key), 0, entry.key);
  }
}

export function toEvent(e: Entry): WatchEvent {
  const event: WatchEvent = { type: e.deleted ? 'delete' : 'put', kv: entryKv(e) };
  if (e.prev) event.prevKv = entryKv(e.prev);
  return event;
}
