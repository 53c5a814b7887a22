import test from 'ava';
import { randomBytes } from 'node:crypto';
import {
  decodeMessage,
  DnsFormatError,
  ednsOf,
  emptyHeader,
  encodeMessage,
  ipv6Bytes,
  optRecord,
  RCode,
  RRClass,
  RRType,
  type Message,
  type ResourceRecord,
} from '../../../kubelet/dns/message.js';

function rr(name: string, type: number, data: ResourceRecord['data'], ttl = 5): ResourceRecord {
  return { name, type, class: RRClass.IN, ttl, data };
}

function sample(): Message {
  return {
    header: { ...emptyHeader(0xbeef), qr: true, aa: true, rd: true, ra: true, rcode: RCode.NOERROR },
    questions: [{ name: 'Web.Default.svc.cluster.local', type: RRType.A, class: RRClass.IN }],
    answers: [
      rr('Web.Default.svc.cluster.local', RRType.A, { kind: 'address', address: '10.96.0.10' }),
      rr('Web.Default.svc.cluster.local', RRType.AAAA, { kind: 'address', address: 'fd00::a:1' }),
      rr('alias.default.svc.cluster.local', RRType.CNAME, { kind: 'name', name: 'example.com' }),
      rr('_http._tcp.web.default.svc.cluster.local', RRType.SRV, { kind: 'srv', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }),
      rr('10.0.96.10.in-addr.arpa', RRType.PTR, { kind: 'name', name: 'web.default.svc.cluster.local' }),
      rr('txt.example', RRType.TXT, { kind: 'raw', bytes: Buffer.from('\x05hello') }),
    ],
    authorities: [
      rr('cluster.local', RRType.SOA, {
        kind: 'soa',
        mname: 'ns.dns.cluster.local',
        rname: 'hostmaster.cluster.local',
        serial: 4_000_000_000,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
        minimum: 5,
      }),
    ],
    additionals: [optRecord(1232)],
  };
}

test('a message survives encode then decode unchanged', (t) => {
  const msg = sample();
  const back = decodeMessage(encodeMessage(msg));
  t.deepEqual(back, msg);
});

test('header flags round trip one by one', (t) => {
  const flags = ['qr', 'aa', 'tc', 'rd', 'ra', 'ad', 'cd'] as const;
  for (const f of flags) {
    const msg: Message = { header: { ...emptyHeader(7), [f]: true, opcode: 2, rcode: 3 }, questions: [], answers: [], authorities: [], additionals: [] };
    t.deepEqual(decodeMessage(encodeMessage(msg)).header, msg.header, f);
  }
});

test('names are compressed against earlier names, keeping their exact case', (t) => {
  const msg = sample();
  const buf = encodeMessage(msg);
  // the first answer's owner is the question name at offset 12: a bare pointer
  const qEnd = 12 + 'Web.Default.svc.cluster.local'.length + 2 + 4;
  t.is(buf.readUInt16BE(qEnd), 0xc00c);
  // an uncompressed encoding would repeat cluster.local many times
  const plain = msg.answers.reduce((n, r) => n + r.name.length + 2, 0);
  t.true(buf.length < 12 + 40 + plain + 200);
  t.is(decodeMessage(buf).answers[0]!.name, 'Web.Default.svc.cluster.local');
  // a lower-case spelling does not reuse the mixed-case bytes
  const lower = decodeMessage(buf).answers[3]!;
  t.is(lower.data.kind === 'srv' && lower.data.target, 'web.default.svc.cluster.local');
});

test('SRV targets are written uncompressed (RFC 2782)', (t) => {
  const msg: Message = {
    header: emptyHeader(1),
    questions: [{ name: 'web.default.svc.cluster.local', type: RRType.SRV, class: 1 }],
    answers: [rr('web.default.svc.cluster.local', RRType.SRV, { kind: 'srv', priority: 0, weight: 1, port: 80, target: 'web.default.svc.cluster.local' })],
    authorities: [],
    additionals: [],
  };
  const buf = encodeMessage(msg);
  const target = Buffer.from('\x03web\x07default\x03svc\x07cluster\x05local\x00', 'latin1');
  t.true(buf.subarray(40).includes(target));
});

test('labels with dots, backslashes and binary bytes round trip through escapes', (t) => {
  const msg: Message = {
    header: emptyHeader(2),
    questions: [{ name: 'a\\.b.c\\\\d.\\000\\255x.example', type: RRType.A, class: 1 }],
    answers: [],
    authorities: [],
    additionals: [],
  };
  const buf = encodeMessage(msg);
  t.is(buf[12], 3); // "a.b" is one three-byte label
  t.deepEqual(decodeMessage(buf).questions, msg.questions);
});

test('a trailing dot and the root name are accepted', (t) => {
  const msg: Message = { header: emptyHeader(3), questions: [{ name: 'example.com.', type: 1, class: 1 }, { name: '', type: RRType.NS, class: 1 }], answers: [], authorities: [], additionals: [] };
  t.deepEqual(decodeMessage(encodeMessage(msg)).questions.map((q) => q.name), ['example.com', '']);
});

test('names and labels beyond the limits are refused when encoding', (t) => {
  const long = (n: number): Message => ({ header: emptyHeader(), questions: [{ name: n > 63 ? 'a'.repeat(n) : Array(n).fill('abcdefghi').join('.'), type: 1, class: 1 }], answers: [], authorities: [], additionals: [] });
  t.throws(() => encodeMessage(long(64)), { message: /label longer than 63/ });
  t.throws(() => encodeMessage(long(30)), { message: /name longer than 255/ });
  t.throws(() => encodeMessage({ ...long(1), questions: [{ name: 'a..b', type: 1, class: 1 }] }), { message: /empty label/ });
});

test('IPv6 addresses encode to their 16 bytes', (t) => {
  t.is(ipv6Bytes('::1').toString('hex'), '00000000000000000000000000000001');
  t.is(ipv6Bytes('fd00::a:1').toString('hex'), 'fd0000000000000000000000000a0001');
  t.is(ipv6Bytes('::ffff:1.2.3.4').toString('hex'), '00000000000000000000ffff01020304');
  t.is(ipv6Bytes('2001:db8:0:0:1:0:0:1').toString('hex'), '20010db8000000000001000000000001');
  const m = decodeMessage(
    encodeMessage({ header: emptyHeader(), questions: [], answers: [rr('x', RRType.AAAA, { kind: 'address', address: '2001:db8:0:0:1:0:0:1' })], authorities: [], additionals: [] }),
  );
  t.deepEqual(m.answers[0]!.data, { kind: 'address', address: '2001:db8::1:0:0:1' });
});

function header(qd: number, an = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0x1234, 0);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  return b;
}

test('a name that points at itself is a format error, not a hang', (t) => {
  const buf = Buffer.concat([header(1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  const err = t.throws(() => decodeMessage(buf), { instanceOf: DnsFormatError });
  t.is(err.id, 0x1234);
});

test('two names pointing at each other are a format error', (t) => {
  // the question (offset 12) ends in a pointer to the answer's name (offset 20), which points back
  const q = Buffer.from([1, 0x61, 0xc0, 20, 0, 1, 0, 1]);
  const a = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]);
  t.throws(() => decodeMessage(Buffer.concat([header(1, 1), q, a])), { instanceOf: DnsFormatError, message: /pointer/ });
});

test('a forward pointer is refused; a backward one is followed', (t) => {
  const ok = Buffer.concat([header(2), Buffer.from([1, 0x61, 0, 0, 1, 0, 1, 1, 0x62, 0xc0, 12, 0, 1, 0, 1])]);
  t.deepEqual(decodeMessage(ok).questions.map((q) => q.name), ['a', 'b.a']);
  const fwd = Buffer.concat([header(2), Buffer.from([0xc0, 18, 0, 1, 0, 1, 1, 0x62, 0, 0, 1, 0, 1])]);
  t.throws(() => decodeMessage(fwd), { instanceOf: DnsFormatError, message: /pointer/ });
});

test('every truncation of a valid message is a format error', (t) => {
  const buf = encodeMessage(sample());
  for (let n = 0; n < buf.length; n++) {
    const err = t.throws(() => decodeMessage(buf.subarray(0, n)), { instanceOf: DnsFormatError });
    if (n >= 12) t.is(err.id, 0xbeef);
  }
});

test('trailing bytes and wrong record lengths are format errors', (t) => {
  const buf = encodeMessage(sample());
  t.throws(() => decodeMessage(Buffer.concat([buf, Buffer.from([0])])), { instanceOf: DnsFormatError, message: /trailing/ });
  const bad = Buffer.concat([header(0, 1), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3])]);
  t.throws(() => decodeMessage(bad), { instanceOf: DnsFormatError, message: /A record data/ });
});

test('a decoded name longer than 255 bytes is a format error', (t) => {
  const labels: number[] = [];
  for (let i = 0; i < 5; i++) labels.push(60, ...Buffer.alloc(60, 0x61));
  const buf = Buffer.concat([header(1), Buffer.from([...labels, 0, 0, 1, 0, 1])]);
  t.throws(() => decodeMessage(buf), { instanceOf: DnsFormatError, message: /longer than 255/ });
});

test('random bytes and mutated messages never throw anything but DnsFormatError', (t) => {
  const valid = encodeMessage(sample());
  const deadline = Date.now() + 10_000;
  let decoded = 0;
  for (let i = 0; i < 30_000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) buf = randomBytes(i % 300);
    else {
      buf = Buffer.from(valid);
      const flips = 1 + (i % 5);
      for (let f = 0; f < flips; f++) buf[(Math.random() * buf.length) | 0] = (Math.random() * 256) | 0;
      if (i % 3 === 0) buf = buf.subarray(0, (Math.random() * buf.length) | 0);
    }
    try {
      const m = decodeMessage(buf);
      decoded++;
      // whatever decodes must encode again
      encodeMessage(m);
    } catch (e) {
      if (!(e instanceof DnsFormatError)) {
        t.fail(`unexpected ${(e as Error).stack} for ${buf.toString('hex')}`);
        return;
      }
    }
  }
  t.true(Date.now() < deadline);
  t.true(decoded > 0);
});

function manyAnswers(n: number): Message {
  const answers: ResourceRecord[] = [];
  for (let i = 0; i < n; i++) answers.push(rr('db.data.svc.cluster.local', RRType.A, { kind: 'address', address: `10.244.${i >> 8}.${i & 255}` }));
  return {
    header: { ...emptyHeader(9), qr: true },
    questions: [{ name: 'db.data.svc.cluster.local', type: RRType.A, class: 1 }],
    answers,
    authorities: [],
    additionals: [rr('extra.data.svc.cluster.local', RRType.A, { kind: 'address', address: '10.0.0.1' }), optRecord(1232)],
  };
}

test('a size limit cuts whole answers, sets TC and keeps the OPT record', (t) => {
  const buf = encodeMessage(manyAnswers(100), 512);
  t.true(buf.length <= 512);
  const m = decodeMessage(buf);
  t.true(m.header.tc);
  t.true(m.answers.length > 10 && m.answers.length < 100);
  t.is(m.additionals.length, 1);
  t.is(ednsOf(m)?.payload, 1232);
  const full = decodeMessage(encodeMessage(manyAnswers(100)));
  t.false(full.header.tc);
  t.is(full.answers.length, 100);
  t.is(full.additionals.length, 2);
});

test('additional records that do not fit are dropped without TC', (t) => {
  const msg = manyAnswers(28);
  const size = encodeMessage({ ...msg, additionals: [optRecord(1232)] }).length;
  const m = decodeMessage(encodeMessage(msg, size));
  t.false(m.header.tc);
  t.is(m.answers.length, 28);
  t.is(m.additionals.length, 1);
});

test('EDNS fields are read from the OPT record', (t) => {
  const m = decodeMessage(encodeMessage({ header: emptyHeader(), questions: [], answers: [], authorities: [], additionals: [optRecord(4096, 1, true)] }));
  t.deepEqual(ednsOf(m), { payload: 4096, version: 0, dnssecOk: true, extendedRcode: 1 });
});
