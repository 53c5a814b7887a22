// Which API objects a pod's volumes show, so the node can watch exactly those (kubelet's
// watch-based ConfigMap/Secret managers do the same) and rewrite the volumes when one changes.
// Environment variables are read once at container start and are not part of this.
import type { KObject } from '../../pkg/api/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export type ObjectKind = 'configMap' | 'secret';

export interface ObjectRef {
  kind: ObjectKind;
  namespace: string;
  name: string;
}

export function refKey(r: ObjectRef): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

function volumesOf(pod: KObject): Json[] {
  const v = ((pod.spec ?? {}) as Json).volumes;
  return Array.isArray(v) ? v : [];
}

/** The ConfigMaps and Secrets the pod's volumes project, each once, in the pod's namespace. */
export function podVolumeObjectRefs(pod: KObject): ObjectRef[] {
  const namespace = pod.metadata.namespace ?? 'default';
  const out = new Map<string, ObjectRef>();
  const add = (kind: ObjectKind, name: unknown) => {
    if (typeof name !== 'string' || name === '') return;
    const r = { kind, namespace, name };
    out.set(refKey(r), r);
  };
  for (const vol of volumesOf(pod)) {
    if (vol.configMap) add('configMap', vol.configMap.name);
    if (vol.secret) add('secret', vol.secret.secretName);
    for (const s of (vol.projected?.sources as Json[] | undefined) ?? []) {
      if (s?.configMap) add('configMap', s.configMap.name);
      if (s?.secret) add('secret', s.secret.name);
    }
  }
  return [...out.values()];
}

/** Whether a downwardAPI volume (or projected source) shows something of the pod's metadata. */
export function hasDownwardAPIVolume(pod: KObject): boolean {
  return volumesOf(pod).some((vol) => vol.downwardAPI || ((vol.projected?.sources as Json[] | undefined) ?? []).some((s) => s?.downwardAPI));
}

/** Labels or annotations differ: what a downwardAPI volume can show that changes in a running pod. */
export function podMetadataChanged(a: KObject, b: KObject): boolean {
  return !sameMap(a.metadata.labels, b.metadata.labels) || !sameMap(a.metadata.annotations, b.metadata.annotations);
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b ?? {}).length) return false;
  return ka.every((k) => (b ?? {})[k] === (a ?? {})[k] && Object.prototype.hasOwnProperty.call(b ?? {}, k));
}
