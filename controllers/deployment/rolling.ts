// The RollingUpdate strategy: grow the new RS while the pod count stays within replicas +
// maxSurge, shrink old RSs while the available count stays at or above replicas -
// maxUnavailable. Counts lean to the safe side while ReplicaSets have not yet acted on their
// latest size (see podsUpperBound / availableLowerBound).
import type { ReplicaSet } from '../replicaset/types.js';
import { deploymentComplete } from './deployment-status.js';
import type { DeploymentSync } from './deployment-sync.js';
import { availableLowerBound, byCreation, maxUnavailable, newRSNewReplicas, replicasOf, specReplicas } from './util.js';

export async function rolloutRolling(s: DeploymentSync, rsList: ReplicaSet[]): Promise<void> {
  const view = await s.replicaSets(rsList, true);
  const { newRS, oldRSs } = view;
  const all = newRS ? [newRS, ...oldRSs] : [...oldRSs];
  if (newRS && (await reconcileNewReplicaSet(s, all, newRS))) return s.syncRolloutStatus(view);
  if (await reconcileOldReplicaSets(s, all, oldRSs, newRS)) return s.syncRolloutStatus(view);
  if (deploymentComplete(s.d, s.d.status ?? {})) await s.cleanup(oldRSs);
  return s.syncRolloutStatus(view);
}

async function reconcileNewReplicaSet(s: DeploymentSync, all: ReplicaSet[], newRS: ReplicaSet): Promise<boolean> {
  const want = replicasOf(s.d);
  const cur = newRS.spec.replicas ?? 0;
  if (cur === want) return false;
  if (cur > want) return s.scaleReplicaSet(newRS, want);
  return s.scaleReplicaSet(newRS, newRSNewReplicas(s.d, all, newRS));
}

async function reconcileOldReplicaSets(s: DeploymentSync, all: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet | undefined): Promise<boolean> {
  if (specReplicas(oldRSs) === 0) return false;
  const minAvailable = replicasOf(s.d) - maxUnavailable(s.d);
  const newUnavailable = newRS ? Math.max(0, (newRS.spec.replicas ?? 0) - (newRS.status?.availableReplicas ?? 0)) : 0;
  const maxScaledDown = specReplicas(all) - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return false;
  // First the old pods that are not available anyway: removing them costs no availability.
  const cleaned = await cleanupUnhealthyReplicas(s, oldRSs, maxScaledDown);
  const scaled = await scaleDownOldForRollingUpdate(s, all, oldRSs, minAvailable);
  return cleaned + scaled > 0;
}

async function cleanupUnhealthyReplicas(s: DeploymentSync, oldRSs: ReplicaSet[], maxCleanup: number): Promise<number> {
  let total = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (total >= maxCleanup) break;
    const size = rs.spec.replicas ?? 0;
    const unhealthy = size - (rs.status?.availableReplicas ?? 0);
    if (size === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxCleanup - total, unhealthy);
    await s.scaleReplicaSet(rs, size - n);
    total += n;
  }
  return total;
}

async function scaleDownOldForRollingUpdate(s: DeploymentSync, all: ReplicaSet[], oldRSs: ReplicaSet[], minAvailable: number): Promise<number> {
  const available = availableLowerBound(all);
  if (available <= minAvailable) return 0;
  const budget = available - minAvailable;
  let total = 0;
  for (const rs of [...oldRSs].sort(byCreation)) {
    if (total >= budget) break;
    const size = rs.spec.replicas ?? 0;
    if (size === 0) continue;
    const n = Math.min(size, budget - total);
    await s.scaleReplicaSet(rs, size - n);
    total += n;
  }
  return total;
}
