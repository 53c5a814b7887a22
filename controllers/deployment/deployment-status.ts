// Deployment status from its ReplicaSets, and the Available and Progressing conditions that
// `kubectl rollout status` and `kubectl describe` read.
import { getCondition, nowIso, setCondition, type Condition } from '../common/conditions.js';
import type { ReplicaSet } from '../replicaset/types.js';
import type { Deployment, DeploymentStatus } from './types.js';
import { maxUnavailable, replicasOf, statusReplicas } from './util.js';

export const AVAILABLE = 'Available';
export const PROGRESSING = 'Progressing';
export const REPLICA_FAILURE = 'ReplicaFailure';

/** Counts and the Available condition; Progressing is left as it was. */
export function calculateStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined, now = Date.now()): DeploymentStatus {
  const available = statusReplicas(all, 'availableReplicas');
  const total = statusReplicas(all, 'replicas');
  const want = replicasOf(d);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: total,
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: statusReplicas(all, 'readyReplicas'),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, want - available),
  };
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  let conds = d.status?.conditions ? [...d.status.conditions] : [];
  const ts = nowIso(now);
  if (available >= want - maxUnavailable(d)) {
    conds = setCondition(conds, { type: AVAILABLE, status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: ts, lastTransitionTime: ts });
  } else {
    conds = setCondition(conds, { type: AVAILABLE, status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: ts, lastTransitionTime: ts });
  }
  status.conditions = conds;
  return status;
}

/** Complete: every wanted pod is updated and available, and this generation was observed. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const want = replicasOf(d);
  return s.updatedReplicas === want && s.replicas === want && s.availableReplicas === want && (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
}

/** Progress since the last status: more updated, fewer old, more ready or more available pods. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** No progress for progressDeadlineSeconds since the Progressing condition was last updated. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now = Date.now()): boolean {
  if (d.spec.progressDeadlineSeconds === undefined || d.spec.progressDeadlineSeconds === null) return false;
  const c = getCondition(s.conditions, PROGRESSING);
  if (!c) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
  if (Number.isNaN(from)) return false;
  return from + d.spec.progressDeadlineSeconds * 1000 < now;
}

/**
 * Sets Progressing for a rollout under way or finished. A condition that stays True keeps its
 * transition time but gets a fresh update time on each progress, which restarts the deadline.
 */
export function updateProgressing(d: Deployment, s: DeploymentStatus, newRS: ReplicaSet | undefined, now = Date.now()): void {
  if (d.spec.paused || d.spec.progressDeadlineSeconds === undefined || d.spec.progressDeadlineSeconds === null) return;
  const cur = getCondition(s.conditions, PROGRESSING);
  const ts = nowIso(now);
  const name = newRS?.metadata.name ?? '';
  let next: Condition | undefined;
  if (deploymentComplete(d, s)) {
    next = { type: PROGRESSING, status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}" has successfully progressed.`, lastUpdateTime: ts, lastTransitionTime: ts };
  } else if (deploymentProgressing(d, s)) {
    next = { type: PROGRESSING, status: 'True', reason: 'ReplicaSetUpdated', message: `ReplicaSet "${name}" is progressing.`, lastUpdateTime: ts, lastTransitionTime: ts };
  } else if (deploymentTimedOut(d, s, now)) {
    next = { type: PROGRESSING, status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${name}" has timed out progressing.`, lastUpdateTime: ts, lastTransitionTime: ts };
  }
  if (!next) return;
  if (cur && cur.status === next.status) {
    // Same status: keep the transition time; a repeated terminal reason keeps its update time too.
    next.lastTransitionTime = cur.lastTransitionTime ?? ts;
    if (cur.reason === next.reason && next.reason !== 'ReplicaSetUpdated') next.lastUpdateTime = cur.lastUpdateTime ?? ts;
  }
  s.conditions = [...(s.conditions ?? []).filter((c) => c.type !== PROGRESSING), next];
}

/** Copies the new RS's ReplicaFailure (pods cannot be created) onto the deployment. */
export function mirrorReplicaFailure(s: DeploymentStatus, newRS: ReplicaSet | undefined): void {
  const f = newRS ? getCondition(newRS.status?.conditions, REPLICA_FAILURE) : undefined;
  const rest = (s.conditions ?? []).filter((c) => c.type !== REPLICA_FAILURE);
  if (f && f.status === 'True') {
    const cur = getCondition(s.conditions, REPLICA_FAILURE);
    s.conditions = [...rest, { ...f, lastUpdateTime: cur?.lastUpdateTime ?? f.lastTransitionTime }];
  } else {
    s.conditions = rest;
  }
}
