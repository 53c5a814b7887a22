// Placement: one pass over the nodes that filters each and keeps the best feasible one for the
// strategy — spread (fewest pods; then most free resources; then name), binpack (most allocated
// by requested cpu+memory fraction after placing the pod; then most pods; then name), random
// (uniform among the feasible). Preferred node affinity breaks ties right after the strategy's
// own key (for random: only the most preferred feasible nodes are drawn from). Every node is
// looked at (no sampling): the common case — a pod with no node-level rules on an untainted,
// uncordoned node — is three comparisons, and reasons are only worked out for nodes that fail.
import { filterNode, preferenceScore, type PodPlan } from './filters.js';
import type { NodeInfo } from './node-info.js';
import type { Strategy } from './types.js';

export type Decision = { node: NodeInfo; feasible: number } | { node: undefined; total: number; reasons: Map<string, number> };

/** Scratch space for random's draw, reused so that a decision allocates nothing. */
const candidates: (NodeInfo | undefined)[] = [];

export function selectNode(plan: PodPlan, nodes: readonly NodeInfo[], strategy: Strategy, random: () => number = Math.random): Decision {
  let reasons: Map<string, number> | undefined;
  const cpu = plan.info.cpu;
  const mem = plan.info.memory;
  const simple = plan.simple;
  const hasPref = plan.preferred !== undefined;
  const spread = strategy === 'spread';
  const isRandom = strategy === 'random';
  let best: NodeInfo | undefined;
  let bestKey = 0;
  let bestPref = 0;
  let bestTie = 0;
  let feasible = 0;
  let drawCount = 0;
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    const fast = simple && n.plain && n.podCount < n.allocPods && (cpu === 0 || n.reqCpu + cpu <= n.allocCpu) && (mem === 0 || n.reqMem + mem <= n.allocMem);
    if (!fast) {
      const r = filterNode(plan, n);
      if (r !== null) {
        reasons ??= new Map();
        if (typeof r === 'string') reasons.set(r, (reasons.get(r) ?? 0) + 1);
        else for (const x of r) reasons.set(x, (reasons.get(x) ?? 0) + 1);
        continue;
      }
    }
    feasible++;
    const pref = hasPref ? preferenceScore(plan, n) : 0;
    if (isRandom) {
      // Collect the most preferred feasible nodes; one draw among them after the pass.
      if (drawCount === 0 || pref > bestPref) {
        bestPref = pref;
        drawCount = 0;
      } else if (pref < bestPref) continue;
      candidates[drawCount++] = n;
      continue;
    }
    let key: number;
    if (spread) {
      // Fewer pods is better: negate so that larger is better for every strategy.
      key = -n.podCount;
      if (best !== undefined && key < bestKey) continue;
    } else {
      key = (n.reqCpu + cpu) * n.invCpu + (n.reqMem + mem) * n.invMem;
      if (best !== undefined && key < bestKey) continue;
    }
    const tie = spread ? 2 - n.reqCpu * n.invCpu - n.reqMem * n.invMem : n.podCount;
    // Nodes come in name order, so keeping the first of equals breaks the last tie by name.
    if (best === undefined || key > bestKey || pref > bestPref || (pref === bestPref && tie > bestTie)) {
      best = n;
      bestKey = key;
      bestPref = pref;
      bestTie = tie;
    }
  }
  if (isRandom && drawCount > 0) {
    best = candidates[Math.min(drawCount - 1, Math.floor(random() * drawCount))];
    candidates.fill(undefined, 0, drawCount);
  }
  if (best) return { node: best, feasible };
  return { node: undefined, total: nodes.length, reasons: reasons ?? new Map() };
}

/** kube-scheduler's FitError text: "0/N nodes are available: " + sorted "count reason" + ".". */
export function fitErrorMessage(total: number, reasons: Map<string, number>): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const parts = [...reasons].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
