// What one sync of a StatefulSet should do, as a pure function of the set, its pods and the time:
// which ordinals to create, which pods to delete (failed ones, ordinals beyond the replicas, the
// next one of the rolling update) and the status. OrderedReady acts on one pod at a time and
// waits for each to be Running and Ready; Parallel acts on all at once. Updates go from the
// highest ordinal down to the partition, one pod at a time, in both.
import type { KObject } from '../../pkg/api/types.js';
import { CONTROLLER_REVISION_HASH, availableAt, isAvailable, isReady, podPhase, templateHash, type Json } from '../daemonset/pod-util.js';

export interface StatefulSetPlan {
  updateRevision: string;
  create: number[];
  delete: KObject[];
  status: Json;
  requeueAfterMs?: number;
}

export function updateRevisionOf(sts: KObject): string {
  const status: Json = sts.status ?? {};
  return `${sts.metadata.name}-${templateHash((sts.spec as Json)?.template, status.collisionCount ?? 0)}`;
}

export function ordinalOf(sts: KObject, pod: KObject): number | undefined {
  const prefix = `${sts.metadata.name}-`;
  const name = pod.metadata.name ?? '';
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

export function planStatefulSet(sts: KObject, pods: KObject[], nowMs: number): StatefulSetPlan {
  const spec: Json = sts.spec ?? {};
  const old: Json = sts.status ?? {};
  const replicas: number = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const start: number = spec.ordinals?.start ?? 0;
  const minReady: number = spec.minReadySeconds ?? 0;
  const monotonic = spec.podManagementPolicy !== 'Parallel';
  const updateRevision = updateRevisionOf(sts);
  const currentRevision: string = old.currentRevision || updateRevision;
  const revision = (p: KObject) => p.metadata.labels?.[CONTROLLER_REVISION_HASH];
  const healthy = (p: KObject) => isReady(p) && !p.metadata.deletionTimestamp;
  const plan: StatefulSetPlan = { updateRevision, create: [], delete: [], status: {} };

  const byOrdinal = new Map<number, KObject>();
  const condemned: KObject[] = [];
  for (const p of pods) {
    const ord = ordinalOf(sts, p);
    if (ord === undefined) continue;
    if (ord >= start && ord < start + replicas) byOrdinal.set(ord, p);
    else condemned.push(p);
  }
  condemned.sort((a, b) => ordinalOf(sts, b)! - ordinalOf(sts, a)!);

  plan.status = statusOf(sts, pods, currentRevision, updateRevision, minReady, nowMs, replicas);
  let wake: number | undefined;
  for (const p of pods) {
    const at = availableAt(p, minReady, nowMs);
    if (at !== undefined) wake = Math.min(wake ?? Infinity, at);
  }
  if (wake !== undefined) plan.requeueAfterMs = wake - nowMs + 50;

  // Every ordinal in range exists, is not finished, and (OrderedReady) is Ready before the next.
  for (let i = 0; i < replicas; i++) {
    const ord = start + i;
    const pod = byOrdinal.get(ord);
    if (!pod) {
      plan.create.push(ord);
      if (monotonic) return plan;
      continue;
    }
    const phase = podPhase(pod);
    if ((phase === 'Failed' || phase === 'Succeeded') && !pod.metadata.deletionTimestamp) {
      // A finished pod is recreated under the same name once it is gone.
      plan.delete.push(pod);
      if (monotonic) return plan;
      continue;
    }
    if (!healthy(pod) && monotonic) return plan;
  }

  // Ordinals beyond the replicas go, highest first.
  for (const pod of condemned) {
    if (pod.metadata.deletionTimestamp) {
      if (monotonic) return plan;
      continue;
    }
    plan.delete.push(pod);
    if (monotonic) return plan;
  }
  if (plan.create.length || plan.delete.length) return plan;

  const us: Json = spec.updateStrategy ?? {};
  if ((us.type ?? 'RollingUpdate') !== 'RollingUpdate') return plan;
  const partition: number = us.rollingUpdate?.partition ?? 0;
  for (let i = replicas - 1; i >= partition; i--) {
    const pod = byOrdinal.get(start + i);
    if (!pod) continue;
    if (revision(pod) !== updateRevision && !pod.metadata.deletionTimestamp) {
      plan.delete.push(pod);
      return plan;
    }
    if (!healthy(pod)) return plan;
  }
  return plan;
}

function statusOf(sts: KObject, pods: KObject[], currentRevision: string, updateRevision: string, minReady: number, nowMs: number, replicas: number): Json {
  const old: Json = sts.status ?? {};
  const rev = (p: KObject) => p.metadata.labels?.[CONTROLLER_REVISION_HASH];
  const counted = pods.filter((p) => ordinalOf(sts, p) !== undefined);
  const status: Json = {
    ...old,
    observedGeneration: sts.metadata.generation,
    replicas: counted.length,
    readyReplicas: counted.filter(isReady).length,
    availableReplicas: counted.filter((p) => isAvailable(p, minReady, nowMs)).length,
    currentReplicas: counted.filter((p) => rev(p) === currentRevision).length,
    updatedReplicas: counted.filter((p) => rev(p) === updateRevision).length,
    currentRevision,
    updateRevision,
    collisionCount: old.collisionCount ?? 0,
  };
  // The rollout is complete when every pod runs the update revision and is ready.
  if (currentRevision !== updateRevision && status.updatedReplicas === replicas && status.replicas === replicas && status.readyReplicas === replicas) {
    status.currentRevision = updateRevision;
    status.currentReplicas = status.updatedReplicas;
  }
  for (const f of ['readyReplicas', 'currentReplicas', 'updatedReplicas']) if (!status[f]) delete status[f];
  return status;
}
