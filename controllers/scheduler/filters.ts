// The filters, in kube-scheduler's order and with its reason strings: NodeUnschedulable,
// NodeName, TaintToleration (readiness shows up as the not-ready/unreachable taints),
// NodeAffinity (nodeSelector + required terms), NodePorts, NodeResourcesFit, InterPodAffinity.
// A pod is first compiled into a plan holding everything the per-node checks need, so that the
// check of one node is a handful of comparisons.
import type { SchedulerCache } from './cache.js';
import { podInfoOf } from './cache.js';
import type { NodeInfo, PodInfo } from './node-info.js';
import { UNSCHEDULABLE_TAINT } from './node-info.js';
import { portsConflict } from './pod-requests.js';
import {
  compileNodeSelectorTerm,
  compilePodAffinityTerm,
  podTermMatches,
  toleratesAll,
  type CompiledPodTerm,
  type NodeMatcher,
} from './predicates.js';
import type { Pod, Taint, Toleration } from './types.js';

export const REASON = {
  unschedulable: 'node(s) were unschedulable',
  nodeName: "node(s) didn't match the requested node name",
  nodeAffinity: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  cpu: 'Insufficient cpu',
  memory: 'Insufficient memory',
  pods: 'Too many pods',
  podAffinity: "node(s) didn't match pod affinity rules",
  podAntiAffinity: "node(s) didn't match pod anti-affinity rules",
  existingAntiAffinity: "node(s) didn't satisfy existing pods anti-affinity rules",
} as const;

export function taintReason(t: Taint): string {
  return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
}

interface TopologyValues {
  key: string;
  values: Set<string>;
}

export interface PodPlan {
  pod: Pod;
  /** the pod as it will be accounted once placed */
  info: PodInfo;
  tolerations?: Toleration[];
  toleratesUnschedulable: boolean;
  nodeName?: string;
  nodeSelector?: [string, string][];
  requiredTerms?: NodeMatcher[];
  preferred?: { weight: number; match: NodeMatcher }[];
  /** topology domains this pod's anti-affinity terms keep it out of */
  antiAffinity?: TopologyValues[];
  /** topology domains where existing pods' anti-affinity rejects this pod */
  existingAnti?: TopologyValues[];
  /** per required affinity term: the domains holding a matching pod */
  affinity?: TopologyValues[];
  /** no node-level rule besides resources: on a plain node only the resource fit decides */
  simple: boolean;
}

/** Builds the plan; throws when the pod's spec cannot be evaluated (an invalid selector). */
export function compilePlan(pod: Pod, cache: SchedulerCache): PodPlan {
  const spec = pod.spec ?? {};
  const info = podInfoOf(pod, '', true);
  const plan: PodPlan = {
    pod,
    info,
    tolerations: spec.tolerations?.length ? spec.tolerations : undefined,
    toleratesUnschedulable: toleratesAll(spec.tolerations, { key: UNSCHEDULABLE_TAINT, effect: 'NoSchedule' }),
    simple: false,
  };
  if (spec.nodeName) plan.nodeName = spec.nodeName;
  const sel = Object.entries(spec.nodeSelector ?? {});
  if (sel.length) plan.nodeSelector = sel;
  const na = spec.affinity?.nodeAffinity;
  const required = na?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required) plan.requiredTerms = (required.nodeSelectorTerms ?? []).map(compileNodeSelectorTerm);
  const preferred = na?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (preferred.length) plan.preferred = preferred.map((p) => ({ weight: p.weight, match: compileNodeSelectorTerm(p.preference) }));

  const ns = info.namespace;
  if (info.antiAffinity.length) plan.antiAffinity = info.antiAffinity.map((t) => domainsWithMatchingPods(t, cache));
  const affinityTerms = spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  if (affinityTerms.length) {
    const compiled = affinityTerms.map((t) => compilePodAffinityTerm(t, ns));
    const domains = compiled.map((t) => domainsWithMatchingPods(t, cache));
    // Kubernetes lets the first pod of a group that selects itself start anywhere.
    const noneAnywhere = domains.every((d) => d.values.size === 0);
    const selfMatch = compiled.every((t) => podTermMatches(t, ns, info.labels, cache.nsLabels));
    if (!(noneAnywhere && selfMatch)) plan.affinity = domains;
    else plan.affinity = compiled.map((t) => ({ key: t.topologyKey, values: new Set<string>(['\u0000any']) }));
  }
  const existing = existingAntiAffinity(info, cache);
  if (existing.length) plan.existingAnti = existing;
  plan.simple =
    !plan.nodeName && !plan.nodeSelector && !plan.requiredTerms && info.ports.length === 0 && !plan.antiAffinity && !plan.affinity && !plan.existingAnti;
  return plan;
}

function domainsWithMatchingPods(t: CompiledPodTerm, cache: SchedulerCache): TopologyValues {
  const values = new Set<string>();
  for (const n of cache.allNodes()) {
    const v = n.labels[t.topologyKey];
    if (v === undefined || values.has(v)) continue;
    for (const p of n.pods.values()) {
      if (podTermMatches(t, p.namespace, p.labels, cache.nsLabels)) {
        values.add(v);
        break;
      }
    }
  }
  return { key: t.topologyKey, values };
}

function existingAntiAffinity(incoming: PodInfo, cache: SchedulerCache): TopologyValues[] {
  const byKey = new Map<string, Set<string>>();
  if (cache.antiAffinityPods === 0) return [];
  for (const n of cache.allNodes()) {
    if (n.antiAffinityPods === 0) continue;
    for (const p of n.pods.values()) {
      for (const t of p.antiAffinity) {
        const v = n.labels[t.topologyKey];
        if (v === undefined || !podTermMatches(t, incoming.namespace, incoming.labels, cache.nsLabels)) continue;
        let s = byKey.get(t.topologyKey);
        if (!s) byKey.set(t.topologyKey, (s = new Set()));
        s.add(v);
      }
    }
  }
  return [...byKey].map(([key, values]) => ({ key, values }));
}

/** Runs the filters on one node: null when the pod fits, else the reason(s) it does not. */
export function filterNode(plan: PodPlan, n: NodeInfo): string | string[] | null {
  if (n.unschedulable && !plan.toleratesUnschedulable) return REASON.unschedulable;
  if (plan.nodeName !== undefined && plan.nodeName !== n.name) return REASON.nodeName;
  const taints = n.taints;
  for (let i = 0; i < taints.length; i++) {
    if (!toleratesAll(plan.tolerations, taints[i]!)) return taintReason(taints[i]!);
  }
  if (plan.nodeSelector) {
    for (const [k, v] of plan.nodeSelector) if (n.labels[k] !== v) return REASON.nodeAffinity;
  }
  if (plan.requiredTerms && !plan.requiredTerms.some((m) => m(n.labels, n.name))) return REASON.nodeAffinity;
  const want = plan.info.ports;
  if (want.length && n.ports.length) {
    for (const a of want) for (const b of n.ports) if (portsConflict(a, b)) return REASON.ports;
  }
  const cpu = plan.info.cpu;
  const mem = plan.info.memory;
  const tooManyPods = n.podCount + 1 > n.allocPods;
  const noCpu = cpu > 0 && n.reqCpu + cpu > n.allocCpu;
  const noMem = mem > 0 && n.reqMem + mem > n.allocMem;
  if (tooManyPods || noCpu || noMem) {
    const r: string[] = [];
    if (tooManyPods) r.push(REASON.pods);
    if (noCpu) r.push(REASON.cpu);
    if (noMem) r.push(REASON.memory);
    return r.length === 1 ? r[0]! : r;
  }
  if (plan.existingAnti && inAnyDomain(plan.existingAnti, n)) return REASON.existingAntiAffinity;
  if (plan.antiAffinity && inAnyDomain(plan.antiAffinity, n)) return REASON.podAntiAffinity;
  if (plan.affinity) {
    for (const d of plan.affinity) {
      const v = n.labels[d.key];
      if (v === undefined || !(d.values.has(v) || d.values.has('\u0000any'))) return REASON.podAffinity;
    }
  }
  return null;
}

function inAnyDomain(domains: TopologyValues[], n: NodeInfo): boolean {
  for (const d of domains) {
    const v = n.labels[d.key];
    if (v !== undefined && d.values.has(v)) return true;
  }
  return false;
}

/** Sum of the weights of the preferred node affinity terms the node matches. */
export function preferenceScore(plan: PodPlan, n: NodeInfo): number {
  if (!plan.preferred) return 0;
  let s = 0;
  for (const p of plan.preferred) if (p.match(n.labels, n.name)) s += p.weight;
  return s;
}
