// The node agent's cluster DNS: answers the cluster zone from Services and Endpoints over UDP and
// TCP, and forwards every other name to the host's nameservers. Pods of the node use it through
// the bridge gateway address written into their resolv.conf.
import { randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createConnection, createServer, isIP, isIPv6, type Server, type Socket } from 'node:net';
import type { KObject } from '../../pkg/api/types.js';
import { logger, type Logger } from '../../pkg/log/logger.js';
import { parseResolvConf } from '../volumes/dns.js';
import {
  decodeMessage,
  DnsFormatError,
  ednsOf,
  encodeMessage,
  HEADER_SIZE,
  MAX_MESSAGE_SIZE,
  optRecord,
  RCode,
  RRType,
  type Header,
  type Message,
  type Question,
  type ResourceRecord,
} from './message.js';
import { ClusterZone, type ZoneAnswer } from './records.js';

export interface ClusterDNSOptions {
  /** the cluster domain; default cluster.local */
  domain?: string;
  /** addresses to serve on, each over UDP and TCP; port 0 picks one port for both */
  listen: { host: string; port: number }[];
  /** nameservers (`ip`, `ip:port`, `[ipv6]:port`) for names outside the domain; default: /etc/resolv.conf's */
  upstream?: string[];
  /** the resolver file read when `upstream` is not given; default /etc/resolv.conf */
  resolvConf?: string;
  /** seconds; default 5 */
  ttl?: number;
  /** how long to wait for one upstream before trying the next; default 2000 ms */
  upstreamTimeoutMs?: number;
  log?: Logger;
}

interface Upstream {
  host: string;
  port: number;
}

/** Without EDNS a UDP answer is at most 512 bytes (RFC 1035). */
const CLASSIC_UDP_SIZE = 512;
/** The payload we advertise and the most we send over UDP: the DNS flag day 2020 value, below common MTUs. */
const EDNS_UDP_SIZE = 1232;
const TCP_IDLE_MS = 10_000;
const MAX_CNAME_CHAIN = 8;

export function parseUpstream(text: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : 53 };
  if (isIP(text)) return { host: text, port: 53 };
  const hostPort = /^([^:]+):(\d+)$/.exec(text);
  if (hostPort && isIP(hostPort[1]!) === 4) return { host: hostPort[1]!, port: Number(hostPort[2]) };
  throw new Error(`invalid upstream nameserver ${JSON.stringify(text)}: expected ip, ip:port or [ipv6]:port`);
}

function rcodeOf(packet: Buffer): number {
  return packet[3]! & 0xf;
}

function withId(packet: Buffer, id: number): Buffer {
  const out = Buffer.from(packet);
  out.writeUInt16BE(id, 0);
  return out;
}

/** The question section's bytes (the first name, uncompressed in any sane query) and its end. */
function questionEnd(packet: Buffer): number | undefined {
  let pos = HEADER_SIZE;
  while (pos < packet.length) {
    const len = packet[pos]!;
    if (len === 0) return pos + 5 <= packet.length ? pos + 5 : undefined;
    if (len & 0xc0) return undefined;
    pos += len + 1;
  }
  return undefined;
}

function sameQuestion(query: Buffer, reply: Buffer): boolean {
  if (reply.readUInt16BE(4) !== 1) return false;
  const end = questionEnd(query);
  if (end === undefined || reply.length < end) return false;
  for (let i = HEADER_SIZE; i < end; i++) {
    let a = query[i]!;
    let b = reply[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

export class ClusterDNS {
  readonly stats = { queries: 0, forwarded: 0 };
  private readonly zone: ClusterZone;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private upstreams: Upstream[] = [];
  private udp: UdpSocket[] = [];
  private tcp: Server[] = [];
  private conns = new Set<Socket>();
  /** cancels of in-flight upstream exchanges, run by stop() */
  private inflight = new Set<() => void>();
  private bound: { host: string; port: number }[] = [];
  private running = false;

  constructor(private readonly opts: ClusterDNSOptions) {
    this.zone = new ClusterZone(opts.domain ?? 'cluster.local', opts.ttl ?? 5);
    this.log = opts.log ?? logger('cluster-dns');
    this.timeoutMs = opts.upstreamTimeoutMs ?? 2000;
  }

  /** The addresses actually bound (ports resolved), once started. */
  get addresses(): { host: string; port: number }[] {
    return this.bound.map((a) => ({ ...a }));
  }

  update(services: KObject[], endpoints: KObject[]): void {
    this.zone.update(services, endpoints);
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('cluster DNS already started');
    const configured = this.opts.upstream ?? parseResolvConf(readFileSync(this.opts.resolvConf ?? '/etc/resolv.conf', 'utf8')).servers;
    this.running = true;
    try {
      for (const l of this.opts.listen) this.bound.push(await this.listenRetrying(l.host, l.port));
    } catch (e) {
      await this.stop();
      throw e;
    }
    // forwarding to ourselves would loop each query until it times out
    this.upstreams = configured
      .map(parseUpstream)
      .filter((u) => !this.bound.some((b) => b.port === u.port && b.host === u.host));
    this.log.debug({ listen: this.bound, upstreams: this.upstreams }, 'cluster DNS serving');
  }

  /** An ephemeral UDP port may already be someone's TCP port: then take another one. */
  private async listenRetrying(host: string, port: number): Promise<{ host: string; port: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listenOn(host, port);
      } catch (e) {
        if (port !== 0 || attempt >= 5 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      }
    }
  }

  private async listenOn(host: string, port: number): Promise<{ host: string; port: number }> {
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp.push(udp);
    udp.on('error', (err) => this.log.debug({ err: err.message }, 'UDP socket error'));
    udp.on('message', (packet, rinfo) => {
      this.handle(packet, 'udp').then(
        (reply) => {
          if (reply && this.running) udp.send(reply, rinfo.port, rinfo.address, (err) => err && this.log.debug({ err: err.message }, 'UDP send failed'));
        },
        (err: Error) => this.log.debug({ err: err.message }, 'query failed'),
      );
    });
    const actual = udp.address().port;

    const server = createServer((sock) => this.serveTcp(sock));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(actual, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      this.udp = this.udp.filter((s) => s !== udp);
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      throw e;
    }
    this.tcp.push(server);
    server.on('error', (err) => this.log.debug({ err: err.message }, 'TCP server error'));
    return { host, port: actual };
  }

  /** RFC 7766: length-prefixed messages, several per connection, answered as they complete. */
  private serveTcp(sock: Socket): void {
    if (!this.running) {
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', (err) => this.log.debug({ err: err.message }, 'TCP connection error'));
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const packet = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        this.handle(Buffer.from(packet), 'tcp').then(
          (reply) => {
            if (!reply) {
              // a peer we cannot understand is not worth keeping a connection for
              sock.destroy();
              return;
            }
            if (sock.destroyed) return;
            const frame = Buffer.alloc(2 + reply.length);
            frame.writeUInt16BE(reply.length, 0);
            reply.copy(frame, 2);
            sock.write(frame);
          },
          (err: Error) => {
            this.log.debug({ err: err.message }, 'query failed');
            sock.destroy();
          },
        );
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const cancel of [...this.inflight]) cancel();
    this.inflight.clear();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = [];
    this.tcp = [];
    this.bound = [];
    await Promise.all([
      ...udp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      ...tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ]);
  }

  /** One query to one reply; undefined drops the packet (not a query, or nothing to reply to). */
  async handle(packet: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    if (packet.length < HEADER_SIZE) return undefined;
    // never answer answers: that is how reflection loops start
    if (packet[2]! & 0x80) return undefined;
    this.stats.queries++;
    let query: Message;
    try {
      query = decodeMessage(packet);
    } catch (e) {
      if (!(e instanceof DnsFormatError) || !e.header) throw e;
      this.log.debug({ err: e.message }, 'malformed query');
      return encodeMessage(this.reply(e.header, [], RCode.FORMERR));
    }
    const opts = query.additionals.filter((r) => r.type === RRType.OPT);
    const edns = ednsOf(query);
    const limit = transport === 'tcp' ? MAX_MESSAGE_SIZE : edns ? Math.min(Math.max(edns.payload, CLASSIC_UDP_SIZE), EDNS_UDP_SIZE) : CLASSIC_UDP_SIZE;
    const respond = (m: Message): Buffer => {
      if (edns) m.additionals.push(optRecord(EDNS_UDP_SIZE, m.header.rcode >> 4));
      m.header.rcode &= 0xf;
      return encodeMessage(m, limit);
    };

    if (query.header.opcode !== 0) return respond(this.reply(query.header, query.questions, RCode.NOTIMP));
    if (query.questions.length !== 1 || opts.length > 1 || opts.some((o) => o.name !== '')) {
      return respond(this.reply(query.header, query.questions, RCode.FORMERR));
    }
    if (edns && edns.version > 0) return respond(this.reply(query.header, query.questions, RCode.BADVERS));
    const q = query.questions[0]!;

    try {
      const result = this.zone.lookup(q);
      if (result.kind === 'forward') {
        this.stats.forwarded++;
        const reply = await this.forwardRaw(packet, transport);
        if (reply) return withId(reply, query.header.id);
        return respond(this.reply(query.header, query.questions, RCode.SERVFAIL));
      }
      const { answer, authoritative } = await this.chase(q, result);
      const m = this.reply(query.header, query.questions, answer.rcode);
      m.header.aa = authoritative;
      m.answers = answer.answers;
      m.authorities = answer.authorities;
      m.additionals = answer.additionals;
      return respond(m);
    } catch (e) {
      this.log.debug({ err: (e as Error).message, name: q.name, type: q.type }, 'answering failed');
      return respond(this.reply(query.header, query.questions, RCode.SERVFAIL));
    }
  }

  private reply(h: Header, questions: Question[], rcode: number): Message {
    return {
      header: { id: h.id, qr: true, opcode: h.opcode, aa: false, tc: false, rd: h.rd, ra: this.upstreams.length > 0, ad: false, cd: h.cd, rcode },
      questions: questions.slice(0, 1),
      answers: [],
      authorities: [],
      additionals: [],
    };
  }

  /**
   * Follows a CNAME answer (an ExternalName service) to addresses: stub resolvers in pods do not
   * chase CNAMEs themselves and expect a recursive server to have done it.
   */
  private async chase(q: Question, first: ZoneAnswer): Promise<{ answer: ZoneAnswer; authoritative: boolean }> {
    const answer: ZoneAnswer = { ...first, answers: [...first.answers] };
    let authoritative = true;
    let step: ZoneAnswer = first;
    let cur: Question = q;
    for (let i = 0; i < MAX_CNAME_CHAIN; i++) {
      const target = ClusterZone.cnameTarget(cur, step);
      if (!target) break;
      cur = { name: target, type: q.type, class: q.class };
      const next = this.zone.lookup(cur);
      if (next.kind === 'answer') {
        answer.answers.push(...next.answers);
        answer.rcode = next.rcode;
        answer.authorities = next.authorities;
        answer.additionals = next.additionals;
        step = next;
        continue;
      }
      const reply = await this.forwardQuestion(cur);
      if (reply && (reply.header.rcode === RCode.NOERROR || reply.header.rcode === RCode.NXDOMAIN)) {
        answer.answers.push(...reply.answers);
        answer.rcode = reply.header.rcode;
        answer.authorities = [];
        answer.additionals = [];
        authoritative = false;
      }
      break;
    }
    return { answer, authoritative };
  }

  private async forwardQuestion(q: Question): Promise<Message | undefined> {
    const query = encodeMessage({
      header: { id: 0, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, ad: false, cd: false, rcode: 0 },
      questions: [q],
      answers: [],
      authorities: [],
      additionals: [optRecord(EDNS_UDP_SIZE)],
    });
    const reply = await this.forwardRaw(query, 'tcp');
    if (!reply) return undefined;
    try {
      const m = decodeMessage(reply);
      m.answers = m.answers.filter((r: ResourceRecord) => r.type !== RRType.OPT);
      return m;
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'malformed upstream reply');
      return undefined;
    }
  }

  /**
   * Sends the client's own query bytes to each upstream in turn (so EDNS and flags pass through);
   * a truncated UDP reply is retried over TCP when the client came over TCP and can take it all.
   */
  private async forwardRaw(packet: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let fallback: Buffer | undefined;
    for (const up of this.upstreams) {
      if (!this.running) return undefined;
      let reply = await this.exchangeUdp(up, packet);
      if (reply && transport === 'tcp' && reply[2]! & 0x02) reply = (await this.exchangeTcp(up, packet)) ?? reply;
      if (!reply) continue;
      const rcode = rcodeOf(reply);
      if (rcode === RCode.SERVFAIL || rcode === RCode.REFUSED) {
        fallback = reply;
        continue;
      }
      return reply;
    }
    return fallback;
  }

  /** One UDP exchange from a fresh socket, so each query has its own random port and id. */
  private exchangeUdp(up: Upstream, packet: Buffer): Promise<Buffer | undefined> {
    const id = randomInt(0x10000);
    const out = withId(packet, id);
    return new Promise((resolve) => {
      const sock = createSocket({ type: isIPv6(up.host) ? 'udp6' : 'udp4' });
      let done = false;
      const finish = (reply: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inflight.delete(cancel);
        sock.close();
        resolve(reply);
      };
      const cancel = (): void => finish(undefined);
      this.inflight.add(cancel);
      const timer = setTimeout(() => {
        this.log.debug({ upstream: up }, 'upstream timed out');
        finish(undefined);
      }, this.timeoutMs);
      sock.on('error', (err) => {
        this.log.debug({ err: err.message, upstream: up }, 'upstream error');
        finish(undefined);
      });
      sock.on('message', (reply, rinfo) => {
        if (rinfo.port !== up.port || reply.length < HEADER_SIZE || reply.readUInt16BE(0) !== id || !(reply[2]! & 0x80)) return;
        if (!sameQuestion(out, reply)) return;
        finish(reply);
      });
      sock.send(out, up.port, up.host);
    });
  }

  private exchangeTcp(up: Upstream, packet: Buffer): Promise<Buffer | undefined> {
    const id = randomInt(0x10000);
    const out = withId(packet, id);
    return new Promise((resolve) => {
      const sock = createConnection({ host: up.host, port: up.port });
      let done = false;
      let got: Buffer = Buffer.alloc(0);
      const finish = (reply: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inflight.delete(cancel);
        sock.destroy();
        resolve(reply);
      };
      const cancel = (): void => finish(undefined);
      this.inflight.add(cancel);
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      sock.on('error', (err) => {
        this.log.debug({ err: err.message, upstream: up }, 'upstream TCP error');
        finish(undefined);
      });
      sock.on('close', () => finish(undefined));
      sock.on('connect', () => {
        const frame = Buffer.alloc(2 + out.length);
        frame.writeUInt16BE(out.length, 0);
        out.copy(frame, 2);
        sock.write(frame);
      });
      sock.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
        const reply = got.subarray(2, 2 + got.readUInt16BE(0));
        finish(reply.length >= HEADER_SIZE && reply.readUInt16BE(0) === id && sameQuestion(out, reply) ? Buffer.from(reply) : undefined);
      });
    });
  }
}
