// A SPDY/3.1 session over a byte stream (a raw upgraded socket, or a WebSocket carrying SPDY frames
// for port-forward). Streams are Node Duplexes. Flow control: we credit the peer's DATA with
// WINDOW_UPDATE as our readers consume it, and honour the peer's windows once the peer shows it does
// flow control (a SETTINGS initial window or a WINDOW_UPDATE). kubectl's SPDY library (spdystream)
// does neither and buffers without bound, so holding data back for it would only deadlock at 64 KiB.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  DEFAULT_WINDOW,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameReader,
  HeaderCompressor,
  RstStatus,
  SETTINGS_INITIAL_WINDOW_SIZE,
  encodeFrame,
  type Frame,
  type SpdyHeaders,
} from './spdy-frames.js';

export * from './spdy-frames.js';

const MAX_DATA_FRAME = 32 * 1024;

export interface SpdySessionOptions {
  /** true: streams come from the peer (odd ids); we open even ones. false: the reverse. */
  server: boolean;
  /** announce our receive window in a SETTINGS frame at start (only a client should: a server's
   * first bytes can be swallowed by a client still reading the 101 response) */
  announceSettings?: boolean;
  /** our per-stream receive window */
  receiveWindow?: number;
}

export class SpdyStream extends Duplex {
  /** what the peer may still send us before we credit it */
  recvWindow: number;
  /** what we may still send (only enforced for flow-controlling peers) */
  sendWindow: number;
  private uncredited = 0;
  private replied: boolean;
  private replyWaiters: (() => void)[] = [];
  localClosed = false;
  remoteClosed = false;
  private wasReset = false;
  /** headers of the peer's SYN_REPLY (streams we open) */
  replyHeaders?: SpdyHeaders;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
    opts: { replied: boolean; recvWindow: number; sendWindow: number },
  ) {
    super({ allowHalfOpen: true });
    this.replied = opts.replied;
    this.recvWindow = opts.recvWindow;
    this.sendWindow = opts.sendWindow;
  }

  /** The first value of a header. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** Accepts a stream the peer opened (SYN_REPLY). Data we write waits for it. */
  async reply(headers: SpdyHeaders = {}): Promise<void> {
    if (this.replied) return;
    this.replied = true;
    await this.session.sendFrame({ type: 'syn_reply', streamId: this.id, flags: 0, headers });
    for (const w of this.replyWaiters.splice(0)) w();
  }

  markReplied(headers: SpdyHeaders): void {
    this.replyHeaders = headers;
    this.replied = true;
    for (const w of this.replyWaiters.splice(0)) w();
  }

  /** Ends the stream abruptly in both directions (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.wasReset) return;
    this.wasReset = true;
    if (!(this.localClosed && this.remoteClosed)) void this.session.sendFrame({ type: 'rst_stream', streamId: this.id, status }).catch(() => undefined);
    this.closedByReset();
  }

  /** @internal the peer reset the stream, or we did */
  closedByReset(): void {
    const readable = !this.remoteClosed;
    this.wasReset = true;
    this.localClosed = true;
    this.remoteClosed = true;
    this.session.forget(this.id);
    if (readable) this.push(null);
    this.emit('reset');
    this.destroy();
  }

  /** @internal */
  receive(data: Buffer, fin: boolean): void {
    if (data.length) {
      this.recvWindow -= data.length;
      if (this.push(data)) this.credit(data.length);
      else this.uncredited += data.length;
    }
    if (fin) this.remoteEnded();
  }

  /** @internal */
  remoteEnded(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.maybeDone();
  }

  private credit(n: number): void {
    this.recvWindow += n;
    this.session.credit(this.id, n);
  }

  override _read(): void {
    if (this.uncredited) {
      const n = this.uncredited;
      this.uncredited = 0;
      this.credit(n);
    }
  }

  private waitReplied(): Promise<void> {
    return this.replied ? Promise.resolve() : new Promise((r) => this.replyWaiters.push(r));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeData(chunk).then(() => cb(), cb);
  }

  private async writeData(chunk: Buffer): Promise<void> {
    await this.waitReplied();
    let off = 0;
    while (off < chunk.length) {
      if (this.wasReset) throw new Error('stream was reset');
      const allowed = await this.session.sendAllowance(this, Math.min(MAX_DATA_FRAME, chunk.length - off));
      await this.session.sendFrame({ type: 'data', streamId: this.id, flags: 0, data: chunk.subarray(off, off + allowed) });
      off += allowed;
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.wasReset || this.localClosed) return cb();
    this.waitReplied()
      .then(() => this.session.sendFrame({ type: 'data', streamId: this.id, flags: FLAG_FIN, data: Buffer.alloc(0) }))
      .then(() => {
        this.localClosed = true;
        this.maybeDone();
        cb();
      }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!(this.localClosed && this.remoteClosed) && !this.wasReset) {
      this.wasReset = true;
      void this.session.sendFrame({ type: 'rst_stream', streamId: this.id, status: RstStatus.CANCEL }).catch(() => undefined);
    }
    this.session.forget(this.id);
    cb(err);
  }

  private maybeDone(): void {
    if (this.localClosed && this.remoteClosed) this.session.forget(this.id);
  }
}

export class SpdySession extends EventEmitter {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly comp = new HeaderCompressor();
  private readonly reader: FrameReader;
  private out: Promise<void> = Promise.resolve();
  private nextId: number;
  private lastPeerStream = 0;
  private closed = false;
  goneAway = false;
  /** whether the peer does flow control (then its windows bind us) */
  peerFlowControl = false;
  private peerInitialWindow = DEFAULT_WINDOW;
  private sessionSendWindow = DEFAULT_WINDOW;
  private readonly receiveWindow: number;
  private windowWaiters: (() => void)[] = [];
  private pendingReplies = new Map<number, { resolve: (s: SpdyStream) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly io: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    super();
    this.nextId = opts.server ? 2 : 1;
    this.receiveWindow = opts.receiveWindow ?? DEFAULT_WINDOW;
    this.reader = new FrameReader(
      (f) => this.onFrame(f),
      (e) => this.fail(e),
    );
    io.on('data', (c: Buffer) => this.reader.push(c));
    io.on('end', () => void this.reader.drained().then(() => this.close()));
    io.on('close', () => void this.reader.drained().then(() => this.close()));
    io.on('error', (e) => this.fail(e));
    if (opts.announceSettings) {
      void this.sendFrame({ type: 'settings', flags: 0, entries: [{ id: SETTINGS_INITIAL_WINDOW_SIZE, flags: 0, value: this.receiveWindow }] }).catch(() => undefined);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues a frame; frames go out in the order they were queued. */
  sendFrame(f: Frame): Promise<void> {
    const run = async () => {
      if (this.closed) throw new Error('SPDY session closed');
      const buf = await encodeFrame(f, this.comp);
      if (!this.io.write(buf)) await new Promise<void>((r) => (this.io.writableNeedDrain ? this.io.once('drain', r) : r()));
    };
    const p = this.out.then(run);
    this.out = p.catch(() => undefined);
    return p;
  }

  /** Opens a stream (SYN_STREAM) and resolves once the peer replies. */
  open(headers: SpdyHeaders, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.goneAway || this.closed) return Promise.reject(new Error('SPDY session is going away'));
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, headers, { replied: false, recvWindow: this.receiveWindow, sendWindow: this.peerInitialWindow });
    if (opts.fin) s.localClosed = true;
    this.streams.set(id, s);
    return new Promise<SpdyStream>((resolve, reject) => {
      this.pendingReplies.set(id, { resolve, reject });
      this.sendFrame({ type: 'syn_stream', streamId: id, associatedId: 0, priority: 0, flags: opts.fin ? FLAG_FIN : 0, headers }).catch((e: Error) => {
        this.pendingReplies.delete(id);
        reject(e);
      });
    });
  }

  /** Whether windows apply on this connection: we announced ours, or the peer showed it keeps them. */
  private get flowControlled(): boolean {
    return this.peerFlowControl || Boolean(this.opts.announceSettings);
  }

  /** @internal the peer may send n more bytes on the stream (and the session) */
  credit(streamId: number, n: number): void {
    if (!this.flowControlled || this.closed) return;
    void this.sendFrame({ type: 'window_update', streamId, delta: n }).catch(() => undefined);
    void this.sendFrame({ type: 'window_update', streamId: 0, delta: n }).catch(() => undefined);
  }

  /** @internal how many bytes (at most `want`) the stream may send now; waits for window if none */
  async sendAllowance(s: SpdyStream, want: number): Promise<number> {
    for (;;) {
      if (this.closed) throw new Error('SPDY session closed');
      if (!this.peerFlowControl) return want;
      const n = Math.min(want, s.sendWindow, this.sessionSendWindow);
      if (n > 0) {
        s.sendWindow -= n;
        this.sessionSendWindow -= n;
        return n;
      }
      await new Promise<void>((r) => this.windowWaiters.push(r));
    }
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
    if (this.goneAway && this.streams.size === 0) this.emit('idle');
  }

  private wakeWindowWaiters(): void {
    for (const w of this.windowWaiters.splice(0)) w();
  }

  private onFrame(f: Frame): void {
    if (this.closed) return;
    switch (f.type) {
      case 'syn_stream': {
        const ours = f.streamId % 2 === (this.opts.server ? 0 : 1);
        if (ours || f.streamId <= this.lastPeerStream || this.goneAway) {
          void this.sendFrame({ type: 'rst_stream', streamId: f.streamId, status: ours || f.streamId <= this.lastPeerStream ? RstStatus.PROTOCOL_ERROR : RstStatus.REFUSED_STREAM }).catch(() => undefined);
          return;
        }
        this.lastPeerStream = f.streamId;
        const s = new SpdyStream(this, f.streamId, f.headers, { replied: false, recvWindow: this.receiveWindow, sendWindow: this.peerInitialWindow });
        this.streams.set(f.streamId, s);
        if (f.flags & FLAG_UNIDIRECTIONAL) s.localClosed = true;
        if (f.flags & FLAG_FIN) s.remoteEnded();
        this.emit('stream', s);
        return;
      }
      case 'syn_reply': {
        const s = this.streams.get(f.streamId);
        const pending = this.pendingReplies.get(f.streamId);
        if (!s || !pending) return;
        this.pendingReplies.delete(f.streamId);
        s.markReplied(f.headers);
        if (f.flags & FLAG_FIN) s.remoteEnded();
        pending.resolve(s);
        return;
      }
      case 'headers':
        if (f.flags & FLAG_FIN) this.streams.get(f.streamId)?.remoteEnded();
        return;
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s || s.remoteClosed) {
          void this.sendFrame({ type: 'rst_stream', streamId: f.streamId, status: RstStatus.INVALID_STREAM }).catch(() => undefined);
          return;
        }
        if (this.flowControlled && f.data.length > s.recvWindow) {
          s.reset(RstStatus.FLOW_CONTROL_ERROR);
          return;
        }
        s.receive(f.data, (f.flags & FLAG_FIN) !== 0);
        return;
      }
      case 'rst_stream': {
        const pending = this.pendingReplies.get(f.streamId);
        if (pending) {
          this.pendingReplies.delete(f.streamId);
          pending.reject(new Error(`stream ${f.streamId} refused (status ${f.status})`));
        }
        this.streams.get(f.streamId)?.closedByReset();
        return;
      }
      case 'settings':
        for (const e of f.entries) {
          if (e.id !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
          const delta = e.value - this.peerInitialWindow;
          this.peerInitialWindow = e.value;
          this.peerFlowControl = true;
          for (const s of this.streams.values()) s.sendWindow += delta;
          this.wakeWindowWaiters();
        }
        return;
      case 'window_update':
        this.peerFlowControl = true;
        if (f.streamId === 0) this.sessionSendWindow += f.delta;
        else {
          const s = this.streams.get(f.streamId);
          if (s) s.sendWindow += f.delta;
        }
        this.wakeWindowWaiters();
        return;
      case 'ping':
        // Our own pings would have our parity; we send none, so every ping is the peer's.
        void this.sendFrame({ type: 'ping', id: f.id }).catch(() => undefined);
        return;
      case 'goaway':
        this.goneAway = true;
        this.emit('goaway');
        if (this.streams.size === 0) this.emit('idle');
        return;
    }
  }

  /** Tells the peer no more streams are accepted. */
  goAway(): Promise<void> {
    this.goneAway = true;
    return this.sendFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStream, status: 0 });
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.emit('protocolError', err);
    this.close();
  }

  /** Closes the connection and every stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeWindowWaiters();
    for (const p of this.pendingReplies.values()) p.reject(new Error('SPDY session closed'));
    this.pendingReplies.clear();
    for (const s of [...this.streams.values()]) s.closedByReset();
    this.streams.clear();
    this.reader.close();
    // Let queued frames reach the wire before the connection ends.
    void this.out.then(() => {
      this.comp.close();
      this.io.end();
    });
    this.emit('close');
  }
}
