// Pod informer handlers shared by the DaemonSet, Job and StatefulSet controllers: a pod event
// is turned into its controlling owner's key, the owner's expectations learn that a creation or
// deletion it made has been observed, and the owner is queued (the old owner too, when a pod
// changes hands).
import type { KObject } from '../../pkg/api/types.js';
import type { InformerHandlers } from '../../pkg/client/informer.js';
import type { Expectations } from './expectations.js';
import { controllerOf } from './pod-util.js';

export function ownedPodHandlers(ownerKind: string, expectations: Expectations, enqueue: (key: string | undefined) => void): InformerHandlers<KObject> {
  const ownerKey = (pod: KObject): string | undefined => {
    const ref = controllerOf(pod);
    return ref?.kind === ownerKind ? `${pod.metadata.namespace}/${ref.name}` : undefined;
  };
  return {
    add: (p) => {
      const k = ownerKey(p);
      if (!k) return;
      expectations.creationObserved(k);
      enqueue(k);
    },
    update: (o, p) => {
      const k = ownerKey(p);
      if (k && p.metadata.deletionTimestamp && !o.metadata.deletionTimestamp) expectations.deletionObserved(k, p.metadata.uid!);
      enqueue(k);
      const old = ownerKey(o);
      if (old !== k) enqueue(old);
    },
    delete: (p) => {
      const k = ownerKey(p);
      if (!k) return;
      expectations.deletionObserved(k, p.metadata.uid!);
      enqueue(k);
    },
  };
}
