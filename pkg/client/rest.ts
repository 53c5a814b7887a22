// A small REST client for the Kubernetes API, used by every skiff component other than the
// apiserver: HTTPS with the cluster CA and a bearer token (from a kubeconfig or given directly),
// keep-alive connections, JSON bodies, Status errors as ApiError, and streaming watches.
import { Agent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import type { KObject } from '../api/types.js';

export interface ClientConfig {
  server: string;
  /** PEM of the CA that signed the server certificate */
  ca?: string;
  token?: string;
  userAgent?: string;
  /** skip server certificate verification (never by default) */
  insecure?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly status?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.code === 404;
}
export function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.code === 409;
}
export function isAlreadyExists(e: unknown): boolean {
  return e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists';
}

/** Reads server, CA and token of the current context of a kubeconfig file. */
export function configFromKubeconfig(path: string, userAgent?: string): ClientConfig {
  const kc = yaml.load(readFileSync(path, 'utf8')) as {
    'current-context'?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
    users?: { name: string; user: { token?: string; tokenFile?: string } }[];
  };
  const ctxName = kc['current-context'];
  const ctx = kc.contexts?.find((c) => c.name === ctxName)?.context ?? kc.contexts?.[0]?.context;
  const cluster = kc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster ?? kc.clusters?.[0]?.cluster;
  const user = kc.users?.find((u) => u.name === ctx?.user)?.user ?? kc.users?.[0]?.user;
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: no cluster server`);
  const ca = cluster['certificate-authority-data']
    ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
    : cluster['certificate-authority']
      ? readFileSync(cluster['certificate-authority'], 'utf8')
      : undefined;
  const token = user?.token ?? (user?.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined);
  return { server: cluster.server, ca, token, userAgent, insecure: cluster['insecure-skip-tls-verify'] };
}

export interface GVR {
  group: string;
  version: string;
  resource: string;
}

export function resourcePath(gvr: GVR, namespace?: string, name?: string, subresource?: string): string {
  let p = gvr.group ? `/apis/${gvr.group}/${gvr.version}` : `/api/${gvr.version}`;
  if (namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${gvr.resource}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

export type Query = Record<string, string | number | boolean | undefined>;

function qs(q?: Query): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface WatchEvent<T = KObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchHandle {
  stop(): void;
  /** resolves when the stream ends (server closed it, error, or stop()) */
  done: Promise<void>;
}

export class RestClient {
  private readonly url: URL;
  private readonly agent: Agent | undefined;
  private readonly watchAgent: Agent | undefined;

  constructor(readonly config: ClientConfig) {
    this.url = new URL(config.server);
    if (this.url.protocol === 'https:') {
      // One TLS context for every connection (parsing the CA per socket showed in profiles), and
      // a separate pool for watches so that long-lived streams never starve ordinary requests.
      const secureContext = createSecureContext({ ca: config.ca });
      const opts = { keepAlive: true, secureContext, rejectUnauthorized: !config.insecure };
      this.agent = new Agent({ ...opts, maxSockets: 64 });
      this.watchAgent = new Agent({ ...opts, maxSockets: Infinity });
    }
  }

  static fromKubeconfig(path: string, userAgent?: string): RestClient {
    return new RestClient(configFromKubeconfig(path, userAgent));
  }

  close(): void {
    this.agent?.destroy();
    this.watchAgent?.destroy();
  }

  private open(method: string, path: string, headers: Record<string, string>, watch = false): ReturnType<typeof httpsRequest> {
    const opts = {
      method,
      host: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
      path,
      agent: watch ? this.watchAgent : this.agent,
      headers: {
        Accept: 'application/json',
        'User-Agent': this.config.userAgent ?? 'skiff',
        ...(this.config.token ? { Authorization: `Bearer ${this.config.token}` } : {}),
        ...headers,
      },
    };
    return this.url.protocol === 'https:' ? httpsRequest(opts) : httpRequest(opts);
  }

  /** One request with a JSON answer; non-2xx answers throw ApiError carrying the Status. */
  async request<T = unknown>(method: string, path: string, opts: { body?: unknown; query?: Query; contentType?: string; timeoutMs?: number } = {}): Promise<T> {
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    return new Promise<T>((resolve, reject) => {
      const req = this.open(method, path + qs(opts.query), headers);
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else {
            const st = (parsed ?? {}) as { reason?: string; message?: string };
            reject(new ApiError(code, st.reason ?? 'Unknown', st.message ?? (text.slice(0, 200) || `HTTP ${code}`), parsed as Record<string, unknown>));
          }
        });
      });
      req.end(body);
    });
  }

  get<T = KObject>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }
  create<T = KObject>(path: string, obj: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body: obj, query });
  }
  update<T = KObject>(path: string, obj: unknown, query?: Query): Promise<T> {
    return this.request<T>('PUT', path, { body: obj, query });
  }
  patch<T = KObject>(path: string, patch: unknown, type: 'merge' | 'strategic' | 'json' | 'apply' = 'merge', query?: Query): Promise<T> {
    const ct = {
      merge: 'application/merge-patch+json',
      strategic: 'application/strategic-merge-patch+json',
      json: 'application/json-patch+json',
      apply: 'application/apply-patch+yaml',
    }[type];
    return this.request<T>('PATCH', path, { body: patch, query, contentType: ct });
  }
  delete<T = KObject>(path: string, options?: Record<string, unknown>, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, { body: options, query });
  }

  /**
   * Streams watch events. The callback runs for each event in order; the handle's done resolves
   * when the stream ends for any reason.
   */
  watch<T = KObject>(path: string, query: Query, onEvent: (ev: WatchEvent<T>) => void): WatchHandle {
    let stopped = false;
    let req: ReturnType<typeof httpsRequest> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      req = this.open('GET', path + qs({ ...query, watch: true }), {}, true);
      req.on('error', (e) => (stopped ? resolve() : reject(e)));
      req.on('response', (res: IncomingMessage) => {
        if ((res.statusCode ?? 0) >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let st: { reason?: string; message?: string } = {};
            try {
              st = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              /* not a Status */
            }
            reject(new ApiError(res.statusCode ?? 0, st.reason ?? 'Unknown', st.message ?? `watch failed with HTTP ${res.statusCode}`));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim() || stopped) continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (e) {
              req?.destroy(e as Error);
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (stopped ? resolve() : reject(e)));
        res.on('aborted', () => resolve());
      });
      req.end();
    });
    return {
      stop: () => {
        stopped = true;
        req?.destroy();
      },
      done,
    };
  }
}
