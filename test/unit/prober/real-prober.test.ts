import test from 'ava';
import { RealProber } from '../../../kubelet/prober/real.js';
import type { ExecProbeResult } from '../../../kubelet/prober/prober.js';
import { pino } from 'pino';
import { container, fail, httpServer, ok, recorder, target, tcpServer, waitFor } from './helpers.js';

// One probe "second" is 20 ms here; timeouts that involve real sockets get generous seconds.
const SECOND = 20;
const prober = () => new RealProber({ secondMs: SECOND, log: pino({ level: 'silent' }) });

/** Waits until n more probe periods have gone by, measured by an independent probe's attempts. */
async function periodsPass(n: number): Promise<void> {
  let attempts = 0;
  const stop = prober().watch(
    target(container({ livenessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }), async () => (attempts++, ok())),
    recorder().cb,
  );
  try {
    await waitFor(() => attempts >= n, `${n} witness periods`);
  } finally {
    stop();
  }
}

/** An exec that answers from a script per command, counting calls. */
function scripted(scripts: Record<string, ExecProbeResult[]>, after: ExecProbeResult = ok()) {
  const count: Record<string, number> = {};
  const exec = async (cmd: string[]): Promise<ExecProbeResult> => {
    const name = cmd[0];
    const i = (count[name] = (count[name] ?? 0) + 1) - 1;
    return scripts[name]?.[i] ?? after;
  };
  return { exec, count: (name: string) => count[name] ?? 0 };
}

test('without probes a container is started and ready at once', (t) => {
  const rec = recorder();
  const stop = prober().watch(target(container()), rec.cb);
  t.deepEqual(rec.calls, [{ t: 'started' }, { t: 'readiness', ready: true }]);
  stop();
});

test('readiness flips after successThreshold successes and failureThreshold failures', async (t) => {
  const script = [fail('a'), ok(), ok(), ok(), fail('b'), ok(), fail('c'), fail('d')];
  const s = scripted({ ready: script }, fail('e'));
  const rec = recorder();
  const at: number[] = [];
  const cb = { ...rec.cb, readiness: (r: boolean) => (at.push(s.count('ready')), rec.cb.readiness(r)) };
  const c = container({ readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1, successThreshold: 2, failureThreshold: 2 } });
  const stop = prober().watch(target(c, s.exec), cb);
  t.teardown(stop);
  t.deepEqual(rec.calls, [{ t: 'started' }], 'not ready until the probe says so');
  await waitFor(() => rec.of('readiness').length === 2, 'two readiness changes');
  stop();
  t.deepEqual(rec.of('readiness').map((r) => r.ready), [true, false]);
  t.deepEqual(at, [3, 8]);
  t.deepEqual(
    rec.of('unhealthy').map((u) => u.message),
    ['Readiness probe failed: a', 'Readiness probe failed: b', 'Readiness probe failed: c', 'Readiness probe failed: d'],
  );
});

test('liveness fails after failureThreshold consecutive failures, then probing stops', async (t) => {
  let hits = 0;
  const srv = await httpServer((_req, res) => {
    hits++;
    // One success in the middle breaks the run of failures.
    res.writeHead(hits === 3 ? 200 : 500).end();
  });
  t.teardown(() => srv.close());
  const rec = recorder();
  const c = container({
    ports: [{ name: 'http', containerPort: srv.port }],
    livenessProbe: { httpGet: { port: 'http', path: '/healthz' }, periodSeconds: 1, timeoutSeconds: 50, failureThreshold: 3 },
  });
  const stop = prober().watch(target(c), rec.cb);
  t.teardown(stop);
  t.deepEqual(rec.calls, [{ t: 'started' }, { t: 'readiness', ready: true }]);
  await waitFor(() => rec.of('failed').length === 1, 'liveness failure');
  t.is(hits, 6);
  t.deepEqual(rec.of('failed'), [{ t: 'failed', kind: 'Liveness', message: 'HTTP probe failed with statuscode: 500' }]);
  t.is(rec.of('unhealthy').length, 5);
  t.is(rec.of('unhealthy')[0].message, 'Liveness probe failed: HTTP probe failed with statuscode: 500');
  const calls = rec.calls.length;
  await periodsPass(4);
  t.is(hits, 6, 'no probe after the liveness failure');
  t.is(rec.calls.length, calls);
});

test('a startup probe gates liveness and readiness until it succeeds, then runs no more', async (t) => {
  let startupOk = false;
  const count: Record<string, number> = {};
  const exec = async (cmd: string[]): Promise<ExecProbeResult> => {
    count[cmd[0]] = (count[cmd[0]] ?? 0) + 1;
    if (cmd[0] === 'startup') return startupOk ? ok() : fail('not yet');
    return ok();
  };
  const rec = recorder();
  const c = container({
    startupProbe: { exec: { command: ['startup'] }, periodSeconds: 1, failureThreshold: 1000 },
    readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1 },
    livenessProbe: { exec: { command: ['live'] }, periodSeconds: 1 },
  });
  const stop = prober().watch(target(c, exec), rec.cb);
  t.teardown(stop);
  await waitFor(() => (count.startup ?? 0) >= 4, 'startup attempts');
  t.is(count.ready ?? 0, 0);
  t.is(count.live ?? 0, 0);
  t.is(rec.of('started').length, 0);
  t.is(rec.of('readiness').length, 0);
  t.is(rec.of('unhealthy')[0].message, 'Startup probe failed: not yet');
  startupOk = true;
  await waitFor(() => rec.of('readiness').length === 1, 'ready after startup');
  const order = rec.calls.filter((x) => x.t !== 'unhealthy');
  t.deepEqual(order, [{ t: 'started' }, { t: 'readiness', ready: true }]);
  const startups = count.startup;
  await waitFor(() => (count.live ?? 0) >= 3, 'liveness attempts after startup');
  t.is(count.startup, startups, 'startup probe stopped once it passed');
});

test('a startup probe that keeps failing fails the container', async (t) => {
  const s = scripted({}, fail('still booting', 2));
  const rec = recorder();
  const c = container({
    startupProbe: { exec: { command: ['startup'] }, periodSeconds: 1, failureThreshold: 2 },
    readinessProbe: { exec: { command: ['ready'] }, periodSeconds: 1 },
  });
  const stop = prober().watch(target(c, s.exec), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('failed').length === 1, 'startup failure');
  t.deepEqual(rec.of('failed'), [{ t: 'failed', kind: 'Startup', message: 'still booting' }]);
  t.is(rec.of('unhealthy').length, 2);
  t.is(rec.of('started').length, 0);
  t.is(rec.of('readiness').length, 0);
  await periodsPass(3);
  t.is(s.count('startup'), 2);
  t.is(s.count('ready'), 0);
});

test('initialDelaySeconds holds the first probe back', async (t) => {
  const began = Date.now();
  let first = 0;
  const rec = recorder();
  const c = container({ readinessProbe: { exec: { command: ['r'] }, initialDelaySeconds: 5, periodSeconds: 1 } });
  const stop = prober().watch(target(c, async () => ((first ||= Date.now()), ok())), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('readiness').length === 1, 'ready');
  t.true(first - began >= 5 * SECOND - 2, `first probe after ${first - began} ms`);
});

test('errored attempts are reported, retried, and not counted', async (t) => {
  let calls = 0;
  const rec = recorder();
  const c = container({ livenessProbe: { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 1 } });
  const stop = prober().watch(target(c, async () => (calls++, Promise.reject(new Error('container is not running')))), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('unhealthy').length >= 2, 'two errored probes');
  stop();
  t.is(rec.of('unhealthy')[0].message, 'Liveness probe errored: container is not running');
  t.is(rec.of('failed').length, 0);
  t.true(calls >= 6 && calls % 3 === 0, `three attempts per period, saw ${calls}`);
});

test('grpc probes are reported as unsupported and count as failures', async (t) => {
  const rec = recorder();
  const c = container({ livenessProbe: { grpc: { port: 9000 }, periodSeconds: 1, failureThreshold: 1 } });
  const stop = prober().watch(target(c), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('failed').length === 1, 'liveness failure');
  t.deepEqual(rec.of('unhealthy').map((u) => u.message), ['Liveness probe failed: grpc probes are not supported']);
  t.is(rec.of('failed')[0].message, 'grpc probes are not supported');
});

test('a redirect to another host makes the container ready with a warning', async (t) => {
  const srv = await httpServer((_req, res) => res.writeHead(302, { location: 'http://elsewhere.invalid/' }).end());
  t.teardown(() => srv.close());
  const rec = recorder();
  const c = container({ readinessProbe: { httpGet: { port: srv.port }, periodSeconds: 1, timeoutSeconds: 50 } });
  const stop = prober().watch(target(c), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('readiness').length === 1, 'ready');
  t.true(rec.of('readiness')[0].ready);
  t.is(rec.of('warning')[0].message, 'Readiness probe warning: Probe terminated redirects, Response body: ');
  t.is(rec.of('unhealthy').length, 0);
});

test('a tcpSocket readiness probe on a named port', async (t) => {
  const srv = await tcpServer();
  t.teardown(() => srv.close());
  const rec = recorder();
  const c = container({ ports: [{ name: 'db', containerPort: srv.port }], readinessProbe: { tcpSocket: { port: 'db' }, periodSeconds: 1, timeoutSeconds: 50 } });
  const stop = prober().watch(target(c), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('readiness').length === 1, 'ready');
  t.true(rec.of('readiness')[0].ready);
});

test('an unknown named port is an error on every attempt and never settles', async (t) => {
  const rec = recorder();
  const c = container({ readinessProbe: { tcpSocket: { port: 'nope' }, periodSeconds: 1 } });
  const stop = prober().watch(target(c), rec.cb);
  t.teardown(stop);
  await waitFor(() => rec.of('unhealthy').length >= 2, 'errors');
  stop();
  t.is(rec.of('unhealthy')[0].message, 'Readiness probe errored: port nope not found');
  t.is(rec.of('readiness').length, 0);
});

test('stop closes an in-flight HTTP probe, and nothing is called or probed afterwards', async (t) => {
  let requests = 0;
  let closed = 0;
  const srv = await httpServer((req) => {
    requests++;
    req.socket.on('close', () => closed++);
  });
  t.teardown(() => srv.close());
  const rec = recorder();
  const c = container({ readinessProbe: { httpGet: { port: srv.port }, periodSeconds: 1, timeoutSeconds: 1000 } });
  const stop = prober().watch(target(c), rec.cb);
  await waitFor(() => requests === 1, 'probe request');
  const calls = rec.calls.length;
  stop();
  await waitFor(() => closed === 1, 'probe connection closed by stop');
  await periodsPass(3);
  t.is(requests, 1);
  t.is(rec.calls.length, calls);
});

test('an exec answering after stop is ignored; stop during the initial delay prevents any probe', async (t) => {
  let answer: ((r: ExecProbeResult) => void) | undefined;
  const rec = recorder();
  const c = container({ livenessProbe: { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 1000 } });
  const stop = prober().watch(target(c, () => new Promise((r) => (answer = r))), rec.cb);
  await waitFor(() => answer !== undefined, 'exec in flight');
  stop();
  answer!(fail('dead'));
  let delayed = 0;
  const stop2 = prober().watch(
    target(container({ readinessProbe: { exec: { command: ['x'] }, initialDelaySeconds: 2 } }), async () => (delayed++, ok())),
    recorder().cb,
  );
  stop2();
  await periodsPass(4);
  t.deepEqual(rec.calls, [{ t: 'started' }, { t: 'readiness', ready: true }]);
  t.is(delayed, 0);
});

test('a callback may stop the prober from inside', async (t) => {
  let attempts = 0;
  const rec = recorder();
  const c = container({ readinessProbe: { exec: { command: ['x'] }, periodSeconds: 1 }, livenessProbe: { exec: { command: ['x'] }, periodSeconds: 1 } });
  const stop = prober().watch(target(c, async () => (attempts++, ok())), {
    ...rec.cb,
    readiness: (r) => {
      rec.cb.readiness(r);
      stop();
    },
  });
  await waitFor(() => rec.of('readiness').length === 1, 'ready');
  const seen = attempts;
  await periodsPass(3);
  t.is(attempts, seen);
});
