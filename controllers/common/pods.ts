// Pod facts the workload controllers agree on: active (counts toward replicas), ready (the Ready
// condition), available (ready for minReadySeconds), and the order in which to delete surplus
// pods (Kubernetes' ActivePodsWithRanks: the least useful first).
import type { KObject } from '../../pkg/api/types.js';

export interface PodCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
}

interface PodShape {
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: PodCondition[];
    containerStatuses?: { restartCount?: number }[];
  };
}

function shape(pod: KObject): PodShape {
  return pod as unknown as PodShape;
}

/** Not finished and not being deleted: what a ReplicaSet counts. */
export function isPodActive(pod: KObject): boolean {
  const phase = shape(pod).status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

export function podReadyCondition(pod: KObject): PodCondition | undefined {
  return shape(pod).status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(pod: KObject): boolean {
  return podReadyCondition(pod)?.status === 'True';
}

/** Ready for at least minReadySeconds at `now` (ms). */
export function isPodAvailable(pod: KObject, minReadySeconds: number, now: number): boolean {
  const c = podReadyCondition(pod);
  if (c?.status !== 'True') return false;
  if (minReadySeconds <= 0) return true;
  const since = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return !Number.isNaN(since) && since + minReadySeconds * 1000 <= now;
}

/** ms until a ready pod becomes available, or undefined when it is not waiting for that. */
export function msUntilAvailable(pod: KObject, minReadySeconds: number, now: number): number | undefined {
  const c = podReadyCondition(pod);
  if (c?.status !== 'True' || minReadySeconds <= 0 || !c.lastTransitionTime) return undefined;
  const left = Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 - now;
  return left > 0 ? left : undefined;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };
const DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

function restarts(pod: KObject): number {
  return (shape(pod).status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

function deletionCost(pod: KObject): number {
  const v = Number(pod.metadata.annotations?.[DELETION_COST]);
  return Number.isFinite(v) ? v : 0;
}

function time(s: string | undefined): number {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Sorts pods so that the first are the ones to delete: unscheduled before scheduled, pending
 * before unknown before running, not ready before ready, lower deletion cost first, pods doubled
 * up on a node with their siblings first, then the most recently ready, the most restarted and
 * the newest.
 */
export function rankPodsForDeletion(pods: KObject[], siblings: KObject[]): KObject[] {
  const perNode = new Map<string, number>();
  for (const p of siblings) {
    const n = shape(p).spec?.nodeName;
    if (n && isPodActive(p)) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  }
  const rank = (p: KObject) => {
    const n = shape(p).spec?.nodeName;
    return n ? (perNode.get(n) ?? 0) : 0;
  };
  const cmp = (a: KObject, b: KObject): number => {
    const na = shape(a).spec?.nodeName ? 1 : 0;
    const nb = shape(b).spec?.nodeName ? 1 : 0;
    if (na !== nb) return na - nb;
    const pa = PHASE_RANK[shape(a).status?.phase ?? 'Pending'] ?? 0;
    const pb = PHASE_RANK[shape(b).status?.phase ?? 'Pending'] ?? 0;
    if (pa !== pb) return pa - pb;
    const ra = isPodReady(a) ? 1 : 0;
    const rb = isPodReady(b) ? 1 : 0;
    if (ra !== rb) return ra - rb;
    const ca = deletionCost(a);
    const cb = deletionCost(b);
    if (ca !== cb) return ca - cb;
    const ka = rank(a);
    const kb = rank(b);
    if (ka !== kb) return kb - ka;
    if (ra === 1) {
      const ta = time(podReadyCondition(a)?.lastTransitionTime);
      const tb = time(podReadyCondition(b)?.lastTransitionTime);
      if (ta !== tb) return tb - ta;
    }
    const xa = restarts(a);
    const xb = restarts(b);
    if (xa !== xb) return xb - xa;
    const ct = time(b.metadata.creationTimestamp) - time(a.metadata.creationTimestamp);
    if (ct !== 0) return ct;
    return (b.metadata.name ?? '').localeCompare(a.metadata.name ?? '');
  };
  return [...pods].sort(cmp);
}
