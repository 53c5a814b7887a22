// The proxy subresources (pods|services|nodes/NAME/proxy/PATH) and WebSocket-channel port-forward
// (@kubernetes/client-node's PortForward), through a real `skiff server` with the real kubectl, to
// backends in this process: an HTTP server standing in for a pod (at this host's own non-loopback
// address, since the API server only proxies to global unicast pod IPs) and a NodeServer.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import { WebSocket, WebSocketServer } from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiClient, type ApiClient } from '../helpers/api-client.js';
import { waitFor } from '../helpers/wait.js';
import { NodeServer } from '../../kubelet/server/node-server.js';
import { ensureServingCert } from '../../kubelet/server/serving-cert.js';
import { KUBELET_CLIENT_CN } from '../../apiserver/auth/pki.js';
import { StreamTargetError, type StreamingRuntime } from '../../kubelet/server/streaming.js';

const hostIP = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

let srv: TestServer;
let api: ApiClient;
let work: string;
let node: NodeServer;
let backend: HttpServer;
let backendPort: number;
let wss: WebSocketServer;
let tlsBackend: HttpsServer;
let tlsPort: number;
let echo: TcpServer;
let echoPort: number;
const children = new Set<ChildProcess>();
const podList = [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' } }];

const runtime: StreamingRuntime = {
  logs: () => Promise.reject(new StreamTargetError('no logs here', 404)),
  exec: () => Promise.reject(new StreamTargetError('no exec here')),
  podAddress: async (ns, pod) => {
    if (ns !== 'default' || pod !== 'p') throw new StreamTargetError(`pod ${ns}/${pod} is not on this node`, 404);
    return hostIP!;
  },
};

/** Says back what it got: method, URL, headers and body; a few paths redirect or stream. */
function startBackend(): HttpServer {
  return createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/redirect') return void res.writeHead(302, { Location: '/target?a=1' }).end();
      if (req.url === '/redirect-abs') return void res.writeHead(302, { Location: `http://${req.headers.host}/abs/` }).end();
      if (req.url === '/redirect-away') return void res.writeHead(302, { Location: 'https://example.com/x' }).end();
      if (req.url === '/stream') {
        // The first chunk must reach the client before the backend ends the response.
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first\n');
        const t = setInterval(() => res.write('tick\n'), 50);
        res.once('close', () => clearInterval(t));
        return;
      }
      res.writeHead(201, { 'Content-Type': 'application/json', 'X-Backend': 'yes', 'Access-Control-Allow-Origin': '*', Connection: 'X-Private, keep-alive', 'X-Private': 'hop' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
}

if (!hostIP) {
  test.skip('proxy subresources (skipped: this host has no non-loopback IPv4 address)', (t) => t.pass());
} else {
  test.before(async () => {
    srv = await startServer({ args: ['--disable-controllers'] });
    api = apiClient(srv.kubeconfig);
    work = mkdtempSync(join(tmpdir(), 'skiff-proxy-'));
    const cert = ensureServingCert(join(work, 'pki'), 'node1');
    node = new NodeServer({ runtime, cert: cert.cert, key: cert.key, caCert: readFileSync(join(srv.dataDir, 'tls', 'ca.crt'), 'utf8'), allowedClientCN: KUBELET_CLIENT_CN, port: 0, host: '127.0.0.1', pods: async () => podList });
    const nodePort = await node.start();
    backend = startBackend();
    wss = new WebSocketServer({ server: backend, path: '/ws' });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-forwarded-uri']} auth=${req.headers.authorization ?? 'none'}`);
      ws.on('message', (d) => ws.send(`echo:${d.toString()}`));
    });
    await new Promise<void>((r) => backend.listen(0, hostIP, r));
    backendPort = (backend.address() as AddressInfo).port;
    const tlsCert = ensureServingCert(join(work, 'backend-pki'), 'backend', [hostIP!]);
    tlsBackend = createHttpsServer({ cert: tlsCert.cert, key: tlsCert.key }, (req, res) => res.end(`tls ${req.url}`));
    await new Promise<void>((r) => tlsBackend.listen(0, hostIP, r));
    tlsPort = (tlsBackend.address() as AddressInfo).port;
    echo = createTcpServer((s) => s.on('data', (d) => s.write(`echo:${d.toString()}`)));
    await new Promise<void>((r) => echo.listen(0, hostIP, r));
    echoPort = (echo.address() as AddressInfo).port;

    const objects: unknown[] = [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node1' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', labels: { app: 'web' } }, spec: { nodeName: 'node1', containers: [{ name: 'c1', image: 'busybox', ports: [{ name: 'http', containerPort: backendPort }] }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending', namespace: 'default' }, spec: { containers: [{ name: 'c1', image: 'busybox' }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
      {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: 'web', namespace: 'default' },
        subsets: [{ addresses: [{ ip: hostIP, targetRef: { kind: 'Pod', namespace: 'default', name: 'p' } }], ports: [{ name: 'http', port: backendPort }] }],
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'empty', namespace: 'default' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'empty', namespace: 'default' }, subsets: [] },
      // An endpoint that names no pod: the API server must not go there.
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'rogue', namespace: 'default' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'rogue', namespace: 'default' }, subsets: [{ addresses: [{ ip: hostIP }], ports: [{ port: backendPort }] }] },
    ];
    for (const o of objects) {
      const r = await srv.kubectl(['create', '-f', '-'], { input: JSON.stringify(o) });
      if (r.code) throw new Error(r.stderr);
    }
    const patches: [string, unknown][] = [
      ['node/node1', { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: nodePort } } } }],
      ['pod/p', { status: { phase: 'Running', podIP: hostIP, podIPs: [{ ip: hostIP }] } }],
    ];
    for (const [what, patch] of patches) {
      const r = await srv.kubectl(['patch', what, '--subresource=status', '--type=merge', '-p', JSON.stringify(patch)]);
      if (r.code) throw new Error(r.stderr);
    }
  });

  test.after.always(async () => {
    for (const c of children) c.kill('SIGKILL');
    api?.close();
    await node?.stop();
    for (const c of wss?.clients ?? []) c.terminate();
    wss?.close();
    backend?.closeAllConnections();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
    await new Promise<void>((r) => (tlsBackend ? tlsBackend.close(() => r()) : r()));
    await srv?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const base = '/api/v1/namespaces/default';

  test('client-node PortForward (v4.channel.k8s.io through the API server): data both ways', async (t) => {
    const kc = new KubeConfig();
    kc.loadFromFile(srv.kubeconfig);
    const out = new PassThrough();
    const err = new PassThrough();
    const input = new PassThrough();
    let got = '';
    let errText = '';
    out.on('data', (d: Buffer) => (got += d.toString()));
    err.on('data', (d: Buffer) => (errText += d.toString()));
    const ws = (await new PortForward(kc).portForward('default', 'p', [echoPort], out, err, input)) as unknown as WebSocket;
    t.is(ws.protocol, 'v4.channel.k8s.io');
    input.write('ping');
    await waitFor('the echo of ping', 5000, async () => got === 'echo:ping');
    input.write('pong');
    await waitFor('the echo of pong', 5000, async () => got === 'echo:pingecho:pong');
    t.is(errText, '');
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    input.end();
    await closed;
  });

  test('client-node PortForward to a closed port: the error channel says why', async (t) => {
    const kc = new KubeConfig();
    kc.loadFromFile(srv.kubeconfig);
    const closedPort = await new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, hostIP, () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const err = new PassThrough();
    let errText = '';
    err.on('data', (d: Buffer) => (errText += d.toString()));
    const ws = (await new PortForward(kc).portForward('default', 'p', [closedPort], new PassThrough(), err, new PassThrough())) as unknown as WebSocket;
    await new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', () => r())));
    t.regex(errText, new RegExp(`error forwarding port ${closedPort} to pod default/p: .*ECONNREFUSED`));
  });

  test('port-forward: ports= is checked by the API server, a WebSocket without ports is refused by the node', async (t) => {
    let r = await api.request('GET', `${base}/pods/p/portforward?ports=http`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'v4.channel.k8s.io' } });
    t.is(r.status, 400);
    t.regex(r.json().message, /invalid port "http"/);
    r = await api.request('GET', `${base}/pods/p/portforward`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'v4.channel.k8s.io' } });
    t.is(r.status, 400);
    t.regex(r.json().message, /query parameter "port" is required/);
  });

  test('kubectl get --raw through pods/NAME:PORT/proxy and services/NAME:PORT/proxy', async (t) => {
    for (const path of [`${base}/pods/p:${backendPort}/proxy/hello?x=1&y=a+b`, `${base}/pods/p/proxy/hello?x=1&y=a+b`, `${base}/pods/p:http/proxy/hello?x=1&y=a+b`, `${base}/services/web:80/proxy/hello?x=1&y=a+b`, `${base}/services/web:http/proxy/hello?x=1&y=a+b`, `${base}/services/http:web:http/proxy/hello?x=1&y=a+b`]) {
      const r = await srv.kubectl(['get', '--raw', path]);
      t.is(r.code, 0, `${path}: ${r.stderr}`);
      const got = JSON.parse(r.stdout);
      t.is(got.method, 'GET', path);
      t.is(got.url, '/hello?x=1&y=a+b', path);
      t.is(got.headers.authorization, undefined, 'the caller token stays with the API server');
      t.is(got.headers['x-forwarded-proto'], 'https');
      t.is(got.headers['x-forwarded-uri'], path.split('?')[0]);
    }
    const root = await srv.kubectl(['get', '--raw', `${base}/services/web:80/proxy/`]);
    t.is(JSON.parse(root.stdout).url, '/');
  });

  test('https:NAME:PORT speaks TLS to the pod', async (t) => {
    const r = await srv.kubectl(['get', '--raw', `${base}/pods/https:p:${tlsPort}/proxy/secure?q=1`]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'tls /secure?q=1');
    // Plain HTTP to a TLS port is the backend's business: it answers what it answers, no hang.
    const plain = await api.request('GET', `${base}/pods/p:${tlsPort}/proxy/`, { timeoutMs: 10_000 });
    t.not(plain.status, 200);
  });

  test('methods, bodies, headers and status codes pass through', async (t) => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const r = await api.request(method, `${base}/services/web:80/proxy/api/items%2F1?dry=true`, { body: `body of ${method}`, contentType: 'text/plain', headers: { 'X-Custom': 'kept', 'Impersonate-User': 'root' } });
      t.is(r.status, 201, `${method}: ${r.text}`);
      const got = r.json();
      t.is(got.method, method);
      t.is(got.url, '/api/items%2F1?dry=true');
      t.is(got.body, `body of ${method}`);
      t.is(got.headers['x-custom'], 'kept');
      t.is(got.headers['impersonate-user'], undefined);
      t.is(r.headers['x-backend'], 'yes');
      t.is(r.headers['access-control-allow-origin'], undefined, 'CORS headers of the backend are dropped');
      t.is(r.headers['x-private'], undefined, 'headers the backend listed in Connection are hop-by-hop');
    }
    const chunked = await api.request('POST', `${base}/pods/p/proxy/upload`, { body: 'y'.repeat(1_000_000), contentType: 'application/octet-stream', omitLength: true });
    t.is(chunked.json().body.length, 1_000_000);
    const head = await api.request('HEAD', `${base}/pods/p/proxy/x`);
    t.is(head.status, 201);
    t.is(head.text, '');
  });

  test('responses stream: the first chunks arrive while the backend is still writing', async (t) => {
    const { creds } = api;
    const u = new URL(creds.server);
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: u.hostname, port: u.port, path: `${base}/pods/p/proxy/stream`, ca: creds.ca, headers: { Authorization: `Bearer ${creds.token}` } }, (res) => {
        let buf = '';
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('tick')) {
            resolve(buf);
            req.destroy();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    t.true(text.startsWith('first\ntick\n'));
  });

  test('redirects: an empty proxy path gets its slash; Location headers stay behind the proxy', async (t) => {
    let r = await api.request('GET', `${base}/services/web:80/proxy?a=b`);
    t.is(r.status, 301);
    t.is(r.headers.location, `${base}/services/web:80/proxy/?a=b`);
    r = await api.request('GET', `${base}/services/web:80/proxy/redirect`);
    t.is(r.status, 302);
    t.is(r.headers.location, `${base}/services/web:80/proxy/target?a=1`);
    r = await api.request('GET', `${base}/pods/p/proxy/redirect-abs`);
    t.is(r.status, 302);
    t.is(r.headers.location, `${api.creds.server}${base}/pods/p/proxy/abs/`);
    r = await api.request('GET', `${base}/pods/p/proxy/redirect-away`);
    t.is(r.headers.location, 'https://example.com/x');
  });

  test('errors are Status objects: 503 without endpoints, 404 for unknown objects, 400 for bad IDs and ports', async (t) => {
    const cases: [string, number, string | RegExp][] = [
      [`${base}/services/empty/proxy/`, 503, 'no endpoints available for service "empty"'],
      [`${base}/services/rogue/proxy/`, 503, 'no endpoints available for service "rogue"'],
      [`${base}/services/web:81/proxy/`, 503, 'no service port 81 found for service "web"'],
      [`${base}/services/web:nope/proxy/`, 503, 'no endpoints available for service "web"'],
      [`${base}/services/nope/proxy/`, 404, 'services "nope" not found'],
      [`${base}/pods/nope/proxy/`, 404, 'pods "nope" not found'],
      ['/api/v1/nodes/nope/proxy/healthz', 404, 'nodes "nope" not found'],
      [`${base}/pods/p:99999/proxy/`, 400, /invalid port "99999"/],
      [`${base}/pods/p:nope/proxy/`, 400, /no container port named "nope"/],
      [`${base}/pods/pending/proxy/`, 400, /has no IP address yet/],
      [`${base}/services/ftp:web:21/proxy/`, 400, 'invalid service request "ftp:web:21"'],
    ];
    for (const [path, code, message] of cases) {
      const r = await api.request('GET', path);
      t.is(r.status, code, `${path}: ${r.text}`);
      const s = r.json();
      t.is(s.kind, 'Status', path);
      if (typeof message === 'string') t.is(s.message, message, path);
      else t.regex(s.message, message, path);
    }
    const k = await srv.kubectl(['get', '--raw', `${base}/services/empty/proxy/`]);
    t.not(k.code, 0);
    t.regex(k.stderr, /ServiceUnavailable|no endpoints available/);
    // Nothing listens on this port of the pod: 503 from the dial.
    const closed = await api.request('GET', `${base}/pods/p:1/proxy/`);
    t.is(closed.status, 503);
    t.regex(closed.json().message, /^error trying to reach service: .*ECONNREFUSED/);
  });

  test('nodes/NAME/proxy reaches the node server with the kubelet client certificate: /healthz and /pods', async (t) => {
    let r = await srv.kubectl(['get', '--raw', '/api/v1/nodes/node1/proxy/healthz']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'ok');
    r = await srv.kubectl(['get', '--raw', '/api/v1/nodes/node1/proxy/pods']);
    t.is(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    t.is(list.kind, 'PodList');
    t.deepEqual(list.items, podList);
    const missing = await api.request('GET', '/api/v1/nodes/node1/proxy/nothing-here');
    t.is(missing.status, 404);
  });

  test('WebSocket upgrades pass through the proxy', async (t) => {
    const { creds } = api;
    const url = creds.server.replace(/^https/, 'wss') + `${base}/services/web:80/proxy/ws`;
    const ws = new WebSocket(url, { ca: creds.ca, headers: { Authorization: `Bearer ${creds.token}` } });
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
    await waitFor('the greeting', 5000, async () => messages.length >= 1);
    t.is(messages[0], `hello ${base}/services/web:80/proxy/ws auth=none`);
    ws.send('hi');
    await waitFor('the echo', 5000, async () => messages.length >= 2);
    t.is(messages[1], 'echo:hi');
    ws.close();
  });

  test('kubectl proxy: a service through the local proxy', async (t) => {
    const proc = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'proxy', '--port=0', '--address=127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    t.teardown(() => {
      proc.kill('SIGKILL');
      children.delete(proc);
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const port = await waitFor('kubectl proxy to listen', 15_000, async () => /Starting to serve on 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    const body = await new Promise<string>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port: Number(port), path: `${base}/services/web:80/proxy/via-kubectl-proxy` }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      })
        .on('error', reject)
        .end();
    });
    t.is(JSON.parse(body).url, '/via-kubectl-proxy');
  });
}
