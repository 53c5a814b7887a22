// The scheduling queue: an active FIFO of pod keys waiting for a decision, a set of pods found
// unschedulable that wait for the cluster to change (a node added or updated, a pod gone) or for
// the periodic flush, and back-off timers for pods whose binding failed.
export class SchedulingQueue {
  private active: string[] = [];
  private head = 0;
  private readonly activeSet = new Set<string>();
  private readonly unschedulable = new Set<string>();
  private readonly backoff = new Map<string, NodeJS.Timeout>();
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly onActive: () => void,
    private readonly backoffInitialMs = 1000,
    private readonly backoffMaxMs = 10_000,
  ) {}

  add(key: string): void {
    this.unschedulable.delete(key);
    const t = this.backoff.get(key);
    if (t) {
      clearTimeout(t);
      this.backoff.delete(key);
    }
    if (this.activeSet.has(key)) return;
    this.activeSet.add(key);
    this.active.push(key);
    this.onActive();
  }

  pop(): string | undefined {
    while (this.head < this.active.length) {
      const key = this.active[this.head++]!;
      if (this.head > 4096 && this.head * 2 > this.active.length) {
        this.active = this.active.slice(this.head);
        this.head = 0;
      }
      if (this.activeSet.delete(key)) return key;
    }
    this.active = [];
    this.head = 0;
    return undefined;
  }

  get activeLength(): number {
    return this.activeSet.size;
  }

  get unschedulableLength(): number {
    return this.unschedulable.size;
  }

  /** Parks a pod until something changes in the cluster. */
  markUnschedulable(key: string): void {
    if (!this.activeSet.has(key)) this.unschedulable.add(key);
  }

  isUnschedulable(key: string): boolean {
    return this.unschedulable.has(key);
  }

  /** Retries a pod after a growing delay (a failed binding). */
  addWithBackoff(key: string): void {
    if (this.activeSet.has(key) || this.backoff.has(key)) return;
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** (n - 1));
    const t = setTimeout(() => {
      this.backoff.delete(key);
      this.add(key);
    }, delay);
    t.unref();
    this.backoff.set(key, t);
  }

  /** The cluster changed: every parked pod gets another try. */
  moveAllToActive(): void {
    if (this.unschedulable.size === 0) return;
    const keys = [...this.unschedulable];
    this.unschedulable.clear();
    for (const k of keys) this.add(k);
  }

  /** The pod is bound, deleted or no longer ours. */
  delete(key: string): void {
    this.activeSet.delete(key);
    this.unschedulable.delete(key);
    this.attempts.delete(key);
    const t = this.backoff.get(key);
    if (t) {
      clearTimeout(t);
      this.backoff.delete(key);
    }
  }

  close(): void {
    for (const t of this.backoff.values()) clearTimeout(t);
    this.backoff.clear();
    this.active = [];
    this.head = 0;
    this.activeSet.clear();
    this.unschedulable.clear();
  }
}
