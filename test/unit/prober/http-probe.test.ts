import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import { runHttpProbe, PROBE_USER_AGENT } from '../../../kubelet/prober/real.js';
import { closedPort, container, httpServer, tcpServer, waitFor } from './helpers.js';

const ctx = (ports?: { name?: string; containerPort: number }[]) => ({ podIP: '127.0.0.1', container: container({ ports }) });

test('2xx is a success; the probe sends kubelet headers', async (t) => {
  let seen: IncomingHttpHeaders = {};
  let url = '';
  const s = await httpServer((req, res) => {
    seen = req.headers;
    url = req.url ?? '';
    res.end('fine');
  });
  t.teardown(() => s.close());
  const r = await runHttpProbe(
    { port: s.port, path: '/healthz?x=1', httpHeaders: [{ name: 'X-Custom', value: 'a' }, { name: 'Host', value: 'example.test' }] },
    ctx(),
    5000,
  );
  t.deepEqual(r, { result: 'success', message: 'fine' });
  t.is(url, '/healthz?x=1');
  t.is(seen['user-agent'], PROBE_USER_AGENT);
  t.is(seen['accept'], '*/*');
  t.is(seen['x-custom'], 'a');
  t.is(seen['host'], 'example.test');
});

test('a header given by the probe replaces the default User-Agent; path defaults to /', async (t) => {
  let seen: IncomingHttpHeaders = {};
  let url = '';
  const s = await httpServer((req, res) => {
    seen = req.headers;
    url = req.url ?? '';
    res.end();
  });
  t.teardown(() => s.close());
  const r = await runHttpProbe({ port: s.port, httpHeaders: [{ name: 'user-agent', value: 'mine' }] }, ctx(), 5000);
  t.is(r.result, 'success');
  t.is(seen['user-agent'], 'mine');
  t.is(url, '/');
});

test('status 400 and above fails with the status code', async (t) => {
  const s = await httpServer((_req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
  t.teardown(() => s.close());
  t.deepEqual(await runHttpProbe({ port: s.port }, ctx(), 5000), { result: 'failure', message: 'HTTP probe failed with statuscode: 500' });
});

test('refused connection reads like Go', async (t) => {
  const port = await closedPort();
  const r = await runHttpProbe({ port, path: '/healthz' }, ctx(), 5000);
  t.deepEqual(r, {
    result: 'failure',
    message: `Get "http://127.0.0.1:${port}/healthz": dial tcp 127.0.0.1:${port}: connect: connection refused`,
  });
});

test('named ports resolve against the container; an unknown name is a probe error', async (t) => {
  const s = await httpServer((_req, res) => res.end());
  t.teardown(() => s.close());
  t.is((await runHttpProbe({ port: 'http' }, ctx([{ name: 'http', containerPort: s.port }]), 5000)).result, 'success');
  t.is((await runHttpProbe({ port: String(s.port) }, ctx(), 5000)).result, 'success', 'a number sent as string');
  t.deepEqual(await runHttpProbe({ port: 'metrics' }, ctx([{ name: 'http', containerPort: s.port }]), 5000), {
    result: 'error',
    message: 'port metrics not found',
  });
  t.is((await runHttpProbe({ port: 70000 }, ctx(), 5000)).message, 'invalid port number: 70000');
});

test('redirects on the same host are followed, also to another port', async (t) => {
  const other = await httpServer((req, res) => res.end(`other ${req.url}`));
  t.teardown(() => other.close());
  const s = await httpServer((req, res) => {
    if (req.url === '/a') {
      res.writeHead(302, { location: '/b' }).end();
    } else if (req.url === '/b') {
      res.writeHead(301, { location: `http://127.0.0.1:${other.port}/c` }).end();
    } else res.writeHead(404).end();
  });
  t.teardown(() => s.close());
  t.deepEqual(await runHttpProbe({ port: s.port, path: '/a' }, ctx(), 5000), { result: 'success', message: 'other /c' });
});

test('a redirect to a failing page fails', async (t) => {
  const s = await httpServer((req, res) => {
    if (req.url === '/') res.writeHead(307, { location: '/down' }).end();
    else res.writeHead(503).end();
  });
  t.teardown(() => s.close());
  t.is((await runHttpProbe({ port: s.port }, ctx(), 5000)).message, 'HTTP probe failed with statuscode: 503');
});

test('a redirect to another host is not followed: success with a warning', async (t) => {
  let hits = 0;
  const s = await httpServer((_req, res) => {
    hits++;
    res.writeHead(302, { location: 'http://elsewhere.invalid/x' }).end('moved');
  });
  t.teardown(() => s.close());
  t.deepEqual(await runHttpProbe({ port: s.port }, ctx(), 5000), {
    result: 'warning',
    message: 'Probe terminated redirects, Response body: moved',
  });
  t.is(hits, 1);
});

test('a redirect loop stops after 10 redirects', async (t) => {
  let hits = 0;
  const s = await httpServer((req, res) => {
    hits++;
    res.writeHead(302, { location: `/r${hits}` }).end();
  });
  t.teardown(() => s.close());
  const r = await runHttpProbe({ port: s.port }, ctx(), 5000);
  t.is(r.result, 'failure');
  t.is(r.message, `Get "http://127.0.0.1:${s.port}/r10": stopped after 10 redirects`);
  t.is(hits, 10);
});

test('a server that does not answer in time fails with a deadline message and the socket is closed', async (t) => {
  let opened = 0;
  let closed = 0;
  const s = await httpServer(() => {});
  s.server.on('connection', (sock) => {
    opened++;
    sock.on('close', () => closed++);
  });
  t.teardown(() => s.close());
  const began = Date.now();
  const r = await runHttpProbe({ port: s.port, path: '/slow' }, ctx(), 100);
  t.true(Date.now() - began >= 95);
  t.deepEqual(r, {
    result: 'failure',
    message: `Get "http://127.0.0.1:${s.port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
  });
  await waitFor(() => opened > 0 && closed === opened, 'server side of the probe connection to close');
  t.pass();
});

test('only 10 KiB of an endless body is read', async (t) => {
  const s = await httpServer((_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(4096, 'a');
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('error', () => {});
    pump();
  });
  t.teardown(() => s.close());
  const r = await runHttpProbe({ port: s.port }, ctx(), 5000);
  t.is(r.result, 'success');
  t.is(r.message.length, 10 * 1024);
});

test('a connection closed without an answer fails with EOF', async (t) => {
  const raw = await tcpServer();
  raw.server.on('connection', (sock) => sock.once('data', () => sock.end()));
  t.teardown(() => raw.close());
  const r = await runHttpProbe({ port: raw.port }, ctx(), 5000);
  t.deepEqual(r, { result: 'failure', message: `Get "http://127.0.0.1:${raw.port}/": EOF` });
});

test('an unsupported scheme fails', async (t) => {
  const r = await runHttpProbe({ port: 80, scheme: 'FTP' }, ctx(), 5000);
  t.is(r.result, 'failure');
  t.regex(r.message, /unsupported protocol scheme "ftp"/);
});

test('an aborted probe ends at once as an error', async (t) => {
  const s = await httpServer(() => {});
  t.teardown(() => s.close());
  const ac = new AbortController();
  const p = runHttpProbe({ port: s.port }, ctx(), 10_000, ac.signal);
  ac.abort();
  t.is((await p).result, 'error');
});

// Generated asynchronously: a synchronous openssl run would stall the other tests' sockets.
async function selfSignedCert(): Promise<{ key: Buffer; cert: Buffer } | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'probe-tls-'));
  try {
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=probe-test', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('HTTPS does not verify the certificate; HTTPS against plain HTTP fails', async (t) => {
  const tls = await selfSignedCert();
  if (!tls) {
    t.log('openssl not available: HTTPS success path not tested');
  } else {
    const server = https.createServer(tls, (_req, res) => res.end('secure'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const port = (server.address() as { port: number }).port;
    t.deepEqual(await runHttpProbe({ port, scheme: 'HTTPS' }, ctx(), 5000), { result: 'success', message: 'secure' });
  }
  const plain = await httpServer((_req, res) => res.end());
  t.teardown(() => plain.close());
  const r = await runHttpProbe({ port: plain.port, scheme: 'HTTPS' }, ctx(), 5000);
  t.is(r.result, 'failure');
  t.regex(r.message, new RegExp(`^Get "https://127.0.0.1:${plain.port}/": tls: `));
});

test('a header Node cannot send is a probe error, not a crash', async (t) => {
  const r = await runHttpProbe({ port: 80, httpHeaders: [{ name: 'X-Bad', value: 'a\nb' }] }, ctx(), 5000);
  t.is(r.result, 'error');
});
