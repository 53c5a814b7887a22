// The columns of `kubectl get pods`: READY, STATUS and RESTARTS follow kubectl's printPod so that
// a pod reads the same here as on a Kubernetes cluster.
import { ageSince } from '../../../../pkg/api/duration.js';
import type { KObject } from '../../../../pkg/api/types.js';
import type { Table } from '../../strategy.js';
import { AGE_COLUMN, NAME_COLUMN, age, col, isObj, type Json } from '../common.js';

export interface PodSummary {
  ready: string;
  status: string;
  restarts: string;
}

const NODE_UNREACHABLE_REASON = 'NodeLost';

function isSidecar(c: Json): boolean {
  return isObj(c) && c.restartPolicy === 'Always';
}

function laterOf(a: number, b: string | undefined): number {
  if (!b) return a;
  const t = Date.parse(b);
  return Number.isNaN(t) ? a : Math.max(a, t);
}

function conditionTrue(status: Json, type: string): boolean {
  return Array.isArray(status?.conditions) && status.conditions.some((c: Json) => isObj(c) && c.type === type && c.status === 'True');
}

export function summarizePod(pod: KObject, now: number): PodSummary {
  const spec: Json = isObj(pod.spec) ? pod.spec : {};
  const status: Json = isObj(pod.status) ? pod.status : {};
  const containers: Json[] = Array.isArray(spec.containers) ? spec.containers : [];
  const initSpecs: Json[] = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  const initByName = new Map<string, Json>(initSpecs.filter(isObj).map((c) => [c.name, c]));
  let total = containers.length + initSpecs.filter(isSidecar).length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;

  let reason: string = status.reason || status.phase || '';
  for (const c of Array.isArray(status.conditions) ? status.conditions : []) {
    if (isObj(c) && c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initStatuses: Json[] = Array.isArray(status.initContainerStatuses) ? status.initContainerStatuses : [];
  let initializing = false;
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i] ?? {};
    const state = cs.state ?? {};
    const finished = cs.lastState?.terminated?.finishedAt;
    restarts += cs.restartCount ?? 0;
    lastRestart = laterOf(lastRestart, finished);
    const sidecar = isSidecar(initByName.get(cs.name));
    if (sidecar) {
      sidecarRestarts += cs.restartCount ?? 0;
      lastSidecarRestart = laterOf(lastSidecarRestart, finished);
    }
    if (state.terminated && state.terminated.exitCode === 0) continue;
    if (sidecar && cs.started === true) {
      if (cs.ready) ready++;
      continue;
    }
    if (state.terminated) {
      const t = state.terminated;
      reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode ?? 0}`;
    } else if (state.waiting?.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status, 'Initialized')) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses: Json[] = Array.isArray(status.containerStatuses) ? status.containerStatuses : [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i] ?? {};
      const state = cs.state ?? {};
      restarts += cs.restartCount ?? 0;
      lastRestart = laterOf(lastRestart, cs.lastState?.terminated?.finishedAt);
      if (state.waiting?.reason) reason = state.waiting.reason;
      else if (state.terminated?.reason) reason = state.terminated.reason;
      else if (state.terminated) reason = state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode ?? 0}`;
      else if (cs.ready && state.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = conditionTrue(status, 'Ready') ? 'Running' : 'NotReady';
  }

  if (pod.metadata.deletionTimestamp && status.reason === NODE_UNREACHABLE_REASON) reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';

  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart > 0) restartsStr = `${restarts} (${ageSince(new Date(lastRestart).toISOString(), now)} ago)`;
  if (total < 0) total = 0;
  return { ready: `${ready}/${total}`, status: reason, restarts: restartsStr };
}

function readinessGates(pod: KObject): string {
  const spec: Json = pod.spec ?? {};
  const gates: Json[] = Array.isArray(spec.readinessGates) ? spec.readinessGates : [];
  if (gates.length === 0) return '<none>';
  const conds: Json[] = Array.isArray((pod.status as Json)?.conditions) ? (pod.status as Json).conditions : [];
  let trueCount = 0;
  for (const g of gates) {
    const c = conds.find((x) => isObj(x) && x.type === g?.conditionType);
    if (c && c.status === 'True') trueCount++;
  }
  return `${trueCount}/${gates.length}`;
}

export const podTable: Table = {
  columns: [
    NAME_COLUMN,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    col('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node.', 1),
    col('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node.', 1),
    col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  cells(pod: KObject, now: number): unknown[] {
    const s = summarizePod(pod, now);
    const status: Json = pod.status ?? {};
    const spec: Json = pod.spec ?? {};
    const ip = (Array.isArray(status.podIPs) && status.podIPs[0]?.ip) || status.podIP || '<none>';
    return [pod.metadata.name, s.ready, s.status, s.restarts, age(pod, now), ip, spec.nodeName || '<none>', status.nominatedNodeName || '<none>', readinessGates(pod)];
  },
};
