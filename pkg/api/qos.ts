// Kubernetes' quality-of-service classes and what the node makes of them: the class from requests
// and limits (shown as status.qosClass), and the OOM score adjustment each container's processes
// get, so that under memory pressure the kernel kills BestEffort first, then Burstable by how
// little of the node they asked for, and Guaranteed (and the node's critical pods) last.
import { compareQuantities, intValue, validateQuantity } from './quantity.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Kubernetes' QoS class: Guaranteed, Burstable or BestEffort, from requests and limits. */
export function qosClass(spec: unknown): string {
  const s: Json = isObj(spec) ? spec : {};
  const containers: Json[] = [...(Array.isArray(s.containers) ? s.containers : []), ...(Array.isArray(s.initContainers) ? s.initContainers : [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = isObj(c?.resources?.requests) ? c.resources.requests : {};
    const lim = isObj(c?.resources?.limits) ? c.resources.limits : {};
    for (const r of ['cpu', 'memory']) {
      const hasReq = req[r] !== undefined && validateQuantity(req[r]).length === 0 && compareQuantities(String(req[r]), '0') !== 0;
      const hasLim = lim[r] !== undefined && validateQuantity(lim[r]).length === 0 && compareQuantities(String(lim[r]), '0') !== 0;
      if (hasReq || hasLim) any = true;
      if (!hasLim) guaranteed = false;
      else if (hasReq && compareQuantities(String(req[r]), String(lim[r])) !== 0) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** kubelet's values (pkg/kubelet/qos): the ends of the range it uses. */
export const GUARANTEED_OOM_SCORE_ADJ = -997;
export const BESTEFFORT_OOM_SCORE_ADJ = 1000;
/** the priority of system-node-critical */
const NODE_CRITICAL_PRIORITY = 2_000_001_000;

/**
 * The oom_score_adj of one container's processes: -997 for Guaranteed pods and node-critical
 * ones (priorityClassName system-node-critical), 1000 for BestEffort, and for
 * Burstable 1000 less the container's memory request in thousandths of the node's memory, kept
 * within 3..999 so that it stays between the other two classes.
 */
export function oomScoreAdjust(pod: { metadata?: Json; spec?: Json; status?: Json }, container: Json, memoryCapacityBytes: number): number {
  // Node-critical pods only: a critical pod (static, mirror, high priority) that is not
  // system-node-critical keeps its class's value, as with kubelet.
  const critical = pod.spec?.priorityClassName === 'system-node-critical' || (typeof pod.spec?.priority === 'number' && pod.spec.priority >= NODE_CRITICAL_PRIORITY);
  if (critical) return GUARANTEED_OOM_SCORE_ADJ;
  const cls = typeof pod.status?.qosClass === 'string' ? pod.status.qosClass : qosClass(pod.spec ?? {});
  if (cls === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (cls === 'BestEffort') return BESTEFFORT_OOM_SCORE_ADJ;
  const request = container?.resources?.requests?.memory;
  let bytes = 0;
  if (request !== undefined && validateQuantity(request).length === 0) bytes = intValue(String(request));
  const adj = memoryCapacityBytes > 0 ? 1000 - Math.floor((1000 * bytes) / memoryCapacityBytes) : BESTEFFORT_OOM_SCORE_ADJ;
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj >= BESTEFFORT_OOM_SCORE_ADJ) return BESTEFFORT_OOM_SCORE_ADJ - 1;
  return adj;
}
