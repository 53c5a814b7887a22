// Proxy subresources and WebSocket-channel port-forward against real containers: busybox httpd in
// a pod behind a Service, reached with the real kubectl (`get --raw .../proxy/`) and with
// @kubernetes/client-node's PortForward, through `skiff server` and its node. Needs root and the
// packages listed by realNodeMissing().
import test from 'ava';
import { PassThrough } from 'node:stream';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;
const base = '/api/v1/namespaces/default';

/** Opens a client-node port-forward to pod web's port, sends `send`, and collects both channels until the WebSocket ends. */
async function clientNodeForward(port: number, send: string): Promise<{ data: string; error: string; protocol: string }> {
  const kc = new KubeConfig();
  kc.loadFromFile(c!.server.kubeconfig);
  const out = new PassThrough();
  const err = new PassThrough();
  const input = new PassThrough();
  let data = '';
  let error = '';
  out.on('data', (d: Buffer) => (data += d.toString()));
  err.on('data', (d: Buffer) => (error += d.toString()));
  const ws = (await new PortForward(kc).portForward('default', 'web', [port], out, err, input)) as unknown as WebSocket;
  const closed = new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once('close', () => r())));
  input.write(send);
  const deadline = setTimeout(() => ws.terminate(), 20_000);
  await closed;
  clearTimeout(deadline);
  return { data, error, protocol: ws.protocol };
}

if (missing) {
  test.skip(`proxy and port-forward on real pods (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    c = await startRealCluster();
    await c.k(['apply', '-f', '-'], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www/sub && echo hello from the pod > /www/index.html && echo sub > /www/sub/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody-has-this}
  ports: [{port: 80}]
`,
    });
    await waitFor('the web pod ready behind its Service', 90_000, async () => {
      const eps = JSON.parse(await c!.k(['get', 'endpoints', 'web', '-o', 'json'])) as Json;
      return eps.subsets?.[0]?.addresses?.length === 1;
    });
  });

  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('kubectl get --raw through services/NAME:PORT/proxy and pods/NAME:PORT/proxy', async (t) => {
    t.is(await c!.k(['get', '--raw', `${base}/services/web:80/proxy/`]), 'hello from the pod\n');
    t.is(await c!.k(['get', '--raw', `${base}/services/web:http/proxy/sub/`]), 'sub\n');
    t.is(await c!.k(['get', '--raw', `${base}/pods/web:8080/proxy/index.html`]), 'hello from the pod\n');
    t.is(await c!.k(['get', '--raw', `${base}/pods/web/proxy/`]), 'hello from the pod\n');
    // busybox httpd redirects a directory without its slash: the Location stays behind the proxy.
    const r = await c!.server.kubectl(['get', '--raw', `${base}/pods/web/proxy/sub`, '-v=6']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'sub\n');
  });

  test.serial('a Service without ready endpoints answers 503', async (t) => {
    const r = await c!.server.kubectl(['get', '--raw', `${base}/services/nobody/proxy/`]);
    t.not(r.code, 0);
    t.regex(r.stderr, /ServiceUnavailable|no endpoints available for service/);
  });

  test.serial('nodes/NAME/proxy: the node server answers /healthz and lists its pods on /pods', async (t) => {
    t.is(await c!.k(['get', '--raw', `/api/v1/nodes/${c!.nodeName}/proxy/healthz`]), 'ok');
    const list = JSON.parse(await c!.k(['get', '--raw', `/api/v1/nodes/${c!.nodeName}/proxy/pods`])) as Json;
    t.is(list.kind, 'PodList');
    t.true((list.items as Json[]).some((p) => p.metadata.name === 'web'), JSON.stringify(list.items.map((p: Json) => p.metadata.name)));
  });

  test.serial('client-node PortForward: an HTTP exchange with the pod over v4.channel.k8s.io', async (t) => {
    const r = await clientNodeForward(8080, 'GET /index.html HTTP/1.0\r\n\r\n');
    t.is(r.protocol, 'v4.channel.k8s.io');
    t.regex(r.data, /^HTTP\/1\.[01] 200 OK\r\n/);
    t.regex(r.data, /\r\n\r\nhello from the pod\n$/);
    t.is(r.error, '');
  });

  test.serial('client-node PortForward to a port nothing listens on: the error channel says so', async (t) => {
    const r = await clientNodeForward(9999, 'hello');
    t.is(r.data, '');
    t.regex(r.error, /error forwarding port 9999 to pod default\/web: .*(ECONNREFUSED|connection refused)/);
  });
}
