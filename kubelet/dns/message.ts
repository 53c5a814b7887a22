// The DNS wire format (RFC 1035 with EDNS0 from RFC 6891): decoding that rejects every malformed
// packet with a typed error instead of crashing, and encoding with name compression and an
// optional size limit that truncates (TC) by whole records.
import { isIPv4, isIPv6 } from 'node:net';

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const RRClass = { IN: 1, ANY: 255 } as const;

export const RCode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const Opcode = { QUERY: 0 } as const;

export const HEADER_SIZE = 12;
/** the largest DNS message: TCP's two-byte length prefix */
export const MAX_MESSAGE_SIZE = 65535;
const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;
/** bytes of an OPT record without options: root name, type, class, ttl, rdlength */
export const OPT_RECORD_SIZE = 11;

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** the low four bits; the high eight of an extended rcode live in the OPT record */
  rcode: number;
}

export interface Question {
  /** dotted, no trailing dot, '' for the root; '.' and '\' inside a label are escaped with '\' */
  name: string;
  type: number;
  class: number;
}

export type RData =
  | { kind: 'address'; address: string }
  | { kind: 'name'; name: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'soa'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: 'raw'; bytes: Buffer };

export interface ResourceRecord {
  name: string;
  type: number;
  /** for OPT: the requestor's UDP payload size */
  class: number;
  /** for OPT: extended rcode, version and flags */
  ttl: number;
  data: RData;
}

export interface Message {
  header: Header;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

/** A packet that is not a well-formed DNS message. `id` is set when the header could be read. */
export class DnsFormatError extends Error {
  constructor(
    message: string,
    readonly id?: number,
    readonly header?: Header,
  ) {
    super(message);
    this.name = 'DnsFormatError';
  }
}

export function emptyHeader(id = 0): Header {
  return { id, qr: false, opcode: 0, aa: false, tc: false, rd: false, ra: false, ad: false, cd: false, rcode: 0 };
}

// ---------------------------------------------------------------------------------------------
// names

/** Splits a presentation name into raw label bytes, honouring `\.`, `\\` and `\DDD` escapes. */
export function nameToLabels(name: string): Buffer[] {
  if (name === '' || name === '.') return [];
  const labels: Buffer[] = [];
  let cur: number[] = [];
  let i = 0;
  const end = name.endsWith('.') && !name.endsWith('\\.') ? name.length - 1 : name.length;
  while (i < end) {
    const c = name.charCodeAt(i);
    if (c === 0x5c /* \ */) {
      const d = name.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new Error(`invalid escape in name ${JSON.stringify(name)}`);
        cur.push(v);
        i += 4;
      } else if (i + 1 < name.length) {
        cur.push(name.charCodeAt(i + 1) & 0xff);
        i += 2;
      } else throw new Error(`dangling escape in name ${JSON.stringify(name)}`);
    } else if (c === 0x2e /* . */) {
      if (cur.length === 0) throw new Error(`empty label in name ${JSON.stringify(name)}`);
      labels.push(Buffer.from(cur));
      cur = [];
      i++;
    } else {
      if (c > 0xff) throw new Error(`non-ASCII character in name ${JSON.stringify(name)}`);
      cur.push(c);
      i++;
    }
  }
  if (cur.length === 0) throw new Error(`empty label in name ${JSON.stringify(name)}`);
  labels.push(Buffer.from(cur));
  let wire = 1;
  for (const l of labels) {
    if (l.length > MAX_LABEL_LENGTH) throw new Error(`label longer than ${MAX_LABEL_LENGTH} bytes in ${JSON.stringify(name)}`);
    wire += l.length + 1;
  }
  if (wire > MAX_NAME_LENGTH) throw new Error(`name longer than ${MAX_NAME_LENGTH} bytes: ${JSON.stringify(name)}`);
  return labels;
}

function labelToText(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += '\\' + String.fromCharCode(b);
    else if (b > 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\' + String(b).padStart(3, '0');
  }
  return s;
}

/** The canonical lookup key of a name: lower case ASCII (RFC 4343), no trailing dot. */
export function canonicalName(name: string): string {
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  return n.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// decoding

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly id: number | undefined,
  ) {}

  fail(what: string): never {
    throw new DnsFormatError(what, this.id);
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) this.fail(`truncated ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /**
   * A possibly compressed name. Every pointer must point strictly before the label that holds
   * it, so a chain of pointers always moves backwards and loops are impossible.
   */
  name(what: string): string {
    const labels: string[] = [];
    let wire = 1;
    let pos = this.pos;
    let lowest = pos; // pointers must land before this
    let jumped = false;
    for (;;) {
      if (pos >= this.buf.length) this.fail(`truncated ${what}`);
      const len = this.buf[pos]!;
      if (len === 0) {
        if (!jumped) this.pos = pos + 1;
        break;
      }
      const kind = len & 0xc0;
      if (kind === 0xc0) {
        if (pos + 1 >= this.buf.length) this.fail(`truncated ${what}`);
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (target >= lowest) this.fail(`forward or looping compression pointer in ${what}`);
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        lowest = target;
        pos = target;
        continue;
      }
      if (kind !== 0) this.fail(`unsupported label type in ${what}`);
      if (pos + 1 + len > this.buf.length) this.fail(`truncated ${what}`);
      wire += len + 1;
      if (wire > MAX_NAME_LENGTH) this.fail(`${what} longer than ${MAX_NAME_LENGTH} bytes`);
      labels.push(labelToText(this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    return labels.join('.');
  }
}

function decodeHeader(buf: Buffer): Header {
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
  };
}

function decodeRData(r: Reader, type: number, rdlength: number): RData {
  const end = r.pos + rdlength;
  r.need(rdlength, 'record data');
  let data: RData;
  switch (type) {
    case RRType.A:
      if (rdlength !== 4) r.fail('A record data is not 4 bytes');
      data = { kind: 'address', address: Array.from(r.bytes(4, 'A')).join('.') };
      break;
    case RRType.AAAA: {
      if (rdlength !== 16) r.fail('AAAA record data is not 16 bytes');
      const b = r.bytes(16, 'AAAA');
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
      data = { kind: 'address', address: compressIPv6(groups) };
      break;
    }
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.NS:
      data = { kind: 'name', name: r.name('record data name') };
      break;
    case RRType.SRV:
      data = { kind: 'srv', priority: r.u16('SRV'), weight: r.u16('SRV'), port: r.u16('SRV'), target: r.name('SRV target') };
      break;
    case RRType.SOA:
      data = {
        kind: 'soa',
        mname: r.name('SOA mname'),
        rname: r.name('SOA rname'),
        serial: r.u32('SOA'),
        refresh: r.u32('SOA'),
        retry: r.u32('SOA'),
        expire: r.u32('SOA'),
        minimum: r.u32('SOA'),
      };
      break;
    default:
      data = { kind: 'raw', bytes: Buffer.from(r.bytes(rdlength, 'record data')) };
  }
  if (r.pos !== end) r.fail(`record data of type ${type} does not fill its length`);
  return data;
}

function compressIPv6(groups: string[]): string {
  // the longest run (of two or more) of zero groups becomes '::', as RFC 5952 asks
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

function decodeRecord(r: Reader): ResourceRecord {
  const name = r.name('record name');
  const type = r.u16('record type');
  const cls = r.u16('record class');
  const ttl = r.u32('record ttl');
  const rdlength = r.u16('record length');
  return { name, type, class: cls, ttl, data: decodeRData(r, type, rdlength) };
}

/** Decodes a whole message; throws DnsFormatError for anything malformed, including trailing bytes. */
export function decodeMessage(buf: Buffer): Message {
  if (buf.length < HEADER_SIZE) throw new DnsFormatError('message shorter than the 12-byte header');
  const header = decodeHeader(buf);
  const r = new Reader(buf, header.id);
  r.pos = HEADER_SIZE;
  const counts = [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  try {
    const questions: Question[] = [];
    for (let i = 0; i < counts[0]; i++) {
      questions.push({ name: r.name('question name'), type: r.u16('question type'), class: r.u16('question class') });
    }
    const sections: ResourceRecord[][] = [[], [], []];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s + 1]!; i++) sections[s]!.push(decodeRecord(r));
    }
    if (r.pos !== buf.length) r.fail('trailing bytes after the last record');
    return { header, questions, answers: sections[0]!, authorities: sections[1]!, additionals: sections[2]! };
  } catch (e) {
    if (e instanceof DnsFormatError) throw new DnsFormatError(e.message, header.id, header);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// encoding

class Writer {
  buf = Buffer.alloc(512);
  len = 0;
  /** suffix (exact text, so answers keep the question's case) → offset of its first label */
  private names = new Map<string, number>();

  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.grow(1);
    this.buf[this.len++] = v & 0xff;
  }

  u16(v: number): void {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  bytes(b: Buffer): void {
    this.grow(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  name(name: string, compress = true): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map((l) => l.toString('latin1')).join('\0');
      const at = compress ? this.names.get(key) : undefined;
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(key, this.len);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }

  /** Rolls back to an earlier length, forgetting compression targets written after it. */
  truncate(len: number): void {
    this.len = len;
    for (const [k, at] of this.names) if (at >= len) this.names.delete(k);
  }
}

function encodeAddress(w: Writer, type: number, address: string): void {
  if (type === RRType.A) {
    if (!isIPv4(address)) throw new Error(`A record with a non-IPv4 address ${address}`);
    for (const part of address.split('.')) w.u8(Number(part));
    return;
  }
  if (!isIPv6(address)) throw new Error(`AAAA record with a non-IPv6 address ${address}`);
  w.bytes(ipv6Bytes(address));
}

/** The 16 bytes of an IPv6 address (which may end in a dotted IPv4 part or carry a zone). */
export function ipv6Bytes(address: string): Buffer {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((x) => parseInt(x, 16)));
  const gap = text.indexOf('::');
  let all: number[];
  if (gap < 0) all = groups(text);
  else {
    const head = groups(text.slice(0, gap));
    const tail = groups(text.slice(gap + 2));
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) throw new Error(`invalid IPv6 address ${address}`);
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function encodeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name, rr.type !== RRType.OPT);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  const d = rr.data;
  switch (d.kind) {
    case 'address':
      encodeAddress(w, rr.type, d.address);
      break;
    case 'name':
      w.name(d.name);
      break;
    case 'srv':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782 forbids compressing the target; resolvers written to it would misread a pointer
      w.name(d.target, false);
      break;
    case 'soa':
      w.name(d.mname);
      w.name(d.rname);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    case 'raw':
      w.bytes(d.bytes);
      break;
  }
  const rdlength = w.len - lenAt - 2;
  if (rdlength > 0xffff) throw new Error('record data longer than 65535 bytes');
  w.buf.writeUInt16BE(rdlength, lenAt);
}

function headerFlags(h: Header): number {
  return (
    (h.qr ? 0x8000 : 0) |
    ((h.opcode & 0xf) << 11) |
    (h.aa ? 0x0400 : 0) |
    (h.tc ? 0x0200 : 0) |
    (h.rd ? 0x0100 : 0) |
    (h.ra ? 0x0080 : 0) |
    (h.ad ? 0x0020 : 0) |
    (h.cd ? 0x0010 : 0) |
    (h.rcode & 0xf)
  );
}

/**
 * Encodes a message. With `maxSize`, records that do not fit are left out whole and TC is set;
 * an OPT record in the additional section is always kept, since the client needs it to learn
 * our payload size and extended rcode.
 */
export function encodeMessage(msg: Message, maxSize = MAX_MESSAGE_SIZE): Buffer {
  const w = new Writer();
  w.u16(msg.header.id);
  w.u16(0); // flags, written at the end once TC is known
  w.u16(msg.questions.length);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  const opt = msg.additionals.filter((r) => r.type === RRType.OPT);
  const others = msg.additionals.filter((r) => r.type !== RRType.OPT);
  let optSize = 0;
  for (const o of opt) optSize += OPT_RECORD_SIZE + (o.data.kind === 'raw' ? o.data.bytes.length : 0);
  const limit = Math.min(maxSize, MAX_MESSAGE_SIZE) - optSize;
  if (w.len > limit) throw new Error('the question alone exceeds the message size limit');

  let truncated = false;
  const counts = [0, 0, 0];
  const sections = [msg.answers, msg.authorities, others];
  for (let s = 0; s < 3 && !truncated; s++) {
    for (const rr of sections[s]!) {
      const before = w.len;
      encodeRecord(w, rr);
      if (w.len > limit) {
        w.truncate(before);
        truncated = true;
        break;
      }
      counts[s]!++;
    }
  }
  // only a cut answer section sets TC: a full answer whose authority or additional records did
  // not fit is still a usable answer (RFC 2181 §9)
  const tc = counts[0]! < msg.answers.length;
  for (const o of opt) encodeRecord(w, o);
  counts[2]! += opt.length;
  w.buf.writeUInt16BE(headerFlags({ ...msg.header, tc: msg.header.tc || tc }), 2);
  w.buf.writeUInt16BE(counts[0]!, 6);
  w.buf.writeUInt16BE(counts[1]!, 8);
  w.buf.writeUInt16BE(counts[2]!, 10);
  return Buffer.from(w.buf.subarray(0, w.len));
}

// ---------------------------------------------------------------------------------------------
// EDNS0

export interface Edns {
  payload: number;
  version: number;
  dnssecOk: boolean;
  /** the high eight bits of the extended rcode */
  extendedRcode: number;
}

export function ednsOf(msg: Message): Edns | undefined {
  const opt = msg.additionals.find((r) => r.type === RRType.OPT);
  if (!opt) return undefined;
  return { payload: opt.class, extendedRcode: opt.ttl >>> 24, version: (opt.ttl >>> 16) & 0xff, dnssecOk: (opt.ttl & 0x8000) !== 0 };
}

export function optRecord(payload: number, extendedRcode = 0, dnssecOk = false): ResourceRecord {
  return { name: '', type: RRType.OPT, class: payload, ttl: ((extendedRcode & 0xff) << 24) | (dnssecOk ? 0x8000 : 0), data: { kind: 'raw', bytes: Buffer.alloc(0) } };
}
