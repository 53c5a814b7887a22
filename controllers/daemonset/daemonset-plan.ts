// What one sync of a DaemonSet should do, as a pure function of the DaemonSet, the nodes, its
// pods and the time: a pod on each eligible node (none elsewhere, one per node), the rolling
// update within maxUnavailable / maxSurge, and the status counts.
import type { KObject } from '../../pkg/api/types.js';
import { CONTROLLER_REVISION_HASH, availableAt, byCreation, intOrPercent, isAvailable, isReady, podPhase, templateHash, type Json } from './pod-util.js';
import { eligibility, targetNode } from './node-eligibility.js';

export interface DaemonSetPlan {
  hash: string;
  /** nodes that get a new pod */
  create: string[];
  delete: KObject[];
  status: Json;
  requeueAfterMs?: number;
}

export function daemonSetHash(ds: KObject): string {
  const status: Json = ds.status ?? {};
  return templateHash((ds.spec as Json)?.template, status.collisionCount ?? 0);
}

export function planDaemonSet(ds: KObject, nodes: KObject[], pods: KObject[], nowMs: number): DaemonSetPlan {
  const spec: Json = ds.spec ?? {};
  const podSpec: Json = spec.template?.spec ?? {};
  const minReady: number = spec.minReadySeconds ?? 0;
  const hash = daemonSetHash(ds);
  const isNew = (p: KObject) => p.metadata.labels?.[CONTROLLER_REVISION_HASH] === hash;
  const plan: DaemonSetPlan = { hash, create: [], delete: [], status: {} };
  const us: Json = spec.updateStrategy ?? {};
  const rolling = (us.type ?? 'RollingUpdate') === 'RollingUpdate';

  const byNode = new Map<string, KObject[]>();
  for (const p of pods) {
    const n = targetNode(p);
    if (!n) {
      plan.delete.push(p); // a daemon pod for no node is of no use
      continue;
    }
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const nodeNames = new Set(nodes.map((n) => n.metadata.name!));
  for (const [n, ps] of byNode) if (!nodeNames.has(n)) plan.delete.push(...ps.filter((p) => !p.metadata.deletionTimestamp));

  const desiredNodes: string[] = [];
  let maxSurge = 0;
  const eligible = nodes.map((node) => ({ node, e: eligibility(podSpec, node) }));
  const desiredCount = eligible.filter((x) => x.e.shouldRun).length;
  if (rolling) maxSurge = intOrPercent(us.rollingUpdate?.maxSurge ?? 0, desiredCount, true);

  // Placement: one pod (two while surging) on each node that should run one.
  const live = new Map<string, KObject[]>();
  /** nodes that should run a pod and have none running (missing, or its predecessor terminating) */
  let uncovered = 0;
  for (const { node, e } of eligible) {
    const name = node.metadata.name!;
    const ps = (byNode.get(name) ?? []).filter((p) => !p.metadata.deletionTimestamp);
    if (e.shouldRun) desiredNodes.push(name);
    if (!e.shouldContinueRunning || (!e.shouldRun && ps.length === 0)) {
      plan.delete.push(...ps);
      continue;
    }
    const failed = ps.filter((p) => podPhase(p) === 'Failed');
    plan.delete.push(...failed);
    const running = ps.filter((p) => podPhase(p) !== 'Failed').sort(byCreation);
    if (running.length === 0) {
      if (e.shouldRun) uncovered++;
      // A pod being deleted still holds the node; its replacement comes once it is gone.
      const terminating = (byNode.get(name) ?? []).some((p) => p.metadata.deletionTimestamp);
      if (e.shouldRun && !terminating) plan.create.push(name);
      continue;
    }
    let keep: KObject[];
    if (maxSurge > 0) {
      const oldest = running.find((p) => !isNew(p));
      const newest = running.filter(isNew);
      keep = [oldest, newest[0]].filter((p): p is KObject => !!p);
    } else {
      keep = [running[0]];
    }
    plan.delete.push(...running.filter((p) => !keep.includes(p)));
    live.set(name, keep);
  }

  if (rolling) rollingUpdate(plan, live, uncovered, desiredCount, maxSurge, us.rollingUpdate ?? {}, isNew, minReady, nowMs);

  // Status, over what is on the nodes now (this sync's writes show up in the next one).
  let current = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  let mis = 0;
  let wakeAt: number | undefined;
  const desiredSet = new Set(desiredNodes);
  for (const { node } of eligible) {
    const name = node.metadata.name!;
    const ps = (byNode.get(name) ?? []).filter((p) => !p.metadata.deletionTimestamp && podPhase(p) !== 'Failed');
    if (!ps.length) continue;
    if (!desiredSet.has(name)) {
      mis++;
      continue;
    }
    current++;
    if (ps.some(isReady)) ready++;
    if (ps.some((p) => isAvailable(p, minReady, nowMs))) available++;
    if (ps.some(isNew)) updated++;
    for (const p of ps) {
      const at = availableAt(p, minReady, nowMs);
      if (at !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, at);
    }
  }
  plan.status = {
    ...(ds.status as Json | undefined),
    desiredNumberScheduled: desiredCount,
    currentNumberScheduled: current,
    numberMisscheduled: mis,
    numberReady: ready,
    numberAvailable: available,
    numberUnavailable: Math.max(0, desiredCount - available),
    updatedNumberScheduled: updated,
    observedGeneration: ds.metadata.generation,
  };
  if (!plan.status.numberAvailable) delete plan.status.numberAvailable;
  if (!plan.status.numberUnavailable) delete plan.status.numberUnavailable;
  if (!plan.status.updatedNumberScheduled) delete plan.status.updatedNumberScheduled;
  if (wakeAt !== undefined) plan.requeueAfterMs = wakeAt - nowMs + 50;
  plan.delete = [...new Set(plan.delete)];
  return plan;
}

/**
 * Replaces old pods within the budget: without surge, delete old pods while no more than
 * maxUnavailable nodes lack an available pod (unavailable old pods go first, for free); with
 * surge, start new pods beside old ones on up to maxSurge nodes and delete each old pod once its
 * successor is available.
 */
function rollingUpdate(plan: DaemonSetPlan, live: Map<string, KObject[]>, uncovered: number, desired: number, maxSurge: number, ru: Json, isNew: (p: KObject) => boolean, minReady: number, nowMs: number): void {
  const maxUnavailable = intOrPercent(ru.maxUnavailable ?? (maxSurge > 0 ? 0 : 1), desired, true);
  const avail = (p: KObject) => isAvailable(p, minReady, nowMs);
  if (maxSurge === 0) {
    let unavailable = uncovered;
    const free: KObject[] = [];
    const candidates: KObject[] = [];
    for (const ps of live.values()) {
      const newPod = ps.find(isNew);
      const oldPod = ps.find((p) => !isNew(p));
      if (newPod) {
        if (!avail(newPod)) unavailable++;
      } else if (oldPod) {
        if (!avail(oldPod)) free.push(oldPod);
        else candidates.push(oldPod);
      }
    }
    unavailable += free.length;
    const budget = Math.max(0, maxUnavailable - unavailable);
    plan.delete.push(...free, ...candidates.slice(0, budget));
    return;
  }
  let surging = 0;
  const allowed: string[] = [];
  const candidates: string[] = [];
  for (const [node, ps] of live) {
    const newPod = ps.find(isNew);
    const oldPod = ps.find((p) => !isNew(p));
    if (oldPod && newPod) {
      surging++;
      if (avail(newPod)) plan.delete.push(oldPod);
    } else if (oldPod) {
      if (!avail(oldPod)) allowed.push(node);
      else candidates.push(node);
    }
  }
  const room = Math.max(0, maxSurge - surging);
  plan.create.push(...allowed, ...candidates.slice(0, room));
}
