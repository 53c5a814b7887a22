// Watch over HTTP: chunked newline-delimited {"type","object"} events, from a resourceVersion
// (events since then) or from "now" (synthetic ADDED events for what exists first), with label and
// field selectors applied to both old and new state (an object that stops matching is DELETED for
// this watcher), bookmarks, and a Status ERROR event with 410 when the resourceVersion is too old.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KObject } from '../../pkg/api/types.js';
import type { CacheEvent, CachedObject, WatchCache } from '../cache/watch-cache.js';
import type { ResourceRegistry } from '../registry/generic.js';
import type { ObjectMatcher } from '../registry/selection.js';
import type { Table } from '../registry/strategy.js';
import { tableJson, type IncludeObject } from '../table.js';
import { errors } from '../status.js';

export interface WatchRequest {
  namespace?: string;
  match?: ObjectMatcher;
  resourceVersion?: string;
  allowBookmarks: boolean;
  timeoutSeconds?: number;
  sendInitialEvents?: boolean;
  table?: { table: Table; include: IncludeObject };
  /** rewrites an object for the served version (custom resources with several versions) */
  view?: (c: CachedObject) => CachedObject;
}

export interface WatchSettings {
  bookmarkIntervalMs: number;
  defaultTimeoutSeconds: number;
  /** a watcher that falls this far behind (bytes not yet sent) is cut off */
  maxBufferedBytes: number;
}

export const defaultWatchSettings: WatchSettings = { bookmarkIntervalMs: 60_000, defaultTimeoutSeconds: 1800, maxBufferedBytes: 32 * 1024 * 1024 };

type OutType = 'ADDED' | 'MODIFIED' | 'DELETED';

export function serveWatch(req: IncomingMessage, res: ServerResponse, reg: ResourceRegistry, cache: WatchCache, w: WatchRequest, settings: WatchSettings): void {
  const prefix = reg.prefix;
  const nsPrefix = w.namespace ? `${prefix}${w.namespace}/` : prefix;
  const match = w.match;
  const view = w.view ?? ((c: CachedObject) => c);
  let columnsSent = false;

  const encode = (type: OutType | 'BOOKMARK' | 'ERROR', c: CachedObject | undefined, raw?: unknown): string => {
    if (raw !== undefined) return `{"type":"${type}","object":${JSON.stringify(raw)}}\n`;
    const v = view(c!);
    if (w.table) {
      const body = tableJson(w.table.table, [v], { include: w.table.include, resourceVersion: String(v.rev), withColumns: !columnsSent });
      columnsSent = true;
      return `{"type":"${type}","object":${body}}\n`;
    }
    return `{"type":"${type}","object":${v.json}}\n`;
  };

  const translate = (ev: CacheEvent): string | undefined => {
    if (!ev.key.startsWith(nsPrefix)) return undefined;
    if (!match) return encode(ev.type, ev.cur);
    if (ev.type === 'ADDED') return match(ev.cur.obj) ? encode('ADDED', ev.cur) : undefined;
    if (ev.type === 'DELETED') return match((ev.prev ?? ev.cur).obj) ? encode('DELETED', ev.cur) : undefined;
    const was = ev.prev ? match(ev.prev.obj) : false;
    const is = match(ev.cur.obj);
    if (was && is) return encode('MODIFIED', ev.cur);
    if (is) return encode('ADDED', ev.cur);
    if (was) return encode('DELETED', ev.cur);
    return undefined;
  };

  // Decide where the stream starts before subscribing; everything below runs synchronously with
  // the cache, so no event can slip between the snapshot and the subscription.
  let initial: string[] = [];
  let replay: CacheEvent[] | undefined;
  const rvParam = w.resourceVersion;
  if (rvParam !== undefined && rvParam !== '' && !/^\d+$/.test(rvParam)) {
    throw errors.badRequest(`Invalid value: "${rvParam}": resourceVersion must be a non-negative integer`);
  }
  const fromNow = rvParam === undefined || rvParam === '' || rvParam === '0' || w.sendInitialEvents === true;
  if (fromNow) {
    for (const c of cache.list(prefix, w.namespace)) if (!match || match(c.obj)) initial.push(encode('ADDED', c));
  } else {
    replay = cache.eventsSince(Number(rvParam), prefix);
  }

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();

  if (!fromNow && replay === undefined) {
    const st = errors.gone(`too old resource version: ${rvParam} (${cache.oldestWatchableRevision})`).toStatus();
    res.end(encode('ERROR', undefined, st));
    return;
  }

  let closed = false;
  const write = (s: string) => {
    if (closed) return;
    res.write(s);
    if (res.writableLength > settings.maxBufferedBytes) close();
  };
  const unsubscribe = cache.subscribe((ev) => {
    if (ev.resource !== prefix) return;
    const line = translate(ev);
    if (line) write(line);
  });
  const bookmark = (extra?: Record<string, string>) =>
    encode('BOOKMARK', undefined, {
      kind: reg.info.kind,
      apiVersion: reg.apiVersion,
      metadata: { resourceVersion: String(cache.revision), ...(extra ? { annotations: extra } : {}) },
    });
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    res.end();
  };

  if (initial.length) write(initial.join(''));
  initial = [];
  if (w.sendInitialEvents && w.allowBookmarks) write(bookmark({ 'k8s.io/initial-events-end': 'true' }));
  if (replay) for (const ev of replay) {
    const line = translate(ev);
    if (line) write(line);
  }
  if (w.allowBookmarks) timers.push(setInterval(() => write(bookmark()), settings.bookmarkIntervalMs));
  const timeout = w.timeoutSeconds && w.timeoutSeconds > 0 ? w.timeoutSeconds : settings.defaultTimeoutSeconds * (1 + Math.random());
  timers.push(setTimeout(close, timeout * 1000));
  req.on('close', close);
  res.on('error', close);
}

export type { KObject };
