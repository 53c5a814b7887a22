// One probe of one container, run every period, with kubelet's threshold rule: the result only
// counts once the same answer came successThreshold (or failureThreshold) times in a row, and an
// errored attempt neither counts nor breaks a run.
import type { ProbeOutcome, ProbeSettings } from './probe-spec.js';

export interface ProbeWorkerOptions {
  settings: ProbeSettings;
  /** milliseconds in one of the probe's "seconds" */
  secondMs: number;
  /** wait before the first attempt */
  firstDelayMs: number;
  run(signal: AbortSignal): Promise<ProbeOutcome>;
  /** every attempt, for events and logs */
  onAttempt(outcome: ProbeOutcome): void;
  /** the threshold was met: healthy or not, with the last attempt's message */
  onSettled(healthy: boolean, message: string): void;
}

export class ProbeWorker {
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private stopped = false;
  private last: boolean | undefined;
  private run = 0;

  constructor(private readonly opts: ProbeWorkerOptions) {}

  start(): void {
    if (!this.stopped) this.schedule(this.opts.firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    const began = Date.now();
    const { settings, secondMs } = this.opts;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.opts.run(this.abort.signal);
    } catch (err) {
      outcome = { result: 'error', message: (err as Error)?.message ?? String(err) };
    }
    if (this.stopped) return;
    this.opts.onAttempt(outcome);
    if (this.stopped) return;
    if (outcome.result !== 'error') {
      const healthy = outcome.result !== 'failure';
      if (this.last === healthy) this.run++;
      else {
        this.last = healthy;
        this.run = 1;
      }
      if (this.run >= (healthy ? settings.successThreshold : settings.failureThreshold)) {
        this.opts.onSettled(healthy, outcome.message);
      }
    }
    if (this.stopped) return;
    // A ticker: periods are counted from the start of each attempt, a slow attempt delays the next.
    this.schedule(Math.max(0, began + settings.periodSeconds * secondMs - Date.now()));
  }
}
