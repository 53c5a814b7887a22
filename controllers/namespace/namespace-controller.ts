// The namespace controller: a namespace being deleted (phase Terminating, spec.finalizers holding
// "kubernetes") has everything in it deleted; once it is empty the "kubernetes" finalizer is
// removed, which lets the namespace itself go.
import type { CacheEvent } from '../../apiserver/cache/watch-cache.js';
import type { InternalApi } from '../garbagecollector/garbage-collector.js';
import type { ResourceRegistry } from '../../apiserver/registry/generic.js';
import { systemContext } from '../../apiserver/bootstrap.js';
import { StatusError } from '../../apiserver/status.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';

const NS_PREFIX = '/registry/core/namespaces/';

export interface NamespaceApi extends InternalApi {
  /** every registry that stores namespaced objects (one per resource) */
  namespacedRegistries(): ResourceRegistry[];
}

export class NamespaceController {
  private readonly queue: WorkQueue<string>;
  private unsubscribe?: () => void;

  constructor(private readonly api: NamespaceApi) {
    this.queue = new WorkQueue((name) => this.sync(name), { name: 'namespace-controller', baseDelayMs: 200, maxDelayMs: 5000 });
  }

  start(): void {
    for (const c of this.api.cache.list(NS_PREFIX)) if (c.obj.metadata.deletionTimestamp) this.queue.add(c.obj.metadata.name!);
    this.unsubscribe = this.api.cache.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe?.();
    this.queue.shutdown();
  }

  private onEvent(ev: CacheEvent): void {
    if (ev.resource === NS_PREFIX) {
      if (ev.type !== 'DELETED' && ev.cur.obj.metadata.deletionTimestamp) this.queue.add(ev.cur.obj.metadata.name!);
      return;
    }
    // Something left a terminating namespace: it may be empty now.
    if (ev.type === 'DELETED') {
      const ns = ev.cur.obj.metadata.namespace;
      if (ns && this.api.cache.get(NS_PREFIX + ns)?.obj.metadata.deletionTimestamp) this.queue.add(ns);
    }
  }

  private async sync(name: string): Promise<void> {
    const c = this.api.cache.get(NS_PREFIX + name);
    if (!c || !c.obj.metadata.deletionTimestamp) return;
    const ctx = systemContext('namespace-controller');
    let remaining = 0;
    const seen = new Set<string>();
    for (const reg of this.api.namespacedRegistries()) {
      if (seen.has(reg.prefix)) continue; // several versions of one custom resource share storage
      seen.add(reg.prefix);
      for (const item of this.api.cache.list(reg.prefix, name)) {
        remaining++;
        if (item.obj.metadata.deletionTimestamp) continue;
        try {
          await reg.delete(ctx, name, item.obj.metadata.name!, { propagationPolicy: 'Background', gracePeriodSeconds: undefined });
        } catch (e) {
          if (!(e instanceof StatusError && e.code === 404)) throw e;
        }
      }
    }
    if (remaining > 0) {
      // Deletions re-queue us as objects disappear; poll as well in case something lingers (pods
      // in their grace period).
      this.queue.addAfter(name, 2000);
      return;
    }
    const nsReg = this.api.registryFor(NS_PREFIX)!;
    try {
      await nsReg.modifyWith(ctx, undefined, name, (o) => {
        const spec = (o.spec ?? {}) as { finalizers?: string[] };
        spec.finalizers = (spec.finalizers ?? []).filter((f) => f !== 'kubernetes');
        o.spec = spec;
        return o;
      });
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
  }
}
