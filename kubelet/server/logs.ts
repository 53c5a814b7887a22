// Container logs from CRI log files: the whole file filtered (tail, since, limit), and following a
// file as the container appends to it until the run ends. Partial (P) entries are joined into the
// line they belong to.
import { watch, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { parseCriLogLine, type CriLogEntry } from '../runtime/oci/cri-log.js';
import { StreamTargetError, type ContainerRef, type StreamingRuntime } from './streaming.js';

export interface LogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceTime?: Date;
  limitBytes?: number;
}

/** How often a follower re-checks whether the container still runs (file changes wake it sooner). */
const FOLLOW_CHECK_MS = 500;

/** Turns CRI log text, fed in arbitrary chunks, into whole entries. */
export class CriLogDecoder {
  private rest = '';
  private readonly pending: Partial<Record<'stdout' | 'stderr', CriLogEntry>> = {};

  feed(text: string): CriLogEntry[] {
    const data = this.rest + text;
    const lines = data.split('\n');
    this.rest = lines.pop() ?? '';
    const out: CriLogEntry[] = [];
    for (const line of lines) {
      const e = line && parseCriLogLine(line);
      if (!e) continue;
      const prev = this.pending[e.stream];
      const merged = prev ? { ...prev, text: prev.text + e.text, full: e.full } : e;
      if (merged.full) {
        out.push(merged);
        delete this.pending[e.stream];
      } else this.pending[e.stream] = merged;
    }
    return out;
  }

  /** What is left when the file will not grow any more. */
  flush(): CriLogEntry[] {
    const out = this.feed(this.rest ? '\n' : '');
    for (const k of ['stdout', 'stderr'] as const) {
      const p = this.pending[k];
      if (p) out.push(p);
      delete this.pending[k];
    }
    return out;
  }
}

export function formatEntry(e: CriLogEntry, timestamps: boolean): string {
  return `${timestamps ? kubeletTime(e.time) + ' ' : ''}${e.text}${e.full ? '\n' : ''}`;
}

/**
 * The time as kubelet prints it (Go's RFC3339Nano): a zero offset is "Z" and trailing zeros of the
 * fraction go. conmon writes "+00:00" and nine digits.
 */
export function kubeletTime(t: string): string {
  const m = /^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  return `${m[1]}${frac ? '.' + frac : ''}${m[3] === '+00:00' || m[3] === '-00:00' ? 'Z' : m[3]}`;
}

export function parseLogQuery(q: URLSearchParams): LogOptions {
  const bool = (n: string) => q.get(n) === 'true' || q.get(n) === '1';
  const int = (n: string): number | undefined => {
    const v = q.get(n);
    if (v === null || v === '') return undefined;
    const x = Number(v);
    if (!Number.isInteger(x)) throw new StreamTargetError(`${n}: invalid value ${JSON.stringify(v)}`);
    return x;
  };
  const opts: LogOptions = { follow: bool('follow'), previous: bool('previous'), timestamps: bool('timestamps'), tailLines: int('tailLines'), limitBytes: int('limitBytes') };
  if (opts.tailLines !== undefined && opts.tailLines < 0) opts.tailLines = undefined;
  if (opts.limitBytes !== undefined && opts.limitBytes < 1) throw new StreamTargetError('limitBytes: must be greater than 0');
  const since = int('sinceSeconds');
  const sinceTime = q.get('sinceTime');
  if (since !== undefined && sinceTime) throw new StreamTargetError('at most one of sinceTime or sinceSeconds may be specified');
  if (since !== undefined) {
    if (since < 1) throw new StreamTargetError('sinceSeconds: must be greater than 0');
    opts.sinceTime = new Date(Date.now() - since * 1000);
  } else if (sinceTime) {
    const t = new Date(sinceTime);
    if (Number.isNaN(t.getTime())) throw new StreamTargetError(`sinceTime: invalid time ${JSON.stringify(sinceTime)}`);
    opts.sinceTime = t;
  }
  return opts;
}

/** Reads a file from `offset` to its current end. */
async function readFrom(path: string, offset: number, whole = false): Promise<{ text: string; offset: number }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < offset) offset = 0; // truncated: start over
    if (size === offset) return { text: '', offset };
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    // Only whole UTF-8 sequences: stop before a trailing incomplete one so the next read completes it.
    let end = bytesRead;
    if (whole) return { text: buf.subarray(0, end).toString('utf8'), offset: offset + end };
    const lastNl = buf.lastIndexOf(0x0a, end - 1);
    if (lastNl >= 0 && lastNl < end - 1) end = lastNl + 1;
    else if (lastNl < 0) end = 0;
    return { text: buf.subarray(0, end).toString('utf8'), offset: offset + end };
  } finally {
    await fh.close();
  }
}

/** Output sink that stops once limitBytes are written. Returns false when no more may be written. */
class LimitedOut {
  private written = 0;
  constructor(
    private readonly write: (s: string) => Promise<void>,
    private readonly limit?: number,
  ) {}
  get full(): boolean {
    return this.limit !== undefined && this.written >= this.limit;
  }
  async put(s: string): Promise<void> {
    if (this.full) return;
    let b = Buffer.from(s);
    if (this.limit !== undefined && this.written + b.length > this.limit) b = b.subarray(0, this.limit - this.written);
    this.written += b.length;
    await this.write(b.toString('utf8'));
  }
}

/**
 * Follows `file` from `offset`, handing each entry to `onEntry`, until the container run that
 * writes it ends (or the signal aborts). Wakes on file changes, and every FOLLOW_CHECK_MS to see
 * whether the container still runs.
 */
export async function followFile(
  runtime: StreamingRuntime,
  ref: ContainerRef,
  file: string,
  offset: number,
  decoder: CriLogDecoder,
  onEntry: (e: CriLogEntry) => Promise<boolean | void>,
  signal: AbortSignal,
): Promise<void> {
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(file, () => wake?.());
    watcher.on('error', () => undefined);
  } catch {
    // No inotify (or the file went away): the periodic check still finds new data.
  }
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    for (;;) {
      // Whether the run ended is read before the file, so nothing appended before the end is missed.
      const state = await runtime.logs(ref).catch(() => ({ running: false, current: undefined }));
      const ended = !state.running || state.current !== file;
      const r = await readFrom(file, offset, ended).catch(() => ({ text: '', offset }));
      offset = r.offset;
      const entries = decoder.feed(r.text);
      if (ended) entries.push(...decoder.flush());
      for (const e of entries) if ((await onEntry(e)) === false || signal.aborted) return;
      if (ended || signal.aborted) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, FOLLOW_CHECK_MS);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    watcher?.close();
  }
}

/** Size of a file now (where an attach starts following). */
export async function fileSize(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/** The log file to serve, or a StreamTargetError saying why there is none. */
export async function logFile(runtime: StreamingRuntime, ref: ContainerRef, previous: boolean): Promise<{ file: string; running: boolean }> {
  const logs = await runtime.logs(ref);
  if (previous) {
    if (!logs.previous) throw new StreamTargetError(`previous terminated container "${ref.container}" in pod "${ref.pod}" not found`);
    return { file: logs.previous, running: false };
  }
  if (!logs.current) throw new StreamTargetError(`container "${ref.container}" in pod "${ref.pod}" is waiting to start: ContainerCreating`);
  return { file: logs.current, running: logs.running };
}

/** Writes the container's log to `out` as kubectl logs expects it, following it if asked. */
export async function writeLogs(runtime: StreamingRuntime, ref: ContainerRef, opts: LogOptions, out: Writable, signal: AbortSignal, file: string, running: boolean): Promise<void> {
  const write = (s: string) =>
    new Promise<void>((resolve, reject) => {
      if (out.destroyed) return reject(new Error('client went away'));
      if (out.write(s)) resolve();
      else out.once('drain', resolve);
    });
  const sink = new LimitedOut(write, opts.limitBytes);
  const keep = (e: CriLogEntry) => !opts.sinceTime || new Date(e.time).getTime() >= opts.sinceTime.getTime();
  const decoder = new CriLogDecoder();
  const follow = opts.follow && running && !opts.previous;
  const first = await readFrom(file, 0, !follow).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return { text: '', offset: 0 };
    throw e;
  });
  let entries = decoder.feed(first.text);
  if (!follow) entries.push(...decoder.flush());
  entries = entries.filter(keep);
  if (opts.tailLines !== undefined) entries = opts.tailLines === 0 ? [] : entries.slice(-opts.tailLines);
  for (const e of entries) {
    await sink.put(formatEntry(e, opts.timestamps));
    if (sink.full) return;
  }
  if (!follow) return;
  await followFile(
    runtime,
    ref,
    file,
    first.offset,
    decoder,
    async (e) => {
      if (!keep(e)) return true;
      await sink.put(formatEntry(e, opts.timestamps));
      return !sink.full;
    },
    signal,
  );
}
