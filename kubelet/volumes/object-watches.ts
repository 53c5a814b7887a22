// One watch per ConfigMap/Secret that pods of this node mount, held while any pod uses it (the
// way kubelet's watch-based object managers work): the node never lists every Secret of the
// cluster, and a change reaches the pods' volumes within a watch round trip.
import { Informer } from '../../pkg/client/informer.js';
import { R } from '../../pkg/client/informer-factory.js';
import type { RestClient } from '../../pkg/client/rest.js';
import type { Logger } from '../../pkg/log/logger.js';
import { refKey, type ObjectRef } from './object-refs.js';

interface Watched {
  ref: ObjectRef;
  informer: Informer;
  users: Set<string>;
  /** events before the first list are the object as it was when the pod's volumes were set up */
  synced: boolean;
}

export class ObjectWatches {
  private readonly watched = new Map<string, Watched>();
  private readonly byUser = new Map<string, string[]>();
  private stopped = false;

  constructor(
    private readonly client: RestClient,
    private readonly onChange: (ref: ObjectRef) => void,
    private readonly log?: Logger,
  ) {}

  /** The objects `user` (a pod) needs now; watches nobody needs any more end. */
  track(user: string, refs: ObjectRef[]): void {
    if (this.stopped) return;
    const keys = refs.map(refKey);
    const before = this.byUser.get(user) ?? [];
    for (const k of before) if (!keys.includes(k)) this.release(k, user);
    refs.forEach((r, i) => this.acquire(keys[i]!, r, user));
    if (keys.length) this.byUser.set(user, keys);
    else this.byUser.delete(user);
  }

  untrack(user: string): void {
    this.track(user, []);
  }

  /** Keys of the objects watched now (for tests). */
  get keys(): string[] {
    return [...this.watched.keys()];
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watched.values()) w.informer.stop();
    this.watched.clear();
    this.byUser.clear();
  }

  private acquire(key: string, ref: ObjectRef, user: string): void {
    const have = this.watched.get(key);
    if (have) {
      have.users.add(user);
      return;
    }
    const gvr = ref.kind === 'configMap' ? R.configmaps : R.secrets;
    const informer = new Informer(this.client, gvr, { namespace: ref.namespace, fieldSelector: `metadata.name=${ref.name}` });
    const w: Watched = { ref, informer, users: new Set([user]), synced: false };
    const changed = () => {
      if (w.synced && this.watched.get(key) === w) this.onChange(ref);
    };
    informer.on({ add: changed, update: changed, delete: changed });
    this.watched.set(key, w);
    void informer.start().then(() => {
      if (this.watched.get(key) !== w) return;
      w.synced = true;
      // The object may have changed between the pod's volume set-up and this first list.
      this.onChange(ref);
    });
    this.log?.debug({ object: key }, 'watching an object pods mount');
  }

  private release(key: string, user: string): void {
    const w = this.watched.get(key);
    if (!w) return;
    w.users.delete(user);
    if (w.users.size) return;
    w.informer.stop();
    this.watched.delete(key);
  }
}
