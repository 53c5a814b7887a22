// When is an applied workload "there"? The rules kubectl rollout status uses: the controller has
// seen the latest spec and every replica is updated and available; a Job is complete.
import type { KObject } from '../api/types.js';

export type Health = { state: 'ready' } | { state: 'progressing'; message: string } | { state: 'failed'; message: string };

type Cond = { type: string; status: string; reason?: string; message?: string };

function cond(o: KObject, type: string): Cond | undefined {
  return ((o.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

/** Kinds wait:true waits for. */
export const HEALTH_CHECKED_KINDS = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'batch/Job']);

export function healthOf(o: KObject): Health {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const st = (o.status ?? {}) as Record<string, number | undefined>;
  const name = `${o.kind}/${o.metadata.name}`;
  const seen = (st.observedGeneration ?? 0) >= (o.metadata.generation ?? 0);
  if (!seen && o.kind !== 'Job') return { state: 'progressing', message: `${name}: waiting for the controller to observe generation ${o.metadata.generation}` };
  switch (o.kind) {
    case 'Deployment': {
      const want = (spec.replicas as number | undefined) ?? 1;
      const progressing = cond(o, 'Progressing');
      if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') return { state: 'failed', message: `${name}: ${progressing.message ?? 'progress deadline exceeded'}` };
      if ((st.updatedReplicas ?? 0) < want) return { state: 'progressing', message: `${name}: ${st.updatedReplicas ?? 0} of ${want} replicas updated` };
      if ((st.replicas ?? 0) > (st.updatedReplicas ?? 0)) return { state: 'progressing', message: `${name}: ${(st.replicas ?? 0) - (st.updatedReplicas ?? 0)} old replicas pending termination` };
      if ((st.availableReplicas ?? 0) < want) return { state: 'progressing', message: `${name}: ${st.availableReplicas ?? 0} of ${want} replicas available` };
      return { state: 'ready' };
    }
    case 'StatefulSet': {
      const want = (spec.replicas as number | undefined) ?? 1;
      if ((st.readyReplicas ?? 0) < want) return { state: 'progressing', message: `${name}: ${st.readyReplicas ?? 0} of ${want} replicas ready` };
      if ((st.updatedReplicas ?? want) < want) return { state: 'progressing', message: `${name}: ${st.updatedReplicas} of ${want} replicas updated` };
      return { state: 'ready' };
    }
    case 'DaemonSet': {
      const want = st.desiredNumberScheduled ?? 0;
      if ((st.updatedNumberScheduled ?? 0) < want) return { state: 'progressing', message: `${name}: ${st.updatedNumberScheduled ?? 0} of ${want} pods updated` };
      if ((st.numberAvailable ?? 0) < want) return { state: 'progressing', message: `${name}: ${st.numberAvailable ?? 0} of ${want} pods available` };
      return { state: 'ready' };
    }
    case 'Job': {
      const failed = cond(o, 'Failed');
      if (failed?.status === 'True') return { state: 'failed', message: `${name}: failed: ${failed.message ?? failed.reason ?? ''}`.trim() };
      if (cond(o, 'Complete')?.status === 'True') return { state: 'ready' };
      return { state: 'progressing', message: `${name}: ${st.succeeded ?? 0} of ${(spec.completions as number | undefined) ?? 1} completions` };
    }
    default:
      return { state: 'ready' };
  }
}
