// What one sync of a CronJob should do, as a pure function of the CronJob, its Jobs and the time:
// bring status.active up to date, trim finished Jobs to the history limits, and decide whether a
// scheduled run is due (startingDeadlineSeconds, concurrencyPolicy, suspend) — the Job to create
// and when to look again. The controller only carries the plan out.
import type { KObject } from '../../pkg/api/types.js';
import { parseCronSchedule, nextScheduleTime, type CronSchedule } from '../../apiserver/registry/resources/batch/cron.js';
import { KINDS, byCreation, controllerRef, isoSeconds, type Json } from '../daemonset/pod-util.js';
import { conditionTrue, isFinished } from '../job/job-plan.js';

export const SCHEDULED_TIMESTAMP = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Past this many missed runs Kubernetes warns that the clock or the controller was off. */
const MANY_MISSED = 100;

export interface CronEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface CronPlan {
  status: Json;
  /** Jobs to delete (history limits, concurrencyPolicy Replace), with the event to record */
  delete: KObject[];
  /** the Job to create for the scheduled time, if one is due */
  create?: { job: KObject; scheduledTime: Date };
  events: CronEvent[];
  requeueAfterMs?: number;
}

export function jobRef(job: KObject): Json {
  return { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid, resourceVersion: job.metadata.resourceVersion };
}

/** `<cronjob>-<minutes since the epoch>`: one name per scheduled minute, so a run is never doubled. */
export function jobNameFor(cronJobName: string, scheduled: Date): string {
  return `${cronJobName}-${Math.floor(scheduled.getTime() / 60000)}`;
}

/** RFC 3339 in the schedule's zone, as the scheduled-timestamp annotation carries it. */
export function formatInZone(d: Date, timeZone: string | undefined): string {
  if (!timeZone || timeZone === 'UTC' || timeZone === 'Etc/UTC') return isoSeconds(d);
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  const wall = Date.UTC(Number(get('year')), Number(get('month')) - 1, Number(get('day')), Number(get('hour')), Number(get('minute')), Number(get('second')));
  const offMin = Math.round((wall - Math.floor(d.getTime() / 1000) * 1000) / 60000);
  const sign = offMin < 0 ? '-' : '+';
  const abs = Math.abs(offMin);
  const off = offMin === 0 ? 'Z' : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}:${get('second')}${off}`;
}

function finishTime(job: KObject): number {
  const st: Json = job.status ?? {};
  return Date.parse(st.completionTime ?? st.startTime ?? job.metadata.creationTimestamp ?? '') || 0;
}

/** The latest schedule time in (earliest, now], and how many there were. */
export function mostRecentScheduleTime(sched: CronSchedule, earliest: Date, now: Date, timeZone?: string): { time?: Date; missed: number } {
  let t = nextScheduleTime(sched, earliest, timeZone);
  let last: Date | undefined;
  let missed = 0;
  // A bound on the walk: a schedule far behind (a controller down for months) still ends quickly.
  for (let i = 0; t && t.getTime() <= now.getTime() && i < 200_000; i++) {
    last = t;
    missed++;
    t = nextScheduleTime(sched, t, timeZone);
  }
  return { time: last, missed };
}

export function planCronJob(cj: KObject, ownedJobs: KObject[], nowMs: number): CronPlan {
  const spec: Json = cj.spec ?? {};
  const old: Json = cj.status ?? {};
  const status: Json = structuredClone(old);
  const events: CronEvent[] = [];
  const plan: CronPlan = { status, delete: [], events };
  const now = new Date(nowMs);
  const byUid = new Map(ownedJobs.map((j) => [j.metadata.uid, j]));

  // status.active: the owned Jobs still running; finished ones leave it (and may be the last success).
  const active: Json[] = [];
  for (const ref of (old.active ?? []) as Json[]) {
    const j = byUid.get(ref.uid);
    if (!j) continue;
    if (isFinished(j)) {
      const how = conditionTrue(j, 'Complete') ? 'Complete' : 'Failed';
      events.push({ type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed job: ${j.metadata.name}, condition: ${how}` });
      continue;
    }
    active.push(jobRef(j));
  }
  for (const j of ownedJobs) {
    if (!isFinished(j) && !active.some((r) => r.uid === j.metadata.uid)) active.push(jobRef(j));
  }
  let lastSuccess = old.lastSuccessfulTime ? Date.parse(old.lastSuccessfulTime) : 0;
  for (const j of ownedJobs) {
    const ct = (j.status as Json | undefined)?.completionTime;
    if (conditionTrue(j, 'Complete') && ct && Date.parse(ct) > lastSuccess) lastSuccess = Date.parse(ct);
  }
  if (lastSuccess) status.lastSuccessfulTime = isoSeconds(new Date(lastSuccess));

  // History limits: the oldest finished Jobs beyond each limit go.
  const trim = (jobs: KObject[], limit: unknown) => {
    if (typeof limit !== 'number') return;
    const sorted = [...jobs].sort((a, b) => finishTime(a) - finishTime(b) || byCreation(a, b));
    plan.delete.push(...sorted.slice(0, Math.max(0, sorted.length - limit)));
  };
  trim(ownedJobs.filter((j) => conditionTrue(j, 'Complete')), spec.successfulJobsHistoryLimit);
  trim(ownedJobs.filter((j) => conditionTrue(j, 'Failed')), spec.failedJobsHistoryLimit);

  const finish = () => {
    status.active = active;
    if (!active.length) delete status.active;
    return plan;
  };
  if (cj.metadata.deletionTimestamp || spec.suspend === true) return finish();

  let sched: CronSchedule;
  try {
    sched = parseCronSchedule(String(spec.schedule ?? ''));
  } catch (e) {
    events.push({ type: 'Warning', reason: 'UnparseableSchedule', message: `unparseable schedule: ${JSON.stringify(spec.schedule)} : ${(e as Error).message}` });
    return finish();
  }
  const tz: string | undefined = spec.timeZone ?? undefined;
  const next = nextScheduleTime(sched, now, tz);
  if (next) plan.requeueAfterMs = Math.max(0, next.getTime() - nowMs) + 100;

  let earliest = Date.parse(old.lastScheduleTime ?? cj.metadata.creationTimestamp ?? '') || nowMs;
  const sds: number | undefined = typeof spec.startingDeadlineSeconds === 'number' ? spec.startingDeadlineSeconds : undefined;
  if (sds !== undefined) earliest = Math.max(earliest, nowMs - sds * 1000);
  const { time: scheduled, missed } = mostRecentScheduleTime(sched, new Date(earliest), now, tz);
  if (!scheduled) return finish();
  if (missed > MANY_MISSED) {
    events.push({ type: 'Warning', reason: 'TooManyMissedTimes', message: `too many missed start times: ${missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew` });
  }
  if (sds !== undefined && scheduled.getTime() + sds * 1000 < nowMs) {
    events.push({ type: 'Warning', reason: 'MissSchedule', message: `Missed scheduled time to start a job: ${formatInZone(scheduled, tz)}` });
    return finish();
  }
  const name = jobNameFor(cj.metadata.name!, scheduled);
  if (active.some((r) => r.name === name) || ownedJobs.some((j) => j.metadata.name === name)) {
    // This run exists already (status was not written after creating it): only record it.
    status.lastScheduleTime = isoSeconds(scheduled);
    return finish();
  }
  const policy = spec.concurrencyPolicy ?? 'Allow';
  if (policy === 'Forbid' && active.length > 0) {
    // The run stays due (lastScheduleTime unchanged): it starts when the running Job ends, deadline permitting.
    events.push({ type: 'Normal', reason: 'JobAlreadyActive', message: 'Not starting job because prior execution is running and concurrency policy is Forbid' });
    return finish();
  }
  if (policy === 'Replace') {
    for (const ref of active.splice(0)) {
      const j = byUid.get(ref.uid);
      if (j && !plan.delete.includes(j)) plan.delete.push(j);
    }
  }
  const jt: Json = spec.jobTemplate ?? {};
  const job: KObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: cj.metadata.namespace,
      labels: { ...(jt.metadata?.labels ?? {}) },
      annotations: { ...(jt.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP]: formatInZone(scheduled, tz) },
      ownerReferences: [controllerRef(cj, KINDS.CronJob)],
    },
    spec: structuredClone(jt.spec ?? {}),
  };
  plan.create = { job, scheduledTime: scheduled };
  status.lastScheduleTime = isoSeconds(scheduled);
  return finish();
}
