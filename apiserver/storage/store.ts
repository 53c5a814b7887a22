// The one narrow storage contract every backend implements (the shape of kine / etcd v3):
// a single cluster-wide revision that every write increases, create and modify revisions per key,
// compare-and-swap on the modify revision, range reads at a revision, watch from a revision with
// every event since the last compaction, and compaction. The apiserver's resourceVersion is the
// revision. Values are opaque strings (the apiserver stores JSON).

export interface KeyValue {
  key: string;
  value: string;
  /** revision of the write that created this incarnation of the key */
  createRevision: number;
  /** revision of the last write to the key */
  modRevision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** for a put, the new value; for a delete, the value as it was (modRevision = the delete's revision) */
  kv: KeyValue;
  /** the previous value for updates and deletes; absent on a create */
  prevKv?: KeyValue;
}

export interface ListOptions {
  /** read as of this revision (0 or absent = current). Fails with CompactedError if compacted. */
  revision?: number;
  /** at most this many keys (0 or absent = all) */
  limit?: number;
  /** first key to return (inclusive), for paging */
  startKey?: string;
}

export interface ListResult {
  /** the revision the read was served at */
  revision: number;
  kvs: KeyValue[];
  /** true when the limit cut the result short */
  more: boolean;
}

export interface Watcher {
  stop(): void;
}

export interface Store {
  /**
   * True when other processes write to the same store (NATS: several API servers). A read that
   * must see every acknowledged write then has to catch up with the store first; with a single
   * writer (SQLite) every write is in this server's cache before it is acknowledged.
   */
  readonly sharedWriters: boolean;
  /** The newest revision. */
  currentRevision(): Promise<number>;
  /**
   * The revision a consistent read must have seen: the newest write that produced a watch event
   * (revisions taken by compaction markers or refused compare-and-swaps produce none), after
   * catching up with every other writer.
   */
  consistentReadRevision(): Promise<number>;
  /** Reads one key at the current revision. */
  get(key: string): Promise<{ revision: number; kv?: KeyValue }>;
  /** Creates a key; fails with KeyExistsError if it exists. Resolves once durable. */
  create(key: string, value: string): Promise<KeyValue>;
  /**
   * Replaces a key's value if its modRevision equals expectedModRevision (compare-and-swap).
   * Fails with NotFoundError (no key) or ConflictError (revision differs; carries the current kv).
   */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /**
   * Deletes a key, optionally only if its modRevision matches. Resolves with the deleted value,
   * whose modRevision is the revision of the delete.
   */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Keys starting with prefix, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Number of live keys under prefix. */
  count(prefix: string): Promise<number>;
  /**
   * Delivers, in revision order, every event on keys under prefix with revision > fromRevision,
   * then every later one as it is committed. Fails with CompactedError if fromRevision is older
   * than the compacted revision. onEvents is called with batches; never concurrently.
   */
  watch(prefix: string, fromRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Promise<Watcher>;
  /** Forgets history older than revision (keeps the newest value of every live key). */
  compact(revision: number): Promise<void>;
  /** The revision history has been compacted up to (0 = never). */
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

export class StoreError extends Error {}

export class KeyExistsError extends StoreError {
  constructor(readonly key: string) {
    super(`key exists: ${key}`);
  }
}

export class NotFoundError extends StoreError {
  constructor(readonly key: string) {
    super(`key not found: ${key}`);
  }
}

export class ConflictError extends StoreError {
  constructor(
    readonly key: string,
    readonly current: KeyValue,
  ) {
    super(`revision conflict on ${key}: now at ${current.modRevision}`);
  }
}

export class CompactedError extends StoreError {
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`required revision ${requested} has been compacted (compacted to ${compacted})`);
  }
}

/**
 * The storage cannot be reached or has no quorum right now; the operation may be retried later.
 * For a write, the outcome is unknown: it may still be committed. The apiserver answers 503.
 */
export class UnavailableError extends StoreError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
    this.name = 'UnavailableError';
  }
}
