// One node as the scheduler sees it: what it offers (allocatable, labels, taints, readiness) and
// what is already asked of it (sums over the pods bound or assumed on it). Numbers are kept as
// plain fields so that a filter pass over thousands of nodes is cheap arithmetic.
import { milliValue, intValue } from '../../pkg/api/quantity.js';
import type { HostPort } from './pod-requests.js';
import type { CompiledPodTerm } from './predicates.js';
import type { Node, Taint } from './types.js';

export interface PodInfo {
  key: string;
  uid: string;
  namespace: string;
  labels: Record<string, string>;
  nodeName: string;
  cpu: number;
  memory: number;
  ports: HostPort[];
  /** required anti-affinity terms of this pod (existing pods repel newcomers they select) */
  antiAffinity: CompiledPodTerm[];
  /** placed by this scheduler, not yet seen bound through the informer */
  assumed: boolean;
}

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';

export class NodeInfo {
  node?: Node;
  labels: Record<string, string> = {};
  allocCpu = 0;
  allocMem = 0;
  allocPods = 0;
  /** 1/allocatable (0 when none), so that scoring thousands of nodes multiplies instead of divides */
  invCpu = 0;
  invMem = 0;
  unschedulable = false;
  /** neither cordoned nor tainted: only resources and pod-level rules can keep a pod off */
  plain = false;
  /** NoSchedule/NoExecute taints, including the not-ready/unreachable ones readiness implies */
  taints: Taint[] = [];
  reqCpu = 0;
  reqMem = 0;
  podCount = 0;
  readonly pods = new Map<string, PodInfo>();
  ports: HostPort[] = [];
  /** number of pods here with required anti-affinity terms */
  antiAffinityPods = 0;

  constructor(readonly name: string) {}

  setNode(node: Node): void {
    this.node = node;
    this.labels = node.metadata.labels ?? {};
    const alloc = node.status?.allocatable ?? node.status?.capacity ?? {};
    this.allocCpu = alloc['cpu'] !== undefined ? milliValue(alloc['cpu']) : 0;
    this.allocMem = alloc['memory'] !== undefined ? intValue(alloc['memory']) : 0;
    this.allocPods = alloc['pods'] !== undefined ? intValue(alloc['pods']) : 0;
    this.invCpu = this.allocCpu > 0 ? 1 / this.allocCpu : 0;
    this.invMem = this.allocMem > 0 ? 1 / this.allocMem : 0;
    this.unschedulable = node.spec?.unschedulable === true;
    this.taints = effectiveTaints(node);
    this.plain = !this.unschedulable && this.taints.length === 0;
  }

  /** A digest of what filters read from the Node object, to tell relevant updates from heartbeats. */
  get schedulingDigest(): string {
    return JSON.stringify([this.labels, this.allocCpu, this.allocMem, this.allocPods, this.unschedulable, this.taints]);
  }

  addPod(p: PodInfo): void {
    this.pods.set(p.key, p);
    this.reqCpu += p.cpu;
    this.reqMem += p.memory;
    this.podCount++;
    if (p.ports.length) this.ports.push(...p.ports);
    if (p.antiAffinity.length) this.antiAffinityPods++;
  }

  removePod(key: string): PodInfo | undefined {
    const p = this.pods.get(key);
    if (!p) return undefined;
    this.pods.delete(key);
    this.reqCpu -= p.cpu;
    this.reqMem -= p.memory;
    this.podCount--;
    if (p.ports.length) this.ports = [...this.pods.values()].flatMap((q) => q.ports);
    if (p.antiAffinity.length) this.antiAffinityPods--;
    return p;
  }
}

/** Taints that keep pods off the node, with the ones Kubernetes derives from the Ready condition. */
export function effectiveTaints(node: Node): Taint[] {
  const out = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const derived = ready?.status === 'True' ? undefined : ready?.status === 'Unknown' ? UNREACHABLE_TAINT : NOT_READY_TAINT;
  if (derived && !out.some((t) => t.key === derived)) out.push({ key: derived, effect: 'NoSchedule' });
  return out;
}
