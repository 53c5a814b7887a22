// Shared pieces of the prober tests: local servers on ephemeral ports, a condition wait with a
// deadline, and a recorder of prober callbacks.
import http from 'node:http';
import net from 'node:net';
import type { ExecProbeResult, ProbeCallbacks, ProbeKind, ProbeTarget } from '../../../kubelet/prober/prober.js';
import type { Container } from '../../../kubelet/runtime/runtime.js';

export async function waitFor(cond: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 2));
  }
}

export interface TestServer<S extends net.Server = net.Server> {
  server: S;
  port: number;
  close(): Promise<void>;
}

function listen<S extends net.Server>(server: S): Promise<TestServer<S>> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        server,
        port,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export function httpServer(handler: http.RequestListener): Promise<TestServer<http.Server>> {
  return listen(http.createServer(handler));
}

export function tcpServer(): Promise<TestServer<net.Server>> {
  return listen(net.createServer((s) => s.on('error', () => {})));
}

/** A port nothing listens on (bound, noted and released again). */
export async function closedPort(): Promise<number> {
  const s = await tcpServer();
  await s.close();
  return s.port;
}

export function container(fields: Partial<Container> & Record<string, unknown> = {}): Container {
  return { name: 'app', image: 'busybox', ...fields } as Container;
}

export function target(c: Container, exec?: (cmd: string[], timeoutMs: number) => Promise<ExecProbeResult>): ProbeTarget {
  return {
    pod: { metadata: { name: 'web', namespace: 'default', uid: 'u1' } },
    container: c,
    podIP: '127.0.0.1',
    exec: exec ?? (async () => Promise.reject(new Error('no exec in this test'))),
  };
}

export type Call =
  | { t: 'started' }
  | { t: 'readiness'; ready: boolean }
  | { t: 'failed'; kind: string; message: string }
  | { t: 'unhealthy'; kind: ProbeKind; message: string }
  | { t: 'warning'; kind: ProbeKind; message: string };

export function recorder(): { calls: Call[]; cb: ProbeCallbacks; of<T extends Call['t']>(t: T): Extract<Call, { t: T }>[] } {
  const calls: Call[] = [];
  return {
    calls,
    cb: {
      started: () => void calls.push({ t: 'started' }),
      readiness: (ready) => void calls.push({ t: 'readiness', ready }),
      failed: (kind, message) => void calls.push({ t: 'failed', kind, message }),
      unhealthy: (kind, message) => void calls.push({ t: 'unhealthy', kind, message }),
      warning: (kind, message) => void calls.push({ t: 'warning', kind, message }),
    },
    of: <T extends Call['t']>(t: T) => calls.filter((c): c is Extract<Call, { t: T }> => c.t === t),
  };
}

export const ok = (output = ''): ExecProbeResult => ({ exitCode: 0, output, timedOut: false });
export const fail = (output = '', exitCode = 1): ExecProbeResult => ({ exitCode, output, timedOut: false });
