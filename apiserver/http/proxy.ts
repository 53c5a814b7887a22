// pods/proxy, services/proxy and nodes/proxy: HTTP requests (and upgrades) relayed to a pod's IP,
// a ready endpoint of a Service port, or a node's server, as kube-apiserver does for `kubectl
// proxy`, `kubectl get --raw` and dashboards. Bodies stream both ways; hop-by-hop headers and the
// caller's API credentials stay here; redirects to the backend are pointed back through the proxy.
import { request as httpRequest, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WatchCache } from '../cache/watch-cache.js';
import { errors, StatusError } from '../status.js';
import { sendError } from './respond.js';
import { nodeEndpoint, spliceUpgrade } from './node-proxy.js';
import { rewriteLocation, type ProxyPath } from './proxy-path.js';

const CONNECT_TIMEOUT_MS = 10_000;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** Headers of one hop only (RFC 9110 7.6.1), plus the ones the API server consumes itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);
/** The backend gets no say in which origins may call the API server. */
const CORS = new Set(['access-control-allow-credentials', 'access-control-allow-headers', 'access-control-allow-methods', 'access-control-allow-origin']);

export interface Backend {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** the API server's kubelet client certificate, for a node's own server */
  clientCert?: { cert: string; key: string };
}

export interface ProxyHandlerOptions {
  cache: WatchCache;
  clientCert?: string;
  clientKey?: string;
}

interface PodLike {
  spec?: { containers?: { ports?: { name?: string; containerPort?: number }[] }[] };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}
interface ServiceLike {
  spec?: { ports?: { name?: string; port?: number }[] };
}
interface EndpointsLike {
  subsets?: { addresses?: { ip: string; targetRef?: { kind?: string; namespace?: string; name?: string } }[]; ports?: { name?: string; port: number }[] }[];
}

function parsePort(p: string, what: string): number {
  if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw errors.badRequest(`invalid port ${JSON.stringify(p)} for ${what}`);
  return Number(p);
}

/**
 * Kubernetes only proxies to global unicast addresses: not loopback, link-local, multicast or
 * unspecified. IPv6 is judged on its 128 bits, not its spelling (0:0:0:0:0:0:0:1 is ::1), and an
 * IPv4-mapped or IPv4-compatible address as the IPv4 address it carries.
 */
export function isGlobalUnicast(ip: string): boolean {
  const v = isIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    if (ip === '255.255.255.255' || a === 0 || a === 127 || a >= 224 || (a === 169 && b === 254)) return false;
    return true;
  }
  if (v !== 6) return false;
  const w = ipv6Words(ip);
  if (!w) return false;
  const zeros = (n: number) => w.slice(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, which also holds :: and ::1)
  if ((zeros(5) && w[5] === 0xffff) || zeros(6)) {
    if (zeros(6) && w[6] === 0 && w[7]! <= 1) return false;
    return isGlobalUnicast(`${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`);
  }
  if ((w[0]! & 0xffc0) === 0xfe80 || (w[0]! & 0xff00) === 0xff00) return false;
  return true;
}

/** The eight 16-bit words of an IPv6 address (already checked by isIP), zone index ignored. */
function ipv6Words(ip: string): number[] | undefined {
  let s = ip.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const words = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...t].map((x) => parseInt(x, 16));
  return words.length === 8 && words.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff) ? words : undefined;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** host:port as a Host header says it: without the scheme's default port. */
function authority(b: Backend): string {
  return b.port === (b.scheme === 'https' ? 443 : 80) ? (b.host.includes(':') ? `[${b.host}]` : b.host) : hostPort(b.host, b.port);
}

function random<T>(xs: T[]): T[] {
  const start = Math.floor(Math.random() * xs.length);
  return [...xs.slice(start), ...xs.slice(0, start)];
}

export class ProxyHandler {
  constructor(private readonly opts: ProxyHandlerOptions) {}

  private get<T>(resource: string, namespace: string | undefined, name: string): T | undefined {
    return this.opts.cache.get(`/registry/core/${resource}/${namespace ? `${namespace}/` : ''}${name}`)?.obj as T | undefined;
  }

  /** Where a proxy request goes, or a Status error (404 unknown object, 400 bad port, 503 no endpoint). */
  backend(p: ProxyPath): Backend {
    if (p.resource === 'pods') return this.podBackend(p);
    if (p.resource === 'services') return this.serviceBackend(p);
    return this.nodeBackend(p);
  }

  private podBackend(p: ProxyPath): Backend {
    const pod = this.get<PodLike>('pods', p.namespace, p.name);
    if (!pod) throw errors.notFound('pods', '', p.name);
    const containers = pod.spec?.containers ?? [];
    const scheme = p.scheme === 'https' ? 'https' : 'http';
    let port: number;
    if (!p.port) {
      // Like Kubernetes: the first declared container port, else the scheme's own.
      const declared = containers.find((c) => c.ports?.length)?.ports?.[0]?.containerPort;
      port = declared ?? (scheme === 'https' ? 443 : 80);
    } else if (/^\d+$/.test(p.port)) {
      port = parsePort(p.port, `pod ${p.name}`);
    } else {
      const named = containers.flatMap((c) => c.ports ?? []).find((cp) => cp.name === p.port)?.containerPort;
      if (!named) throw errors.badRequest(`pod ${p.name} has no container port named ${JSON.stringify(p.port)}`);
      port = named;
    }
    const ip = pod.status?.podIP ?? pod.status?.podIPs?.[0]?.ip;
    if (!ip) throw errors.badRequest(`pod ${p.name} has no IP address yet`);
    if (!isGlobalUnicast(ip)) throw errors.badRequest('address not allowed');
    return { scheme, host: ip, port };
  }

  private serviceBackend(p: ProxyPath): Backend {
    const name = p.name;
    let portName = p.port;
    if (/^\d+$/.test(p.port)) {
      // A port number stands for the Service port declaring it, which endpoints know by name.
      const svc = this.get<ServiceLike>('services', p.namespace, name);
      if (!svc) throw errors.notFound('services', '', name);
      const sp = (svc.spec?.ports ?? []).find((x) => x.port === Number(p.port));
      if (!sp) throw new StatusError(503, 'ServiceUnavailable', `no service port ${p.port} found for service ${JSON.stringify(name)}`);
      portName = sp.name ?? '';
    } else if (!this.get<ServiceLike>('services', p.namespace, name)) {
      throw errors.notFound('services', '', name);
    }
    const eps = this.get<EndpointsLike>('endpoints', p.namespace, name);
    if (!eps) throw errors.notFound('endpoints', '', name);
    const noEndpoints = new StatusError(503, 'ServiceUnavailable', `no endpoints available for service ${JSON.stringify(name)}`);
    for (const ss of random(eps.subsets ?? [])) {
      const port = (ss.ports ?? []).find((x) => (x.name ?? '') === portName)?.port;
      if (!port) continue;
      // Only addresses of this namespace's pods that still have that IP: an Endpoints object
      // written by hand cannot point the API server at arbitrary hosts.
      const addr = random(ss.addresses ?? []).find((a) => this.addressOfPod(a, p.namespace!));
      if (addr) return { scheme: p.scheme === 'https' ? 'https' : 'http', host: addr.ip, port };
    }
    throw noEndpoints;
  }

  private addressOfPod(a: { ip: string; targetRef?: { kind?: string; namespace?: string; name?: string } }, namespace: string): boolean {
    const ref = a.targetRef;
    if (!ref?.name || (ref.kind && ref.kind !== 'Pod') || ref.namespace !== namespace) return false;
    const pod = this.get<PodLike>('pods', namespace, ref.name);
    const ips = [pod?.status?.podIP, ...(pod?.status?.podIPs ?? []).map((x) => x.ip)];
    // A hostNetwork pod on a one-host cluster has the node's loopback-bound address: refused as
    // pods/proxy refuses it.
    return ips.includes(a.ip) && isGlobalUnicast(a.ip);
  }

  private nodeBackend(p: ProxyPath): Backend {
    const { host, port: kubeletPort } = nodeEndpoint(this.opts.cache, p.name);
    const kubelet = !p.port || Number(p.port) === kubeletPort;
    // Single-host clusters register their node at 127.0.0.1: its server is still fair game, since
    // it answers only to the API server's certificate; other local ports are not.
    if (isIP(host) && !isGlobalUnicast(host) && !(kubelet && /^127\.|^::1$/.test(host))) throw errors.badRequest(`address not allowed: ${host}`);
    if (kubelet) {
      if (!this.opts.clientCert || !this.opts.clientKey) throw errors.internal('the API server has no kubelet client certificate to reach node servers with');
      return { scheme: 'https', host, port: kubeletPort, clientCert: { cert: this.opts.clientCert, key: this.opts.clientKey } };
    }
    return { scheme: p.scheme === 'https' ? 'https' : 'http', host, port: parsePort(p.port, `node ${p.name}`) };
  }

  /** Request headers for the backend: the caller's own, less hop-by-hop and API credentials. */
  private forwardHeaders(req: IncomingMessage, p: ProxyPath, b: Backend, upgrade: boolean): [string, string][] {
    const connectionListed = new Set(
      String(req.headers['connection'] ?? '')
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    );
    const out: [string, string][] = [];
    let forwardedFor = '';
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const n = name.toLowerCase();
      const v = req.rawHeaders[i + 1]!;
      if (n === 'host' || n === 'authorization' || n.startsWith('impersonate-') || n.startsWith('x-forwarded-')) {
        if (n === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${v}` : v;
        continue;
      }
      // An upgrade keeps Connection/Upgrade: the backend must see what is being asked for.
      if (upgrade && (n === 'connection' || n === 'upgrade')) {
        out.push([name, v]);
        continue;
      }
      if (HOP_BY_HOP.has(n) || connectionListed.has(n)) continue;
      out.push([name, v]);
    }
    const client = req.socket.remoteAddress ?? '';
    out.push(['Host', authority(b)]);
    out.push(['X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${client}` : client]);
    if (req.headers.host) out.push(['X-Forwarded-Host', req.headers.host]);
    out.push(['X-Forwarded-Proto', 'https']);
    out.push(['X-Forwarded-Uri', p.prefix + (p.path || '/')]);
    return out;
  }

  /** A plain request: streamed to the backend and its answer streamed back. */
  async serve(req: IncomingMessage, res: ServerResponse, p: ProxyPath, rawQuery: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (!METHODS.has(method)) throw errors.methodNotAllowed(`${method} is not supported by ${p.resource}/proxy`);
    const b = this.backend(p);
    if (!p.path && (method === 'GET' || method === 'HEAD')) {
      // Relative links of the backend's root page resolve under .../proxy/ only with the slash.
      req.resume();
      res.writeHead(301, { Location: `${p.prefix}/${rawQuery ? `?${rawQuery}` : ''}`, 'Content-Length': '0' }).end();
      return;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of this.forwardHeaders(req, p, b, false)) {
      const prev = headers[k];
      headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
    }
    const path = (p.path || '/') + (rawQuery ? `?${rawQuery}` : '');
    const common = { host: b.host, port: b.port, method, path, headers, setHost: false };
    const up = b.scheme === 'https' ? httpsRequest({ ...common, rejectUnauthorized: false, ...(b.clientCert ?? {}) }) : httpRequest(common);
    const target = hostPort(b.host, b.port);
    await new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          resolve();
        }
      };
      const connectTimer = setTimeout(() => up.destroy(new Error(`dial tcp ${target}: i/o timeout`)), CONNECT_TIMEOUT_MS);
      up.on('socket', (s) => {
        if (!(s as { connecting?: boolean }).connecting) clearTimeout(connectTimer);
        else s.once('connect', () => clearTimeout(connectTimer));
      });
      const gone = () => {
        if (!res.writableFinished) up.destroy();
      };
      res.once('close', gone);
      up.on('error', (e) => {
        clearTimeout(connectTimer);
        if (!res.headersSent) sendError(res, new StatusError(503, 'ServiceUnavailable', `error trying to reach service: ${e.message}`));
        else res.destroy();
        finish();
      });
      up.on('response', (r) => {
        clearTimeout(connectTimer);
        const out: Record<string, string | string[]> = {};
        const listed = new Set(
          String(r.headers['connection'] ?? '')
            .split(',')
            .map((s) => s.trim().toLowerCase()),
        );
        for (let i = 0; i < r.rawHeaders.length; i += 2) {
          const n = r.rawHeaders[i]!.toLowerCase();
          let v = r.rawHeaders[i + 1]!;
          if (HOP_BY_HOP.has(n) || listed.has(n) || CORS.has(n)) continue;
          if (n === 'location') v = rewriteLocation(v, authority(b), p.prefix, `https://${req.headers.host ?? ''}`);
          const prev = out[r.rawHeaders[i]!];
          out[r.rawHeaders[i]!] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        res.writeHead(r.statusCode ?? 502, r.statusMessage || STATUS_CODES[r.statusCode ?? 502], out);
        res.flushHeaders();
        r.pipe(res);
        r.on('error', () => res.destroy());
        r.once('end', finish);
        res.once('close', finish);
      });
      req.pipe(up);
      req.on('error', () => up.destroy());
    });
  }

  /** An upgrade (WebSocket and the like): the rewritten request goes out, then bytes flow both ways. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, p: ProxyPath, rawQuery: string): void {
    const b = this.backend(p);
    const lines = [`${req.method ?? 'GET'} ${p.path || '/'}${rawQuery ? `?${rawQuery}` : ''} HTTP/1.1`, ...this.forwardHeaders(req, p, b, true).map(([k, v]) => `${k}: ${v}`)];
    const target = hostPort(b.host, b.port);
    const upstream =
      b.scheme === 'https'
        ? tlsConnect({ host: b.host, port: b.port, rejectUnauthorized: false, servername: isIP(b.host) ? undefined : b.host, ...(b.clientCert ?? {}) })
        : netConnect({ host: b.host, port: b.port });
    spliceUpgrade(upstream, b.scheme === 'https' ? 'secureConnect' : 'connect', socket, lines.join('\r\n') + '\r\n\r\n', head, (e) =>
      new StatusError(503, 'ServiceUnavailable', `error trying to reach service: ${e.message === 'i/o timeout' ? `dial tcp ${target}: i/o timeout` : e.message}`),
    );
  }
}
