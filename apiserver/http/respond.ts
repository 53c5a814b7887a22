// Writing responses: JSON bodies, Status errors, and Warning headers in the exact quoting kubectl
// accepts (`299 - "text"` with inner quotes escaped, or it drops them silently).
import type { ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { StatusError, errors } from '../status.js';
import { UnavailableError } from '../storage/store.js';

export function warningHeader(text: string): string {
  // Header values must be printable ASCII: escape the rest (field names can hold anything).
  const safe = text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `299 - "${safe}"`;
}

/**
 * Clients refuse oversized headers (Go and Node stop at a few KiB to 16 KiB): keep the warnings
 * short, like Kubernetes, which truncates them to 4 KiB in all.
 */
const MAX_WARNING_LENGTH = 256;
const MAX_WARNING_BYTES = 4096;

/** Warning header values, each from at most 256 characters of text, at most 4 KiB in all. */
export function warningHeaders(warnings: string[]): string[] {
  const out: string[] = [];
  let total = 0;
  for (let i = 0; i < warnings.length; i++) {
    const w = warnings[i]!;
    const h = warningHeader(w.length > MAX_WARNING_LENGTH ? w.slice(0, MAX_WARNING_LENGTH) + '...' : w);
    if (total + h.length > MAX_WARNING_BYTES) {
      out.push(warningHeader(`${warnings.length - i} more warnings not shown`));
      break;
    }
    total += h.length;
    out.push(h);
  }
  return out;
}

export interface SendOptions {
  warnings?: string[];
  contentType?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
}

/** Bodies above this size are gzipped when the client accepts it (kubectl does). */
const GZIP_MIN = 128 * 1024;

export function send(res: ServerResponse, code: number, body: string | Buffer, opts: SendOptions = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | string[]> = { 'Content-Type': opts.contentType ?? 'application/json', 'Cache-Control': 'no-cache, private', ...opts.headers };
  if (opts.warnings?.length) headers['Warning'] = warningHeaders(opts.warnings);
  let payload: string | Buffer = body;
  if (opts.gzip && Buffer.byteLength(body) >= GZIP_MIN) {
    payload = gzipSync(body, { level: 1 });
    headers['Content-Encoding'] = 'gzip';
  }
  headers['Content-Length'] = String(Buffer.byteLength(payload));
  res.writeHead(code, headers);
  res.end(payload);
}

export function sendJson(res: ServerResponse, code: number, obj: unknown, opts: SendOptions = {}): void {
  send(res, code, JSON.stringify(obj), opts);
}

export function sendError(res: ServerResponse, err: unknown, opts: SendOptions = {}): void {
  // The store cannot reach a quorum (NATS): 503 with Retry-After, so clients back off and retry.
  if (err instanceof UnavailableError) {
    const se = new StatusError(503, 'ServiceUnavailable', `the storage backend is unavailable: ${err.message}`, { retryAfterSeconds: err.retryAfterSeconds });
    sendJson(res, 503, se.toStatus(), { ...opts, headers: { ...opts.headers, 'Retry-After': String(err.retryAfterSeconds) } });
    return;
  }
  const se = err instanceof StatusError ? err : errors.internal((err as Error)?.message ?? String(err));
  sendJson(res, se.code, se.toStatus(), opts);
}
