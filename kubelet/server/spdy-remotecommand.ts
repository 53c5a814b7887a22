// The SPDY form of the remote command protocol (kubectl's fallback when WebSockets are refused or
// disabled): the client opens one stream per role (streamtype error, stdin, stdout, stderr, resize),
// each answered with SYN_REPLY; the exit status goes on the error stream (Status JSON from v4 on,
// plain text before).
import { legacyErrorText, ResizeDecoder, statusJson, type CommandResult, type CommandTransport, type StreamOptions } from './remotecommand.js';
import type { SpdySession, SpdyStream } from './spdy.js';

/** Protocols we speak over SPDY, most preferred first. */
export const SPDY_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;

/** How long the client has to open all its streams (kubelet's stream creation timeout). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Waits for the streams the request announced, then offers them as a CommandTransport. */
export function spdyCommandTransport(session: SpdySession, protocol: string, opts: StreamOptions): Promise<CommandTransport> {
  const streams = new Map<string, SpdyStream>();
  const wanted = new Set<string>(['error']);
  if (opts.stdin) wanted.add('stdin');
  if (opts.stdout) wanted.add('stdout');
  if (opts.stderr) wanted.add('stderr');
  if (opts.tty && protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io') wanted.add('resize');
  const closed = new Promise<void>((resolve) => (session.isClosed ? resolve() : session.once('close', () => resolve())));
  return new Promise<CommandTransport>((resolve, reject) => {
    const timer = setTimeout(() => {
      session.off('stream', onStream);
      session.close();
      reject(new Error(`timed out waiting for client streams (have ${[...streams.keys()].join(', ') || 'none'})`));
    }, STREAM_CREATION_TIMEOUT_MS);
    const onStream = (s: SpdyStream) => {
      const type = s.header('streamtype') ?? '';
      if (!wanted.has(type) || streams.has(type)) {
        s.reset();
        return;
      }
      streams.set(type, s);
      s.on('error', () => undefined);
      void s.reply().catch(() => undefined);
      if (streams.size < wanted.size) return;
      clearTimeout(timer);
      session.off('stream', onStream);
      resolve(makeTransport(session, protocol, streams, closed));
    };
    session.on('stream', onStream);
    void closed.then(() => {
      clearTimeout(timer);
      reject(new Error('client closed the connection before opening its streams'));
    });
  });
}

function makeTransport(session: SpdySession, protocol: string, streams: Map<string, SpdyStream>, closed: Promise<void>): CommandTransport {
  const error = streams.get('error')!;
  error.resume(); // the client half-closes it; nothing to read
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  const stdin = streams.get('stdin');
  let resize: ((w: number, h: number) => void) | undefined;
  const r = streams.get('resize');
  if (r) {
    const dec = new ResizeDecoder((w, h) => resize?.(w, h));
    r.on('data', (d: Buffer) => dec.feed(d.toString()));
  }
  return {
    stdin,
    stdout,
    stderr,
    onResize: (cb) => {
      resize = cb;
    },
    closed,
    async finish(result: CommandResult) {
      const body = protocol === 'v4.channel.k8s.io' ? statusJson(result) : legacyErrorText(result);
      if (body) await new Promise<void>((res) => error.write(body, () => res()));
      await new Promise<void>((res) => error.end(() => res()));
      for (const s of [stdout, stderr]) if (s && !s.writableEnded) s.end();
      // kubectl resets its streams and sends GOAWAY once it has read everything; then we close.
      await Promise.race([closed, new Promise<void>((res) => (session.goneAway ? res() : session.once('goaway', () => res()))), new Promise((res) => setTimeout(res, 10_000).unref())]);
      session.close();
    },
  };
}
