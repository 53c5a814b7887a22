// Matching rules shared by the filters and the scorer: tolerations against taints, node selector
// terms against a node's labels and name, and pod affinity terms against pods.
import { selectorFromLabelSelector, matchEverything, type LabelMatcher } from '../../pkg/api/labels.js';
import type { NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, Taint, Toleration } from './types.js';

export { tolerates as toleratesTaint } from '../../pkg/api/taints.js';
import { tolerates as toleratesTaint } from '../../pkg/api/taints.js';

export function toleratesAll(tols: Toleration[] | undefined, taint: Taint): boolean {
  if (!tols) return false;
  for (const t of tols) if (toleratesTaint(t, taint)) return true;
  return false;
}

export type NodeMatcher = (labels: Record<string, string>, name: string) => boolean;

function requirementMatcher(r: NodeSelectorRequirement, field: boolean): NodeMatcher {
  const values = r.values ?? [];
  const get = field
    ? (_l: Record<string, string>, name: string) => (r.key === 'metadata.name' ? name : undefined)
    : (l: Record<string, string>) => (Object.prototype.hasOwnProperty.call(l, r.key) ? l[r.key] : undefined);
  switch (r.operator) {
    case 'In':
      return (l, n) => {
        const v = get(l, n);
        return v !== undefined && values.includes(v);
      };
    case 'NotIn':
      return (l, n) => {
        const v = get(l, n);
        return v === undefined || !values.includes(v);
      };
    case 'Exists':
      return (l, n) => get(l, n) !== undefined;
    case 'DoesNotExist':
      return (l, n) => get(l, n) === undefined;
    case 'Gt':
    case 'Lt': {
      const bound = Number(values[0]);
      const gt = r.operator === 'Gt';
      return (l, n) => {
        const v = get(l, n);
        if (v === undefined || !/^-?\d+$/.test(v) || !Number.isFinite(bound)) return false;
        return gt ? Number(v) > bound : Number(v) < bound;
      };
    }
    default:
      // The API server validates operators; an unknown one can match nothing.
      return () => false;
  }
}

/** A term matches when all its requirements do; a term with none matches nothing (as in Kubernetes). */
export function compileNodeSelectorTerm(term: NodeSelectorTerm): NodeMatcher {
  const reqs = [
    ...(term.matchExpressions ?? []).map((r) => requirementMatcher(r, false)),
    ...(term.matchFields ?? []).map((r) => requirementMatcher(r, true)),
  ];
  if (reqs.length === 0) return () => false;
  return (l, n) => {
    for (const m of reqs) if (!m(l, n)) return false;
    return true;
  };
}

/** A pod affinity term, resolved: which namespaces it looks in and which pods it selects. */
export interface CompiledPodTerm {
  topologyKey: string;
  /** undefined: every namespace */
  namespaces?: Set<string>;
  /** namespace label selector, checked against the namespace's labels when given */
  namespaceMatcher?: LabelMatcher;
  selector: LabelMatcher;
}

export function compilePodAffinityTerm(term: PodAffinityTerm, podNamespace: string): CompiledPodTerm {
  const selector = term.labelSelector ? selectorFromLabelSelector(term.labelSelector) : () => false;
  const hasNames = (term.namespaces?.length ?? 0) > 0;
  const nsSel = term.namespaceSelector;
  if (!hasNames && (nsSel === undefined || nsSel === null)) return { topologyKey: term.topologyKey, namespaces: new Set([podNamespace]), selector };
  const emptySel = nsSel !== undefined && nsSel !== null && !nsSel.matchLabels && !(nsSel.matchExpressions?.length);
  if (emptySel) return { topologyKey: term.topologyKey, selector };
  return {
    topologyKey: term.topologyKey,
    namespaces: hasNames ? new Set(term.namespaces) : new Set(),
    namespaceMatcher: nsSel ? selectorFromLabelSelector(nsSel) : undefined,
    selector,
  };
}

export type NamespaceLabels = (ns: string) => Record<string, string> | undefined;

export function podTermMatches(t: CompiledPodTerm, ns: string, labels: Record<string, string>, nsLabels: NamespaceLabels): boolean {
  if (t.namespaces && !t.namespaces.has(ns)) {
    if (!t.namespaceMatcher || !t.namespaceMatcher(nsLabels(ns) ?? {})) return false;
  }
  return t.selector(labels);
}

export { matchEverything };
