// Port-forward over the WebSocket channel protocol (what @kubernetes/client-node and older clients
// speak): the forwarded ports come from the request's `port` query parameters, port i owns
// channel 2i (data, both ways) and 2i+1 (errors, server to client), and the first frame the server
// sends on each of them carries the port as an unsigned 16-bit little-endian number. Each port gets
// one TCP connection to the pod; the WebSocket ends once every port's connection has ended.
import { connect, type Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { StreamTargetError } from './streaming.js';

/** Binary frames `<channel byte><data>`, or text frames `<'0'+channel><base64 data>`. */
export const WS_CHANNEL_PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

/** Frames above this many buffered bytes stop reading from the pod until the client catches up. */
const HIGH_WATER = 1 << 20;

/**
 * The subprotocol to answer with, in the client's order of preference: '' when the client offered
 * none (the unversioned binary protocol), undefined when nothing offered is spoken here.
 */
export function pickPortForwardProtocol(offered: string[]): string | undefined {
  if (!offered.length) return '';
  return offered.find((p) => (WS_CHANNEL_PORT_FORWARD_PROTOCOLS as readonly string[]).includes(p));
}

/** The ports of a WebSocket port-forward: every `port` value, each possibly comma-separated. */
export function parsePortForwardPorts(q: URLSearchParams): number[] {
  const values = q.getAll('port');
  if (!values.length) throw new StreamTargetError('query parameter "port" is required');
  const ports: number[] = [];
  for (const v of values) {
    if (!v) throw new StreamTargetError('query parameter "port" cannot be empty');
    for (const p of v.split(',')) {
      if (!/^\d+$/.test(p) || Number(p) > 65535) throw new StreamTargetError(`unable to parse ${JSON.stringify(v)} as a port`);
      if (Number(p) < 1) throw new StreamTargetError(`port ${JSON.stringify(v)} must be > 0`);
      ports.push(Number(p));
    }
  }
  return ports;
}

export interface FrameCodec {
  encode(channel: number, data: Buffer): { data: Buffer | string; binary: boolean };
  decode(msg: Buffer, isBinary: boolean): { channel: number; data: Buffer } | undefined;
}

export function frameCodec(protocol: string): FrameCodec {
  if (protocol.includes('base64')) {
    return {
      encode: (channel, data) => ({ data: String.fromCharCode(48 + channel) + data.toString('base64'), binary: false }),
      decode: (msg) => (msg.length ? { channel: msg[0]! - 48, data: Buffer.from(msg.subarray(1).toString('latin1'), 'base64') } : undefined),
    };
  }
  return {
    encode: (channel, data) => ({ data: Buffer.concat([Buffer.from([channel]), data]), binary: true }),
    decode: (msg) => (msg.length ? { channel: msg[0]!, data: msg.subarray(1) } : undefined),
  };
}

function toBuffer(d: RawData): Buffer {
  if (Buffer.isBuffer(d)) return d;
  if (Array.isArray(d)) return Buffer.concat(d);
  return Buffer.from(d);
}

export interface WsPortForwardTarget {
  address: string;
  /** namespace/name, for error messages */
  label: string;
  ports: number[];
  /** dials the pod (tests replace it) */
  dial?: (host: string, port: number) => Socket;
}

export function serveWsPortForward(ws: WebSocket, protocol: string, t: WsPortForwardTarget): void {
  const codec = frameCodec(protocol);
  const dial = t.dial ?? ((host: string, port: number) => connect({ host, port }));
  const sockets: (Socket | undefined)[] = [];
  let open = t.ports.length;
  const send = (channel: number, data: Buffer, done?: () => void) => {
    if (ws.readyState !== ws.OPEN) return;
    const f = codec.encode(channel, data);
    ws.send(f.data, { binary: f.binary }, () => done?.());
  };
  const portDone = () => {
    if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000);
  };

  t.ports.forEach((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    send(2 * i, portBytes);
    send(2 * i + 1, portBytes);
    const sock = dial(t.address, port);
    sockets[i] = sock;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      sockets[i] = undefined;
      // Reading may have stopped for this socket's backlog: the other ports still need the client.
      if (ws.isPaused) ws.resume();
      portDone();
    };
    sock.on('data', (d: Buffer) => {
      send(2 * i, d, () => {
        if (sock.isPaused() && ws.bufferedAmount < HIGH_WATER) sock.resume();
      });
      if (ws.bufferedAmount >= HIGH_WATER) sock.pause();
    });
    sock.on('error', (e) => {
      // The message goes out before the close that finish() may send.
      send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${t.label}: ${e.message}`));
      sock.destroy();
      finish();
    });
    sock.on('close', finish);
  });

  ws.on('message', (raw, isBinary) => {
    const f = codec.decode(toBuffer(raw), isBinary);
    // Frames for an error channel or a channel that does not exist carry nothing for the pod.
    if (!f || f.channel % 2 !== 0 || f.channel < 0) return;
    const sock = sockets[f.channel / 2];
    if (!sock || !f.data.length) return;
    if (!sock.write(f.data)) {
      ws.pause();
      sock.once('drain', () => ws.resume());
    }
  });
  ws.on('error', () => undefined);
  ws.once('close', () => {
    for (const s of sockets) s?.destroy();
  });
}
