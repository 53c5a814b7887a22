import test from 'ava';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { frameCodec, parsePortForwardPorts, pickPortForwardProtocol, serveWsPortForward } from '../../../kubelet/server/ws-portforward.js';
import { StreamTargetError } from '../../../kubelet/server/streaming.js';

test('pickPortForwardProtocol: the client order; none offered is the plain binary protocol', (t) => {
  t.is(pickPortForwardProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'channel.k8s.io']), 'v4.channel.k8s.io');
  t.is(pickPortForwardProtocol(['v4.base64.channel.k8s.io', 'v4.channel.k8s.io']), 'v4.base64.channel.k8s.io');
  t.is(pickPortForwardProtocol([]), '');
  t.is(pickPortForwardProtocol(['v5.channel.k8s.io']), undefined);
});

test('parsePortForwardPorts: repeated and comma-separated; bad values are 400s', (t) => {
  t.deepEqual(parsePortForwardPorts(new URLSearchParams('port=80&port=8080,9090')), [80, 8080, 9090]);
  for (const q of ['', 'port=', 'port=0', 'port=65536', 'port=http', 'port=80,']) {
    const e = t.throws(() => parsePortForwardPorts(new URLSearchParams(q)), undefined, q);
    t.true(e instanceof StreamTargetError && e.code === 400, q);
  }
});

test('frameCodec: binary and base64 frames', (t) => {
  const bin = frameCodec('v4.channel.k8s.io');
  t.deepEqual(bin.encode(3, Buffer.from('hi')), { data: Buffer.from([3, 104, 105]), binary: true });
  t.deepEqual(bin.decode(Buffer.from([2, 1, 2]), true), { channel: 2, data: Buffer.from([1, 2]) });
  const b64 = frameCodec('v4.base64.channel.k8s.io');
  t.deepEqual(b64.encode(1, Buffer.from([0x50, 0x00])), { data: '1UAA=', binary: false });
  t.deepEqual(b64.decode(Buffer.from('0aGk='), false), { channel: 0, data: Buffer.from('hi') });
});

/** A WebSocket server forwarding to `ports` on 127.0.0.1, and a client of it collecting frames per channel. */
async function forward(t: { teardown(fn: () => void): void }, ports: number[], protocol = 'v4.channel.k8s.io') {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => protocol });
  await new Promise<void>((r) => wss.once('listening', r));
  wss.on('connection', (ws) => serveWsPortForward(ws, protocol, { address: '127.0.0.1', label: 'default/p', ports }));
  t.teardown(() => wss.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, [protocol]);
  const frames = new Map<number, Buffer[]>();
  const codec = frameCodec(protocol);
  ws.on('message', (d, isBinary) => {
    const f = codec.decode(Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer), isBinary)!;
    frames.set(f.channel, [...(frames.get(f.channel) ?? []), f.data]);
  });
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  await new Promise<void>((r, j) => ws.once('open', r).once('error', j));
  return { ws, frames, closed, send: (ch: number, s: string) => ws.send(codec.encode(ch, Buffer.from(s)).data) };
}

function until(what: string, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  return new Promise((resolve, reject) => {
    const tick = () => (fn() ? resolve() : Date.now() > deadline ? reject(new Error(`timed out waiting for ${what}`)) : setTimeout(tick, 10));
    tick();
  });
}

async function echoServer(): Promise<Server> {
  const s = createServer((c) => c.on('data', (d) => c.write(`echo:${d.toString()}`)));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}

for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
  test(`${protocol}: port headers first, data both ways, the socket per port`, async (t) => {
    const echo = await echoServer();
    t.teardown(() => echo.close());
    const port = (echo.address() as AddressInfo).port;
    const f = await forward(t, [port], protocol);
    const le = Buffer.alloc(2);
    le.writeUInt16LE(port);
    await until('both port headers', () => f.frames.has(0) && f.frames.has(1));
    t.deepEqual(f.frames.get(0)![0], le);
    t.deepEqual(f.frames.get(1)![0], le);
    f.send(0, 'hello');
    await until('the echo', () => Buffer.concat(f.frames.get(0)!.slice(1)).toString() === 'echo:hello');
    // Frames on the error channel or an unknown channel go nowhere.
    f.send(1, 'ignored');
    f.send(7, 'ignored');
    f.send(0, 'again');
    await until('the second echo', () => Buffer.concat(f.frames.get(0)!.slice(1)).toString() === 'echo:helloecho:again');
    f.ws.close();
    await f.closed;
  });
}

test('a closed port: the error channel says so and the WebSocket ends', async (t) => {
  const s = await echoServer();
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const f = await forward(t, [port]);
  await f.closed;
  const err = Buffer.concat(f.frames.get(1)!.slice(1)).toString();
  t.regex(err, new RegExp(`^error forwarding port ${port} to pod default/p: .*ECONNREFUSED`));
});

test('two ports: channels 0/1 and 2/3; the pod closing both ends the WebSocket', async (t) => {
  const a = createServer((c) => c.end('from-a'));
  const b = createServer((c) => c.end('from-b'));
  await Promise.all([a, b].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  t.teardown(() => {
    a.close();
    b.close();
  });
  const f = await forward(t, [(a.address() as AddressInfo).port, (b.address() as AddressInfo).port]);
  await f.closed;
  t.is(Buffer.concat(f.frames.get(0)!.slice(1)).toString(), 'from-a');
  t.is(Buffer.concat(f.frames.get(2)!.slice(1)).toString(), 'from-b');
  t.is(f.frames.get(2)![0]!.readUInt16LE(), (b.address() as AddressInfo).port);
  t.is(f.frames.get(1)!.length, 1, 'no error for port a');
});
