// An informer: lists a resource, then watches it from the list's resourceVersion, keeping a local
// cache and calling handlers on add / update / delete. When the watch ends it re-watches from the
// last resourceVersion seen; when that is too old (410) it lists again and reconciles the cache
// (synthesizing deletes for objects that vanished meanwhile). Handlers only enqueue keys; the
// cache is the controllers' read path, never the API.
import type { KObject } from '../api/types.js';
import { ApiError, resourcePath, type GVR, type RestClient, type WatchEvent, type WatchHandle } from './rest.js';
import { logger } from '../log/logger.js';

export interface InformerHandlers<T extends KObject> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** server-side watch timeout; the informer re-watches after it */
  watchTimeoutSeconds?: number;
}

export function keyOf(obj: KObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name!;
}

export class Informer<T extends KObject = KObject> {
  private readonly items = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private rv = '';
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private watch?: WatchHandle;
  private readonly log;
  private loop?: Promise<void>;

  constructor(
    private readonly client: RestClient,
    readonly gvr: GVR,
    private readonly opts: InformerOptions = {},
  ) {
    this.log = logger(`informer/${gvr.resource}`);
  }

  on(h: InformerHandlers<T>): this {
    this.handlers.push(h);
    return this;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get resourceVersion(): string {
    return this.rv;
  }

  /** Starts list+watch; resolves when the first list is in the cache. */
  start(): Promise<void> {
    if (!this.loop) this.loop = this.run();
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  /** Objects in one namespace (cluster-scoped informers: all). */
  listNamespace(ns: string): T[] {
    const out: T[] = [];
    for (const o of this.items.values()) if (o.metadata.namespace === ns) out.push(o);
    return out;
  }

  private path(): string {
    return resourcePath(this.gvr, this.opts.namespace);
  }

  private async relist(): Promise<void> {
    const res = await this.client.get<{ metadata: { resourceVersion: string; continue?: string }; items: T[] }>(this.path(), {
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    const kind = this.gvr.resource;
    const fresh = new Map<string, T>();
    for (const o of res.items) fresh.set(keyOf(o), o);
    // Reconcile: what vanished is deleted, what changed is updated, what is new is added.
    for (const [k, old] of this.items) {
      if (!fresh.has(k)) {
        this.items.delete(k);
        this.emit('delete', old);
      }
    }
    for (const [k, o] of fresh) {
      const old = this.items.get(k);
      this.items.set(k, o);
      if (!old) this.emit('add', o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, old);
    }
    this.rv = res.metadata.resourceVersion;
    this.log.debug({ kind, count: fresh.size, rv: this.rv }, 'listed');
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private emit(type: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (type === 'add') h.add?.(obj);
        else if (type === 'update') h.update?.(old!, obj);
        else h.delete?.(obj);
      } catch (err) {
        this.log.error({ err }, 'informer handler failed');
      }
    }
  }

  private onEvent(ev: WatchEvent<T>): void {
    if (ev.type === 'ERROR') {
      const st = ev.object as unknown as { code?: number; message?: string };
      throw new ApiError(st.code ?? 500, 'WatchError', st.message ?? 'watch error');
    }
    const o = ev.object;
    if (o?.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const k = keyOf(o);
    const old = this.items.get(k);
    if (ev.type === 'DELETED') {
      this.items.delete(k);
      this.emit('delete', o);
    } else {
      this.items.set(k, o);
      if (old) this.emit('update', o, old);
      else this.emit('add', o);
    }
  }

  private async run(): Promise<void> {
    let backoff = 200;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        // Stopped while listing: a watch opened now would outlive the informer until its timeout.
        if (this.stopped) break;
        let gone = false;
        this.watch = this.client.watch<T>(
          this.path(),
          {
            resourceVersion: this.rv,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
            timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
          },
          (ev) => {
            try {
              this.onEvent(ev);
            } catch (e) {
              if (e instanceof ApiError && e.code === 410) gone = true;
              throw e;
            }
          },
        );
        await this.watch.done;
        if (gone) needList = true;
        backoff = 200;
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof ApiError && err.code === 410) needList = true;
        else {
          // Anything else (connection lost, server restarting): list again after a back-off.
          needList = true;
          this.log.debug({ err: (err as Error).message }, 'list/watch failed; retrying');
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    }
  }
}
