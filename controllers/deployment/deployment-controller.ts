// The Deployment controller: owns ReplicaSets by selector (adopting orphans, releasing what no
// longer matches), keeps one "new" RS per pod template (named <deployment>-<pod-template-hash>),
// rolls from old to new with the RollingUpdate or Recreate strategy, follows scaling, pausing and
// the revision history, and reports status with the Available and Progressing conditions.
import type { KObject } from '../../pkg/api/types.js';
import { isEmptyLabelSelector, selectorFromLabelSelector, type LabelMatcher } from '../../pkg/api/labels.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { resourcePath, type RestClient } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { logger } from '../../pkg/log/logger.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { claimObjects } from '../common/claim.js';
import { getCondition } from '../common/conditions.js';
import { controllerRefOf } from '../common/controller-ref.js';
import { splitKey } from '../common/keys.js';
import type { ReplicaSet } from '../replicaset/types.js';
import { PROGRESSING } from './deployment-status.js';
import { asReplicaSets, DeploymentSync } from './deployment-sync.js';
import { rolloutRecreate } from './recreate.js';
import { rolloutRolling } from './rolling.js';
import { DEPLOYMENT_KIND, type Deployment } from './types.js';

export class DeploymentController implements Controller {
  readonly name = 'deployment';
  private dInf!: Informer<Deployment>;
  private rsInf!: Informer<ReplicaSet>;
  private podInf!: Informer<KObject>;
  private queue?: WorkQueue<string>;
  private early = new Set<string>();
  private readonly client: RestClient;
  private readonly recorder: EventRecorder;
  private readonly log = logger('deployment-controller');

  constructor(private readonly ctx: ControllerContext) {
    this.client = ctx.client;
    this.recorder = ctx.recorder('deployment-controller');
  }

  setup(): void {
    this.dInf = this.ctx.informers.informer<Deployment>(R.deployments);
    this.rsInf = this.ctx.informers.informer<ReplicaSet>(R.replicasets);
    this.podInf = this.ctx.informers.informer<KObject>(R.pods);
    this.dInf.on({
      add: (d) => this.enqueue(keyOf(d)),
      update: (_o, d) => this.enqueue(keyOf(d)),
      delete: (d) => this.enqueue(keyOf(d)),
    });
    this.rsInf.on({
      add: (rs) => this.rsChanged(undefined, rs),
      update: (old, rs) => this.rsChanged(old, rs),
      delete: (rs) => this.rsChanged(undefined, rs),
    });
    // Recreate waits for the old pods to be gone; their deletion is what lets it continue.
    this.podInf.on({
      delete: (pod) => {
        const ref = controllerRefOf(pod);
        if (!ref || ref.kind !== 'ReplicaSet') return;
        const rs = this.rsInf.get(`${pod.metadata.namespace}/${ref.name}`);
        const d = rs && this.ownerOf(rs);
        if (d && d.spec.strategy?.type === 'Recreate') this.enqueue(keyOf(d));
      },
    });
  }

  run(): void {
    this.queue = new WorkQueue((key) => this.sync(key), { name: 'deployment-controller', workers: 5 });
    for (const k of this.early) this.queue.add(k);
    this.early.clear();
  }

  stop(): void {
    this.queue?.shutdown();
  }

  private enqueue(key: string, afterMs?: number): void {
    if (!this.queue) this.early.add(key);
    else if (afterMs !== undefined) this.queue.addAfter(key, afterMs);
    else this.queue.add(key);
  }

  private ownerOf(rs: KObject): Deployment | undefined {
    const ref = controllerRefOf(rs);
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const d = this.dInf.get(`${rs.metadata.namespace}/${ref.name}`);
    return d && d.metadata.uid === ref.uid ? d : undefined;
  }

  private rsChanged(old: ReplicaSet | undefined, rs: ReplicaSet): void {
    if (old && old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
    const oldRef = old && controllerRefOf(old);
    const ref = controllerRefOf(rs);
    if (old && oldRef && oldRef.uid !== ref?.uid) {
      const prev = this.ownerOf(old);
      if (prev) this.enqueue(keyOf(prev));
    }
    if (ref) {
      const d = this.ownerOf(rs);
      if (d) this.enqueue(keyOf(d));
      return;
    }
    // An orphan: every deployment that would adopt it.
    for (const d of this.dInf.listNamespace(rs.metadata.namespace ?? '')) {
      const m = matcherOf(d);
      if (m && m(rs.metadata.labels)) this.enqueue(keyOf(d));
    }
  }

  async sync(key: string): Promise<void> {
    const cached = this.dInf.get(key);
    if (!cached) return;
    const d: Deployment = { ...structuredClone(cached), apiVersion: DEPLOYMENT_KIND.apiVersion, kind: DEPLOYMENT_KIND.kind };
    const s = new DeploymentSync(
      { client: this.client, recorder: this.recorder, rsInformer: this.rsInf, requeueAfter: (ms) => this.enqueue(key, ms) },
      d,
    );
    const matches = matcherOf(d);
    if (!matches) {
      this.recorder.event(d, 'Warning', 'SelectingAll', 'This deployment is selecting all pods. A non-empty selector is required.');
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) await s.writeStatus({ ...(d.status ?? {}), observedGeneration: d.metadata.generation });
      return;
    }
    const { namespace } = splitKey(key);
    const claimed = await claimObjects(this.rsInf.listNamespace(namespace), {
      client: this.client,
      owner: d,
      ownerKind: DEPLOYMENT_KIND,
      matches,
      pathOf: (rs) => resourcePath(R.replicasets, rs.metadata.namespace, rs.metadata.name),
    });
    const rsList = asReplicaSets(claimed);

    if (d.metadata.deletionTimestamp) {
      // Being deleted: the garbage collector removes the RSs; only report.
      return s.syncStatusOnly(await s.replicaSets(rsList, false));
    }
    await this.checkPausedConditions(s);
    if (s.d.spec.paused) {
      const view = await s.replicaSets(rsList, false);
      await s.scale(view);
      await s.cleanup(view.oldRSs);
      return s.syncStatusOnly(view);
    }
    const view = await s.replicaSets(rsList, false);
    if (s.isScalingEvent(view)) {
      await s.scale(view);
      return s.syncStatusOnly(view);
    }
    if (s.d.spec.strategy?.type === 'Recreate') {
      return rolloutRecreate(s, rsList, (rs) => this.podInf.listNamespace(namespace).filter((p) => controllerRefOf(p)?.uid === rs.metadata.uid));
    }
    return rolloutRolling(s, rsList);
  }

  /** Progressing says Unknown/DeploymentPaused while paused and DeploymentResumed after. */
  private async checkPausedConditions(s: DeploymentSync): Promise<void> {
    const d = s.d;
    if (d.spec.progressDeadlineSeconds === undefined || d.spec.progressDeadlineSeconds === null) return;
    const cond = getCondition(d.status?.conditions, PROGRESSING);
    // A reported lack of progress stays visible rather than being masked by the pause.
    if (cond?.reason === 'ProgressDeadlineExceeded') return;
    const pausedShown = cond?.reason === 'DeploymentPaused';
    let next: { reason: string; message: string } | undefined;
    if (d.spec.paused && !pausedShown) next = { reason: 'DeploymentPaused', message: 'Deployment is paused' };
    else if (!d.spec.paused && pausedShown) next = { reason: 'DeploymentResumed', message: 'Deployment is resumed' };
    if (!next) return;
    const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const conds = (d.status?.conditions ?? []).filter((c) => c.type !== PROGRESSING);
    conds.push({ type: PROGRESSING, status: 'Unknown', ...next, lastUpdateTime: ts, lastTransitionTime: ts });
    await s.writeStatus({ ...(d.status ?? {}), conditions: conds });
  }
}

function matcherOf(d: Deployment): LabelMatcher | undefined {
  const sel = d.spec?.selector;
  if (!sel || isEmptyLabelSelector(sel)) return undefined;
  try {
    return selectorFromLabelSelector(sel);
  } catch {
    return undefined;
  }
}

export const deploymentController: ControllerFactory = (ctx) => new DeploymentController(ctx);
