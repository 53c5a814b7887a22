// Follows the stream from a sequence, handing each message over in order, across NATS outages.
// It runs its own short-lived ephemeral pull consumer (memory, R1, no acks) rather than the
// client's ordered consumer, whose recovery backs off for tens of seconds: here any sign of
// trouble (a delivery gap, the consumer ending, delivery lagging the stream for stallMs) drops
// the consumer and makes a new one from the next sequence wanted, retried on every watchdog tick.
import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import type { Logger } from '../../../pkg/log/logger.js';

export interface TailerOptions {
  stream: string;
  /** the next sequence wanted (1 = from the start) */
  position: () => number;
  onMessage: (m: JsMsg) => void;
  log: Logger;
  /** how long delivery may lag the stream before the consumer is replaced */
  stallMs?: number;
}

interface Current {
  gen: number;
  name: string;
  messages?: ConsumerMessages;
  /** the consumer's delivery sequence last seen; a jump means a message was lost */
  delivered: number;
}

export class Tailer {
  private current: Current | undefined;
  private gen = 0;
  private stopped = false;
  private opening: Promise<void> | undefined;
  private lastProgress = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  private checking = false;
  private readonly stallMs: number;
  private readonly prefix = `skiff_${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly opts: TailerOptions,
  ) {
    this.stallMs = opts.stallMs ?? 2000;
    this.watchdog = setInterval(() => void this.check(), 500);
    this.watchdog.unref();
  }

  /** Starts consuming; rejects if no consumer could be made (the watchdog keeps trying). */
  start(): Promise<void> {
    return this.replace('start');
  }

  /** Drops the current consumer and makes a new one from the position wanted. */
  replace(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.opening) return this.opening;
    if (reason !== 'start') this.opts.log.info({ reason, from: this.opts.position() }, 'replacing the NATS stream consumer');
    this.drop();
    this.opening = this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    this.drop();
  }

  private drop(): void {
    const cur = this.current;
    this.current = undefined;
    if (!cur) return;
    cur.messages?.stop();
    // Best effort: an ephemeral consumer left behind expires by its inactive threshold anyway.
    this.jsm.consumers.delete(this.opts.stream, cur.name).catch(() => {});
  }

  private async open(): Promise<void> {
    const gen = ++this.gen;
    const from = this.opts.position();
    const name = `${this.prefix}_${gen}`;
    const ci = await this.jsm.consumers.add(this.opts.stream, {
      name,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000),
    });
    const cur: Current = { gen, name, delivered: 0 };
    if (this.stopped) {
      this.jsm.consumers.delete(this.opts.stream, name).catch(() => {});
      return;
    }
    this.current = cur;
    const consumer = this.js.consumers.getPullConsumerFor(ci);
    const messages = await consumer.consume({
      max_messages: 512,
      expires: 5000,
      callback: (m) => this.deliver(cur, m),
    });
    if (this.current !== cur) {
      messages.stop();
      return;
    }
    cur.messages = messages;
    this.lastProgress = Date.now();
    void messages.closed().then(
      () => {
        if (this.current === cur && !this.stopped) void this.replace('consumer ended').catch(() => {});
      },
      (err: unknown) => {
        if (this.current === cur && !this.stopped) void this.replace(`consumer failed: ${String(err)}`).catch(() => {});
      },
    );
  }

  private deliver(cur: Current, m: JsMsg): void {
    if (this.current !== cur || this.stopped) return;
    const dseq = m.info.deliverySequence;
    if (dseq !== cur.delivered + 1) {
      void this.replace(`delivery gap: ${cur.delivered} then ${dseq}`).catch(() => {});
      return;
    }
    cur.delivered = dseq;
    this.lastProgress = Date.now();
    this.opts.onMessage(m);
  }

  private async check(): Promise<void> {
    if (this.stopped || this.checking || this.opening) return;
    if (this.current && Date.now() - this.lastProgress < this.stallMs) return;
    this.checking = true;
    try {
      if (!this.current) {
        await this.replace('no consumer');
        return;
      }
      const info = await this.jsm.streams.info(this.opts.stream);
      if (info.state.last_seq >= this.opts.position()) {
        await this.replace(`delivery stalled before ${this.opts.position()}, stream at ${info.state.last_seq}`);
      } else {
        // Caught up and idle: the quiet is not a stall.
        this.lastProgress = Date.now();
      }
    } catch {
      // NATS unreachable or without quorum: the next tick tries again.
    } finally {
      this.checking = false;
    }
  }
}
