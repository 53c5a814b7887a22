// Request bodies: size-limited reading and decoding by Content-Type (JSON or YAML; protobuf is
// refused with 415 so clients fall back or report it).
import type { IncomingMessage } from 'node:http';
import * as yaml from 'js-yaml';
import { errors } from '../status.js';

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

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses a request body that must be a JSON (or YAML) document. */
export function decodeBody(buf: Buffer, contentType: string | undefined, allowed: string[] = ['application/json', 'application/yaml']): unknown {
  const type = mediaType(contentType) || 'application/json';
  if (!allowed.includes(type)) throw errors.unsupportedMediaType(type);
  const text = buf.toString('utf8');
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  if (type === 'application/yaml' || type === 'application/apply-patch+yaml') {
    try {
      return yaml.load(text, { schema: yaml.JSON_SCHEMA });
    } catch (e) {
      throw errors.badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`error decoding JSON: ${(e as Error).message}`);
  }
}
