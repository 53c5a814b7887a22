// One watch: a replay of the stored history from a revision, then the live events the store
// commits. The watch is registered for live events before the replay reads anything, and live
// events are held back until the replay is done; every delivery is filtered to revisions above the
// last one delivered, so the seam between history and live events has no gap and no duplicate.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CompactedError, type Watcher, type WatchEvent } from '../store.js';

/** What a watch needs from the store to replay history. */
export interface HistorySource {
  /**
   * Events on keys under prefix with revision in (after, upTo], oldest first, at most limit;
   * directly or, when another thread holds the data, as a promise.
   */
  history(prefix: string, after: number, upTo: number, limit: number): WatchEvent[] | Promise<WatchEvent[]>;
  compacted(): number;
}

const REPLAY_PAGE = 1000;

export class SqliteWatch implements Watcher {
  private delivered: number;
  private replaying = true;
  private held: WatchEvent[] = [];
  private stopped = false;

  constructor(
    private readonly prefix: string,
    fromRevision: number,
    private readonly onEvents: (events: WatchEvent[]) => void,
    private readonly onError: ((err: Error) => void) | undefined,
    private readonly detach: (w: SqliteWatch) => void,
  ) {
    this.delivered = fromRevision;
  }

  /** Replays history up to upTo (the committed revision when the watch was registered). */
  async replay(source: HistorySource, upTo: number): Promise<void> {
    try {
      // Deliver nothing before watch() has handed the Watcher to its caller.
      await nextTurn();
      let cursor = this.delivered;
      while (!this.stopped && cursor < upTo) {
        const compacted = source.compacted();
        if (cursor < compacted) throw new CompactedError(cursor, compacted);
        const read = source.history(this.prefix, cursor, upTo, REPLAY_PAGE);
        const page = Array.isArray(read) ? read : await read;
        if (this.stopped) return;
        if (page.length === 0) break;
        cursor = page[page.length - 1]!.kv.modRevision;
        this.deliver(page);
        if (page.length < REPLAY_PAGE) break;
        await nextTurn();
      }
      if (this.stopped) return;
      this.replaying = false;
      const held = this.held;
      this.held = [];
      this.deliver(held);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Committed events, in revision order, possibly for other prefixes. */
  offer(events: WatchEvent[]): void {
    if (this.stopped) return;
    const mine = events.filter((e) => e.kv.key.startsWith(this.prefix));
    if (mine.length === 0) return;
    if (this.replaying) {
      for (const e of mine) this.held.push(e);
    } else {
      this.deliver(mine);
    }
  }

  /** Ends the watch with an error (the store closed, a replay failed, a consumer threw). */
  fail(err: Error): void {
    if (this.stopped) return;
    this.stop();
    if (this.onError) {
      this.onError(err);
    } else {
      // Nobody asked to hear about it; surface it rather than lose it.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /** Ends the watch because the store is going away; only a watch with onError hears of it. */
  end(err: Error): void {
    if (this.stopped) return;
    this.stop();
    this.onError?.(err);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.held = [];
    this.detach(this);
  }

  private deliver(events: WatchEvent[]): void {
    let fresh = events;
    if (events.length > 0 && events[0]!.kv.modRevision <= this.delivered) {
      fresh = events.filter((e) => e.kv.modRevision > this.delivered);
    }
    if (fresh.length === 0 || this.stopped) return;
    this.delivered = fresh[fresh.length - 1]!.kv.modRevision;
    try {
      this.onEvents(fresh);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
