// The messages between the main-thread store (sqlite-store.ts) and the worker that owns the SQLite
// connection (sqlite-worker.ts). Requests travel in arrays, one message per main-thread turn.
// Replies to writes carry only what the main thread does not already hold (revisions and the
// previous value), so a written value crosses the thread boundary once.
import {
  CompactedError,
  ConflictError,
  KeyExistsError,
  NotFoundError,
  StoreError,
  type KeyValue,
  type ListOptions,
} from '../store.js';

export type Request =
  | { id: number; op: 'create'; key: string; value: string }
  | { id: number; op: 'update'; key: string; value: string; expected: number }
  | { id: number; op: 'delete'; key: string; expected: number | undefined }
  // Reads carry the revision the main thread has seen committed (`at`), so that a read never
  // shows a revision whose events the main thread has not delivered to its watchers yet.
  | { id: number; op: 'get'; key: string; at: number }
  | { id: number; op: 'list'; prefix: string; at: number; opts: ListOptions }
  | { id: number; op: 'count'; prefix: string; at: number }
  | { id: number; op: 'history'; prefix: string; after: number; upTo: number; limit: number }
  | { id: number; op: 'compact'; revision: number }
  | { id: number; op: 'failNextCommit'; message: string }
  | { id: number; op: 'close' };

type OmitEach<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/** A request without its id, as the main thread's callers build it. */
export type RequestBody = OmitEach<Request, 'id'>;

/** The key's previous incarnation, for update and delete: create revision, mod revision, value. */
export interface PrevKv {
  c: number;
  m: number;
  v: string;
}

/** The outcome of one write, settled with its batch. */
export type WriteResult = { id: number; rev: number; prev?: PrevKv } | { id: number; error: WireError };

export type WireError =
  | { kind: 'exists'; key: string }
  | { kind: 'notfound'; key: string }
  | { kind: 'conflict'; key: string; current: KeyValue }
  | { kind: 'compacted'; requested: number; compacted: number }
  | { kind: 'store'; message: string }
  | { kind: 'other'; message: string };

export type Reply =
  /** the database is open; the newest and the compacted revision */
  | { t: 'ready'; revision: number; compacted: number }
  | { t: 'openFailed'; message: string }
  /** a batch ended: committed (revision = the new committed revision) or rolled back */
  | { t: 'batch'; revision: number; committed: boolean; results: WriteResult[] }
  /** one request answered on its own (reads, compaction, close, a write failing alone) */
  | { t: 'done'; id: number; value?: unknown; error?: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof KeyExistsError) return { kind: 'exists', key: err.key };
  if (err instanceof NotFoundError) return { kind: 'notfound', key: err.key };
  if (err instanceof ConflictError) return { kind: 'conflict', key: err.key, current: err.current };
  if (err instanceof CompactedError) return { kind: 'compacted', requested: err.requested, compacted: err.compacted };
  if (err instanceof StoreError) return { kind: 'store', message: err.message };
  return { kind: 'other', message: err instanceof Error ? err.message : String(err) };
}

export function fromWire(w: WireError): Error {
  switch (w.kind) {
    case 'exists':
      return new KeyExistsError(w.key);
    case 'notfound':
      return new NotFoundError(w.key);
    case 'conflict':
      return new ConflictError(w.key, w.current);
    case 'compacted':
      return new CompactedError(w.requested, w.compacted);
    case 'store':
      return new StoreError(w.message);
    case 'other':
      return new Error(w.message);
  }
}
