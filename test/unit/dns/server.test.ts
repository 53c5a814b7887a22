import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  decodeMessage,
  ednsOf,
  emptyHeader,
  encodeMessage,
  optRecord,
  RCode,
  RRType,
  type Message,
  type Question,
  type ResourceRecord,
} from '../../../kubelet/dns/message.js';
import { ClusterDNS, parseUpstream } from '../../../kubelet/dns/server.js';
import { clusterFixtures, endpoints, service } from './fixtures.js';

const silent = pino({ level: 'silent' });
const DEADLINE_MS = 5000;

function queryMsg(name: string, type: number = RRType.A, opts: { id?: number; edns?: number } = {}): Message {
  return {
    header: { ...emptyHeader(opts.id ?? Math.floor(Math.random() * 0x10000)), rd: true },
    questions: [{ name, type, class: 1 }],
    answers: [],
    authorities: [],
    additionals: opts.edns ? [optRecord(opts.edns)] : [],
  };
}

/** Sends raw bytes over UDP and waits (with a deadline) for the reply carrying the same id. */
function udpExchange(port: number, packet: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no UDP reply before the deadline'));
    }, DEADLINE_MS);
    sock.on('message', (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) !== packet.readUInt16BE(0)) return;
      clearTimeout(timer);
      sock.close();
      resolve(reply);
    });
    sock.send(packet, port, '127.0.0.1');
  });
}

async function udpQuery(port: number, msg: Message): Promise<Message> {
  return decodeMessage(await udpExchange(port, encodeMessage(msg)));
}

/** Sends several length-prefixed queries on one connection and collects as many replies. */
function tcpQuery(port: number, msgs: Message[]): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const replies: Message[] = [];
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no TCP reply before the deadline'));
    }, DEADLINE_MS);
    sock.on('error', reject);
    sock.on('connect', () => {
      for (const m of msgs) {
        const body = encodeMessage(m);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(body.length);
        sock.write(Buffer.concat([len, body]));
      }
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length === msgs.length) {
        clearTimeout(timer);
        sock.destroy();
        resolve(replies);
      }
    });
  });
}

function addresses(rrs: ResourceRecord[]): string[] {
  return rrs.filter((r) => r.data.kind === 'address').map((r) => (r.data.kind === 'address' ? r.data.address : '')).sort();
}

interface FakeUpstream {
  port: number;
  seen: Question[];
  close(): Promise<void>;
}

/** A tiny authoritative server for everything: `big*` names get 60 addresses, others 192.0.2.1. */
async function fakeUpstream(opts: { answer?: boolean } = {}): Promise<FakeUpstream> {
  const seen: Question[] = [];
  const answerFor = (packet: Buffer, limit: number): Buffer => {
    const q = decodeMessage(packet);
    seen.push(q.questions[0]!);
    const name = q.questions[0]!.name;
    const count = name.toLowerCase().startsWith('big') ? 60 : 1;
    const answers: ResourceRecord[] = [];
    if (q.questions[0]!.type === RRType.A) {
      for (let i = 0; i < count; i++) answers.push({ name, type: RRType.A, class: 1, ttl: 60, data: { kind: 'address', address: `192.0.2.${i + 1}` } });
    }
    const edns = ednsOf(q);
    return encodeMessage(
      { header: { ...q.header, qr: true, ra: true }, questions: q.questions, answers, authorities: [], additionals: edns ? [optRecord(1232)] : [] },
      edns ? Math.max(512, edns.payload) : limit,
    );
  };
  // An ephemeral UDP port can be some other process's TCP port: take another one then.
  let udp: UdpSocket;
  let port: number;
  let tcp: Server;
  for (let attempt = 0; ; attempt++) {
    udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', () => resolve()));
    port = udp.address().port;
    tcp = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) break;
    await new Promise<void>((r) => udp.close(() => r()));
    if (attempt >= 20) throw new Error('no port free for both UDP and TCP');
  }
  udp.on('message', (packet, rinfo) => {
    if (opts.answer === false) return;
    udp.send(answerFor(packet, 512), rinfo.port, rinfo.address);
  });
  tcp.on('connection', (sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const reply = answerFor(buf.subarray(2, 2 + buf.readUInt16BE(0)), 65535);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(reply.length);
      sock.end(Buffer.concat([len, reply]));
    });
    sock.on('error', () => sock.destroy());
  });
  return {
    port,
    seen,
    close: () =>
      Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]).then(() => undefined),
  };
}

async function startDNS(t: { teardown(fn: () => Promise<void>): void }, upstream: string[], extra: { upstreamTimeoutMs?: number } = {}): Promise<ClusterDNS> {
  const dns = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: 0 }], upstream, log: silent, ...extra });
  const f = clusterFixtures();
  const many: Record<string, unknown>[] = [{ addresses: Array.from({ length: 100 }, (_, i) => ({ ip: `10.245.0.${i + 1}` })), ports: [{ name: 'p', port: 1 }] }];
  dns.update([...f.services, service('default', 'many', { clusterIP: 'None' })], [...f.endpoints, endpoints('default', 'many', many)]);
  await dns.start();
  t.teardown(() => dns.stop());
  return dns;
}

function port(dns: ClusterDNS): number {
  return dns.addresses[0]!.port;
}

test('answers a service over UDP, keeping the id and setting AA', async (t) => {
  const dns = await startDNS(t, []);
  const r = await udpQuery(port(dns), queryMsg('Web.Default.svc.cluster.local', RRType.A, { id: 4242 }));
  t.is(r.header.id, 4242);
  t.true(r.header.qr);
  t.true(r.header.aa);
  t.true(r.header.rd);
  t.is(r.header.rcode, RCode.NOERROR);
  t.deepEqual(addresses(r.answers), ['10.96.0.10']);
  t.is(r.answers[0]!.name, 'Web.Default.svc.cluster.local');
  t.is(r.questions[0]!.name, 'Web.Default.svc.cluster.local');
  t.is(dns.stats.queries, 1);
  t.is(dns.stats.forwarded, 0);
});

test('UDP and TCP share the same port; TCP takes several queries on one connection', async (t) => {
  const dns = await startDNS(t, []);
  const [a, b, c] = await tcpQuery(port(dns), [
    queryMsg('web.default.svc.cluster.local', RRType.A, { id: 1 }),
    queryMsg('nope.default.svc.cluster.local', RRType.A, { id: 2 }),
    queryMsg('_pg._tcp.db.data.svc.cluster.local', RRType.SRV, { id: 3 }),
  ]);
  const byId = new Map([a!, b!, c!].map((m) => [m.header.id, m]));
  t.deepEqual(addresses(byId.get(1)!.answers), ['10.96.0.10']);
  t.is(byId.get(2)!.header.rcode, RCode.NXDOMAIN);
  t.is(byId.get(2)!.authorities[0]!.type, RRType.SOA);
  t.is(byId.get(3)!.answers.length, 3);
  t.is(addresses(byId.get(3)!.additionals).length, 3);
});

test('NODATA for a known name of another type, with the SOA', async (t) => {
  const dns = await startDNS(t, []);
  const r = await udpQuery(port(dns), queryMsg('web.default.svc.cluster.local', RRType.AAAA));
  t.is(r.header.rcode, RCode.NOERROR);
  t.is(r.answers.length, 0);
  t.is(r.authorities[0]!.type, RRType.SOA);
});

test('a big answer is truncated over UDP and complete over TCP', async (t) => {
  const dns = await startDNS(t, []);
  const udp = await udpQuery(port(dns), queryMsg('many.default.svc.cluster.local'));
  t.true(udp.header.tc);
  t.true(udp.answers.length < 100);
  const [tcp] = await tcpQuery(port(dns), [queryMsg('many.default.svc.cluster.local')]);
  t.false(tcp!.header.tc);
  t.is(tcp!.answers.length, 100);
});

test('EDNS queries get an OPT back and up to 1232 bytes over UDP', async (t) => {
  const dns = await startDNS(t, []);
  const raw = await udpExchange(port(dns), encodeMessage(queryMsg('many.default.svc.cluster.local', RRType.A, { edns: 4096 })));
  t.true(raw.length <= 1232 && raw.length > 512);
  const r = decodeMessage(raw);
  t.true(r.header.tc);
  t.is(ednsOf(r)?.payload, 1232);
  const small = await udpQuery(port(dns), queryMsg('web.default.svc.cluster.local', RRType.A, { edns: 1232 }));
  t.false(small.header.tc);
  t.is(ednsOf(small)?.payload, 1232);
  // an EDNS version we do not speak is BADVERS (extended rcode 16)
  const v1 = queryMsg('web.default.svc.cluster.local');
  v1.additionals = [{ ...optRecord(1232), ttl: 1 << 16 }];
  const bad = await udpQuery(port(dns), v1);
  t.is((ednsOf(bad)!.extendedRcode << 4) | bad.header.rcode, RCode.BADVERS);
});

test('names outside the domain are forwarded upstream under the client id', async (t) => {
  const up = await fakeUpstream();
  t.teardown(() => up.close());
  const dns = await startDNS(t, [`127.0.0.1:${up.port}`]);
  const r = await udpQuery(port(dns), queryMsg('www.Example.org', RRType.A, { id: 777 }));
  t.is(r.header.id, 777);
  t.false(r.header.aa);
  t.deepEqual(addresses(r.answers), ['192.0.2.1']);
  t.deepEqual(up.seen.map((q) => q.name), ['www.Example.org']);
  t.is(dns.stats.forwarded, 1);
  // an unknown reverse name is not ours either
  await udpQuery(port(dns), queryMsg('1.2.0.192.in-addr.arpa', RRType.PTR));
  t.is(dns.stats.forwarded, 2);
});

test('a truncated upstream reply is fetched again over TCP for a TCP client', async (t) => {
  const up = await fakeUpstream();
  t.teardown(() => up.close());
  const dns = await startDNS(t, [`127.0.0.1:${up.port}`]);
  const [r] = await tcpQuery(port(dns), [queryMsg('big.example.org')]);
  t.false(r!.header.tc);
  t.is(r!.answers.length, 60);
  const udp = await udpQuery(port(dns), queryMsg('big.example.org'));
  t.true(udp.header.tc);
});

test('an ExternalName service is chased to the upstream addresses', async (t) => {
  const up = await fakeUpstream();
  t.teardown(() => up.close());
  const dns = await startDNS(t, [`127.0.0.1:${up.port}`]);
  const r = await udpQuery(port(dns), queryMsg('ext.default.svc.cluster.local'));
  t.deepEqual(r.answers.map((a) => a.type), [RRType.CNAME, RRType.A]);
  t.is(r.answers[1]!.name, 'example.org');
  // a CNAME to a name of the zone is chased locally
  const inner = await udpQuery(port(dns), queryMsg('inner.default.svc.cluster.local'));
  t.deepEqual(inner.answers.map((a) => a.type), [RRType.CNAME, RRType.A]);
  t.deepEqual(addresses(inner.answers), ['10.96.0.10']);
  t.true(inner.header.aa);
});

test('a silent upstream is skipped for the next one', async (t) => {
  const mute = await fakeUpstream({ answer: false });
  const up = await fakeUpstream();
  t.teardown(() => Promise.all([mute.close(), up.close()]).then(() => undefined));
  const dns = await startDNS(t, [`127.0.0.1:${mute.port}`, `127.0.0.1:${up.port}`], { upstreamTimeoutMs: 300 });
  const r = await udpQuery(port(dns), queryMsg('www.example.org'));
  t.is(r.header.rcode, RCode.NOERROR);
  t.deepEqual(addresses(r.answers), ['192.0.2.1']);
});

test('SERVFAIL when no upstream answers, or when there is none', async (t) => {
  const mute = await fakeUpstream({ answer: false });
  t.teardown(() => mute.close());
  const dns = await startDNS(t, [`127.0.0.1:${mute.port}`], { upstreamTimeoutMs: 300 });
  const r = await udpQuery(port(dns), queryMsg('www.example.org', RRType.A, { id: 99 }));
  t.is(r.header.id, 99);
  t.is(r.header.rcode, RCode.SERVFAIL);
  const none = await startDNS(t, []);
  const [tcp] = await tcpQuery(port(none), [queryMsg('www.example.org')]);
  t.is(tcp!.header.rcode, RCode.SERVFAIL);
  t.false(tcp!.header.ra);
});

test('malformed queries get FORMERR when they have an id, and are dropped otherwise', async (t) => {
  const dns = await startDNS(t, []);
  const headerOnly = Buffer.alloc(12);
  headerOnly.writeUInt16BE(0x5151, 0);
  headerOnly.writeUInt16BE(1, 4); // one question that is not there
  const r = decodeMessage(await udpExchange(port(dns), headerOnly));
  t.is(r.header.id, 0x5151);
  t.is(r.header.rcode, RCode.FORMERR);
  t.is(await dns.handle(Buffer.from([1, 2, 3]), 'udp'), undefined);
  // responses are never answered
  const resp = encodeMessage({ ...queryMsg('web.default.svc.cluster.local'), header: { ...emptyHeader(5), qr: true } });
  t.is(await dns.handle(resp, 'udp'), undefined);
  // two questions: FORMERR; another opcode: NOTIMP
  const two = queryMsg('a.cluster.local');
  two.questions.push({ name: 'b.cluster.local', type: 1, class: 1 });
  t.is(decodeMessage((await dns.handle(encodeMessage(two), 'udp'))!).header.rcode, RCode.FORMERR);
  const notify = queryMsg('cluster.local', RRType.SOA);
  notify.header.opcode = 4;
  t.is(decodeMessage((await dns.handle(encodeMessage(notify), 'udp'))!).header.rcode, RCode.NOTIMP);
  // still serving
  t.deepEqual(addresses((await udpQuery(port(dns), queryMsg('web.default.svc.cluster.local'))).answers), ['10.96.0.10']);
});

test('random packets never make the server throw', async (t) => {
  const dns = await startDNS(t, []);
  const valid = encodeMessage(queryMsg('_pg._tcp.db.data.svc.cluster.local', RRType.SRV, { edns: 1232 }));
  for (let i = 0; i < 5000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) buf = randomBytes(i % 200);
    else {
      buf = Buffer.from(valid);
      for (let f = 0; f < 1 + (i % 4); f++) buf[(Math.random() * buf.length) | 0] = (Math.random() * 256) | 0;
    }
    const reply = await dns.handle(buf, i % 3 === 0 ? 'tcp' : 'udp');
    if (reply) decodeMessage(reply);
  }
  // garbage over the wire too, then a real query still works
  const sock = createSocket('udp4');
  for (let i = 0; i < 50; i++) sock.send(randomBytes(40), port(dns), '127.0.0.1');
  await new Promise<void>((r) => sock.close(() => r()));
  const garbageTcp = connect(port(dns), '127.0.0.1');
  await new Promise<void>((resolve) => {
    garbageTcp.on('error', () => resolve());
    garbageTcp.on('close', () => resolve());
    garbageTcp.on('connect', () => garbageTcp.end(Buffer.from([0, 3, 1, 2, 3])));
  });
  t.deepEqual(addresses((await udpQuery(port(dns), queryMsg('web.default.svc.cluster.local'))).answers), ['10.96.0.10']);
  t.pass();
});

test('update swaps the records while serving', async (t) => {
  const dns = await startDNS(t, []);
  dns.update([service('default', 'web', { clusterIP: '10.96.9.9', ports: [{ port: 80 }] })], []);
  t.deepEqual(addresses((await udpQuery(port(dns), queryMsg('web.default.svc.cluster.local'))).answers), ['10.96.9.9']);
  t.is((await udpQuery(port(dns), queryMsg('db.data.svc.cluster.local'))).header.rcode, RCode.NXDOMAIN);
});

test('stop releases the ports and ends open connections', async (t) => {
  const dns = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: 0 }], upstream: [], log: silent });
  await dns.start();
  const p = port(dns);
  const idle = connect(p, '127.0.0.1');
  await new Promise<void>((r) => idle.on('connect', () => r()));
  const closed = new Promise<void>((r) => idle.on('close', () => r()));
  idle.on('error', () => undefined);
  await dns.stop();
  await closed;
  const again = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: p }], upstream: [], log: silent });
  await again.start();
  t.is(port(again), p);
  await again.stop();
});

test('upstreams default to the resolver file, without ourselves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-dns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const up = await fakeUpstream();
  t.teardown(() => up.close());
  // libc resolvers only know port 53; the ip:port form lets this test avoid binding port 53
  const file = join(dir, 'resolv.conf');
  writeFileSync(file, `# test\nnameserver 127.0.0.1:${up.port}\nsearch example.org\n`);
  const dns = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: 0 }], resolvConf: file, log: silent });
  await dns.start();
  t.teardown(() => dns.stop());
  const r = await udpQuery(port(dns), queryMsg('www.example.org'));
  t.deepEqual(addresses(r.answers), ['192.0.2.1']);
  t.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
  t.deepEqual(parseUpstream('10.0.0.1'), { host: '10.0.0.1', port: 53 });
  t.deepEqual(parseUpstream('fe80::1'), { host: 'fe80::1', port: 53 });
  t.throws(() => parseUpstream('dns.example'), { message: /invalid upstream/ });
});

test('an upstream equal to our own address is dropped to avoid a loop', async (t) => {
  const probe = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: 0 }], upstream: [], log: silent });
  await probe.start();
  const p = port(probe);
  await probe.stop();
  const dns = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: p }], upstream: [`127.0.0.1:${p}`], log: silent });
  await dns.start();
  t.teardown(() => dns.stop());
  const r = await udpQuery(p, queryMsg('www.example.org'));
  t.is(r.header.rcode, RCode.SERVFAIL);
  t.false(r.header.ra);
});
