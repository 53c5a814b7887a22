// Whether a DaemonSet's pod belongs on a node: its nodeSelector, its required node affinity and
// the node's taints against its tolerations (including the ones every daemon pod gets). A pod
// that fails only on NoSchedule taints may keep running where it is; NoExecute ones evict it.
import type { KObject } from '../../pkg/api/types.js';
import type { Json } from './pod-util.js';

import { tolerates, type Taint, type Toleration } from '../../pkg/api/taints.js';

export { tolerates, type Taint, type Toleration };

/** Daemon pods run through node trouble (Kubernetes adds these to every DaemonSet pod). */
export function daemonTolerations(podSpec: Json): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (podSpec.hostNetwork === true) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

/** The pod's tolerations plus the daemon ones it lacks (same key and effect, no tolerationSeconds). */
export function withDaemonTolerations(podSpec: Json): Toleration[] {
  const own: Toleration[] = Array.isArray(podSpec.tolerations) ? podSpec.tolerations : [];
  const out = own.filter((t) => !daemonTolerations(podSpec).some((d) => d.key === t.key && d.effect === t.effect));
  return [...out, ...daemonTolerations(podSpec)];
}

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

function requirementMatches(r: Requirement, value: string | undefined): boolean {
  const vals = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && vals.includes(value);
    case 'NotIn':
      return value === undefined || !vals.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || !/^-?\d+$/.test(value) || vals.length !== 1 || !/^-?\d+$/.test(vals[0])) return false;
      return r.operator === 'Gt' ? Number(value) > Number(vals[0]) : Number(value) < Number(vals[0]);
    }
    default:
      return false;
  }
}

/** A NodeSelectorTerm: all its expressions and fields hold; an empty term selects nothing. */
function termMatches(term: Json, node: KObject): boolean {
  const exprs: Requirement[] = term?.matchExpressions ?? [];
  const fields: Requirement[] = term?.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  const labels = node.metadata.labels ?? {};
  if (!exprs.every((r) => requirementMatches(r, labels[r.key]))) return false;
  return fields.every((r) => requirementMatches(r, r.key === 'metadata.name' ? node.metadata.name : undefined));
}

export function nodeMatchesPod(podSpec: Json, node: KObject): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries((podSpec.nodeSelector ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  const terms: Json[] | undefined = podSpec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (Array.isArray(terms) && !terms.some((t) => termMatches(t, node))) return false;
  return true;
}

export interface Eligibility {
  /** a pod should be placed there */
  shouldRun: boolean;
  /** a pod already there may stay */
  shouldContinueRunning: boolean;
}

export function eligibility(podSpec: Json, node: KObject): Eligibility {
  if (!nodeMatchesPod(podSpec, node)) return { shouldRun: false, shouldContinueRunning: false };
  const tols = withDaemonTolerations(podSpec);
  const taints: Taint[] = (node.spec as Json | undefined)?.taints ?? [];
  const untolerated = taints.filter((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tols.some((x) => tolerates(x, t)));
  return {
    shouldRun: untolerated.length === 0,
    shouldContinueRunning: !untolerated.some((t) => t.effect === 'NoExecute'),
  };
}

/**
 * Pins a daemon pod to its node the way Kubernetes does: the required node affinity becomes the
 * single term `metadata.name In [node]` (the controller already checked the rest), preferred
 * terms stay.
 */
export function pinToNode(podSpec: Json, nodeName: string): void {
  const affinity: Json = podSpec.affinity ?? {};
  const na: Json = affinity.nodeAffinity ?? {};
  na.requiredDuringSchedulingIgnoredDuringExecution = {
    nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
  };
  affinity.nodeAffinity = na;
  podSpec.affinity = affinity;
}

/** The node a daemon pod is for: where it is bound, or where its affinity pins it. */
export function targetNode(pod: KObject): string | undefined {
  const spec: Json = pod.spec ?? {};
  if (spec.nodeName) return spec.nodeName;
  const terms: Json[] = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t?.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}
