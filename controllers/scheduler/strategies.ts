// Placement: one pass over the nodes that filters each and keeps the best feasible one for the
// strategy — spread (fewest pods; then most free resources; then name), binpack (most allocated
// by requested cpu+memory fraction after placing the pod; then most pods; then name), random
// (uniform among the feasible). Preferred node affinity breaks ties right after the strategy's
// own key (for random: only the most preferred feasible nodes are drawn from). Reasons are only
// counted for nodes that fail, so a pass over a mostly-free cluster allocates nothing.
import { filterNode, preferenceScore, type PodPlan } from './filters.js';
import type { NodeInfo } from './node-info.js';
import type { Strategy } from './types.js';

export type Decision = { node: NodeInfo; feasible: number } | { node: undefined; total: number; reasons: Map<string, number> };

function frac(used: number, alloc: number): number {
  return alloc > 0 ? used / alloc : used > 0 ? Infinity : 0;
}

export function selectNode(plan: PodPlan, nodes: readonly NodeInfo[], strategy: Strategy, random: () => number = Math.random): Decision {
  const reasons = new Map<string, number>();
  const cpu = plan.info.cpu;
  const mem = plan.info.memory;
  const hasPref = plan.preferred !== undefined;
  let best: NodeInfo | undefined;
  let bestKey = 0;
  let bestPref = 0;
  let bestTie = 0;
  let feasible = 0;
  let drawCount = 0;
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    const r = filterNode(plan, n);
    if (r !== null) {
      if (typeof r === 'string') reasons.set(r, (reasons.get(r) ?? 0) + 1);
      else for (const x of r) reasons.set(x, (reasons.get(x) ?? 0) + 1);
      continue;
    }
    feasible++;
    const pref = hasPref ? preferenceScore(plan, n) : 0;
    if (strategy === 'random') {
      if (best === undefined || pref > bestPref) {
        best = n;
        bestPref = pref;
        drawCount = 1;
      } else if (pref === bestPref && random() * ++drawCount < 1) best = n;
      continue;
    }
    let key: number;
    let tie: number;
    if (strategy === 'spread') {
      // Smaller is better for the key, larger for the tie-break: negate the key.
      key = -n.podCount;
      tie = 2 - frac(n.reqCpu, n.allocCpu) - frac(n.reqMem, n.allocMem);
    } else {
      key = frac(n.reqCpu + cpu, n.allocCpu) + frac(n.reqMem + mem, n.allocMem);
      tie = n.podCount;
    }
    // Nodes come in name order, so keeping the first of equals breaks the last tie by name.
    if (best === undefined || key > bestKey || (key === bestKey && (pref > bestPref || (pref === bestPref && tie > bestTie)))) {
      best = n;
      bestKey = key;
      bestPref = pref;
      bestTie = tie;
    }
  }
  if (best) return { node: best, feasible };
  return { node: undefined, total: nodes.length, reasons };
}

/** kube-scheduler's FitError text: "0/N nodes are available: " + sorted "count reason" + ".". */
export function fitErrorMessage(total: number, reasons: Map<string, number>): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const parts = [...reasons].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
