// The node server (the kubelet's port 10250): container logs, exec, attach and port-forward for the
// API server, which proxies kubectl's requests here. Only the API server may call it: clients must
// present a certificate from the cluster CA with the API server's kubelet-client name.
import { createServer, type Server } from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { StreamTargetError, type ContainerRef, type ExecSession, type StreamingRuntime } from './streaming.js';
import { logFile, parseLogQuery, writeLogs } from './logs.js';
import { runCommand, streamOptions, type CommandTransport } from './remotecommand.js';
import { CHANNEL_PROTOCOLS, wsCommandTransport, type ChannelProtocol } from './ws-channels.js';
import { SPDY_COMMAND_PROTOCOLS, spdyCommandTransport } from './spdy-remotecommand.js';
import { SpdySession } from './spdy.js';
import { PORT_FORWARD_PROTOCOL, WS_PORT_FORWARD_PROTOCOL, servePortForward } from './portforward.js';
import { WS_CHANNEL_PORT_FORWARD_PROTOCOLS, parsePortForwardPorts, pickPortForwardProtocol, serveWsPortForward } from './ws-portforward.js';
import { attachSession } from './attach.js';

export interface NodeServerOptions {
  runtime: StreamingRuntime;
  /** PEM serving certificate and key */
  cert: string;
  key: string;
  /** PEM cluster CA: client certificates must chain to it */
  caCert: string;
  /** the only client certificate CN let in (the API server's kubelet client) */
  allowedClientCN: string;
  /** default 10250; 0 picks a free port */
  port?: number;
  host?: string;
  /** the pods bound to this node, for GET /pods (kubelet answers with a PodList); absent: 404 */
  pods?: () => Promise<unknown[]>;
}

export const DEFAULT_NODE_SERVER_PORT = 10250;

class HttpError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason = 'BadRequest',
  ) {
    super(message);
  }
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

const REASONS: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 500: 'InternalError' };

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof StreamTargetError) return new HttpError(e.code, e.message, REASONS[e.code]);
  return new HttpError(500, (e as Error)?.message ?? String(e), 'InternalError');
}

type Route =
  | { kind: 'logs'; ref: ContainerRef }
  | { kind: 'exec' | 'attach'; ref: ContainerRef }
  | { kind: 'portForward'; namespace: string; pod: string }
  | { kind: 'healthz' }
  | { kind: 'pods' };

function route(pathname: string): Route | undefined {
  const segs = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (segs.length === 1 && segs[0] === 'healthz') return { kind: 'healthz' };
  if (segs.length === 1 && segs[0] === 'pods') return { kind: 'pods' };
  const [what, namespace, pod, container] = segs;
  if ((what === 'containerLogs' || what === 'exec' || what === 'attach') && segs.length === 4) {
    return { kind: what === 'containerLogs' ? 'logs' : what, ref: { namespace: namespace!, pod: pod!, container: container! } };
  }
  if (what === 'portForward' && segs.length === 3) return { kind: 'portForward', namespace: namespace!, pod: pod! };
  return undefined;
}

/** Every value of a header that may come several times or comma-joined (X-Stream-Protocol-Version). */
function headerValues(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name) out.push(...req.rawHeaders[i + 1]!.split(',').map((s) => s.trim()).filter(Boolean));
  }
  return out;
}

/**
 * Takes hold of a session's output at once: until the client's streams exist, it waits in a buffer
 * (Node discards child process output nobody has started reading when the child exits).
 */
function holdOutput(s: ExecSession): ExecSession {
  const hold = (r: Readable | undefined) => (r ? r.pipe(new PassThrough()) : undefined);
  return { ...s, stdout: hold(s.stdout)!, stderr: hold(s.stderr), resize: (w, h) => s.resize(w, h), kill: () => s.kill() };
}

export class NodeServer {
  private server?: Server;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (_p, req) => this.chosenProtocol.get(req) ?? false });
  private readonly chosenProtocol = new WeakMap<IncomingMessage, string>();
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly aborts = new Set<AbortController>();

  constructor(private readonly opts: NodeServerOptions) {}

  async start(): Promise<number> {
    const server = createServer(
      // The handshake accepts any client so an unauthenticated one gets a 401, not a TLS alert.
      { cert: this.opts.cert, key: this.opts.key, ca: this.opts.caCert, requestCert: true, rejectUnauthorized: false },
      (req, res) => void this.serve(req, res),
    );
    server.requestTimeout = 0;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.serveUpgrade(req, socket, head));
    server.on('secureConnection', (s: TLSSocket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    server.on('tlsClientError', () => undefined);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? DEFAULT_NODE_SERVER_PORT, this.opts.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const a of this.aborts) a.abort();
    for (const c of this.wss.clients) c.terminate();
    for (const s of this.sockets) s.destroy();
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  /** 401 without a verified client certificate, 403 for one that is not the API server's. */
  private authorize(req: IncomingMessage): void {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) throw new HttpError(401, 'Unauthorized', 'Unauthorized');
    const cn = sock.getPeerCertificate()?.subject?.CN;
    if (cn !== this.opts.allowedClientCN) throw new HttpError(403, `Forbidden (user=${cn ?? ''}, verb=get, resource=nodes, subresource=proxy)`, 'Forbidden');
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      this.authorize(req);
      const url = new URL(req.url ?? '/', 'https://node');
      const r = route(url.pathname);
      if (!r) throw new HttpError(404, `the server could not find the requested resource (${url.pathname})`, 'NotFound');
      if (r.kind === 'healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : 'ok');
        return;
      }
      if (r.kind === 'pods') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed on /pods`, 'MethodNotAllowed');
        if (!this.opts.pods) throw new HttpError(404, 'this node server does not list its pods', 'NotFound');
        const body = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: await this.opts.pods() });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      if (r.kind !== 'logs') throw new HttpError(400, 'Upgrade request required');
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not allowed on container logs`, 'MethodNotAllowed');
      await this.serveLogs(r.ref, url.searchParams, req, res);
    } catch (e) {
      const he = toHttpError(e);
      if (res.headersSent) res.destroy();
      else res.writeHead(he.code, { 'Content-Type': 'application/json' }).end(statusBody(he.code, he.reason, he.message));
    }
  }

  private async serveLogs(ref: ContainerRef, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const opts = parseLogQuery(q);
    const { file, running } = await logFile(this.opts.runtime, ref, opts.previous);
    const ac = new AbortController();
    this.aborts.add(ac);
    res.on('close', () => ac.abort());
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    try {
      await writeLogs(this.opts.runtime, ref, opts, res, ac.signal, file, running);
      res.end();
    } catch {
      res.destroy();
    } finally {
      this.aborts.delete(ac);
    }
  }

  private rejectUpgrade(socket: Duplex, e: unknown): void {
    const he = toHttpError(e);
    const body = statusBody(he.code, he.reason, he.message);
    if (socket.writable) {
      socket.end(`HTTP/1.1 ${he.code} ${STATUS_CODES[he.code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  private async serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    let session: ExecSession | undefined;
    let upgraded = false;
    try {
      this.authorize(req);
      const url = new URL(req.url ?? '/', 'https://node');
      const r = route(url.pathname);
      if (!r || r.kind === 'healthz' || r.kind === 'pods' || r.kind === 'logs') throw new HttpError(404, `the server could not find the requested resource (${url.pathname})`, 'NotFound');
      const upgrade = String(req.headers['upgrade'] ?? '').toLowerCase();
      const websocket = upgrade === 'websocket';
      if (!websocket && upgrade !== 'spdy/3.1') throw new HttpError(400, `unsupported upgrade ${JSON.stringify(req.headers['upgrade'])}`);

      if (r.kind === 'portForward') {
        const address = await this.opts.runtime.podAddress(r.namespace, r.pod);
        const label = `${r.namespace}/${r.pod}`;
        if (websocket) {
          const offered = headerValues(req, 'sec-websocket-protocol');
          // kubectl tunnels SPDY in WebSocket messages; other clients use one channel pair per port.
          const channels = pickPortForwardProtocol(offered);
          const tunnel = offered.findIndex((p) => p === WS_PORT_FORWARD_PROTOCOL);
          if (tunnel >= 0 && (channels === undefined || tunnel < offered.indexOf(channels))) {
            this.chosenProtocol.set(req, WS_PORT_FORWARD_PROTOCOL);
            const ws = await this.acceptWebSocket(req, socket, head);
            upgraded = true;
            const io = createWebSocketStream(ws);
            io.on('error', () => undefined);
            servePortForward(new SpdySession(io, { server: true }), address, label);
            return;
          }
          if (channels === undefined) {
            throw new HttpError(400, `unsupported websocket protocols ${JSON.stringify(offered)}; this node speaks ${[WS_PORT_FORWARD_PROTOCOL, ...WS_CHANNEL_PORT_FORWARD_PROTOCOLS].join(', ')}`);
          }
          const ports = parsePortForwardPorts(url.searchParams);
          if (channels) this.chosenProtocol.set(req, channels);
          const ws = await this.acceptWebSocket(req, socket, head);
          upgraded = true;
          serveWsPortForward(ws, channels, { address, label, ports });
        } else {
          const offered = headerValues(req, 'x-stream-protocol-version');
          if (!offered.includes(PORT_FORWARD_PROTOCOL)) throw new HttpError(403, `unable to upgrade: no supported stream protocol in ${JSON.stringify(offered)}`, 'Forbidden');
          const io = this.acceptSpdy(socket, head, PORT_FORWARD_PROTOCOL);
          upgraded = true;
          servePortForward(new SpdySession(io, { server: true }), address, label);
        }
        return;
      }

      const so = streamOptions(url.searchParams);
      if (!so.stdin && !so.stdout && !so.stderr) throw new HttpError(400, 'you must specify at least 1 of stdin, stdout, stderr');
      let protocol: string;
      if (websocket) {
        const offered = headerValues(req, 'sec-websocket-protocol');
        const p = CHANNEL_PROTOCOLS.find((c) => offered.includes(c));
        if (!p) throw new HttpError(400, `unsupported websocket protocols ${JSON.stringify(offered)}; this node speaks ${CHANNEL_PROTOCOLS.join(', ')}`);
        protocol = p;
      } else {
        const offered = headerValues(req, 'x-stream-protocol-version');
        const p = SPDY_COMMAND_PROTOCOLS.find((c) => offered.includes(c));
        if (!p) throw new HttpError(403, `unable to upgrade: no supported stream protocol in ${JSON.stringify(offered)}`, 'Forbidden');
        protocol = p;
      }

      // The process starts before the upgrade so that a failure is an HTTP error kubectl prints.
      let command: string[];
      if (r.kind === 'exec') {
        command = url.searchParams.getAll('command');
        if (!command.length) throw new HttpError(400, 'you must specify a command');
        session = holdOutput(await this.opts.runtime.exec(r.ref, { command, tty: so.tty, stdin: so.stdin }));
      } else {
        command = [];
        session = await attachSession(this.opts.runtime, r.ref, so);
      }

      let transport: CommandTransport;
      if (websocket) {
        this.chosenProtocol.set(req, protocol);
        const ws = await this.acceptWebSocket(req, socket, head);
        upgraded = true;
        transport = wsCommandTransport(ws, protocol as ChannelProtocol, so);
      } else {
        const io = this.acceptSpdy(socket, head, protocol);
        upgraded = true;
        transport = await spdyCommandTransport(new SpdySession(io, { server: true }), protocol, so);
      }
      const s = session;
      session = undefined;
      await runCommand(transport, s, command);
    } catch (e) {
      session?.kill();
      // Once upgraded, HTTP is over: all that is left is to drop the connection.
      if (upgraded) socket.destroy();
      else this.rejectUpgrade(socket, e);
    }
  }

  private acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    return new Promise((resolve) => this.wss.handleUpgrade(req, socket, head, (ws) => resolve(ws)));
  }

  private acceptSpdy(socket: Duplex, head: Buffer, protocol: string): Duplex {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    if (head.length) socket.unshift(head);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }
}

