// The node agent: registers its Node (or takes over the one it had before a restart), renews its
// Lease in kube-node-lease as the heartbeat, reports node status now and then (and at once when the
// Node shows anything but the Ready it reported), and runs a pod worker for each pod bound to it.
// Pods and the Node reach it from informers the caller owns, so that many agents of one process
// share one watch (skiff simulate).
import type { KObject } from '../pkg/api/types.js';
import { ApiError, isAlreadyExists, isNotFound, resourcePath, type RestClient } from '../pkg/client/rest.js';
import { R } from '../pkg/client/informer-factory.js';
import { logger, type Logger } from '../pkg/log/logger.js';
import { PodAddressPool } from './network/pod-ips.js';
import type { Runtime } from './runtime/runtime.js';
import type { Prober } from './prober/prober.js';
import { PodWorker } from './pod-worker.js';
import type { StatusManager } from './status-manager.js';
import { newBootID, nodeConditions, nodeLabels, nodeObject, nodeStatus, reportsReady, type NodeIdentity } from './node-object.js';
import type { Json } from './pod-status.js';
import type { EventRecorder } from '../pkg/client/events.js';
import type { SandboxRecord } from './runtime/runtime.js';
import { podVolumeObjectRefs, refKey, type ObjectRef } from './volumes/object-refs.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface AgentTiming {
  /** Lease renewal period (kubelet: 10 s) */
  leaseRenewIntervalMs: number;
  /** lease duration written into the Lease (kubelet: 40 s) */
  leaseDurationSeconds: number;
  /** full node status report period (kubelet: 5 min; status changes go out at once) */
  nodeStatusIntervalMs: number;
  /** first CrashLoopBackOff delay */
  restartBackoffMs: number;
  /**
   * how often every running pod's configMap/secret/downwardAPI volumes are rewritten from the API
   * whatever the watches said (kubelet's sync period: 1 min); 0 turns it off
   */
  volumeResyncMs?: number;
}

export const defaultAgentTiming: AgentTiming = {
  leaseRenewIntervalMs: 10_000,
  leaseDurationSeconds: 40,
  nodeStatusIntervalMs: 60_000,
  restartBackoffMs: 10_000,
  volumeResyncMs: 60_000,
};

/** Watches on the objects pods mount; the agent says which each pod needs. */
export interface PodObjectWatches {
  track(pod: string, refs: ObjectRef[]): void;
  untrack(pod: string): void;
  stop(): void;
}

export interface AgentDeps {
  client: RestClient;
  runtime: Runtime;
  prober: Prober;
  statusManager: StatusManager;
  /** kubelet events (Pulled, Started, Killing, BackOff, Unhealthy, ...); none when absent */
  events?: EventRecorder;
  /** what the node reports beyond its identity: the images it has, disk pressure */
  nodeExtras?: () => Promise<{ images?: Json[]; diskPressure?: boolean }>;
  /** rewrites a running pod's API-data volumes (see PodWorkerDeps.refreshVolumes) */
  refreshVolumes?(pod: KObject): Promise<boolean>;
  /** watches on the ConfigMaps/Secrets pods mount; changes come back through objectChanged */
  objectWatches?: PodObjectWatches;
}

function microTime(d = new Date()): string {
  return d.toISOString().replace('Z', '000Z');
}

export class NodeAgent {
  private readonly workers = new Map<string, PodWorker>();
  /** per pod key: the objects its volumes show (refKey), while its watches are held */
  private readonly mounted = new Map<string, Set<string>>();
  private pool?: PodAddressPool;
  private readonly log: Logger;
  private readonly bootID = newBootID();
  private readonly conditionSince = new Map<string, string>();
  private nodeUid?: string;
  private leaseRV?: string;
  private leaseTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private statusInFlight = false;
  private stopped = false;
  private registered = false;
  /** sandboxes the runtime had when the agent started, by pod uid, until their pods show up */
  private recovered = new Map<string, SandboxRecord>();
  /** heartbeats sent (for benchmarks) */
  leaseRenewals = 0;

  constructor(
    readonly id: NodeIdentity,
    private readonly deps: AgentDeps,
    private readonly timing: AgentTiming = defaultAgentTiming,
  ) {
    this.log = logger(`agent/${id.name}`);
  }

  get name(): string {
    return this.id.name;
  }

  get podCount(): number {
    return this.workers.size;
  }

  private get client(): RestClient {
    return this.deps.client;
  }

  /** Creates the Node, or takes over an existing one, and reports it Ready. */
  async register(): Promise<void> {
    for (const s of (await this.deps.runtime.listPodSandboxes?.()) ?? []) this.recovered.set(s.uid, s);
    const status = nodeStatus(this.id, nodeConditions(true, this.conditionSince), this.bootID);
    let node: KObject;
    try {
      node = await this.client.create(resourcePath(R.nodes), nodeObject(this.id, status));
      this.log.info('node registered');
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // A restart: keep the Node (its podCIDR, taints, labels others set), refresh our labels.
      node = await this.client.patch(resourcePath(R.nodes, undefined, this.id.name), { metadata: { labels: nodeLabels(this.id) } }, 'merge');
      this.log.info('existing node taken over');
    }
    this.nodeUid = node.metadata.uid;
    this.nodeChanged(node);
    // The lease first: a node lifecycle controller that sees Ready before a fresh heartbeat
    // would mark the node Unknown again.
    await this.renewLease();
    await this.reportNodeStatus();
    this.registered = true;
  }

  /** Starts the heartbeat timers; the first renewal comes after offsetMs (to spread many agents). */
  startHeartbeats(offsetMs = 0): void {
    this.leaseTimer = setTimeout(() => void this.leaseTick(), offsetMs || this.timing.leaseRenewIntervalMs);
    const statusOffset = Math.floor(Math.random() * this.timing.nodeStatusIntervalMs);
    this.statusTimer = setTimeout(() => void this.statusTick(), statusOffset || this.timing.nodeStatusIntervalMs);
    const resync = this.timing.volumeResyncMs ?? defaultAgentTiming.volumeResyncMs!;
    if (this.deps.refreshVolumes && resync > 0) this.resyncTimer = setInterval(() => this.resyncVolumes(), resync);
  }

  /** The safety net under the watches: every running pod's volumes from the API again. */
  resyncVolumes(): void {
    if (this.stopped) return;
    for (const w of this.workers.values()) w.refreshVolumes();
  }

  /** A ConfigMap or Secret some pods mount changed (or appeared, or went away). */
  objectChanged(ref: ObjectRef): void {
    if (this.stopped) return;
    const key = refKey(ref);
    for (const [podKey, w] of this.workers) if (this.mounted.get(podKey)?.has(key)) w.refreshVolumes();
  }

  /** Keeps the object watches to what the node's running pods mount. */
  private trackObjects(key: string, pod: KObject | undefined): void {
    const watches = this.deps.objectWatches;
    if (!watches) return;
    const phase = (pod?.status as { phase?: string } | undefined)?.phase;
    if (!pod || pod.metadata.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed') {
      if (this.mounted.delete(key)) watches.untrack(key);
      return;
    }
    if (this.mounted.has(key)) return;
    const refs = podVolumeObjectRefs(pod);
    this.mounted.set(key, new Set(refs.map(refKey)));
    watches.track(key, refs);
  }

  private async leaseTick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.renewLease();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'lease renewal failed');
    }
    if (!this.stopped) this.leaseTimer = setTimeout(() => void this.leaseTick(), this.timing.leaseRenewIntervalMs);
  }

  private async statusTick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.reportNodeStatus();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'node status update failed');
    }
    if (!this.stopped) this.statusTimer = setTimeout(() => void this.statusTick(), this.timing.nodeStatusIntervalMs);
  }

  private leaseObject(): KObject {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.id.name,
        namespace: NODE_LEASE_NAMESPACE,
        ...(this.leaseRV ? { resourceVersion: this.leaseRV } : {}),
        ...(this.nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.id.name, uid: this.nodeUid }] } : {}),
      },
      spec: { holderIdentity: this.id.name, leaseDurationSeconds: this.timing.leaseDurationSeconds, renewTime: microTime() },
    };
  }

  async renewLease(): Promise<void> {
    const path = resourcePath(R.leases, NODE_LEASE_NAMESPACE, this.id.name);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const lease = this.leaseRV ? await this.client.update(path, this.leaseObject()) : await this.client.create(resourcePath(R.leases, NODE_LEASE_NAMESPACE), this.leaseObject());
        this.leaseRV = lease.metadata.resourceVersion;
        this.leaseRenewals++;
        return;
      } catch (e) {
        if (isNotFound(e)) this.leaseRV = undefined;
        else if (e instanceof ApiError && e.code === 409) {
          // Someone else wrote it (or it exists from before a restart): take its resourceVersion.
          const cur = await this.client.get(path).catch((g) => (isNotFound(g) ? undefined : Promise.reject(g)));
          this.leaseRV = cur?.metadata.resourceVersion;
        } else throw e;
      }
    }
    throw new Error(`could not renew lease ${NODE_LEASE_NAMESPACE}/${this.id.name}`);
  }

  async reportNodeStatus(): Promise<void> {
    if (this.statusInFlight) return;
    this.statusInFlight = true;
    try {
      const extras = (await this.deps.nodeExtras?.().catch(() => undefined)) ?? {};
      const status = nodeStatus(this.id, nodeConditions(true, this.conditionSince, extras.diskPressure), this.bootID);
      if (extras.images) status.images = extras.images;
      await this.client.patch(resourcePath(R.nodes, undefined, this.id.name, 'status'), { status }, 'merge');
    } catch (e) {
      if (isNotFound(e) && this.registered && !this.stopped) {
        // Someone deleted our Node: register again, as a fresh kubelet would.
        this.log.warn('node object vanished; registering again');
        this.statusInFlight = false;
        this.leaseRV = undefined;
        await this.register();
        return;
      }
      throw e;
    } finally {
      this.statusInFlight = false;
    }
  }

  /** The Node as the informer has it. */
  nodeChanged(node: KObject): void {
    if (this.stopped) return;
    if (node.metadata.uid && this.nodeUid && node.metadata.uid !== this.nodeUid) this.nodeUid = node.metadata.uid;
    const cidr = (node.spec as { podCIDR?: string } | undefined)?.podCIDR;
    if (cidr && this.pool?.cidr !== cidr) {
      this.pool = new PodAddressPool(cidr);
      // Addresses of pods that outlived a restart stay theirs.
      for (const s of this.recovered.values()) this.pool.reserve(s.podIP, s.uid);
      for (const w of this.workers.values()) w.networkReady();
    }
    // The node lifecycle controller marked us Unknown while we were away: say Ready again now.
    if (this.registered && !reportsReady(node)) void this.reportNodeStatus().catch((err) => this.log.warn({ err: (err as Error).message }, 'node status update failed'));
  }

  /** A pod bound to this node was added or changed. */
  podChanged(pod: KObject): void {
    if (this.stopped) return;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    let w = this.workers.get(key);
    if (w && w.uid !== pod.metadata.uid) {
      w.remove();
      w = undefined;
      this.trackObjects(key, undefined);
    }
    this.trackObjects(key, pod);
    if (w) {
      w.update(pod);
      return;
    }
    w = new PodWorker(pod, {
      runtime: this.deps.runtime,
      prober: this.deps.prober,
      hostIP: this.id.address,
      allocateIP: (uid) => this.pool?.allocate(uid),
      reserveIP: (ip, uid) => this.pool?.reserve(ip, uid) ?? false,
      releaseIP: (uid) => this.pool?.release(uid),
      reportStatus: (p, status: Json) => this.deps.statusManager.set(p.metadata.namespace!, p.metadata.name!, p.metadata.uid!, status),
      confirmDeletion: (p) => this.confirmDeletion(p),
      restartBackoffMs: this.timing.restartBackoffMs,
      log: this.log,
      podCIDR: () => this.pool?.cidr,
      recoveredIP: this.recovered.get(pod.metadata.uid!)?.podIP,
      event: this.deps.events ? (p, type, reason, message) => this.deps.events!.event(p, type, reason, message) : undefined,
      refreshVolumes: this.deps.refreshVolumes,
    });
    this.recovered.delete(pod.metadata.uid!);
    this.workers.set(key, w);
    w.start();
  }

  /**
   * The pods of this node are all known now: sandboxes left from before a restart whose pods are
   * gone from the API are stopped and removed.
   */
  async podsSynced(): Promise<void> {
    const orphans = [...this.recovered.values()];
    this.recovered.clear();
    for (const s of orphans) {
      const pod: KObject = { metadata: { uid: s.uid, namespace: s.namespace, name: s.name }, spec: {} };
      this.log.info({ pod: `${s.namespace}/${s.name}` }, 'removing a pod that is gone from the API');
      try {
        await this.deps.runtime.stopPodSandbox(pod, 0);
        await this.deps.runtime.removePodSandbox?.(pod);
      } catch (err) {
        this.log.warn({ err: (err as Error).message, pod: `${s.namespace}/${s.name}` }, 'removing an orphaned pod failed');
      } finally {
        this.pool?.release(s.uid);
      }
    }
  }

  podDeleted(pod: KObject): void {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const w = this.workers.get(key);
    if (!w || w.uid !== pod.metadata.uid) return;
    this.workers.delete(key);
    this.trackObjects(key, undefined);
    this.deps.statusManager.forget(pod.metadata.namespace!, pod.metadata.name!);
    w.remove();
  }

  private async confirmDeletion(pod: KObject): Promise<void> {
    try {
      await this.client.delete(resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (e) {
      if (isNotFound(e) || (e instanceof ApiError && e.code === 409)) return;
      this.log.warn({ err: (e as Error).message, pod: `${pod.metadata.namespace}/${pod.metadata.name}` }, 'confirming pod deletion failed');
    }
  }

  /** Stops heartbeats and forgets pods, leaving the API as it is (a node that died). */
  stop(): void {
    this.stopped = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    if (this.statusTimer) clearTimeout(this.statusTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const w of this.workers.values()) w.abandon();
    this.workers.clear();
    this.mounted.clear();
    this.deps.objectWatches?.stop();
  }
}
