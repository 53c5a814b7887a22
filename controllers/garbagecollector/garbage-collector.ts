// The garbage collector: follows ownerReferences.
// - Background: when an owner is gone, dependents with no other live owner are deleted; a
//   dependent that still has another owner only loses the dangling reference.
// - Foreground (finalizer foregroundDeletion): the owner's dependents are deleted first; the
//   finalizer is removed when none is left, which completes the owner's deletion.
// - Orphan (finalizer orphan): the owner's references are removed from its dependents, then the
//   finalizer, so the dependents stay.
// It runs inside the server on the watch cache (an in-process informer) and writes through the
// registries, one key at a time from a de-duplicating queue.
import type { KObject } from '../../pkg/api/types.js';
import type { CacheEvent, WatchCache } from '../../apiserver/cache/watch-cache.js';
import type { ResourceRegistry } from '../../apiserver/registry/generic.js';
import { resourcePrefixOf } from '../../apiserver/cache/watch-cache.js';
import { systemContext } from '../../apiserver/bootstrap.js';
import { StatusError } from '../../apiserver/status.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { logger } from '../../pkg/log/logger.js';

export interface InternalApi {
  cache: WatchCache;
  /** the registry that stores objects under a resource prefix */
  registryFor(prefix: string): ResourceRegistry | undefined;
}

const ctx = () => systemContext('garbage-collector');

export class GarbageCollector {
  /** owner uid -> keys of objects that reference it */
  private readonly dependents = new Map<string, Set<string>>();
  /** uid -> key of every live object */
  private readonly byUid = new Map<string, string>();
  private readonly queue: WorkQueue<string>;
  private unsubscribe?: () => void;
  private readonly log = logger('garbage-collector');

  constructor(private readonly api: InternalApi) {
    this.queue = new WorkQueue((key) => this.sync(key), { name: 'garbage-collector' });
  }

  start(): void {
    for (const c of this.api.cache.list('/registry/')) this.index(undefined, c.obj, c.key);
    // Walk every resource once: owners may have vanished while we were down.
    for (const key of this.byUid.values()) this.queue.add(key);
    this.unsubscribe = this.api.cache.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe?.();
    this.queue.shutdown();
  }

  private index(prev: KObject | undefined, cur: KObject | undefined, key: string): void {
    if (prev) {
      for (const r of prev.metadata.ownerReferences ?? []) this.dependents.get(r.uid)?.delete(key);
      if (prev.metadata.uid && this.byUid.get(prev.metadata.uid) === key) this.byUid.delete(prev.metadata.uid);
    }
    if (cur) {
      for (const r of cur.metadata.ownerReferences ?? []) {
        let s = this.dependents.get(r.uid);
        if (!s) this.dependents.set(r.uid, (s = new Set()));
        s.add(key);
      }
      if (cur.metadata.uid) this.byUid.set(cur.metadata.uid, key);
    }
  }

  private onEvent(ev: CacheEvent): void {
    const prev = ev.prev?.obj;
    const cur = ev.type === 'DELETED' ? undefined : ev.cur.obj;
    this.index(prev, cur, ev.key);
    const uid = (cur ?? prev ?? ev.cur.obj).metadata.uid;
    if (ev.type === 'DELETED') {
      // Its dependents may now be orphans (background) — and its owner may be waiting on it (foreground).
      for (const k of this.dependents.get(uid ?? '') ?? []) this.queue.add(k);
      if (uid) this.dependents.delete(uid);
    } else {
      this.queue.add(ev.key);
      if (cur!.metadata.deletionTimestamp) for (const k of this.dependents.get(uid ?? '') ?? []) this.queue.add(k);
    }
    for (const r of (cur ?? prev ?? ev.cur.obj).metadata.ownerReferences ?? []) {
      const ownerKey = this.byUid.get(r.uid);
      if (ownerKey) this.queue.add(ownerKey);
    }
  }

  private async sync(key: string): Promise<void> {
    const c = this.api.cache.get(key);
    const reg = this.api.registryFor(resourcePrefixOf(key));
    if (!c || !reg) return;
    const obj = c.obj;
    const m = obj.metadata;
    try {
      if (m.deletionTimestamp && m.finalizers?.includes('orphan')) await this.orphanDependents(obj, reg);
      else if (m.deletionTimestamp && m.finalizers?.includes('foregroundDeletion')) await this.deleteDependents(obj, reg);
      await this.collectIfOrphaned(obj, reg);
    } catch (err) {
      if (err instanceof StatusError && (err.code === 404 || err.code === 409)) {
        if (err.code === 409) throw err; // retried by the queue
        return;
      }
      throw err;
    }
  }

  private liveDependents(obj: KObject): { key: string; obj: KObject; reg: ResourceRegistry }[] {
    const out: { key: string; obj: KObject; reg: ResourceRegistry }[] = [];
    for (const k of this.dependents.get(obj.metadata.uid ?? '') ?? []) {
      const c = this.api.cache.get(k);
      const reg = this.api.registryFor(resourcePrefixOf(k));
      if (c && reg) out.push({ key: k, obj: c.obj, reg });
    }
    return out;
  }

  private async removeFinalizer(obj: KObject, reg: ResourceRegistry, fin: string): Promise<void> {
    await reg.modifyWith(ctx(), obj.metadata.namespace, obj.metadata.name!, (o) => {
      o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== fin);
      return o;
    });
  }

  private async orphanDependents(owner: KObject, reg: ResourceRegistry): Promise<void> {
    const uid = owner.metadata.uid;
    for (const d of this.liveDependents(owner)) {
      await d.reg.modifyWith(ctx(), d.obj.metadata.namespace, d.obj.metadata.name!, (o) => {
        const refs = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (refs.length) o.metadata.ownerReferences = refs;
        else delete o.metadata.ownerReferences;
        return o;
      });
    }
    await this.removeFinalizer(owner, reg, 'orphan');
  }

  private async deleteDependents(owner: KObject, reg: ResourceRegistry): Promise<void> {
    const deps = this.liveDependents(owner);
    for (const d of deps) {
      if (d.obj.metadata.deletionTimestamp) continue;
      await d.reg.delete(ctx(), d.obj.metadata.namespace, d.obj.metadata.name!, { propagationPolicy: 'Foreground' });
    }
    // The owner goes when its last dependent has gone; dependent deletions re-queue it.
    if (this.liveDependents(owner).length === 0) await this.removeFinalizer(owner, reg, 'foregroundDeletion');
    else this.log.debug({ owner: owner.metadata.name, waiting: deps.length }, 'foreground deletion waits for dependents');
  }

  /** Deletes obj when every owner it names is gone (or removes references to gone owners). */
  private async collectIfOrphaned(obj: KObject, reg: ResourceRegistry): Promise<void> {
    const refs = obj.metadata.ownerReferences;
    if (!refs?.length || obj.metadata.deletionTimestamp) return;
    const dangling = refs.filter((r) => !this.ownerExists(r.uid, obj));
    if (dangling.length === 0) return;
    if (dangling.length === refs.length) {
      await reg.delete(ctx(), obj.metadata.namespace, obj.metadata.name!, { propagationPolicy: 'Background', preconditions: { uid: obj.metadata.uid } });
      return;
    }
    const gone = new Set(dangling.map((r) => r.uid));
    await reg.modifyWith(ctx(), obj.metadata.namespace, obj.metadata.name!, (o) => {
      o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => !gone.has(r.uid));
      return o;
    });
  }

  private ownerExists(uid: string, dependent: KObject): boolean {
    const key = this.byUid.get(uid);
    if (!key) return false;
    const c = this.api.cache.get(key);
    if (!c || c.obj.metadata.uid !== uid) return false;
    // A namespaced dependent can only be owned by an object of its namespace (or cluster-scoped).
    const ns = c.obj.metadata.namespace;
    return !ns || ns === dependent.metadata.namespace;
  }
}
