// Request bodies: size-limited reading and decoding by Content-Type (JSON or YAML; protobuf is
// refused with 415 so clients fall back or report it).
import type { IncomingMessage } from 'node:http';
import * as yaml from 'js-yaml';
import { errors } from '../status.js';
import { decodeKubernetesProtobuf, PROTOBUF_MEDIA_TYPE } from '../protobuf/decode.js';

/** Kubernetes refuses request bodies over 3 MiB; so do we. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.reject(errors.tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(errors.tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** Deeper documents are refused: no manifest needs them, and recursive code must stay bounded. */
export const MAX_DEPTH = 200;

function checkDepth(v: unknown): void {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > MAX_DEPTH) throw errors.badRequest(`the request body is nested too deeply (more than ${MAX_DEPTH} levels)`);
    for (const c of Array.isArray(x) ? x : Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses a request body that must be a JSON (or YAML) document. */
export function decodeBody(buf: Buffer, contentType: string | undefined, allowed: string[] = ['application/json', 'application/yaml', PROTOBUF_MEDIA_TYPE]): unknown {
  const type = mediaType(contentType) || 'application/json';
  if (!allowed.includes(type)) throw errors.unsupportedMediaType(type);
  // kubectl's generators (create configmap, create deployment, auth can-i ...) send protobuf.
  if (type === PROTOBUF_MEDIA_TYPE) return decodeKubernetesProtobuf(buf).object;
  const text = buf.toString('utf8');
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  let out: unknown;
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml') {
    try {
      out = yaml.load(text);
    } catch (e) {
      throw errors.badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`);
    }
  } else {
    try {
      out = JSON.parse(text);
    } catch (e) {
      throw errors.badRequest(`error decoding JSON: ${(e as Error).message}`);
    }
  }
  checkDepth(out);
  return out;
}
