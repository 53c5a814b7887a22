import test from 'ava';
import { createHash } from 'node:crypto';
import { createServer, connect, type Socket } from 'node:net';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import {
  FrameReader,
  HeaderCompressor,
  SPDY3_DICTIONARY,
  SpdySession,
  decodeHeaderBlock,
  encodeFrame,
  encodeHeaderBlock,
  type Frame,
  type SpdyStream,
} from '../../../kubelet/server/spdy.js';

test('the SPDY/3 dictionary is the one the spec defines', (t) => {
  t.is(SPDY3_DICTIONARY.length, 1423);
  t.is(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
});

test('header blocks: encode/decode with several values per name', (t) => {
  const h = { streamtype: ['data'], port: ['80'], multi: ['a', 'b'] };
  t.deepEqual(decodeHeaderBlock(encodeHeaderBlock(h)), h);
});

test('compressed header blocks end in a sync flush and inflate with the dictionary in node zlib', async (t) => {
  const c = new HeaderCompressor();
  const a = await c.compress({ streamtype: ['error'] });
  const b = await c.compress({ streamtype: ['stdout'] });
  // The sync-flush tail: an empty stored block.
  t.deepEqual([...a.subarray(-4)], [0x00, 0x00, 0xff, 0xff]);
  t.deepEqual([...b.subarray(-4)], [0x00, 0x00, 0xff, 0xff]);
  // One zlib stream per direction: the two blocks inflate together.
  const both = inflateSync(Buffer.concat([a, b]), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  const first = encodeHeaderBlock({ streamtype: ['error'] });
  t.deepEqual(decodeHeaderBlock(both.subarray(0, first.length)), { streamtype: ['error'] });
  t.deepEqual(decodeHeaderBlock(both.subarray(first.length)), { streamtype: ['stdout'] });
  // And a block node's own deflate made (with the dictionary) is read by our reader.
  const foreign = deflateSync(encodeHeaderBlock({ port: ['8080'] }), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  const frames: Frame[] = [];
  const r = new FrameReader((f) => frames.push(f), (e) => t.fail(e.message));
  const head = Buffer.alloc(18);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(1, 2);
  head.writeUInt32BE(10 + foreign.length, 4);
  head.writeUInt32BE(1, 8);
  r.push(Buffer.concat([head, foreign]));
  await r.drained();
  t.like(frames[0], { type: 'syn_stream', streamId: 1, headers: { port: ['8080'] } });
  c.close();
  r.close();
});

test('every frame type round-trips, split at every byte boundary', async (t) => {
  const c = new HeaderCompressor();
  const frames: Frame[] = [
    { type: 'syn_stream', streamId: 1, associatedId: 0, priority: 3, flags: 0, headers: { streamtype: ['error'], requestid: ['0'] } },
    { type: 'syn_reply', streamId: 1, flags: 0, headers: {} },
    { type: 'data', streamId: 1, flags: 1, data: Buffer.from('hello') },
    { type: 'headers', streamId: 1, flags: 0, headers: { a: ['b'] } },
    { type: 'rst_stream', streamId: 1, status: 5 },
    { type: 'settings', flags: 0, entries: [{ id: 7, flags: 0, value: 1000 }] },
    { type: 'ping', id: 2 },
    { type: 'window_update', streamId: 3, delta: 4096 },
    { type: 'goaway', lastGoodStreamId: 7, status: 0 },
  ];
  const wire = Buffer.concat(await Promise.all(frames.map((f) => encodeFrame(f, c))));
  const got: Frame[] = [];
  const r = new FrameReader((f) => got.push(f), (e) => t.fail(e.message));
  for (let i = 0; i < wire.length; i++) r.push(wire.subarray(i, i + 1));
  await r.drained();
  t.deepEqual(got, frames);
  c.close();
  r.close();
});

async function sessionPair(clientWindow?: number): Promise<{ client: SpdySession; server: SpdySession; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const srv = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = connect((srv.address() as { port: number }).port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  while (!sockets.length) await new Promise((r) => setImmediate(r));
  const server = new SpdySession(sockets[0]!, { server: true });
  const client = new SpdySession(c, { server: false, announceSettings: clientWindow !== undefined, receiveWindow: clientWindow });
  return {
    client,
    server,
    close: async () => {
      client.close();
      server.close();
      c.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

test('streams: open, reply, data both ways, half-close', async (t) => {
  const { client, server, close } = await sessionPair();
  server.on('stream', (s: SpdyStream) => {
    void s.reply();
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
  });
  const s = await client.open({ streamtype: ['data'] });
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString()));
  s.write('ping');
  s.end();
  await new Promise((r) => s.once('end', r));
  t.is(got, 'echo:ping');
  await close();
});

test('flow control: a peer that announces a window is never sent more than it credited', async (t) => {
  const window = 4096;
  const { client, server, close } = await sessionPair(window);
  const total = 200_000;
  let maxInFlight = 0;
  server.on('stream', (s: SpdyStream) => {
    void s.reply();
    s.resume();
    s.end(Buffer.alloc(total, 7));
  });
  const s = await client.open({ streamtype: ['data'] });
  let received = 0;
  // Read slowly: the server must stop at the window until we consume.
  s.pause();
  const done = new Promise<void>((resolve) => {
    const tick = () => {
      // What the server could have sent without credit shows up as an overdrawn window.
      maxInFlight = Math.max(maxInFlight, window - s.recvWindow);
      let chunk: Buffer | null;
      while ((chunk = s.read() as Buffer | null)) received += chunk.length;
      if (received >= total) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  s.end();
  await done;
  t.is(received, total);
  t.true(server.peerFlowControl);
  t.true(maxInFlight <= window, `in flight ${maxInFlight}`);
  await close();
});

test('flow control: a peer that never speaks of windows (spdystream) is not held back', async (t) => {
  const { client, server, close } = await sessionPair();
  const total = 300_000;
  server.on('stream', (s: SpdyStream) => {
    void s.reply();
    s.resume();
    s.end(Buffer.alloc(total, 1));
  });
  const s = await client.open({ streamtype: ['data'] });
  let received = 0;
  s.on('data', (d: Buffer) => (received += d.length));
  s.end();
  await new Promise((r) => s.once('end', r));
  t.is(received, total);
  t.false(server.peerFlowControl);
  await close();
});

test('RST_STREAM ends the stream on the other side', async (t) => {
  const { client, server, close } = await sessionPair();
  let serverStream: SpdyStream | undefined;
  server.on('stream', (s: SpdyStream) => {
    serverStream = s;
    void s.reply();
  });
  const s = await client.open({ streamtype: ['data'] });
  const reset = new Promise((r) => serverStream!.once('reset', r));
  s.reset();
  await reset;
  t.pass();
  await close();
});
