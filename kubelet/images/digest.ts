// Digests and layer decompression. Everything that enters the store is hashed while it streams,
// so a blob is verified without a second read.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { createGunzip } from 'node:zlib';
import * as zlib from 'node:zlib';
import { pipeline, type Readable, type Transform } from 'node:stream';

export class DigestMismatchError extends Error {}

const SHA256_RE = /^sha256:([a-f0-9]{64})$/;

/** the hex part of a sha256 digest; throws on any other algorithm or a malformed one */
export function digestHex(digest: string): string {
  const m = SHA256_RE.exec(digest);
  if (!m) throw new Error(`unsupported or malformed digest "${digest}" (only sha256 is supported)`);
  return m[1]!;
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { digest: 'sha256:' + h.digest('hex'), size };
}

export type Compression = 'gzip' | 'zstd' | 'none';

export async function detectCompression(path: string): Promise<Compression> {
  const fh = await fsp.open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/**
 * The uncompressed tar bytes of a layer file, and a function returning the sha256 of everything
 * that passed (the diff ID) once the stream has been read to its end.
 */
export async function openLayer(path: string): Promise<{ stream: AsyncIterable<Buffer>; diffID: () => string }> {
  const comp = await detectCompression(path);
  let src: Readable = createReadStream(path, { highWaterMark: 256 * 1024 });
  // pipeline, not pipe: a read error must reach the consumer instead of leaving it waiting.
  const done = (err: Error | null) => void err;
  if (comp === 'gzip') src = pipeline(src, createGunzip(), done);
  else if (comp === 'zstd') {
    const make = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    if (!make) throw new Error(`${path}: zstd-compressed layers need a Node.js with zlib zstd support (22.15 or later)`);
    src = pipeline(src, make(), done);
  }
  const h = createHash('sha256');
  let final: string | undefined;
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of src as AsyncIterable<Buffer>) {
      h.update(c);
      yield c;
    }
    final = 'sha256:' + h.digest('hex');
  }
  return {
    stream: hashed(),
    diffID: () => {
      if (!final) throw new Error('layer stream was not read to its end');
      return final;
    },
  };
}
