// pods/log, pods/exec, pods/attach and pods/portforward: the API server finds the pod's node and
// forwards the request to that node's server (port 10250) with its kubelet client certificate. Logs
// are streamed through; upgrades (WebSocket or SPDY) are joined byte for byte after the request is
// rewritten, so the API server never needs to understand the streaming protocols themselves.
import { request as httpsRequest } from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WatchCache } from '../cache/watch-cache.js';
import { errors, StatusError } from '../status.js';
import { send, sendError } from './respond.js';
import { UnavailableError } from '../storage/store.js';

export const NODE_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward']);

export const DEFAULT_KUBELET_PORT = 10250;
const CONNECT_TIMEOUT_MS = 10_000;

export interface NodeProxyOptions {
  cache: WatchCache;
  /** PEM client certificate and key node servers accept (the apiserver's kubelet client) */
  clientCert?: string;
  clientKey?: string;
}

interface Target {
  host: string;
  port: number;
  path: string;
}

interface PodLike {
  spec?: { nodeName?: string; containers?: { name: string }[]; initContainers?: { name: string }[]; ephemeralContainers?: { name: string }[] };
}

interface NodeLike {
  status?: { addresses?: { type: string; address: string }[]; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
}

/** Where a node's server listens: its first InternalIP (else ExternalIP, else Hostname) and kubelet port. */
export function nodeEndpoint(cache: WatchCache, nodeName: string): { host: string; port: number } {
  const node = cache.get(`/registry/core/nodes/${nodeName}`)?.obj as NodeLike | undefined;
  if (!node) throw errors.notFound('nodes', '', nodeName);
  const addrs = node.status?.addresses ?? [];
  const host = (addrs.find((a) => a.type === 'InternalIP') ?? addrs.find((a) => a.type === 'ExternalIP') ?? addrs.find((a) => a.type === 'Hostname'))?.address;
  if (!host) throw errors.badRequest(`node ${nodeName} has no address to reach its node server at`);
  return { host, port: node.status?.daemonEndpoints?.kubeletEndpoint?.Port || DEFAULT_KUBELET_PORT };
}

/**
 * The `port` parameters the node server reads from the API's `ports` (PodPortForwardOptions);
 * SPDY clients name their ports in stream headers and send none.
 */
function portForwardQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const v of q.getAll('ports')) {
    for (const p of v.split(',')) {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw errors.badRequest(`invalid port ${JSON.stringify(p)} in ports=${JSON.stringify(v)}`);
      out.append('port', p);
    }
  }
  return out;
}

/** Writes a Status as a complete HTTP response on a socket that was not upgraded. */
export function rejectUpgrade(socket: Duplex, err: unknown): void {
  const se = err instanceof StatusError ? err : err instanceof UnavailableError ? new StatusError(503, 'ServiceUnavailable', err.message) : errors.internal((err as Error)?.message ?? String(err));
  const body = JSON.stringify(se.toStatus());
  if (!socket.writable) return;
  socket.end(`HTTP/1.1 ${se.code} ${STATUS_CODES[se.code] ?? ''}\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Joins a client's upgrade request to a backend connection being dialled: once connected, the
 * request head (and what the client sent after it) goes up and bytes flow both ways untouched; a
 * dial that fails or takes longer than the connect timeout answers the client with dialError's
 * Status instead. Either side closing closes the other.
 */
export function spliceUpgrade(
  upstream: Socket,
  connectEvent: 'connect' | 'secureConnect',
  socket: Duplex,
  requestHead: string,
  head: Buffer,
  dialError: (e: Error) => StatusError,
): void {
  let joined = false;
  const timer = setTimeout(() => upstream.destroy(new Error('i/o timeout')), CONNECT_TIMEOUT_MS);
  upstream.once(connectEvent, () => {
    clearTimeout(timer);
    joined = true;
    upstream.write(requestHead);
    if (head.length) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on('error', (e) => {
    clearTimeout(timer);
    if (!joined) rejectUpgrade(socket, dialError(e));
    else socket.destroy();
  });
  socket.on('error', () => upstream.destroy());
  socket.once('close', () => upstream.destroy());
  upstream.once('close', () => {
    if (joined) socket.end();
  });
}

export class NodeProxy {
  constructor(private readonly opts: NodeProxyOptions) {}

  private credentials(): { cert: string; key: string } {
    if (!this.opts.clientCert || !this.opts.clientKey) throw errors.internal('the API server has no kubelet client certificate to reach node servers with');
    return { cert: this.opts.clientCert, key: this.opts.clientKey };
  }

  /** Resolves the pod's container and node into the node server URL path, or a Status error. */
  target(namespace: string, name: string, sub: string, q: URLSearchParams): Target {
    const pod = this.opts.cache.get(`/registry/core/pods/${namespace}/${name}`)?.obj as PodLike | undefined;
    if (!pod) throw errors.notFound('pods', '', name);
    const spec = pod.spec ?? {};
    let query = new URLSearchParams(q);
    query.delete('container');
    let path: string;
    const enc = encodeURIComponent;
    if (sub === 'portforward') {
      path = `/portForward/${enc(namespace)}/${enc(name)}`;
      query = portForwardQuery(q);
    } else {
      const names = (spec.containers ?? []).map((c) => c.name);
      const init = (spec.initContainers ?? []).map((c) => c.name);
      const eph = (spec.ephemeralContainers ?? []).map((c) => c.name);
      let container = q.get('container') ?? '';
      if (!container) {
        if (names.length === 1 && !init.length) container = names[0]!;
        else {
          const initPart = init.length ? ` or one of the init containers: [${init.join(' ')}]` : '';
          throw errors.badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]${initPart}`);
        }
      }
      if (![...names, ...init, ...eph].includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${name}`);
      const kind = sub === 'log' ? 'containerLogs' : sub;
      path = `/${kind}/${enc(namespace)}/${enc(name)}/${enc(container)}`;
    }
    const nodeName = spec.nodeName;
    if (!nodeName) throw errors.badRequest(`pod ${name} does not have a host assigned`);
    const { host, port } = nodeEndpoint(this.opts.cache, nodeName);
    const qs = query.toString();
    return { host, port, path: qs ? `${path}?${qs}` : path };
  }

  /** A plain (non-upgrade) request: logs stream through; the streaming verbs need an upgrade. */
  async serve(req: IncomingMessage, res: ServerResponse, namespace: string, name: string, sub: string, q: URLSearchParams): Promise<void> {
    if (sub !== 'log') throw errors.badRequest('Upgrade request required');
    if (req.method !== 'GET') throw errors.methodNotAllowed('pods/log only supports get');
    const t = this.target(namespace, name, sub, q);
    const { cert, key } = this.credentials();
    await new Promise<void>((resolve) => {
      const up = httpsRequest({ host: t.host, port: t.port, path: t.path, method: 'GET', cert, key, rejectUnauthorized: false, timeout: CONNECT_TIMEOUT_MS, headers: { Accept: 'text/plain, application/json' } });
      const gone = () => up.destroy();
      res.once('close', gone);
      up.on('timeout', () => up.destroy(new Error(`timed out connecting to node server ${t.host}:${t.port}`)));
      up.on('error', (e) => {
        res.off('close', gone);
        if (!res.headersSent) sendError(res, errors.internal(`error talking to the node server at ${t.host}:${t.port}: ${e.message}`));
        else res.destroy();
        resolve();
      });
      up.on('response', (r) => {
        up.setTimeout(0);
        if (r.statusCode !== 200) {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            res.off('close', gone);
            send(res, r.statusCode ?? 500, relayedStatus(r.statusCode ?? 500, Buffer.concat(chunks).toString()));
            resolve();
          });
          return;
        }
        res.writeHead(200, { 'Content-Type': String(r.headers['content-type'] ?? 'text/plain'), 'Cache-Control': 'no-cache, private' });
        res.flushHeaders();
        r.pipe(res);
        r.on('end', () => resolve());
        r.on('error', () => {
          res.destroy();
          resolve();
        });
        res.once('close', () => resolve());
      });
      up.end();
    });
  }

  /** An upgrade request: rewritten for the node server, then joined to it byte for byte. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, namespace: string, name: string, sub: string, q: URLSearchParams): void {
    const t = this.target(namespace, name, sub, q);
    const { cert, key } = this.credentials();
    const lines = [`${req.method ?? 'GET'} ${t.path} HTTP/1.1`, `Host: ${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const n = req.rawHeaders[i]!.toLowerCase();
      // The caller's credentials are for the API server only; the node trusts our certificate.
      if (n === 'host' || n === 'authorization' || n.startsWith('impersonate-') || n === 'proxy-authorization') continue;
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    const upstream = tlsConnect({ host: t.host, port: t.port, cert, key, rejectUnauthorized: false, servername: /^[\d.]+$|:/.test(t.host) ? undefined : t.host });
    spliceUpgrade(upstream, 'secureConnect', socket, lines.join('\r\n') + '\r\n\r\n', head, (e) => errors.internal(`error dialing the node server at ${t.host}:${t.port}: ${e.message}`));
  }
}

/** The node server answers errors with a Status; anything else is wrapped in one. */
function relayedStatus(code: number, body: string): string {
  try {
    const s = JSON.parse(body) as { kind?: string };
    if (s && s.kind === 'Status') return body;
  } catch {
    // not JSON
  }
  const reason = code === 404 ? 'NotFound' : code === 400 ? 'BadRequest' : code === 403 ? 'Forbidden' : code === 401 ? 'Unauthorized' : 'InternalError';
  return JSON.stringify(new StatusError(code, reason, body.trim() || `the node server answered ${code}`).toStatus());
}
