import test from 'ava';
import { WebSocketServer, WebSocket } from 'ws';
import { Readable } from 'node:stream';
import { wsCommandTransport } from '../../../kubelet/server/ws-channels.js';
import { ResizeDecoder, runCommand, statusJson } from '../../../kubelet/server/remotecommand.js';
import { CriLogDecoder, formatEntry, kubeletTime, parseLogQuery } from '../../../kubelet/server/logs.js';
import type { ExecSession } from '../../../kubelet/server/streaming.js';

test('status JSON: success, exit code cause, other errors', (t) => {
  t.deepEqual(JSON.parse(statusJson({ exitCode: 0 })), { metadata: {}, status: 'Success' });
  const s = JSON.parse(statusJson({ exitCode: 3, command: ['sh', '-c', 'exit 3'] }));
  t.is(s.reason, 'NonZeroExitCode');
  t.deepEqual(s.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  t.is(JSON.parse(statusJson({ error: 'boom' })).message, 'boom');
});

test('resize messages may come split or several at once', (t) => {
  const got: [number, number][] = [];
  const d = new ResizeDecoder((w, h) => got.push([w, h]));
  d.feed('{"Width":80,"Hei');
  d.feed('ght":24}\n{"Width":100,"Height":30}\n');
  t.deepEqual(got, [
    [80, 24],
    [100, 30],
  ]);
});

test('CRI log decoder joins partial lines per stream across chunks', (t) => {
  const d = new CriLogDecoder();
  const a = d.feed('2026-01-01T00:00:00.000000000Z stdout P par');
  t.deepEqual(a, []);
  const b = d.feed('t\n2026-01-01T00:00:01.000000000Z stderr F e\n2026-01-01T00:00:02.000000000Z stdout F ial\n');
  t.deepEqual(
    b.map((e) => formatEntry(e, false)),
    ['e\n', 'partial\n'],
  );
  d.feed('2026-01-01T00:00:03.000000000Z stdout P tail');
  t.deepEqual(d.flush().map((e) => formatEntry(e, true)), ['2026-01-01T00:00:03Z tail']);
});

test('log timestamps as kubelet prints them (RFC 3339 with nanoseconds, Z, no trailing zeros)', (t) => {
  t.is(kubeletTime('2026-11-28T07:05:56.443786670+00:00'), '2026-11-28T07:05:56.44378667Z');
  t.is(kubeletTime('2026-11-28T07:05:56.000000000+00:00'), '2026-11-28T07:05:56Z');
  t.is(kubeletTime('2026-11-28T07:05:56.5+02:00'), '2026-11-28T07:05:56.5+02:00');
  t.is(kubeletTime('2026-11-28T07:05:56.123456789Z'), '2026-11-28T07:05:56.123456789Z');
  t.is(kubeletTime('not a time'), 'not a time');
});

test('log query parameters', (t) => {
  const o = parseLogQuery(new URLSearchParams('follow=true&tailLines=5&timestamps=true&sinceSeconds=60&limitBytes=10'));
  t.true(o.follow && o.timestamps);
  t.is(o.tailLines, 5);
  t.is(o.limitBytes, 10);
  t.true(Date.now() - o.sinceTime!.getTime() >= 59_000);
  t.throws(() => parseLogQuery(new URLSearchParams('sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z')));
});

test('v5 channels over a real websocket: stdin with close signal, stdout, stderr, resize, status', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'v5.channel.k8s.io' });
  await new Promise((r) => wss.once('listening', r));
  const resizes: number[][] = [];
  const served = new Promise<void>((resolve) =>
    wss.once('connection', (ws) => {
      const tr = wsCommandTransport(ws, 'v5.channel.k8s.io', { stdin: true, stdout: true, stderr: true, tty: false });
      // A "process" that upper-cases stdin to stdout and exits 2.
      let input = '';
      const stdout = new Readable({ read() {} });
      const session: ExecSession = {
        stdout,
        stderr: Readable.from(['warn\n']),
        resize: (w, h) => void resizes.push([w, h]),
        exited: new Promise((res) => {
          tr.stdin!.on('data', (d: Buffer) => (input += d.toString()));
          tr.stdin!.on('end', () => {
            stdout.push(input.toUpperCase());
            stdout.push(null);
            res(2);
          });
        }),
        kill: () => undefined,
      };
      void runCommand({ ...tr, stdin: undefined }, session, ['x']).then(resolve);
    }),
  );
  const port = (wss.address() as { port: number }).port;
  const c = new WebSocket(`ws://127.0.0.1:${port}`, ['v5.channel.k8s.io']);
  const msgs: Buffer[] = [];
  c.on('message', (d: Buffer) => msgs.push(d));
  await new Promise((r) => c.once('open', r));
  c.send(Buffer.from([4, ...Buffer.from('{"Width":10,"Height":5}')]));
  c.send(Buffer.from([0, ...Buffer.from('abc')]));
  c.send(Buffer.from([255, 0]));
  const code = await new Promise<number>((r) => c.once('close', (n) => r(n)));
  await served;
  t.is(code, 1000);
  const by = (ch: number) => msgs.filter((m) => m[0] === ch).map((m) => m.subarray(1).toString()).join('');
  t.is(by(1), 'ABC');
  t.is(by(2), 'warn\n');
  t.is(JSON.parse(by(3)).details.causes[0].message, '2');
  t.is(msgs[msgs.length - 1]![0], 3, 'status comes last');
  t.deepEqual(resizes, [[10, 5]]);
  await new Promise((r) => wss.close(r));
});
