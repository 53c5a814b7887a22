// The scheduler: informers on pods, nodes and namespaces feed the cache and the queue; pods are
// decided one at a time against the cache (so each decision sees the previous ones), then bound
// concurrently through the binding subresource. A pod that fits nowhere gets PodScheduled=False
// and a FailedScheduling event with kube-scheduler's per-reason counts, and waits for the cluster
// to change.
import { performance } from 'node:perf_hooks';
import type { Controller, ControllerContext } from '../controller.js';
import { R } from '../../pkg/client/informer-factory.js';
import type { Informer } from '../../pkg/client/informer.js';
import { keyOf } from '../../pkg/client/informer.js';
import { ApiError, RestClient, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { EventRecorder } from '../../pkg/client/events.js';
import type { KObject } from '../../pkg/api/types.js';
import { logger } from '../../pkg/log/logger.js';
import { SchedulerCache, podInfoOf } from './cache.js';
import { compilePlan } from './filters.js';
import { SchedulingQueue } from './queue.js';
import { fitErrorMessage, selectNode } from './strategies.js';
import { DEFAULT_SCHEDULER_NAME, STRATEGIES, STRATEGY_ANNOTATION, type Node, type Pod, type Strategy } from './types.js';

export const COMPONENT = 'default-scheduler';
/** The profiles (schedulerName values) this scheduler serves, and the strategy of each. */
export const PROFILES: Record<string, Strategy | 'flag'> = {
  [DEFAULT_SCHEDULER_NAME]: 'flag',
  'skiff-spread': 'spread',
  'skiff-binpack': 'binpack',
  'skiff-random': 'random',
};

export interface SchedulerOptions {
  /** the strategy of the default-scheduler profile */
  strategy: Strategy;
  /** bindings in flight at once */
  bindConcurrency?: number;
  /** how often parked unschedulable pods are retried regardless of cluster changes (ms) */
  flushIntervalMs?: number;
  /** called after each successful binding (benchmarks measure latency with it) */
  onBound?: (pod: Pod, nodeName: string) => void;
}

export function isOurs(pod: Pod): boolean {
  return Object.prototype.hasOwnProperty.call(PROFILES, pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME);
}

/** The pod's strategy: its annotation, else its profile, else the flag. Throws on a bad annotation. */
export function strategyFor(pod: Pod, flag: Strategy): Strategy {
  const ann = pod.metadata.annotations?.[STRATEGY_ANNOTATION];
  if (ann !== undefined) {
    if (!(STRATEGIES as readonly string[]).includes(ann)) throw new Error(`invalid ${STRATEGY_ANNOTATION} annotation "${ann}": must be one of ${STRATEGIES.join(', ')}`);
    return ann as Strategy;
  }
  const p = PROFILES[pod.spec?.schedulerName || DEFAULT_SCHEDULER_NAME];
  return p === undefined || p === 'flag' ? flag : p;
}

/** List items may lack kind/apiVersion; events need them for kubectl describe to find them. */
function asPod(pod: Pod): Pod {
  return pod.kind ? pod : { ...pod, apiVersion: 'v1', kind: 'Pod' };
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

function sameStrings(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b ?? {}).length) return false;
  for (const k of ka) if (a![k] !== b?.[k]) return false;
  return true;
}

export class Scheduler implements Controller {
  readonly name = 'scheduler';
  readonly cache = new SchedulerCache();
  readonly queue: SchedulingQueue;
  private pods!: Informer<Pod>;
  private nodes!: Informer<Node>;
  private namespaces!: Informer<KObject>;
  /** bindings and status writes go through their own connections, so they never queue behind the lease or events */
  private readonly api: RestClient;
  private readonly eventsClient: RestClient;
  private readonly recorder: EventRecorder;
  private readonly log = logger('scheduler');
  private running = false;
  private inFlight = 0;
  private drainScheduled = false;
  private flushTimer?: NodeJS.Timeout;
  private readonly maxInFlight: number;
  /** failed bindings by HTTP code and reason, for describe() */
  private readonly bindFailures = new Map<string, number>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly opts: SchedulerOptions,
  ) {
    this.queue = new SchedulingQueue(() => this.drainSoon());
    this.maxInFlight = opts.bindConcurrency ?? 64;
    this.api = new RestClient({ ...ctx.client.config, userAgent: 'skiff-scheduler' });
    this.eventsClient = new RestClient({ ...ctx.client.config, userAgent: 'skiff-scheduler' });
    this.recorder = new EventRecorder(this.eventsClient, COMPONENT);
  }

  setup(): void {
    this.pods = this.ctx.informers.informer<Pod>(R.pods);
    this.nodes = this.ctx.informers.informer<Node>(R.nodes);
    this.namespaces = this.ctx.informers.informer<KObject>(R.namespaces);
    this.cache.nsLabels = (ns) => this.namespaces.get(ns)?.metadata.labels;
    this.nodes.on({
      add: (n) => {
        this.cache.upsertNode(n);
        this.queue.moveAllToActive();
      },
      update: (_o, n) => {
        if (this.cache.upsertNode(n)) this.queue.moveAllToActive();
      },
      delete: (n) => this.cache.removeNode(n.metadata.name!),
    });
    this.pods.on({
      add: (p) => this.onPod(p),
      update: (o, p) => this.onPod(p, o),
      delete: (p) => this.onPodDeleted(p),
    });
  }

  run(): void {
    this.running = true;
    this.flushTimer = setInterval(() => this.queue.moveAllToActive(), this.opts.flushIntervalMs ?? 30_000);
    this.flushTimer.unref();
    this.drainSoon();
    this.log.info({ strategy: this.opts.strategy, nodes: this.cache.nodeList().length, pending: this.queue.activeLength }, 'scheduler running');
  }

  stop(): void {
    this.running = false;
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.queue.close();
    this.api.close();
    this.eventsClient.close();
  }

  /** A one-line state summary, for logs and benchmarks. */
  describe(): string {
    return `nodes ${this.cache.nodeList().length}, pods in cache ${this.cache.podCount}, active ${this.queue.activeLength}, unschedulable ${this.queue.unschedulableLength}, bindings in flight ${this.inFlight}, informers synced ${this.pods.hasSynced}/${this.nodes.hasSynced}, failed bindings ${JSON.stringify(Object.fromEntries(this.bindFailures))}`;
  }

  private onPod(pod: Pod, old?: Pod): void {
    const key = keyOf(pod);
    const nodeName = pod.spec?.nodeName;
    if (nodeName) {
      this.queue.delete(key);
      if (TERMINAL.has(pod.status?.phase ?? '')) {
        // Finished pods hold nothing (kube-scheduler does not count them either).
        if (this.cache.removePod(key)) this.queue.moveAllToActive();
        return;
      }
      const known = this.cache.getPod(key);
      if (known && known.nodeName === nodeName && known.uid === pod.metadata.uid) {
        known.assumed = false;
        known.labels = pod.metadata.labels ?? {};
        return;
      }
      this.cache.addPod(podInfoOf(pod, nodeName, false));
      return;
    }
    if (!isOurs(pod)) return;
    if (pod.metadata.deletionTimestamp || TERMINAL.has(pod.status?.phase ?? '')) {
      this.queue.delete(key);
      return;
    }
    if (this.cache.isAssumed(key)) return;
    if (old && this.queue.isUnschedulable(key) && !this.specChanged(old, pod)) return;
    this.queue.add(key);
  }

  /** Whether an update could change where the pod fits (not just its status, e.g. our own condition). */
  private specChanged(old: Pod, pod: Pod): boolean {
    return (
      !sameStrings(old.metadata.labels, pod.metadata.labels) ||
      !sameStrings(old.metadata.annotations, pod.metadata.annotations) ||
      JSON.stringify(old.spec) !== JSON.stringify(pod.spec)
    );
  }

  private onPodDeleted(pod: Pod): void {
    const key = keyOf(pod);
    this.queue.delete(key);
    if (this.cache.removePod(key)) this.queue.moveAllToActive();
  }

  private drainSoon(): void {
    if (this.drainScheduled || !this.running) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    if (!this.running) return;
    // Yield now and then, so that informer events and binding answers keep flowing.
    const deadline = performance.now() + 20;
    while (this.inFlight < this.maxInFlight) {
      if (performance.now() > deadline) return this.drainSoon();
      const key = this.queue.pop();
      if (key === undefined) return;
      this.scheduleOne(key);
    }
  }

  private scheduleOne(key: string): void {
    const pod = this.pods.get(key);
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp || !isOurs(pod) || this.cache.isAssumed(key)) return;
    let strategy: Strategy;
    let plan;
    try {
      strategy = strategyFor(pod, this.opts.strategy);
      plan = compilePlan(pod, this.cache);
    } catch (err) {
      this.queue.markUnschedulable(key);
      this.reportUnschedulable(pod, (err as Error).message);
      return;
    }
    const d = selectNode(plan, this.cache.nodeList(), strategy);
    if (!d.node) {
      this.queue.markUnschedulable(key);
      this.reportUnschedulable(pod, fitErrorMessage(d.total, d.reasons));
      return;
    }
    const info = plan.info;
    info.nodeName = d.node.name;
    this.cache.addPod(info);
    this.inFlight++;
    void this.bind(pod, key, d.node.name);
  }

  private async bind(pod: Pod, key: string, nodeName: string): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name!;
    try {
      await this.api.create(resourcePath(R.pods, ns, name, 'binding'), {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, namespace: ns, uid: pod.metadata.uid },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      });
      if (!this.running) return;
      this.recorder.event(asPod(pod), 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${nodeName}`);
      this.opts.onBound?.(pod, nodeName);
    } catch (err) {
      this.cache.forget(key);
      const what = err instanceof ApiError ? `${err.code} ${err.reason}` : (err as Error).message;
      this.bindFailures.set(what, (this.bindFailures.get(what) ?? 0) + 1);
      if (!this.running || isNotFound(err)) return;
      // The informer will show what happened (bound elsewhere, being deleted); until then retry later.
      this.log.debug({ pod: key, node: nodeName, err: (err as Error).message }, 'binding failed');
      this.queue.addWithBackoff(key);
    } finally {
      this.inFlight--;
      this.drainSoon();
    }
  }

  private reportUnschedulable(pod: Pod, message: string): void {
    this.recorder.event(asPod(pod), 'Warning', 'FailedScheduling', message);
    const cur = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (cur && cur.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message) return;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: null,
      lastTransitionTime: cur?.status === 'False' && cur.lastTransitionTime ? cur.lastTransitionTime : now,
    };
    const ns = pod.metadata.namespace ?? 'default';
    this.api
      .patch(resourcePath(R.pods, ns, pod.metadata.name!, 'status'), { status: { conditions: [condition] } }, 'strategic')
      .catch((err) => {
        if (!isNotFound(err)) this.log.warn({ pod: keyOf(pod), err: (err as Error).message }, 'could not set PodScheduled=False');
      });
  }
}
