// The DaemonSet controller: one pod per eligible node, on nodes that join later too, replaced by
// the rolling update when the template changes. Each pod is pinned to its node through node
// affinity (`metadata.name In [node]`) and bound by the scheduler when one runs; without a
// scheduler the controller sets spec.nodeName itself (see scheduler-presence.ts). Revisions are
// told apart by the controller-revision-hash label only: ControllerRevision objects are not served.
import type { KObject } from '../../pkg/api/types.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { selectorFromLabelSelector } from '../../pkg/api/labels.js';
import { Expectations } from './expectations.js';
import { CONTROLLER_REVISION_HASH, KINDS, isControlledBy, podFromTemplate, stableEqual, type Json } from './pod-util.js';
import { pinToNode, withDaemonTolerations } from './node-eligibility.js';
import { planDaemonSet } from './daemonset-plan.js';
import { SchedulerPresence } from './scheduler-presence.js';
import { ownedPodHandlers } from './owned-pods.js';

class DaemonSetController implements Controller {
  readonly name = 'daemonset-controller';
  private daemonsets!: Informer;
  private pods!: Informer;
  private nodes!: Informer;
  private readonly queue: WorkQueue<string>;
  private readonly expectations = new Expectations();
  private readonly recorder: EventRecorder;
  private readonly scheduler: SchedulerPresence;
  private running = false;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue((k) => this.sync(k), { name: this.name, workers: 2, baseDelayMs: 100, maxDelayMs: 10_000 });
    this.recorder = ctx.recorder('daemonset-controller');
    this.scheduler = new SchedulerPresence(ctx.client);
  }

  private enqueue(key: string | undefined): void {
    if (key && this.running) this.queue.add(key);
  }

  private enqueueAll(): void {
    for (const ds of this.daemonsets.list()) this.enqueue(keyOf(ds));
  }


  setup(): void {
    this.daemonsets = this.ctx.informers.informer(R.daemonsets);
    this.pods = this.ctx.informers.informer(R.pods);
    this.nodes = this.ctx.informers.informer(R.nodes);
    this.daemonsets.on({
      add: (d) => this.enqueue(keyOf(d)),
      update: (_o, d) => this.enqueue(keyOf(d)),
      delete: (d) => this.expectations.forget(keyOf(d)),
    });
    this.pods.on(ownedPodHandlers('DaemonSet', this.expectations, (k) => this.enqueue(k)));
    this.nodes.on({
      add: () => this.enqueueAll(),
      delete: () => this.enqueueAll(),
      update: (o, n) => {
        // Heartbeats change nothing a DaemonSet cares about; labels, taints and readiness do.
        const relevant = (x: KObject) => JSON.stringify([x.metadata.labels, (x.spec as Json)?.taints, (x.spec as Json)?.unschedulable]);
        if (relevant(o) !== relevant(n)) this.enqueueAll();
      },
    });
  }

  run(): void {
    this.running = true;
    this.enqueueAll();
  }

  stop(): void {
    this.running = false;
    this.queue.shutdown();
  }

  private async sync(key: string): Promise<void> {
    const ds = this.daemonsets.get(key);
    if (!ds || ds.metadata.deletionTimestamp) {
      this.expectations.forget(key);
      return;
    }
    if (!this.expectations.satisfied(key)) {
      this.queue.addAfter(key, 5_000);
      return;
    }
    const ns = ds.metadata.namespace!;
    const matches = selectorFromLabelSelector((ds.spec as Json)?.selector);
    const pods = this.pods.listNamespace(ns).filter((p) => isControlledBy(p, ds) && matches(p.metadata.labels));
    const plan = planDaemonSet(ds, this.nodes.list(), pods, Date.now());

    const errors: unknown[] = [];
    await Promise.all(
      plan.delete.map(async (p) => {
        this.expectations.expectDeletion(key, p.metadata.uid!);
        try {
          await this.ctx.client.delete(resourcePath(R.pods, ns, p.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: p.metadata.uid } });
          this.recorder.event(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          this.expectations.deletionObserved(key, p.metadata.uid!);
          if (!isNotFound(e)) errors.push(e);
        }
      }),
    );
    if (plan.create.length) {
      const bindDirectly = !(await this.scheduler.isRunning());
      this.expectations.expectCreations(key, plan.create.length);
      await Promise.all(
        plan.create.map(async (node) => {
          try {
            const created = await this.ctx.client.create(resourcePath(R.pods, ns), daemonPod(ds, node, plan.hash, bindDirectly));
            this.recorder.event(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
          } catch (e) {
            this.expectations.creationObserved(key);
            this.recorder.event(ds, 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
            errors.push(e);
          }
        }),
      );
    }
    if (errors.length) throw errors[0];
    if (!stableEqual(plan.status, ds.status ?? {})) {
      const next = structuredClone(ds);
      next.status = plan.status;
      await this.ctx.client.update(resourcePath(R.daemonsets, ns, ds.metadata.name, 'status'), next);
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
  }
}

/** A daemon pod for one node: template, revision labels, daemon tolerations, pinned to the node. */
export function daemonPod(ds: KObject, node: string, hash: string, bindDirectly: boolean): KObject {
  const spec: Json = ds.spec ?? {};
  const labels: Record<string, string> = { [CONTROLLER_REVISION_HASH]: hash };
  if (ds.metadata.generation !== undefined) labels['pod-template-generation'] = String(ds.metadata.generation);
  const pod = podFromTemplate(spec.template, ds, KINDS.DaemonSet, { generateName: `${ds.metadata.name}-`, labels });
  const ps = pod.spec as Json;
  ps.tolerations = withDaemonTolerations(ps);
  pinToNode(ps, node);
  if (bindDirectly) ps.nodeName = node;
  return pod;
}

export const daemonSetController: ControllerFactory = (ctx) => new DaemonSetController(ctx);
