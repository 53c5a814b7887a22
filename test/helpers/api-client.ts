// A raw HTTPS client for integration tests and benchmarks: speaks to a skiff server with the CA and
// bearer token of its admin kubeconfig, over keep-alive connections, so tests can send bodies and
// headers that kubectl and client-node never would, and read watch streams line by line.
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

export interface Credentials {
  server: string;
  ca: string;
  token: string;
}

/** Reads the server URL, CA and token of the current context of a kubeconfig written by skiff. */
export function readCredentials(kubeconfigPath: string): Credentials {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster?.caData || !user?.token) throw new Error(`kubeconfig ${kubeconfigPath}: the current context has no CA data or no token`);
  return { server: cluster.server, ca: Buffer.from(cluster.caData, 'base64').toString('utf8'), token: user.token };
}

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** the body parsed as JSON; throws with the body in the message if it is not JSON */
  json<T = any>(): T;
}

export interface RequestOptions {
  body?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** send the body chunked, without a Content-Length */
  omitLength?: boolean;
}

export interface WatchEvent {
  type: string;
  object: any;
  /** performance.now() when the line arrived */
  at: number;
}

export interface WatchStream {
  readonly status: number;
  readonly events: WatchEvent[];
  /** lines that were not JSON (there must be none) */
  readonly garbage: string[];
  readonly ended: boolean;
  /** resolves when the server ends the stream (or it errors) */
  readonly done: Promise<void>;
  onEvent(cb: (e: WatchEvent) => void): void;
  close(): void;
}

export interface ApiClient {
  readonly creds: Credentials;
  request(method: string, path: string, opts?: RequestOptions): Promise<ApiResponse>;
  /** starts a watch; resolves once the response headers are in */
  watch(path: string): Promise<WatchStream>;
  close(): void;
}

export function apiClient(kubeconfigPath: string, opts: { maxSockets?: number } = {}): ApiClient {
  const creds = readCredentials(kubeconfigPath);
  const base = new URL(creds.server);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 16, ca: creds.ca });
  const common = (method: string, path: string, headers: Record<string, string>) => ({
    method,
    host: base.hostname,
    port: base.port,
    path,
    agent,
    ca: creds.ca,
    headers: { Authorization: `Bearer ${creds.token}`, Accept: 'application/json', ...headers },
  });

  const request = (method: string, path: string, ro: RequestOptions = {}): Promise<ApiResponse> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...ro.headers };
      if (ro.body !== undefined) {
        headers['Content-Type'] = ro.contentType ?? 'application/json';
        if (ro.omitLength) headers['Transfer-Encoding'] = 'chunked';
        else headers['Content-Length'] = String(Buffer.byteLength(ro.body));
      } else if (ro.contentType !== undefined) {
        headers['Content-Type'] = ro.contentType;
      }
      const req = httpsRequest(common(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json() {
              try {
                return JSON.parse(text);
              } catch {
                throw new Error(`${method} ${path}: ${res.statusCode} body is not JSON: ${text.slice(0, 300)}`);
              }
            },
          });
        });
      });
      req.on('error', reject);
      if (ro.timeoutMs) req.setTimeout(ro.timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${ro.timeoutMs} ms`)));
      if (ro.body !== undefined && ro.omitLength) {
        // Several writes, so the server sees the size only as it reads.
        const b = Buffer.from(ro.body);
        for (let o = 0; o < b.length; o += 256 * 1024) req.write(b.subarray(o, o + 256 * 1024));
        req.end();
      } else if (ro.body !== undefined) req.end(ro.body);
      else req.end();
    });

  const watch = (path: string): Promise<WatchStream> =>
    new Promise((resolve, reject) => {
      // Watches get their own connection: a long-lived response must not hold a pooled socket.
      const req = httpsRequest({ ...common('GET', path, {}), agent: false });
      req.on('error', reject);
      req.on('response', (res) => {
        const events: WatchEvent[] = [];
        const garbage: string[] = [];
        const listeners: ((e: WatchEvent) => void)[] = [];
        let ended = false;
        let buf = '';
        let markDone!: () => void;
        const done = new Promise<void>((r) => (markDone = r));
        const finish = () => {
          if (ended) return;
          ended = true;
          markDone();
        };
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          const at = performance.now();
          buf += s;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            let parsed: { type: string; object: unknown };
            try {
              parsed = JSON.parse(line);
            } catch {
              garbage.push(line);
              continue;
            }
            const e = { type: parsed.type, object: parsed.object, at };
            events.push(e);
            for (const l of listeners) l(e);
          }
        });
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
        req.off('error', reject);
        req.on('error', finish);
        resolve({
          status: res.statusCode ?? 0,
          events,
          garbage,
          get ended() {
            return ended;
          },
          done,
          onEvent: (cb) => listeners.push(cb),
          close: () => {
            req.destroy();
            finish();
          },
        });
      });
      req.end();
    });

  return { creds, request, watch, close: () => agent.destroy() };
}

/** Polls a condition until it holds or the deadline passes (then throws with msg()). */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, msg: () => string, everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${msg()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A small seeded PRNG (mulberry32) so randomised tests can be replayed from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
