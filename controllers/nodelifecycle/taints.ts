// Taints and tolerations as the node lifecycle controller needs them: which tolerations match a
// taint and how long a pod may stay on a node with NoExecute taints.

import { tolerates, type Taint, type Toleration } from '../../pkg/api/taints.js';

export { tolerates, type Taint, type Toleration };

export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

/**
 * How long (s) a pod may stay despite the taint: Infinity when a matching toleration has no
 * tolerationSeconds. A pod with no matching toleration gets defaultSeconds for the not-ready and
 * unreachable taints (the apiserver's admission would have added such tolerations in Kubernetes;
 * skiff has no such admission) and 0 for any other taint.
 */
export function toleratedSeconds(tolerations: Toleration[], taint: Taint, defaultSeconds: number): number {
  const matching = tolerations.filter((t) => tolerates(t, taint));
  if (matching.length === 0) return taint.key === TAINT_UNREACHABLE || taint.key === TAINT_NOT_READY ? defaultSeconds : 0;
  let min = Infinity;
  for (const t of matching) if (typeof t.tolerationSeconds === 'number') min = Math.min(min, Math.max(0, t.tolerationSeconds));
  return min;
}

/** When (ms since epoch) the pod must go, or Infinity. */
export function evictionTime(tolerations: Toleration[], taints: Taint[], defaultSeconds: number, addedAt: (t: Taint) => number): number {
  let at = Infinity;
  for (const taint of taints) {
    if (taint.effect !== 'NoExecute') continue;
    const s = toleratedSeconds(tolerations, taint, defaultSeconds);
    if (s !== Infinity) at = Math.min(at, addedAt(taint) + s * 1000);
  }
  return at;
}

/** The taints a node should carry for its Ready condition status. */
export function readinessTaints(ready: string | undefined): { key: string; effect: string }[] {
  const key = ready === 'Unknown' ? TAINT_UNREACHABLE : ready === 'False' ? TAINT_NOT_READY : undefined;
  return key ? [{ key, effect: 'NoSchedule' }, { key, effect: 'NoExecute' }] : [];
}
