// Port-forward over a SPDY session (raw, or carried in WebSocket messages): for each forwarded
// connection the client opens an `error` and a `data` stream sharing a `requestid` and naming the
// `port`; the data stream is joined to a TCP connection to the pod's address.
import { connect } from 'node:net';
import type { SpdySession, SpdyStream } from './spdy.js';

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
export const WS_PORT_FORWARD_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
}

export function servePortForward(session: SpdySession, podAddress: string, podLabel: string): void {
  const pairs = new Map<string, Pair>();
  const fail = (pair: Pair, message: string) => {
    if (pair.error && !pair.error.writableEnded) pair.error.end(message);
    pair.data?.reset();
  };
  session.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = s.header('streamtype');
    const requestId = s.header('requestid') ?? '';
    const portText = s.header('port') ?? '';
    if ((type !== 'error' && type !== 'data') || !requestId) {
      s.reset();
      return;
    }
    void s.reply().catch(() => undefined);
    const pair = pairs.get(requestId) ?? {};
    pairs.set(requestId, pair);
    if (pair[type]) {
      s.reset();
      return;
    }
    pair[type] = s;
    s.once('close', () => {
      if (pair.error?.destroyed !== false && pair.data?.destroyed !== false) pairs.delete(requestId);
    });
    if (type === 'error') {
      s.resume();
      return;
    }
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      // The error stream may come after the data stream; answer on it when it is there.
      const report = () => fail(pair, `invalid port ${JSON.stringify(portText)}`);
      if (pair.error) report();
      else session.once('stream', () => setImmediate(report));
      return;
    }
    const sock = connect({ host: podAddress, port });
    sock.on('connect', () => {
      s.pipe(sock);
      sock.pipe(s);
    });
    sock.on('error', (e) => fail(pair, `error forwarding port ${port} to pod ${podLabel}: ${e.message}`));
    s.once('reset', () => sock.destroy());
    s.once('close', () => sock.destroy());
  });
}
