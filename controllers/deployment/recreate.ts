// The Recreate strategy: scale every old RS to zero, wait until none of their pods is left
// running, then create (or grow) the new RS to the full size.
import type { KObject } from '../../pkg/api/types.js';
import type { ReplicaSet } from '../replicaset/types.js';
import { deploymentComplete } from './deployment-status.js';
import type { DeploymentSync } from './deployment-sync.js';
import { replicasOf } from './util.js';

export async function rolloutRecreate(s: DeploymentSync, rsList: ReplicaSet[], podsOf: (rs: ReplicaSet) => KObject[]): Promise<void> {
  let view = await s.replicaSets(rsList, false);
  let scaledDown = false;
  for (const rs of view.oldRSs) {
    if ((rs.spec.replicas ?? 0) > 0 && (await s.scaleReplicaSet(rs, 0))) scaledDown = true;
  }
  if (scaledDown) return s.syncRolloutStatus(view);
  if (oldPodsRunning(view.oldRSs, podsOf)) return s.syncRolloutStatus(view);
  if (!view.newRS) view = await s.replicaSets(rsList, true);
  const newRS = view.newRS;
  if (newRS && (newRS.spec.replicas ?? 0) !== replicasOf(s.d)) {
    await s.scaleReplicaSet(newRS, replicasOf(s.d));
    return s.syncRolloutStatus(view);
  }
  if (deploymentComplete(s.d, s.d.status ?? {})) await s.cleanup(view.oldRSs);
  return s.syncRolloutStatus(view);
}

/** Any pod of an old RS that has not finished (terminating pods included) blocks Recreate. */
function oldPodsRunning(oldRSs: ReplicaSet[], podsOf: (rs: ReplicaSet) => KObject[]): boolean {
  for (const rs of oldRSs) {
    if ((rs.status?.replicas ?? 0) > 0) return true;
    for (const p of podsOf(rs)) {
      const phase = (p.status as { phase?: string } | undefined)?.phase;
      if (phase !== 'Succeeded' && phase !== 'Failed') return true;
    }
  }
  return false;
}
