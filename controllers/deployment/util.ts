// Deployment arithmetic over its ReplicaSets, after Kubernetes' deployment util: which RS is new
// (template equal ignoring the hash label), revisions, surge and unavailability limits, and the
// annotations that record desired/max replicas so later scaling can be proportional.
import { canonicalJson } from '../common/hash.js';
import { resolveFenceposts } from '../common/int-or-percent.js';
import type { PodTemplate, ReplicaSet } from '../replicaset/types.js';
import type { Deployment } from './types.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ROLLBACK_TO = 'deprecated.deployment.rollback.to';

/** Deployment annotations that are not copied onto its ReplicaSets. */
const NOT_COPIED = new Set([LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO]);

export function replicasOf(obj: { spec: { replicas?: number } }): number {
  return obj.spec.replicas ?? 1;
}

export function isRollingUpdate(d: Deployment): boolean {
  return (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge ?? '25%', ru?.maxUnavailable ?? '25%', replicasOf(d))[0];
}

export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  const u = resolveFenceposts(ru?.maxSurge ?? '25%', ru?.maxUnavailable ?? '25%', replicas)[1];
  return Math.min(u, replicas);
}

export function revisionOf(obj: { metadata: { annotations?: Record<string, string> } }): number {
  const v = Number(obj.metadata.annotations?.[REVISION]);
  return Number.isInteger(v) && v >= 0 ? v : 0;
}

export function maxRevision(rss: ReplicaSet[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

/**
 * A template as Kubernetes compares it: typed, so an explicit null (kubectl sends
 * `creationTimestamp: null` in templates it copies) is the same as an absent field.
 */
export function semanticTemplate(t: PodTemplate | undefined): PodTemplate {
  return dropNulls(structuredClone(t ?? {})) as PodTemplate;
}

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] === null) delete o[k];
    else o[k] = dropNulls(o[k]);
  }
  return o;
}

function withoutHash(t: PodTemplate | undefined): unknown {
  const c = semanticTemplate(t);
  if (c.metadata?.labels) {
    delete c.metadata.labels[POD_TEMPLATE_HASH];
    if (Object.keys(c.metadata.labels).length === 0) delete c.metadata.labels;
  }
  if (c.metadata && Object.keys(c.metadata).length === 0) delete c.metadata;
  return c;
}

export function equalIgnoreHash(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  return canonicalJson(withoutHash(a)) === canonicalJson(withoutHash(b));
}

export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  const t = Date.parse(a.metadata.creationTimestamp ?? '') - Date.parse(b.metadata.creationTimestamp ?? '');
  if (t) return t;
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/** The oldest RS whose template is the deployment's (several can exist after a hash collision). */
export function findNewReplicaSet(d: Deployment, rss: ReplicaSet[]): ReplicaSet | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
}

export function specReplicas(rss: ReplicaSet[]): number {
  return rss.reduce((n, rs) => n + (rs.spec.replicas ?? 0), 0);
}

export function statusReplicas(rss: ReplicaSet[], field: 'replicas' | 'readyReplicas' | 'availableReplicas'): number {
  return rss.reduce((n, rs) => n + (rs.status?.[field] ?? 0), 0);
}

/**
 * Pods that may exist for these RSs: the larger of what each is asked for and what it last
 * reported, since an RS that was just scaled down may not have removed its pods yet.
 */
export function podsUpperBound(rss: ReplicaSet[]): number {
  return rss.reduce((n, rs) => n + Math.max(rs.spec.replicas ?? 0, rs.status?.replicas ?? 0), 0);
}

/**
 * Available pods that will remain: an RS just scaled down still reports the pods it is about to
 * delete as available; it keeps at most spec.replicas of them.
 */
export function availableLowerBound(rss: ReplicaSet[]): number {
  return rss.reduce((n, rs) => n + Math.min(rs.status?.availableReplicas ?? 0, rs.spec.replicas ?? 0), 0);
}

/** Replicas the new RS should have now. */
export function newRSNewReplicas(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  const want = replicasOf(d);
  const cur = newRS.spec.replicas ?? 0;
  if (!isRollingUpdate(d)) return want;
  const maxTotal = want + maxSurge(d);
  const current = podsUpperBound(all);
  if (current >= maxTotal) return cur;
  const up = Math.min(maxTotal - current, Math.max(0, want - cur));
  return cur + up;
}

/** The annotations every RS of the deployment carries for its current size. */
export function replicaAnnotationsChanged(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = rs.metadata.annotations ?? {};
  return a[DESIRED_REPLICAS] !== String(desired) || a[MAX_REPLICAS] !== String(max);
}

export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): void {
  rs.metadata.annotations = { ...(rs.metadata.annotations ?? {}), [DESIRED_REPLICAS]: String(desired), [MAX_REPLICAS]: String(max) };
}

/**
 * Copies the deployment's annotations (change-cause and the user's own) onto the new RS and sets
 * its revision; returns whether anything changed.
 */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  const a = { ...(rs.metadata.annotations ?? {}) };
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (NOT_COPIED.has(k)) continue;
    if (a[k] !== v) {
      a[k] = v;
      changed = true;
    }
  }
  const old = revisionOf(rs);
  if (!rs.metadata.annotations?.[REVISION] || old < newRevision) {
    a[REVISION] = String(newRevision);
    changed = true;
    // Remember the revisions this template had, as Kubernetes does (shown nowhere by kubectl).
    if (exists && rs.metadata.annotations?.[REVISION]) {
      const hist = a[REVISION_HISTORY] ? `${a[REVISION_HISTORY]},${old}` : String(old);
      a[REVISION_HISTORY] = hist.length > 2000 ? hist.slice(hist.indexOf(',', hist.length - 2000) + 1) : hist;
    }
  }
  if (!exists) {
    a[DESIRED_REPLICAS] = String(replicasOf(d));
    a[MAX_REPLICAS] = String(replicasOf(d) + maxSurge(d));
  }
  rs.metadata.annotations = a;
  return changed;
}

/** Saturated: the new RS runs all the pods the deployment wants, all available. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const want = replicasOf(d);
  return (
    rs.metadata.annotations?.[DESIRED_REPLICAS] === String(want) &&
    (rs.spec.replicas ?? 0) === want &&
    (rs.status?.availableReplicas ?? 0) === want
  );
}

/** Of the RSs with pods, the only one; with none, the new one or the latest; else undefined. */
export function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const all = newRS ? [newRS, ...oldRSs] : oldRSs;
  const active = all.filter((rs) => (rs.spec.replicas ?? 0) > 0);
  if (active.length === 0) return newRS ?? [...oldRSs].sort(byCreation).at(-1);
  if (active.length === 1) return active[0];
  return undefined;
}

/** The share of a scaling change that an RS gets, by its size relative to the last max. */
export function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  const cur = rs.spec.replicas ?? 0;
  if (replicasOf(d) === 0) return -cur;
  const target = replicasOf(d) + maxSurge(d);
  const ann = Number(rs.metadata.annotations?.[MAX_REPLICAS]);
  const annotated = Number.isInteger(ann) && ann > 0 ? ann : (d.status?.replicas ?? 0);
  if (annotated === 0) return 0;
  return Math.round((cur * target) / annotated) - cur;
}
