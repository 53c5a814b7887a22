// The WebSocket channel protocol of exec/attach (v4.channel.k8s.io and v5.channel.k8s.io): every
// binary message starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize);
// v5 adds 255, a close signal `0xff <channel>` (kubectl sends it for stdin EOF).
import { PassThrough, Writable } from 'node:stream';
import type { WebSocket, RawData } from 'ws';
import { ResizeDecoder, statusJson, type CommandResult, type CommandTransport, type StreamOptions } from './remotecommand.js';

export const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export type ChannelProtocol = (typeof CHANNEL_PROTOCOLS)[number];

export const Channel = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

function toBuffer(d: RawData): Buffer {
  if (Buffer.isBuffer(d)) return d;
  if (Array.isArray(d)) return Buffer.concat(d);
  return Buffer.from(d);
}

function channelWriter(ws: WebSocket, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb(new Error('websocket closed'));
      ws.send(Buffer.concat([Buffer.from([channel]), chunk]), { binary: true }, (err) => cb(err ?? null));
    },
  });
}

export function wsCommandTransport(ws: WebSocket, protocol: ChannelProtocol, opts: StreamOptions): CommandTransport {
  const stdin = opts.stdin ? new PassThrough() : undefined;
  let resize: ((w: number, h: number) => void) | undefined;
  const sizes = new ResizeDecoder((w, h) => resize?.(w, h));
  ws.on('message', (data, isBinary) => {
    const b = isBinary ? toBuffer(data) : Buffer.from(toBuffer(data).toString(), 'utf8');
    if (!b.length) return;
    const payload = b.subarray(1);
    switch (b[0]) {
      case Channel.stdin:
        if (stdin && !stdin.writableEnded) stdin.write(payload);
        return;
      case Channel.resize:
        sizes.feed(payload.toString());
        return;
      case Channel.close:
        if (protocol === 'v5.channel.k8s.io' && payload[0] === Channel.stdin) stdin?.end();
        return;
    }
  });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  void closed.then(() => {
    if (stdin && !stdin.writableEnded) stdin.end();
  });
  ws.on('error', () => undefined);
  return {
    stdin,
    stdout: opts.stdout ? channelWriter(ws, Channel.stdout) : undefined,
    stderr: opts.stderr ? channelWriter(ws, Channel.stderr) : undefined,
    onResize: (cb) => {
      resize = cb;
    },
    closed,
    finish: (result: CommandResult) =>
      new Promise<void>((resolve) => {
        if (ws.readyState !== ws.OPEN) return resolve();
        ws.send(Buffer.concat([Buffer.from([Channel.status]), Buffer.from(statusJson(result))]), { binary: true }, () => {
          ws.close(1000);
          resolve();
        });
      }),
  };
}
