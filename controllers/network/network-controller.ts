// The network controller: gives every Network (networking.skiff.dev/v1alpha1) its subnet, VXLAN
// id and per-node slices, counts the pods on it, and keeps the `default` overlay in existence.
// Subnets and VNIs are cluster-wide resources, so one worker reconciles Networks one at a time and
// remembers what it handed out before the watch shows it back (as node IPAM does); pods naming
// a Network that does not exist get a Warning event from a second queue.
import type { KObject } from '../../pkg/api/types.js';
import {
  DEFAULT_NETWORK,
  DEFAULT_NETWORK_VNI,
  NETWORKS,
  NETWORKS_ANNOTATION,
  NETWORK_API_VERSION,
  parseNetworksAnnotation,
  podNetworks,
  type Network,
  type NetworkCondition,
  type NetworkStatus,
} from '../../pkg/api/networks.js';
import { Informer, keyOf } from '../../pkg/client/informer.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { isAlreadyExists, isConflict, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { logger } from '../../pkg/log/logger.js';
import { nowIso, setCondition, type Condition } from '../common/conditions.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { planNetwork, type OtherNetwork } from './plan.js';

export const DEFAULT_NETWORK_CIDR = '10.240.0.0/12';
/** The apiserver's Service cluster-IP range (apiserver/registry/service-allocator.ts). */
export const SERVICE_CIDR = '10.43.0.0/16';
const COUNT_BATCH_MS = 500;

interface HeldAddresses {
  subnet?: string;
  vni?: number;
}

function isTerminated(pod: KObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** The networks a pod counts towards; a malformed annotation still leaves it on the default one. */
function countedNetworks(pod: KObject): string[] {
  if (isTerminated(pod)) return [];
  try {
    return podNetworks(pod);
  } catch {
    return (pod.spec as { hostNetwork?: boolean } | undefined)?.hostNetwork ? [] : [DEFAULT_NETWORK];
  }
}

function readyOf(net: Network): string | undefined {
  return net.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

function olderThan(a: KObject, b: KObject): boolean {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb;
  return a.metadata.name! < b.metadata.name!;
}

/** JSON with sorted keys, so that equal statuses compare equal whatever order their fields came in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

export class NetworkController implements Controller {
  readonly name = 'network-controller';
  private readonly log = logger('network-controller');
  private readonly nodes;
  private readonly pods;
  private readonly networks: Informer<Network>;
  private readonly queue: WorkQueue<string>;
  private readonly podQueue: WorkQueue<string>;
  private readonly recorder;
  private readonly held = new Map<string, HeldAddresses>();
  /** pod key → the networks it is counted on */
  private readonly podIndex = new Map<string, string[]>();
  private readonly counts = new Map<string, number>();
  private readonly countPending = new Set<string>();
  private readonly countTimers = new Set<NodeJS.Timeout>();
  private synced = false;
  private stopped = false;
  private readonly networkCidr: string;

  constructor(private readonly ctx: ControllerContext) {
    this.nodes = ctx.informers.informer(R.nodes);
    this.pods = ctx.informers.informer(R.pods);
    // Not a shared informer: the manager holds every controller until shared informers have
    // synced, and the Network CRD may not be served yet on a server this manager merely joins.
    this.networks = new Informer<Network>(ctx.client, NETWORKS);
    this.queue = new WorkQueue((name) => this.reconcile(name), { name: 'network-controller', workers: 1 });
    this.podQueue = new WorkQueue((key) => this.checkPod(key), { name: 'network-controller-pods', workers: 2 });
    this.recorder = ctx.recorder('network-controller');
    this.networkCidr = ctx.options.networkCidr ?? DEFAULT_NETWORK_CIDR;
  }

  setup(): void {
    this.pods.on({
      add: (p) => {
        this.index(p);
        if (p.metadata.annotations?.[NETWORKS_ANNOTATION] !== undefined) this.enqueuePod(p);
      },
      update: (old, p) => {
        this.index(p);
        if (old.metadata.annotations?.[NETWORKS_ANNOTATION] !== p.metadata.annotations?.[NETWORKS_ANNOTATION]) this.enqueuePod(p);
      },
      delete: (p) => this.unindex(keyOf(p)),
    });
    this.nodes.on({
      add: () => this.enqueueAll(),
      update: (old, n) => {
        if ((old.spec as { podCIDR?: string } | undefined)?.podCIDR !== (n.spec as { podCIDR?: string } | undefined)?.podCIDR) this.enqueueAll();
      },
      delete: () => this.enqueueAll(),
    });
    this.networks.on({
      add: (n) => {
        this.observe(n);
        this.enqueue(n.metadata.name!);
      },
      update: (_old, n) => {
        if (this.observe(n)) this.enqueueAll();
        else this.enqueue(n.metadata.name!);
      },
      delete: (n) => {
        this.held.delete(n.metadata.name!);
        this.enqueueAll();
        this.enqueue(n.metadata.name!);
        if (this.synced) for (const p of this.pods.list()) if (this.names(p).includes(n.metadata.name!)) this.enqueuePod(p);
      },
    });
  }

  run(): void {
    void this.networks.start().then(() => {
      if (this.stopped) return;
      this.synced = true;
      for (const n of this.networks.list()) this.observe(n);
      this.queue.add(DEFAULT_NETWORK);
      this.enqueueAll();
      for (const p of this.pods.list()) if (p.metadata.annotations?.[NETWORKS_ANNOTATION] !== undefined) this.enqueuePod(p);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.countTimers) clearTimeout(t);
    this.countTimers.clear();
    this.queue.shutdown();
    this.podQueue.shutdown();
    this.networks.stop();
  }

  /** Resolves when both queues are idle (tests). */
  async idle(): Promise<void> {
    await this.queue.idle();
    await this.podQueue.idle();
  }

  private enqueue(name: string): void {
    if (this.synced) this.queue.add(name);
  }

  private enqueueAll(): void {
    if (!this.synced) return;
    for (const n of this.networks.list()) this.queue.add(n.metadata.name!);
  }

  private enqueuePod(p: KObject): void {
    if (this.synced) this.podQueue.add(keyOf(p));
  }

  /** Records what a Network holds as the watch shows it; true when that changed. */
  private observe(n: Network): boolean {
    const name = n.metadata.name!;
    const now: HeldAddresses = { subnet: n.status?.subnet, vni: n.status?.vni };
    const before = this.held.get(name);
    this.held.set(name, now);
    return before?.subnet !== now.subnet || before?.vni !== now.vni;
  }

  private index(p: KObject): void {
    const key = keyOf(p);
    const nets = countedNetworks(p);
    const prev = this.podIndex.get(key) ?? [];
    if (prev.length === nets.length && prev.every((n, i) => n === nets[i])) return;
    this.adjust(prev, -1);
    this.adjust(nets, +1);
    if (nets.length) this.podIndex.set(key, nets);
    else this.podIndex.delete(key);
  }

  private unindex(key: string): void {
    const prev = this.podIndex.get(key);
    if (!prev) return;
    this.adjust(prev, -1);
    this.podIndex.delete(key);
  }

  private adjust(nets: string[], by: number): void {
    for (const n of nets) {
      const c = (this.counts.get(n) ?? 0) + by;
      if (c > 0) this.counts.set(n, c);
      else this.counts.delete(n);
      this.countChanged(n);
    }
  }

  /**
   * A pod count alone is written at most every COUNT_BATCH_MS per network: a burst of pods (a
   * Deployment scaled to thousands) would otherwise rewrite the status, node list and all, per pod.
   */
  private countChanged(name: string): void {
    if (!this.synced || this.countPending.has(name)) return;
    this.countPending.add(name);
    const t = setTimeout(() => {
      this.countTimers.delete(t);
      this.countPending.delete(name);
      this.enqueue(name);
    }, COUNT_BATCH_MS);
    t.unref();
    this.countTimers.add(t);
  }

  private names(p: KObject): string[] {
    const v = p.metadata.annotations?.[NETWORKS_ANNOTATION];
    if (v === undefined) return [];
    try {
      return parseNetworksAnnotation(v);
    } catch {
      return [];
    }
  }

  private async reconcile(name: string): Promise<void> {
    if (!this.synced || this.stopped) return;
    const net = this.networks.get(name);
    if (!net) {
      if (name === DEFAULT_NETWORK) await this.createDefault();
      return;
    }
    if (net.metadata.deletionTimestamp) return;
    const others: OtherNetwork[] = [];
    for (const o of this.networks.list()) {
      const oname = o.metadata.name!;
      // The default network's subnet is the cluster CIDR and its VNI is reserved; both are blocked already.
      if (oname === name || oname === DEFAULT_NETWORK) continue;
      const h = this.held.get(oname) ?? {};
      others.push({
        name: oname,
        subnet: h.subnet,
        vni: h.vni,
        wantsSubnet: o.spec?.subnet,
        wantsVni: (o.spec?.driver ?? 'overlay') === 'overlay' ? o.spec?.vni : undefined,
        // A network already found in conflict claims nothing; an older one not yet looked at does.
        older: olderThan(o, net) && readyOf(o) !== 'False',
      });
    }
    const plan = planNetwork({
      network: net,
      others,
      nodes: this.nodes.list().map((n) => ({ name: n.metadata.name!, podCIDR: (n.spec as { podCIDR?: string } | undefined)?.podCIDR || undefined })),
      pods: this.counts.get(name) ?? 0,
      clusterCidr: this.ctx.options.clusterCidr,
      serviceCidr: SERVICE_CIDR,
      networkCidr: this.networkCidr,
    });
    const ready: Condition = { type: 'Ready', ...plan.ready, lastTransitionTime: nowIso() };
    const prevConditions = (net.status?.conditions ?? []) as Condition[];
    const conditions = setCondition(prevConditions, ready) as NetworkCondition[];
    const status: NetworkStatus = { ...plan.status, conditions };
    if (canonical(status) === canonical(net.status ?? {})) return;
    let written: Network;
    try {
      written = await this.ctx.client.update<Network>(resourcePath(NETWORKS, undefined, name, 'status'), { ...net, status });
    } catch (e) {
      if (isNotFound(e)) return;
      if (isConflict(e)) {
        // The cache is behind; the watch event that follows brings the key back.
        this.queue.addAfter(name, 100);
        return;
      }
      throw e;
    }
    const before = this.held.get(name);
    this.held.set(name, { subnet: status.subnet, vni: status.vni });
    if (before?.subnet !== status.subnet || before?.vni !== status.vni) this.enqueueAll();
    const was = prevConditions.find((c) => c.type === 'Ready');
    if (was?.status !== ready.status || was?.reason !== ready.reason) {
      if (ready.status === 'True') this.recorder.event(written, 'Normal', 'NetworkReady', ready.message!);
      else this.recorder.event(written, 'Warning', ready.reason!, ready.message!);
    }
  }

  private async createDefault(): Promise<void> {
    const obj: Network = {
      apiVersion: NETWORK_API_VERSION,
      kind: 'Network',
      metadata: { name: DEFAULT_NETWORK, labels: { 'app.kubernetes.io/part-of': 'skiff' } },
      spec: { driver: 'overlay', subnet: this.ctx.options.clusterCidr, vni: DEFAULT_NETWORK_VNI },
    };
    try {
      await this.ctx.client.create(resourcePath(NETWORKS), obj);
      this.log.info({ subnet: this.ctx.options.clusterCidr }, 'created the default network');
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }

  private async checkPod(key: string): Promise<void> {
    if (!this.synced || this.stopped) return;
    const pod = this.pods.get(key);
    if (!pod || pod.metadata.deletionTimestamp || isTerminated(pod)) return;
    const value = pod.metadata.annotations?.[NETWORKS_ANNOTATION];
    if (value === undefined) return;
    let names: string[];
    try {
      names = parseNetworksAnnotation(value);
    } catch (e) {
      this.recorder.event(pod, 'Warning', 'InvalidNetworksAnnotation', (e as Error).message);
      return;
    }
    const missing = names.filter((n) => !this.networks.get(n));
    if (missing.length === 0) return;
    const what = missing.length === 1 ? `Network ${missing[0]} does not exist` : `Networks ${missing.join(', ')} do not exist`;
    this.recorder.event(pod, 'Warning', 'NetworkNotFound', `${what} (named in annotation ${NETWORKS_ANNOTATION})`);
  }
}

export const networkController: ControllerFactory = (ctx: ControllerContext): Controller => new NetworkController(ctx);
