// A streaming tar reader: ustar and GNU headers, GNU long names/links ('L'/'K'), PAX extended
// headers (per-entry 'x' and global 'g'), base-256 numbers. Bodies are streamed, never buffered
// whole, so multi-gigabyte layers pass through in constant memory. The caller must finish (or
// skip) one entry's body before asking for the next header; `entries()` enforces that.

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch, fractional when a PAX header says so */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** extended attributes from PAX SCHILY.xattr.* records, values as raw bytes */
  xattrs: Map<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** the entry's bytes; iterate fully or not at all (unread bytes are skipped) */
  body: AsyncIterable<Buffer>;
}

export class TarFormatError extends Error {}

const BLOCK = 512;

/** Pulls exact byte counts out of an async chunk source. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;

  constructor(src: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const c = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    return true;
  }

  /** exactly n bytes, or fewer only at end of input */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** n bytes as a sequence of chunks, without gathering them */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (!this.buf.length && !(await this.fill())) throw new TarFormatError('tar: unexpected end of archive inside an entry');
      const take = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n));
  }

  /** drains the input so a decompressor can finish (and report trailing garbage or bad CRCs) */
  async drain(): Promise<void> {
    this.buf = Buffer.alloc(0);
    while (await this.fill()) this.buf = Buffer.alloc(0);
  }
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, field: string): number {
  // GNU base-256: high bit of the first byte set; used for sizes >= 8 GiB and large ids.
  if (b[0]! & 0x80) {
    if (b[0] === 0xff) throw new TarFormatError(`tar: negative ${field}`);
    let v = b[0]! & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i]!;
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`tar: ${field} too large`);
    return v;
  }
  const s = cstr(b).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`tar: bad octal ${field} "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = num(h.subarray(148, 156), 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/** PAX records: "<len> <key>=<value>\n", len counting the whole record in bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break;
    const sp = data.indexOf(0x20, i);
    if (sp < 0) throw new TarFormatError('tar: bad PAX record');
    const len = Number(data.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > data.length) throw new TarFormatError('tar: bad PAX record length');
    const rec = data.subarray(sp + 1, i + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('tar: PAX record without "="');
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    i += len;
  }
  return out;
}

const typeMap: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

const MAX_META = 1 << 20; // long names and PAX headers larger than this are not real archives

function applyPax(h: TarHeader, pax: Map<string, Buffer>): void {
  for (const [k, v] of pax) {
    const s = v.toString('utf8');
    switch (k) {
      case 'path': h.name = s; break;
      case 'linkpath': h.linkname = s; break;
      case 'size': h.size = paxInt(s, k); break;
      case 'uid': h.uid = paxInt(s, k); break;
      case 'gid': h.gid = paxInt(s, k); break;
      case 'mtime': {
        const t = Number(s);
        if (!Number.isFinite(t)) throw new TarFormatError(`tar: bad PAX mtime "${s}"`);
        h.mtime = t;
        break;
      }
      default:
        if (k.startsWith('SCHILY.xattr.')) h.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    }
  }
}

function paxInt(s: string, k: string): number {
  if (!/^\d+$/.test(s)) throw new TarFormatError(`tar: bad PAX ${k} "${s}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`tar: PAX ${k} too large`);
  return n;
}

/**
 * Iterates the entries of a tar stream. Hard links and symlinks have size 0 bodies; a 'file' whose
 * body is left unread is skipped automatically when the next entry is requested.
 */
export async function* tarEntries(src: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<TarEntry> {
  const in_ = new ByteSource(src);
  let globalPax = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let zeroBlocks = 0;
  for (;;) {
    const h = await in_.read(BLOCK);
    if (h.length === 0) {
      if (pax || longName || longLink) throw new TarFormatError('tar: archive ends after an extended header');
      break; // some writers omit the end-of-archive blocks
    }
    if (h.length < BLOCK) throw new TarFormatError('tar: truncated header');
    if (h.every((b) => b === 0)) {
      if (++zeroBlocks === 2) break;
      continue;
    }
    zeroBlocks = 0;
    if (!checksumOk(h)) throw new TarFormatError('tar: header checksum mismatch (not a tar archive, or corrupt)');
    const flag = String.fromCharCode(h[156]!);
    const size = num(h.subarray(124, 136), 'size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw new TarFormatError(`tar: extended header of ${size} bytes`);
      const data = await in_.read(padded);
      if (data.length < padded) throw new TarFormatError('tar: truncated extended header');
      const body = data.subarray(0, size);
      if (flag === 'x') pax = parsePax(body);
      else if (flag === 'g') globalPax = new Map([...globalPax, ...parsePax(body)]);
      else if (flag === 'L') longName = cstr(body);
      else longLink = cstr(body);
      continue;
    }
    const type = typeMap[flag];
    if (!type) throw new TarFormatError(`tar: unsupported entry type "${flag === '\0' ? '\\0' : flag}" (${cstr(h.subarray(0, 100))})`);
    const magic = h.subarray(257, 263).toString('latin1');
    let name = cstr(h.subarray(0, 100));
    // ustar keeps long paths as prefix + "/" + name; the old GNU format uses that space for atime.
    if (magic === 'ustar\0') {
      const prefix = cstr(h.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    const header: TarHeader = {
      name,
      type,
      mode: num(h.subarray(100, 108), 'mode') & 0o7777,
      uid: num(h.subarray(108, 116), 'uid'),
      gid: num(h.subarray(116, 124), 'gid'),
      size,
      mtime: num(h.subarray(136, 148), 'mtime'),
      linkname: cstr(h.subarray(157, 257)),
      devmajor: num(h.subarray(329, 337), 'devmajor'),
      devminor: num(h.subarray(337, 345), 'devminor'),
      xattrs: new Map(),
    };
    applyPax(header, globalPax);
    if (pax) applyPax(header, pax);
    if (longName !== undefined) header.name = longName;
    if (longLink !== undefined) header.linkname = longLink;
    pax = longName = longLink = undefined;
    // Only regular files carry data; a size on a link or directory is skipped, as GNU tar does.
    const dataSize = type === 'file' ? header.size : flag === '1' || flag === '2' || flag === '5' ? 0 : header.size;
    const skipSize = Math.ceil(header.size / BLOCK) * BLOCK;
    let consumed = 0;
    let reading = false;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        if (reading) throw new Error('tar: an entry body can be read once');
        reading = true;
        for await (const c of in_.stream(dataSize)) {
          consumed += c.length;
          yield c;
        }
      },
    };
    yield { header, body };
    if (reading && consumed < dataSize) throw new TarFormatError('tar: entry body abandoned part-way');
    await in_.skip(skipSize - consumed);
  }
  await in_.drain();
}
