// Node lifecycle: a node whose Lease in kube-node-lease has not been renewed for the grace period
// is marked Ready=Unknown ("Kubelet stopped posting node status."), its pods not ready, and it
// gets the node.kubernetes.io/unreachable taints (not-ready when the kubelet itself reports
// Ready=False); a healthy node loses them again. Pods on a node with NoExecute taints are evicted
// once their tolerations run out, so that their controllers recreate them elsewhere.
import type { KObject } from '../../pkg/api/types.js';
import { ApiError, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf } from '../../pkg/client/informer.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { logger } from '../../pkg/log/logger.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { evictionTime, readinessTaints, TAINT_NOT_READY, TAINT_UNREACHABLE, type Taint, type Toleration } from './taints.js';

const NODE_LEASE_NAMESPACE = 'kube-node-lease';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function isoSeconds(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function readyStatus(node: KObject): string | undefined {
  return ((node.status as Json)?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready')?.status;
}

function taintsOf(node: KObject): Taint[] {
  return ((node.spec as Json)?.taints as Taint[] | undefined) ?? [];
}

export const nodeLifecycleController: ControllerFactory = (ctx: ControllerContext): Controller => {
  const nodes = ctx.informers.informer(R.nodes);
  const leases = ctx.informers.informer(R.leases, { namespace: NODE_LEASE_NAMESPACE });
  const pods = ctx.informers.informer(R.pods);
  const recorder = ctx.recorder('node-controller');
  const log = logger('node-lifecycle-controller');
  const grace = ctx.options.nodeMonitorGracePeriodMs;
  const defaultToleration = ctx.options.defaultUnreachableTolerationSeconds;

  /** node → when we last saw its lease renewed (our clock, as Kubernetes' probe timestamps) */
  const probes = new Map<string, { renewTime?: string; statusBeat?: string; at: number }>();
  /** node → pod keys bound to it */
  const podsByNode = new Map<string, Set<string>>();
  /** taint added without timeAdded → when we first saw it */
  const taintSeen = new Map<string, number>();
  let monitor: NodeJS.Timeout | undefined;

  const nodeQueue = new WorkQueue<string>((n) => reconcileNode(n), { name: 'node-lifecycle-controller', workers: 4 });
  const evictQueue = new WorkQueue<string>((n) => reconcileEvictions(n), { name: 'taint-eviction-controller', workers: 4 });

  function probe(name: string): { renewTime?: string; statusBeat?: string; at: number } {
    let p = probes.get(name);
    if (!p) probes.set(name, (p = { at: Date.now() }));
    return p;
  }

  function observeLease(lease: KObject): void {
    const renew = (lease.spec as Json)?.renewTime as string | undefined;
    const p = probe(lease.metadata.name!);
    if (renew && renew !== p.renewTime) {
      const wasSilent = Date.now() - p.at > grace;
      p.renewTime = renew;
      p.at = Date.now();
      if (wasSilent) nodeQueue.add(lease.metadata.name!);
    }
  }

  /** A kubelet posting status is alive too (kubelets without leases, or status before lease). */
  function observeNodeHeartbeat(node: KObject): void {
    const ready = ((node.status as Json)?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready');
    if (!ready || ready.status === 'Unknown' || !ready.lastHeartbeatTime) return;
    const p = probe(node.metadata.name!);
    const beat = `status:${ready.lastHeartbeatTime}`;
    if (p.statusBeat !== beat) {
      p.statusBeat = beat;
      p.at = Date.now();
    }
  }

  function indexPod(pod: KObject, remove = false): void {
    const node = (pod.spec as Json)?.nodeName as string | undefined;
    if (!node) return;
    let set = podsByNode.get(node);
    if (remove) {
      set?.delete(keyOf(pod));
      if (set?.size === 0) podsByNode.delete(node);
      return;
    }
    if (!set) podsByNode.set(node, (set = new Set()));
    set.add(keyOf(pod));
    if (taintsOf(nodes.get(node) ?? { metadata: {} }).some((t) => t.effect === 'NoExecute')) evictQueue.add(node);
  }

  async function markUnknown(node: KObject): Promise<KObject> {
    const now = isoSeconds();
    const old = ((node.status as Json)?.conditions as Json[] | undefined) ?? [];
    const types = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];
    const conditions = types.map((type) => {
      const prev = old.find((c) => c.type === type) ?? {};
      return {
        type,
        status: 'Unknown',
        reason: 'NodeStatusUnknown',
        message: 'Kubelet stopped posting node status.',
        lastHeartbeatTime: prev.lastHeartbeatTime ?? now,
        lastTransitionTime: prev.status === 'Unknown' ? prev.lastTransitionTime : now,
      };
    });
    const updated = await ctx.client.patch(resourcePath(R.nodes, undefined, node.metadata.name, 'status'), { status: { conditions } }, 'strategic');
    recorder.event(node, 'Normal', 'NodeNotReady', `Node ${node.metadata.name} status is now: NodeNotReady`);
    log.info({ node: node.metadata.name }, 'node stopped posting status; marked Unknown');
    await markPodsNotReady(node.metadata.name!);
    return updated;
  }

  async function markPodsNotReady(nodeName: string): Promise<void> {
    for (const key of podsByNode.get(nodeName) ?? []) {
      const pod = pods.get(key);
      if (!pod) continue;
      const ready = ((pod.status as Json)?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True') continue;
      try {
        await ctx.client.patch(
          resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name, 'status'),
          { metadata: { uid: pod.metadata.uid }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'NodeNotReady', lastTransitionTime: isoSeconds() }] } },
          'strategic',
        );
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
      }
    }
  }

  async function reconcileNode(name: string): Promise<void> {
    let node = nodes.get(name);
    if (!node) {
      probes.delete(name);
      return;
    }
    const silent = Date.now() - probe(name).at > grace;
    if (silent && readyStatus(node) !== 'Unknown') node = await markUnknown(node);
    const want = readinessTaints(readyStatus(node));
    const managed = (t: Taint) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY;
    const current = taintsOf(node);
    const same =
      current.filter(managed).length === want.length && want.every((w) => current.some((t) => t.key === w.key && t.effect === w.effect));
    if (!same) {
      const now = isoSeconds();
      const taints = [...current.filter((t) => !managed(t)), ...want.map((w) => (w.effect === 'NoExecute' ? { ...w, timeAdded: now } : { ...w }))];
      const copy = structuredClone(node);
      (copy.spec as Json) = { ...((copy.spec as Json) ?? {}), taints: taints.length ? taints : undefined };
      if (!taints.length) delete (copy.spec as Json).taints;
      try {
        node = await ctx.client.update(resourcePath(R.nodes, undefined, name), copy);
      } catch (e) {
        if (isNotFound(e)) return;
        throw e; // a conflict: the queue retries with a fresher cache
      }
      if (want.length) log.info({ node: name, taint: want[0]!.key }, 'node tainted');
      else log.info({ node: name }, 'node healthy again; taints removed');
    }
    if (node && taintsOf(node).some((t) => t.effect === 'NoExecute')) evictQueue.add(name);
  }

  function addedAt(node: string, t: Taint): number {
    if (t.timeAdded) return Date.parse(t.timeAdded);
    const k = `${node}/${t.key}/${t.value ?? ''}`;
    let at = taintSeen.get(k);
    if (at === undefined) taintSeen.set(k, (at = Date.now()));
    return at;
  }

  async function reconcileEvictions(name: string): Promise<void> {
    const node = nodes.get(name);
    if (!node) return;
    const taints = taintsOf(node).filter((t) => t.effect === 'NoExecute');
    if (!taints.length) return;
    const unreachable = taints.some((t) => t.key === TAINT_UNREACHABLE);
    const now = Date.now();
    let next = Infinity;
    for (const key of [...(podsByNode.get(name) ?? [])]) {
      const pod = pods.get(key);
      if (!pod) continue;
      const phase = (pod.status as Json)?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      const terminatingStuck = !!pod.metadata.deletionTimestamp && unreachable && Date.parse(pod.metadata.deletionTimestamp) <= now;
      if (pod.metadata.deletionTimestamp && !terminatingStuck) continue;
      const tolerations = ((pod.spec as Json)?.tolerations as Toleration[] | undefined) ?? [];
      const at = terminatingStuck ? now : evictionTime(tolerations, taints, defaultToleration, (t) => addedAt(name, t));
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      if (!pod.metadata.deletionTimestamp) recorder.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
      try {
        // Nobody on an unreachable node will confirm a graceful termination.
        await ctx.client.delete(resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name), {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          preconditions: { uid: pod.metadata.uid },
          ...(unreachable ? { gracePeriodSeconds: 0 } : {}),
        });
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
      }
    }
    if (next !== Infinity) evictQueue.addAfter(name, Math.max(50, next - now + 20));
  }

  function monitorTick(): void {
    const now = Date.now();
    for (const node of nodes.list()) {
      const name = node.metadata.name!;
      const silent = now - probe(name).at > grace;
      const status = readyStatus(node);
      const want = readinessTaints(silent && status !== 'Unknown' ? 'Unknown' : status);
      const have = taintsOf(node).filter((t) => t.key === TAINT_UNREACHABLE || t.key === TAINT_NOT_READY);
      if ((silent && status !== 'Unknown') || want.length !== have.length || !want.every((w) => have.some((t) => t.key === w.key && t.effect === w.effect))) nodeQueue.add(name);
    }
  }

  return {
    name: 'node-lifecycle-controller',
    setup() {
      nodes.on({
        add: (n) => {
          probe(n.metadata.name!);
          observeNodeHeartbeat(n);
          nodeQueue.add(n.metadata.name!);
        },
        update: (_o, n) => {
          observeNodeHeartbeat(n);
          nodeQueue.add(n.metadata.name!);
        },
        delete: (n) => {
          probes.delete(n.metadata.name!);
          for (const k of [...taintSeen.keys()]) if (k.startsWith(`${n.metadata.name}/`)) taintSeen.delete(k);
        },
      });
      leases.on({ add: observeLease, update: (_o, l) => observeLease(l) });
      pods.on({
        add: (p) => indexPod(p),
        update: (_o, p) => indexPod(p),
        delete: (p) => indexPod(p, true),
      });
    },
    run() {
      for (const l of leases.list()) observeLease(l);
      const period = Math.max(100, Math.min(5000, Math.floor(grace / 4)));
      monitor = setInterval(monitorTick, period);
      monitor.unref();
      for (const n of nodes.list()) nodeQueue.add(n.metadata.name!);
    },
    stop() {
      if (monitor) clearInterval(monitor);
      nodeQueue.shutdown();
      evictQueue.shutdown();
    },
  };
};
