// What one sync of a Job should do, as a pure function of the Job, its pods and the time: which
// pods to create (and with which completion index) or delete, the new status, the events. The
// controller only carries the plan out, so the rules below can be tested with any clock.
import type { KObject } from '../../pkg/api/types.js';
import { byCreation, isActive, isReady, isoSeconds, podPhase, type Json } from '../daemonset/pod-util.js';

export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
/** Kubernetes' pod failure back-off: 10 s, doubled per failure, at most 6 minutes. */
export const DEFAULT_BACKOFF_BASE_MS = 10_000;
export const MAX_BACKOFF_MS = 360_000;

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface JobPlan {
  /** completion indexes of pods to create (null entries for NonIndexed jobs) */
  create: (number | null)[];
  delete: KObject[];
  status: Json;
  events: JobEvent[];
  /** sync again after this many ms (deadline, back-off), if anything is time-bound */
  requeueAfterMs?: number;
}

export interface JobPlanOptions {
  backoffBaseMs?: number;
}

type Cond = { type: string; status: string; reason?: string; message?: string; lastProbeTime?: string; lastTransitionTime?: string };

export function conditionTrue(job: KObject, type: string): boolean {
  const conds: Cond[] = (job.status as Json | undefined)?.conditions ?? [];
  return conds.some((c) => c.type === type && c.status === 'True');
}

export function isFinished(job: KObject): boolean {
  return conditionTrue(job, 'Complete') || conditionTrue(job, 'Failed');
}

/** When the job finished: completionTime, or the Failed condition's transition. */
export function finishedAt(job: KObject): number | undefined {
  const status: Json = job.status ?? {};
  if (conditionTrue(job, 'Complete') && status.completionTime) return Date.parse(status.completionTime);
  const conds: Cond[] = status.conditions ?? [];
  const c = conds.find((x) => (x.type === 'Failed' || x.type === 'Complete') && x.status === 'True');
  return c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : undefined;
}

function setCondition(conds: Cond[], type: string, status: string, reason: string, message: string, now: string): Cond[] {
  const out = conds.filter((c) => c.type !== type);
  const old = conds.find((c) => c.type === type);
  if (old && old.status === status && old.reason === reason && old.message === message) return conds;
  const transition = old && old.status === status ? (old.lastTransitionTime ?? now) : now;
  out.push({ type, status, lastProbeTime: now, lastTransitionTime: transition, reason, message });
  return out;
}

export function podIndex(pod: KObject): number | undefined {
  const v = pod.metadata.annotations?.[COMPLETION_INDEX] ?? pod.metadata.labels?.[COMPLETION_INDEX];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/** "1,3-5,7": the compressed form Kubernetes writes to status.completedIndexes. */
export function formatIndexes(idx: Iterable<number>): string {
  const sorted = [...new Set(idx)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function parseIndexes(s: string | undefined): Set<number> {
  const out = new Set<number>();
  for (const part of (s ?? '').split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.add(i);
  }
  return out;
}

function restartCount(pod: KObject): number {
  const st: Json = pod.status ?? {};
  let n = 0;
  for (const c of [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])]) n += Number(c?.restartCount ?? 0);
  return n;
}

/** When a failed pod finished: its latest container termination, else its creation. */
function failedAt(pod: KObject): number {
  const st: Json = pod.status ?? {};
  let t = 0;
  for (const c of st.containerStatuses ?? []) {
    const f = Date.parse(c?.state?.terminated?.finishedAt ?? '');
    if (Number.isFinite(f)) t = Math.max(t, f);
  }
  return t || Date.parse(pod.metadata.creationTimestamp ?? '') || 0;
}

/** Which active pods to remove first: unscheduled, then not ready, then the newest. */
function deletionOrder(a: KObject, b: KObject): number {
  const sa = (a.spec as Json)?.nodeName ? 1 : 0;
  const sb = (b.spec as Json)?.nodeName ? 1 : 0;
  if (sa !== sb) return sa - sb;
  const ra = isReady(a) ? 1 : 0;
  const rb = isReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  return byCreation(b, a);
}

export function planJob(job: KObject, pods: KObject[], nowMs: number, opts: JobPlanOptions = {}): JobPlan {
  const spec: Json = job.spec ?? {};
  const old: Json = job.status ?? {};
  const now = isoSeconds(new Date(nowMs));
  const status: Json = structuredClone(old);
  let conds: Cond[] = status.conditions ?? [];
  const events: JobEvent[] = [];
  const plan: JobPlan = { create: [], delete: [], status, events };

  if (isFinished(job)) {
    // A finished job keeps no running pods (a late one, say after a controller restart, goes).
    plan.delete = pods.filter(isActive);
    status.active = 0;
    status.ready = 0;
    return plan;
  }

  const indexed = spec.completionMode === 'Indexed';
  const completions: number | undefined = typeof spec.completions === 'number' ? spec.completions : undefined;
  const parallelism: number = typeof spec.parallelism === 'number' ? spec.parallelism : 1;
  const backoffLimit: number = typeof spec.backoffLimit === 'number' ? spec.backoffLimit : 6;
  const onFailure = spec.template?.spec?.restartPolicy === 'OnFailure';

  const active = pods.filter(isActive);
  const succeededPods = pods.filter((p) => podPhase(p) === 'Succeeded');
  const failedPods = pods.filter((p) => podPhase(p) === 'Failed');
  // Finished pods may since have been removed; the counts in status never go down.
  const succeededIdx = parseIndexes(old.completedIndexes);
  if (indexed) for (const p of succeededPods) {
    const i = podIndex(p);
    if (i !== undefined && completions !== undefined && i < completions) succeededIdx.add(i);
  }
  const succeeded = indexed ? succeededIdx.size : Math.max(old.succeeded ?? 0, succeededPods.length);
  const failed = Math.max(old.failed ?? 0, failedPods.length);
  status.succeeded = succeeded;
  status.failed = failed;
  if (indexed) status.completedIndexes = formatIndexes(succeededIdx);

  const suspended = spec.suspend === true;
  const wasSuspended = conds.some((c) => c.type === 'Suspended' && c.status === 'True');
  if (!suspended && (!status.startTime || wasSuspended)) status.startTime = now;

  const finish = (type: 'Complete' | 'Failed', reason: string, message: string) => {
    plan.delete = active;
    const target = type === 'Complete' ? 'SuccessCriteriaMet' : 'FailureTarget';
    conds = setCondition(conds, target, 'True', reason, message, now);
    conds = setCondition(conds, type, 'True', reason, message, now);
    status.conditions = conds;
    status.active = 0;
    status.ready = 0;
    if (type === 'Complete') status.completionTime = now;
  };

  // Failure first: a job past its limits fails even if pods happened to succeed meanwhile.
  const start = status.startTime ? Date.parse(status.startTime) : undefined;
  const deadline = typeof spec.activeDeadlineSeconds === 'number' && start !== undefined && !suspended ? start + spec.activeDeadlineSeconds * 1000 : undefined;
  const restarts = onFailure ? active.reduce((n, p) => n + restartCount(p), 0) : 0;
  const pastBackoff = failed > backoffLimit || (onFailure && (backoffLimit === 0 ? restarts > 0 : restarts >= backoffLimit) && restarts > 0);
  if (pastBackoff) {
    finish('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
    events.push({ type: 'Warning', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    return plan;
  }
  if (deadline !== undefined && nowMs >= deadline) {
    finish('Failed', 'DeadlineExceeded', 'Job was active longer than specified deadline');
    events.push({ type: 'Warning', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' });
    return plan;
  }

  const complete = completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0;
  if (complete) {
    finish('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods');
    events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
    return plan;
  }

  if (suspended) {
    plan.delete = active;
    if (!wasSuspended) {
      conds = setCondition(conds, 'Suspended', 'True', 'JobSuspended', 'Job suspended', now);
      events.push({ type: 'Normal', reason: 'Suspended', message: 'Job suspended' });
    }
    status.conditions = conds;
    status.active = 0;
    status.ready = 0;
    return plan;
  }
  if (wasSuspended) {
    conds = setCondition(conds, 'Suspended', 'False', 'JobResumed', 'Job resumed', now);
    events.push({ type: 'Normal', reason: 'Resumed', message: 'Job resumed' });
  }
  if (conds.length) status.conditions = conds;

  // How many should run: never more than parallelism, never more than the completions left.
  let want: number;
  if (completions === undefined) want = succeeded > 0 ? active.length : parallelism;
  else want = Math.max(0, Math.min(parallelism, completions - succeeded));

  let keep = active;
  if (active.length > want) {
    plan.delete = [...active].sort(deletionOrder).slice(0, active.length - want);
    const gone = new Set(plan.delete);
    keep = active.filter((p) => !gone.has(p));
  } else if (active.length < want) {
    let n = want - active.length;
    // Back off after failures, as Kubernetes does, so a crashing pod is not recreated in a hot loop.
    const recentFailures = failedPods.filter((p) => !succeededPods.some((s) => byCreation(s, p) > 0));
    if (recentFailures.length > 0) {
      const base = opts.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
      const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.min(20, recentFailures.length - 1));
      const last = Math.max(...recentFailures.map(failedAt));
      if (last + delay > nowMs) {
        n = 0;
        plan.requeueAfterMs = last + delay - nowMs;
      }
    }
    if (indexed) {
      const running = new Set(keep.map(podIndex));
      const pending: number[] = [];
      for (let i = 0; i < (completions ?? 0) && pending.length < n; i++) if (!succeededIdx.has(i) && !running.has(i)) pending.push(i);
      plan.create = pending;
    } else {
      plan.create = Array.from({ length: n }, () => null);
    }
  }
  status.active = keep.length + plan.create.length;
  status.ready = keep.filter(isReady).length;
  if (deadline !== undefined) plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, Math.max(0, deadline - nowMs));
  // Said once, when the job starts, rather than on every sync.
  const starting = !old.startTime;
  if (starting && spec.podFailurePolicy) events.push({ type: 'Warning', reason: 'Unsupported', message: 'spec.podFailurePolicy is not supported by skiff; pod failures count against backoffLimit' });
  if (starting && typeof spec.backoffLimitPerIndex === 'number') events.push({ type: 'Warning', reason: 'Unsupported', message: 'spec.backoffLimitPerIndex is not supported by skiff; pod failures count against backoffLimit' });
  return plan;
}
