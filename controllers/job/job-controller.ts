// The Job controller: runs a Job's pods to completion. It keeps `parallelism` pods running until
// `completions` have succeeded, counts failures against `backoffLimit` (with Kubernetes' growing
// delay before each retry), enforces `activeDeadlineSeconds`, honours `suspend`, and deletes the
// finished Job after `ttlSecondsAfterFinished` (Kubernetes does that in a separate TTL
// controller; here it is part of the same sync). The decisions live in job-plan.ts.
import type { KObject } from '../../pkg/api/types.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { selectorFromLabelSelector } from '../../pkg/api/labels.js';
import { Expectations } from '../daemonset/expectations.js';
import { KINDS, isControlledBy, podFromTemplate, stableEqual, type Json } from '../daemonset/pod-util.js';
import { COMPLETION_INDEX, finishedAt, isFinished, planJob } from './job-plan.js';
import { ownedPodHandlers } from '../daemonset/owned-pods.js';

const CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';
const JOB_NAME = 'batch.kubernetes.io/job-name';

export interface JobControllerConfig {
  /** first delay before recreating a failed pod (Kubernetes: 10 s) */
  backoffBaseMs?: number;
  now?: () => number;
}

class JobController implements Controller {
  readonly name = 'job-controller';
  private jobs!: Informer;
  private pods!: Informer;
  private readonly queue: WorkQueue<string>;
  private readonly expectations = new Expectations();
  private readonly recorder: EventRecorder;
  private running = false;
  private readonly now: () => number;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly cfg: JobControllerConfig,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), { name: this.name, workers: 4, baseDelayMs: 100, maxDelayMs: 10_000 });
    this.recorder = ctx.recorder('job-controller');
    this.now = cfg.now ?? Date.now;
  }

  private enqueue(key: string | undefined): void {
    if (key && this.running) this.queue.add(key);
  }


  setup(): void {
    this.jobs = this.ctx.informers.informer(R.jobs);
    this.pods = this.ctx.informers.informer(R.pods);
    this.jobs.on({
      add: (j) => this.enqueue(keyOf(j)),
      update: (_o, j) => this.enqueue(keyOf(j)),
      delete: (j) => this.expectations.forget(keyOf(j)),
    });
    this.pods.on(ownedPodHandlers('Job', this.expectations, (k) => this.enqueue(k)));
  }

  run(): void {
    this.running = true;
    for (const j of this.jobs.list()) this.queue.add(keyOf(j));
  }

  stop(): void {
    this.running = false;
    this.queue.shutdown();
  }

  private async sync(key: string): Promise<void> {
    const job = this.jobs.get(key);
    if (!job || job.metadata.deletionTimestamp) {
      this.expectations.forget(key);
      return;
    }
    const now = this.now();
    if (isFinished(job) && (await this.expireIfDue(job, key, now))) return;
    if (!this.expectations.satisfied(key)) {
      // The cache has not caught up with our last writes; their events will bring us back.
      this.queue.addAfter(key, 5_000);
      return;
    }
    const ns = job.metadata.namespace!;
    const matches = selectorFromLabelSelector((job.spec as Json)?.selector);
    const pods = this.pods.listNamespace(ns).filter((p) => isControlledBy(p, job) && matches(p.metadata.labels));
    const wasFinished = isFinished(job);
    const plan = planJob(job, pods, now, { backoffBaseMs: this.cfg.backoffBaseMs });

    await this.deletePods(job, key, plan.delete);
    await this.createPods(job, key, plan.create);
    for (const e of plan.events) this.recorder.event(job, e.type, e.reason, e.message);

    if (!stableEqual(plan.status, job.status ?? {})) {
      const next = structuredClone(job);
      next.status = plan.status;
      await this.ctx.client.update(resourcePath(R.jobs, ns, job.metadata.name, 'status'), next);
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs + 50);
    const ttl = (job.spec as Json)?.ttlSecondsAfterFinished;
    if (!wasFinished && typeof ttl === 'number' && (plan.status.conditions ?? []).some((c: Json) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) {
      this.queue.addAfter(key, ttl * 1000 + 50);
    }
  }

  /** ttlSecondsAfterFinished: deletes the Job (its pods follow through the garbage collector). */
  private async expireIfDue(job: KObject, key: string, now: number): Promise<boolean> {
    const ttl = (job.spec as Json)?.ttlSecondsAfterFinished;
    const at = finishedAt(job);
    if (typeof ttl !== 'number' || at === undefined) return false;
    const due = at + ttl * 1000;
    if (due > now) {
      this.queue.addAfter(key, due - now + 50);
      return false;
    }
    try {
      await this.ctx.client.delete(resourcePath(R.jobs, job.metadata.namespace, job.metadata.name), {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
        preconditions: { uid: job.metadata.uid },
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    return true;
  }

  private async deletePods(job: KObject, key: string, pods: KObject[]): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(
      pods.map(async (p) => {
        this.expectations.expectDeletion(key, p.metadata.uid!);
        try {
          await this.ctx.client.delete(resourcePath(R.pods, p.metadata.namespace, p.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: p.metadata.uid } });
          this.recorder.event(job, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          this.expectations.deletionObserved(key, p.metadata.uid!);
          if (!isNotFound(e)) errors.push(e);
        }
      }),
    );
    if (errors.length) throw errors[0];
  }

  private async createPods(job: KObject, key: string, indexes: (number | null)[]): Promise<void> {
    if (!indexes.length) return;
    this.expectations.expectCreations(key, indexes.length);
    const errors: unknown[] = [];
    await Promise.all(
      indexes.map(async (idx) => {
        try {
          const created = await this.ctx.client.create(resourcePath(R.pods, job.metadata.namespace), jobPod(job, idx));
          this.recorder.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
        } catch (e) {
          this.expectations.creationObserved(key);
          this.recorder.event(job, 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
          errors.push(e);
        }
      }),
    );
    if (errors.length) throw errors[0];
  }
}

/** A pod of a Job: the template with the job labels, and for Indexed jobs its completion index. */
export function jobPod(job: KObject, index: number | null): KObject {
  const spec: Json = job.spec ?? {};
  const name = job.metadata.name!;
  const labels: Record<string, string> = {};
  if (spec.manualSelector !== true) {
    labels[CONTROLLER_UID] = job.metadata.uid!;
    labels['controller-uid'] = job.metadata.uid!;
    labels[JOB_NAME] = name;
    labels['job-name'] = name;
  }
  const annotations: Record<string, string> = {};
  if (index !== null) {
    labels[COMPLETION_INDEX] = String(index);
    annotations[COMPLETION_INDEX] = String(index);
  }
  const pod = podFromTemplate(spec.template, job, KINDS.Job, { generateName: index === null ? `${name}-` : `${name}-${index}-`, labels, annotations });
  if (index !== null) {
    const ps = pod.spec as Json;
    if (!ps.hostname) ps.hostname = `${name}-${index}`;
    const env = { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX}']` } } };
    for (const c of [...(ps.initContainers ?? []), ...(ps.containers ?? [])]) {
      c.env = [...(c.env ?? []).filter((e: Json) => e?.name !== env.name), env];
    }
  }
  return pod;
}

export function jobControllerWith(cfg: JobControllerConfig): ControllerFactory {
  return (ctx) => new JobController(ctx, cfg);
}

export const jobController: ControllerFactory = jobControllerWith({});
