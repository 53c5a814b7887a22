// A de-duplicating work queue with rate-limited retries, in the manner of client-go's workqueue:
// a key added many times while waiting is processed once; a key is never processed by two
// workers at once (if it is re-added while processing, it runs again afterwards); failures are
// retried with exponential back-off.
import { logger } from '../log/logger.js';

export interface WorkQueueOptions {
  name: string;
  workers?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue<K> {
  private readonly pending: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirtyWhileProcessing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private active = 0;
  private stopped = false;
  private readonly log;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: K) => Promise<void>,
    private readonly opts: WorkQueueOptions,
  ) {
    this.log = logger(opts.name);
  }

  add(key: K): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push(key);
    this.pump();
  }

  addAfter(key: K, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  get length(): number {
    return this.pending.length;
  }

  /** Resolves when nothing is queued or running (for tests and orderly shutdown). */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pending.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    const workers = this.opts.workers ?? 1;
    while (this.active < workers && this.pending.length && !this.stopped) {
      const key = this.pending.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.pending.length === 0 && this.active === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  private async run(key: K): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(key);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = Math.min(this.opts.maxDelayMs ?? 30_000, (this.opts.baseDelayMs ?? 50) * 2 ** (n - 1));
      this.log.debug({ err, key, attempt: n, delay }, 'sync failed; retrying');
      if (n > 3) this.log.warn({ err: (err as Error).message, key: String(key), attempt: n }, 'sync keeps failing');
      this.addAfter(key, delay);
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirtyWhileProcessing.delete(key)) this.add(key);
      this.pump();
    }
  }
}
