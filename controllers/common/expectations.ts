// Expectations: after a controller asks for N creations or deletions it must not act on the same
// owner again until its informer has seen them, or it would count the cache's stale view and
// create (or delete) twice. Entries expire, so a lost watch event cannot block an owner forever.
export const EXPECTATIONS_TTL_MS = 5 * 60_000;

interface Entry {
  add: number;
  del: number;
  /** uids whose deletion is awaited, so an observed deletion is counted once */
  deleting: Set<string>;
  at: number;
}

export class Expectations {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs = EXPECTATIONS_TTL_MS, private readonly now: () => number = Date.now) {}

  /** True when nothing is outstanding (or the record is too old to trust). */
  satisfied(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.now() - e.at > this.ttlMs;
  }

  expectCreations(key: string, n: number): void {
    this.entries.set(key, { add: n, del: 0, deleting: new Set(), at: this.now() });
  }

  expectDeletions(key: string, uids: string[]): void {
    this.entries.set(key, { add: 0, del: uids.length, deleting: new Set(uids), at: this.now() });
  }

  creationObserved(key: string, n = 1): void {
    const e = this.entries.get(key);
    if (e) e.add -= n;
  }

  deletionObserved(key: string, uid?: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    if (uid !== undefined) {
      if (!e.deleting.delete(uid)) return;
    }
    e.del--;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** outstanding counts, for tests and logs */
  pending(key: string): { add: number; del: number } {
    const e = this.entries.get(key);
    return { add: Math.max(0, e?.add ?? 0), del: Math.max(0, e?.del ?? 0) };
  }
}
