// Controller expectations (as Kubernetes keeps them): after a controller creates or deletes pods,
// its informer cache lags the API for a moment. Until the creations and deletions it made have
// been seen, a sync must not count pods again, or it would create duplicates. Expectations
// expire, so a lost watch event cannot block an owner forever.
const EXPIRY_MS = 30_000;

interface Pending {
  adds: number;
  deletes: Set<string>;
  since: number;
}

export class Expectations {
  private readonly pending = new Map<string, Pending>();

  private entry(key: string): Pending {
    let e = this.pending.get(key);
    if (!e) this.pending.set(key, (e = { adds: 0, deletes: new Set(), since: Date.now() }));
    return e;
  }

  expectCreations(key: string, n: number): void {
    if (n <= 0) return;
    const e = this.entry(key);
    e.adds += n;
    e.since = Date.now();
  }

  /** A creation was seen in the cache, or failed and will never be. */
  creationObserved(key: string): void {
    const e = this.pending.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  expectDeletion(key: string, podUid: string): void {
    const e = this.entry(key);
    e.deletes.add(podUid);
    e.since = Date.now();
  }

  deletionObserved(key: string, podUid: string): void {
    this.pending.get(key)?.deletes.delete(podUid);
  }

  satisfied(key: string): boolean {
    const e = this.pending.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.deletes.size === 0) || Date.now() - e.since > EXPIRY_MS) {
      this.pending.delete(key);
      return true;
    }
    return false;
  }

  forget(key: string): void {
    this.pending.delete(key);
  }
}
