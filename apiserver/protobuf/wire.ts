// The protobuf wire format: a bounds-checked reader and a small writer. The reader throws WireError
// on malformed input; callers turn that into a 400 so hostile bodies cannot crash the server.

export class WireError extends Error {}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** A varint split in two unsigned 32-bit halves, so 64-bit values need no BigInt on the fast path. */
export interface Varint {
  lo: number;
  hi: number;
}

export class Reader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): Varint {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`truncated varint at offset ${this.pos}`);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) return { lo: lo >>> 0, hi: hi >>> 0 };
    }
    throw new WireError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  /** A varint that must fit a length or tag (below 2^31). */
  uint32(): number {
    const v = this.varint();
    if (v.hi !== 0 || v.lo > 0x7fffffff) throw new WireError(`value out of range at offset ${this.pos}`);
    return v.lo;
  }

  fixed32(): Uint8Array {
    return this.take(4);
  }

  fixed64(): Uint8Array {
    return this.take(8);
  }

  bytes(): Uint8Array {
    const len = this.uint32();
    return this.take(len);
  }

  /** The bounds of a length-delimited field, without copying it. */
  span(): [number, number] {
    const len = this.uint32();
    if (len > this.end - this.pos) throw new WireError(`length ${len} at offset ${this.pos} runs past the end of its message`);
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  take(n: number): Uint8Array {
    if (n > this.end - this.pos) throw new WireError(`length ${n} at offset ${this.pos} runs past the end of its message`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.take(8);
        return;
      case WIRE_BYTES:
        this.span();
        return;
      case WIRE_FIXED32:
        this.take(4);
        return;
      default:
        throw new WireError(`unsupported wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

export function varintToUnsigned(v: Varint): number {
  return v.hi * 0x100000000 + v.lo;
}

export function varintToSigned64(v: Varint): number {
  if (v.hi & 0x80000000) return Number(BigInt.asIntN(64, (BigInt(v.hi) << 32n) | BigInt(v.lo)));
  return varintToUnsigned(v);
}

export function varintToZigzag64(v: Varint): number {
  const n = (BigInt(v.hi) << 32n) | BigInt(v.lo);
  return Number((n >> 1n) ^ -(n & 1n));
}

export class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  raw(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(BigInt(field * 8 + wireType));
  }

  /** Any integer; negative values take ten bytes, as two's complement 64-bit. */
  varint(value: bigint | number): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return this.raw(Uint8Array.from(out));
  }

  bytes(b: Uint8Array): this {
    this.varint(b.length);
    return this.raw(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
