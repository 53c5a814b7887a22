// ReplicaSet status from the pods it controls: how many exist, carry all the template's labels,
// are ready, and have been ready for minReadySeconds; plus the ReplicaFailure condition when pods
// could not be created or deleted.
import type { KObject } from '../../pkg/api/types.js';
import { isPodAvailable, isPodReady } from '../common/pods.js';
import { nowIso, removeCondition, setCondition, type Condition } from '../common/conditions.js';
import type { ReplicaSet } from './types.js';

export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

export function calculateReplicaSetStatus(rs: ReplicaSet, pods: KObject[], manageError: unknown, now = Date.now()): ReplicaSetStatus {
  const templateLabels = rs.spec.template?.metadata?.labels ?? {};
  const minReady = rs.spec.minReadySeconds ?? 0;
  let fully = 0;
  let ready = 0;
  let available = 0;
  for (const p of pods) {
    const labels = p.metadata.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fully++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, minReady, now)) available++;
    }
  }
  const status: ReplicaSetStatus = {
    replicas: pods.length,
    fullyLabeledReplicas: fully,
    readyReplicas: ready,
    availableReplicas: available,
    observedGeneration: rs.metadata.generation,
  };
  let conds = rs.status?.conditions as Condition[] | undefined;
  if (manageError) {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    const reason = diff < 0 ? 'FailedCreate' : 'FailedDelete';
    conds = setCondition(conds, { type: 'ReplicaFailure', status: 'True', reason, message: errorMessage(manageError), lastTransitionTime: nowIso(now) });
  } else if (conds?.some((c) => c.type === 'ReplicaFailure')) {
    conds = removeCondition(conds, 'ReplicaFailure');
  }
  if (conds && conds.length) status.conditions = conds;
  return status;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
