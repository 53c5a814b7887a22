// Small pod and ownership helpers shared by the DaemonSet, Job, CronJob and StatefulSet
// controllers (the Deployment/ReplicaSet ones keep their own in controllers/common).
import { createHash } from 'node:crypto';
import type { KObject, OwnerReference } from '../../pkg/api/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export const CONTROLLER_REVISION_HASH = 'controller-revision-hash';

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function podPhase(pod: KObject): string {
  return (pod.status as Json | undefined)?.phase ?? 'Pending';
}

export function isTerminal(pod: KObject): boolean {
  const p = podPhase(pod);
  return p === 'Succeeded' || p === 'Failed';
}

/** Counts towards what a controller runs: not finished and not on its way out. */
export function isActive(pod: KObject): boolean {
  return !isTerminal(pod) && !pod.metadata.deletionTimestamp;
}

function readyCondition(pod: KObject): Json | undefined {
  const conds: Json[] = (pod.status as Json | undefined)?.conditions ?? [];
  return conds.find((c) => c?.type === 'Ready');
}

export function isReady(pod: KObject): boolean {
  return podPhase(pod) === 'Running' && readyCondition(pod)?.status === 'True';
}

/** Ready for at least minReadySeconds (by the Ready condition's transition time). */
export function isAvailable(pod: KObject, minReadySeconds: number, now: number): boolean {
  if (!isReady(pod)) return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(readyCondition(pod)?.lastTransitionTime ?? '');
  return Number.isFinite(since) && since + minReadySeconds * 1000 <= now;
}

/** When a ready pod becomes available, for requeueing; undefined when it already is or is not ready. */
export function availableAt(pod: KObject, minReadySeconds: number, now: number): number | undefined {
  if (!isReady(pod) || !minReadySeconds) return undefined;
  const since = Date.parse(readyCondition(pod)?.lastTransitionTime ?? '');
  if (!Number.isFinite(since)) return undefined;
  const at = since + minReadySeconds * 1000;
  return at > now ? at : undefined;
}

/** Owner kinds by hand: objects listed from the API may lack apiVersion and kind. */
export const KINDS = {
  DaemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  StatefulSet: { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  Job: { apiVersion: 'batch/v1', kind: 'Job' },
  CronJob: { apiVersion: 'batch/v1', kind: 'CronJob' },
} as const;

export function controllerRef(owner: KObject, kind: { apiVersion: string; kind: string }): OwnerReference {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function controllerOf(obj: KObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function isControlledBy(obj: KObject, owner: KObject): boolean {
  return controllerOf(obj)?.uid === owner.metadata.uid;
}

/**
 * A short, label-safe hash of a pod template (what controller-revision-hash carries). The
 * alphabet avoids vowels so a hash never spells a word, as Kubernetes' does.
 */
export function templateHash(template: unknown, collisionCount = 0): string {
  const h = createHash('sha256').update(stableJson(template)).update(String(collisionCount)).digest();
  let n = h.readUInt32BE(0);
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  do {
    out += alphabet[n % alphabet.length];
    n = Math.floor(n / alphabet.length);
  } while (n > 0);
  return out;
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A pod object from a controller's template: labels, annotations and spec copied, owner set. */
export function podFromTemplate(template: Json | undefined, owner: KObject, ownerKind: { apiVersion: string; kind: string }, extra: { name?: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string> }): KObject {
  const t: Json = structuredClone(template ?? {});
  const meta: Json = t.metadata ?? {};
  const pod: KObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra.name ? { name: extra.name } : { generateName: extra.generateName }),
      namespace: owner.metadata.namespace,
      labels: { ...(meta.labels ?? {}), ...(extra.labels ?? {}) },
      annotations: { ...(meta.annotations ?? {}), ...(extra.annotations ?? {}) },
      ownerReferences: [controllerRef(owner, ownerKind)],
    },
    spec: t.spec ?? {},
  };
  if (meta.finalizers) pod.metadata.finalizers = meta.finalizers;
  if (Object.keys(pod.metadata.annotations!).length === 0) delete pod.metadata.annotations;
  return pod;
}

/** Creation order, oldest first, name as tie-breaker. */
export function byCreation(a: KObject, b: KObject): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return ta - tb || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** An int-or-percent (maxUnavailable, maxSurge) against a total; percentages round up or down. */
export function intOrPercent(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+%$/.test(v)) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return 0;
}

/** Deep equality regardless of key order (to skip writes that change nothing). */
export function stableEqual(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}
