// The CronJob controller: creates a Job for each scheduled time, keeps status.active,
// lastScheduleTime and lastSuccessfulTime, trims finished Jobs to the history limits, and wakes
// up again at the next scheduled time. The decisions live in cronjob-plan.ts; the clock is
// injectable so they can be driven in tests.
import type { KObject } from '../../pkg/api/types.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { isAlreadyExists, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { controllerOf, isControlledBy, stableEqual, type Json } from '../daemonset/pod-util.js';
import { isFinished } from '../job/job-plan.js';
import { jobRef, planCronJob } from './cronjob-plan.js';

export interface CronJobControllerConfig {
  now?: () => number;
}

class CronJobController implements Controller {
  readonly name = 'cronjob-controller';
  private cronjobs!: Informer;
  private jobs!: Informer;
  private readonly queue: WorkQueue<string>;
  private readonly recorder: EventRecorder;
  private running = false;
  private readonly now: () => number;

  constructor(
    private readonly ctx: ControllerContext,
    cfg: CronJobControllerConfig,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), { name: this.name, workers: 2, baseDelayMs: 200, maxDelayMs: 30_000 });
    this.recorder = ctx.recorder('cronjob-controller');
    this.now = cfg.now ?? Date.now;
  }

  private enqueue(key: string | undefined): void {
    if (key && this.running) this.queue.add(key);
  }

  private ownerKey(job: KObject): string | undefined {
    const ref = controllerOf(job);
    return ref?.kind === 'CronJob' ? `${job.metadata.namespace}/${ref.name}` : undefined;
  }

  setup(): void {
    this.cronjobs = this.ctx.informers.informer(R.cronjobs);
    this.jobs = this.ctx.informers.informer(R.jobs);
    this.cronjobs.on({ add: (c) => this.enqueue(keyOf(c)), update: (_o, c) => this.enqueue(keyOf(c)) });
    this.jobs.on({
      add: (j) => this.enqueue(this.ownerKey(j)),
      update: (_o, j) => this.enqueue(this.ownerKey(j)),
      delete: (j) => this.enqueue(this.ownerKey(j)),
    });
  }

  run(): void {
    this.running = true;
    for (const c of this.cronjobs.list()) this.queue.add(keyOf(c));
  }

  stop(): void {
    this.running = false;
    this.queue.shutdown();
  }

  private async sync(key: string): Promise<void> {
    const cj = this.cronjobs.get(key);
    if (!cj) return;
    const ns = cj.metadata.namespace!;
    const owned = this.jobs.listNamespace(ns).filter((j) => isControlledBy(j, cj));
    // A Job in status.active that the cache does not show may just be newer than the cache: ask.
    for (const ref of ((cj.status as Json | undefined)?.active ?? []) as Json[]) {
      if (owned.some((j) => j.metadata.uid === ref.uid)) continue;
      try {
        const j = await this.ctx.client.get(resourcePath(R.jobs, ns, ref.name));
        if (j.metadata.uid === ref.uid) owned.push(j);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    const plan = planCronJob(cj, owned, this.now());

    for (const j of plan.delete) {
      try {
        await this.ctx.client.delete(resourcePath(R.jobs, ns, j.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: j.metadata.uid } });
        this.recorder.event(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (plan.create) {
      const job = await this.createJob(cj, plan.create.job);
      if (!isFinished(job)) {
        const active: Json[] = (plan.status.active ?? []).filter((r: Json) => r.uid !== job.metadata.uid);
        plan.status.active = [...active, jobRef(job)];
      }
    }
    for (const e of plan.events) this.recorder.event(cj, e.type, e.reason, e.message);
    if (!stableEqual(plan.status, cj.status ?? {})) {
      const next = structuredClone(cj);
      next.status = plan.status;
      await this.ctx.client.update(resourcePath(R.cronjobs, ns, cj.metadata.name, 'status'), next);
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
  }

  /** Creates the run's Job; one that exists already and is ours counts as created. */
  private async createJob(cj: KObject, body: KObject): Promise<KObject> {
    const ns = cj.metadata.namespace!;
    try {
      const job = await this.ctx.client.create(resourcePath(R.jobs, ns), body);
      this.recorder.event(cj, 'Normal', 'SuccessfulCreate', `Created job ${job.metadata.name}`);
      return job;
    } catch (e) {
      if (!isAlreadyExists(e)) {
        this.recorder.event(cj, 'Warning', 'FailedCreate', `Error creating job: ${(e as Error).message}`);
        throw e;
      }
      const existing = await this.ctx.client.get(resourcePath(R.jobs, ns, body.metadata.name));
      if (!isControlledBy(existing, cj)) {
        this.recorder.event(cj, 'Warning', 'FailedCreate', `Error creating job: job ${existing.metadata.name} already exists and is not owned by this CronJob`);
        throw e;
      }
      return existing;
    }
  }
}

export function cronJobControllerWith(cfg: CronJobControllerConfig): ControllerFactory {
  return (ctx) => new CronJobController(ctx, cfg);
}

export const cronJobController: ControllerFactory = cronJobControllerWith({});
