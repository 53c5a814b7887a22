// One reconcile of one Deployment: the ReplicaSet and status writes that every strategy shares
// (finding or creating the new RS, keeping revisions, scaling with events, proportional scaling,
// history cleanup, status). Each write carries the resourceVersion it was computed from, so a
// stale cache ends in 409 and a retry rather than a lost update.
import type { KObject } from '../../pkg/api/types.js';
import { ApiError, isAlreadyExists, isNotFound, resourcePath, type RestClient } from '../../pkg/client/rest.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { R } from '../../pkg/client/informer-factory.js';
import type { Informer } from '../../pkg/client/informer.js';
import { getCondition, nowIso } from '../common/conditions.js';
import { isControlledBy, newControllerRef } from '../common/controller-ref.js';
import { canonicalJson, computeTemplateHash } from '../common/hash.js';
import { REPLICASET_KIND, type ReplicaSet } from '../replicaset/types.js';
import { calculateStatus, mirrorReplicaFailure, PROGRESSING, updateProgressing } from './deployment-status.js';
import { DEPLOYMENT_KIND, type Deployment, type DeploymentStatus } from './types.js';
import {
  byCreation,
  DESIRED_REPLICAS,
  equalIgnoreHash,
  findActiveOrLatest,
  findNewReplicaSet,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  newRSNewReplicas,
  POD_TEMPLATE_HASH,
  replicaAnnotationsChanged,
  replicaSetFraction,
  replicasOf,
  revisionOf,
  semanticTemplate,
  REVISION,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  specReplicas,
} from './util.js';

export interface SyncDeps {
  client: RestClient;
  recorder: EventRecorder;
  rsInformer: Informer<ReplicaSet>;
  /** look at this deployment again after ms */
  requeueAfter(ms: number): void;
}

export interface ReplicaSetsView {
  newRS?: ReplicaSet;
  oldRSs: ReplicaSet[];
}

export class DeploymentSync {
  constructor(
    readonly deps: SyncDeps,
    /** our working copy; replaced by the server's answer after each write of it */
    public d: Deployment,
  ) {}

  get ns(): string {
    return this.d.metadata.namespace!;
  }

  private rsPath(rs?: ReplicaSet, sub?: string): string {
    return resourcePath(R.replicasets, this.ns, rs?.metadata.name, sub);
  }

  private event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.deps.recorder.event(this.d, type, reason, message);
  }

  // ---- deployment writes ----

  private withKind(d: Deployment): Deployment {
    return { ...d, apiVersion: DEPLOYMENT_KIND.apiVersion, kind: DEPLOYMENT_KIND.kind };
  }

  async updateDeployment(): Promise<void> {
    this.d = this.withKind(await this.deps.client.update<Deployment>(resourcePath(R.deployments, this.ns, this.d.metadata.name), this.d));
  }

  async writeStatus(status: DeploymentStatus): Promise<void> {
    const body = { ...this.d, status };
    this.d = this.withKind(await this.deps.client.update<Deployment>(resourcePath(R.deployments, this.ns, this.d.metadata.name, 'status'), body));
  }

  // ---- replica sets ----

  /** Replaces rs's content with the server's answer (lists hold the same object). */
  private static refresh(rs: ReplicaSet, fresh: ReplicaSet): void {
    rs.metadata = fresh.metadata;
    rs.spec = fresh.spec;
    rs.status = fresh.status;
  }

  /**
   * The new RS (if any) and the old ones; keeps the new one's revision and annotations current
   * and the deployment's revision annotation in step. Creates the new RS when asked to.
   */
  async replicaSets(rsList: ReplicaSet[], create: boolean): Promise<ReplicaSetsView> {
    const existing = findNewReplicaSet(this.d, rsList);
    const oldRSs = rsList.filter((rs) => rs !== existing);
    const newRS = await this.newReplicaSet(existing, oldRSs, create);
    return { newRS, oldRSs };
  }

  private async newReplicaSet(existing: ReplicaSet | undefined, oldRSs: ReplicaSet[], create: boolean): Promise<ReplicaSet | undefined> {
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing) {
      const copy = structuredClone(existing);
      const annotationsChanged = setNewReplicaSetAnnotations(this.d, copy, newRevision, true);
      const minReady = this.d.spec.minReadySeconds ?? 0;
      const minReadyChanged = (copy.spec.minReadySeconds ?? 0) !== minReady;
      if (annotationsChanged || minReadyChanged) {
        copy.spec.minReadySeconds = minReady;
        DeploymentSync.refresh(existing, await this.deps.client.update<ReplicaSet>(this.rsPath(existing), copy));
      }
      const needsRevision = this.setDeploymentRevision(existing.metadata.annotations?.[REVISION] ?? String(newRevision));
      if (needsRevision) await this.updateDeployment();
      if (!getCondition(this.d.status?.conditions, PROGRESSING) && this.d.spec.progressDeadlineSeconds != null) {
        await this.setProgressing('True', 'FoundNewReplicaSet', `Found new replica set "${existing.metadata.name}"`);
      }
      return existing;
    }
    if (!create) return undefined;
    return this.createNewReplicaSet(oldRSs, newRevision);
  }

  private setDeploymentRevision(revision: string): boolean {
    const a = this.d.metadata.annotations ?? {};
    if (a[REVISION] === revision) return false;
    this.d.metadata.annotations = { ...a, [REVISION]: revision };
    return true;
  }

  private async setProgressing(status: 'True' | 'False' | 'Unknown', reason: string, message: string): Promise<void> {
    const ts = nowIso();
    const conds = (this.d.status?.conditions ?? []).filter((c) => c.type !== PROGRESSING);
    conds.push({ type: PROGRESSING, status, reason, message, lastUpdateTime: ts, lastTransitionTime: ts });
    await this.writeStatus({ ...(this.d.status ?? {}), conditions: conds });
  }

  private async createNewReplicaSet(oldRSs: ReplicaSet[], newRevision: number): Promise<ReplicaSet | undefined> {
    const d = this.d;
    const hash = computeTemplateHash(semanticTemplate(d.spec.template), d.status?.collisionCount);
    const template = semanticTemplate(d.spec.template);
    template.metadata = { ...(template.metadata ?? {}) };
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const selector = structuredClone(d.spec.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const rs: ReplicaSet = {
      apiVersion: REPLICASET_KIND.apiVersion,
      kind: REPLICASET_KIND.kind,
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: this.ns,
        labels: { ...template.metadata.labels },
        ownerReferences: [newControllerRef(d, DEPLOYMENT_KIND)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    rs.spec.replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    let created: ReplicaSet;
    try {
      created = await this.deps.client.create<ReplicaSet>(this.rsPath(), rs);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // Our own earlier creation the cache has not shown yet, or a hash collision.
      const found = this.deps.rsInformer.get(`${this.ns}/${rs.metadata.name}`) ?? (await this.deps.client.get<ReplicaSet>(this.rsPath(rs)));
      if (isControlledBy(found, d) && equalIgnoreHash(found.spec.template, d.spec.template)) return structuredClone(found);
      const collisionCount = (d.status?.collisionCount ?? 0) + 1;
      await this.writeStatus({ ...(d.status ?? {}), collisionCount });
      throw new ApiError(409, 'AlreadyExists', `replica set ${rs.metadata.name} exists with another template; collisionCount is now ${collisionCount}`);
    }
    if ((created.spec.replicas ?? 0) > 0) this.event('Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata.name} from 0 to ${created.spec.replicas}`);
    if (this.setDeploymentRevision(String(newRevision))) await this.updateDeployment();
    if (this.d.spec.progressDeadlineSeconds != null) {
      await this.setProgressing('True', 'NewReplicaSetCreated', `Created new replica set "${created.metadata.name}"`);
    }
    return created;
  }

  /** Sets the size (and the desired/max annotations); returns whether the size changed. */
  async scaleReplicaSet(rs: ReplicaSet, size: number): Promise<boolean> {
    const cur = rs.spec.replicas ?? 0;
    const desired = replicasOf(this.d);
    const max = desired + maxSurge(this.d);
    const sizeChanged = cur !== size;
    if (!sizeChanged && !replicaAnnotationsChanged(rs, desired, max)) return false;
    const copy = structuredClone(rs);
    copy.spec.replicas = size;
    setReplicasAnnotations(copy, desired, max);
    DeploymentSync.refresh(rs, await this.deps.client.update<ReplicaSet>(this.rsPath(rs), copy));
    if (sizeChanged) this.event('Normal', 'ScalingReplicaSet', `Scaled ${size > cur ? 'up' : 'down'} replica set ${rs.metadata.name} from ${cur} to ${size}`);
    return sizeChanged;
  }

  /** A scaling event: an RS with pods was sized for another replica count. */
  isScalingEvent(view: ReplicaSetsView): boolean {
    const want = String(replicasOf(this.d));
    const all = view.newRS ? [view.newRS, ...view.oldRSs] : view.oldRSs;
    return all.some((rs) => (rs.spec.replicas ?? 0) > 0 && rs.metadata.annotations?.[DESIRED_REPLICAS] !== undefined && rs.metadata.annotations[DESIRED_REPLICAS] !== want);
  }

  /** Follows a change of spec.replicas without a template change, proportionally across RSs. */
  async scale(view: ReplicaSetsView): Promise<void> {
    const { newRS, oldRSs } = view;
    const d = this.d;
    const want = replicasOf(d);
    const only = findActiveOrLatest(newRS, oldRSs);
    if (only) {
      await this.scaleReplicaSet(only, want);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const rs of oldRSs) if ((rs.spec.replicas ?? 0) > 0) await this.scaleReplicaSet(rs, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = (newRS ? [newRS, ...oldRSs] : [...oldRSs]).filter((rs) => (rs.spec.replicas ?? 0) > 0);
    const allowed = want > 0 ? want + maxSurge(d) : 0;
    const toAdd = allowed - specReplicas(all);
    // Grow the biggest (newest on ties) first; shrink the biggest (oldest on ties) first.
    const sorted = [...all].sort((a, b) => {
      const s = (b.spec.replicas ?? 0) - (a.spec.replicas ?? 0);
      if (s) return s;
      return toAdd > 0 ? -byCreation(a, b) : byCreation(a, b);
    });
    const sizes = new Map<ReplicaSet, number>();
    let added = 0;
    for (const rs of sorted) {
      let share = 0;
      if (toAdd !== 0 && toAdd !== added) {
        const fraction = replicaSetFraction(rs, d);
        const allowedLeft = toAdd - added;
        share = toAdd > 0 ? Math.min(fraction, allowedLeft) : Math.max(fraction, allowedLeft);
      }
      added += share;
      sizes.set(rs, (rs.spec.replicas ?? 0) + share);
    }
    // Rounding leftovers go to the largest RS.
    if (sorted.length && added !== toAdd) {
      const first = sorted[0]!;
      sizes.set(first, Math.max(0, sizes.get(first)! + (toAdd - added)));
    }
    for (const rs of sorted) await this.scaleReplicaSet(rs, Math.max(0, sizes.get(rs)!));
  }

  /** Deletes the oldest zero-sized RSs beyond revisionHistoryLimit. */
  async cleanup(oldRSs: ReplicaSet[]): Promise<void> {
    const limit = this.d.spec.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const alive = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    let diff = alive.length - limit;
    if (diff <= 0) return;
    const sorted = [...alive].sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of sorted) {
      if (diff <= 0) break;
      const busy = (rs.status?.replicas ?? 0) !== 0 || (rs.spec.replicas ?? 0) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0);
      if (busy) continue;
      try {
        await this.deps.client.delete(this.rsPath(rs), { preconditions: { uid: rs.metadata.uid } });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      diff--;
    }
  }

  // ---- status ----

  private statusChanged(s: DeploymentStatus): boolean {
    return canonicalJson(s) !== canonicalJson(this.d.status ?? {});
  }

  /** Counts and Available only (paused, scaling, deleting). */
  async syncStatusOnly(view: ReplicaSetsView): Promise<void> {
    const all = view.newRS ? [view.newRS, ...view.oldRSs] : view.oldRSs;
    const s = calculateStatus(this.d, all, view.newRS);
    mirrorReplicaFailure(s, view.newRS);
    if (this.statusChanged(s)) await this.writeStatus(s);
  }

  /** Counts, Available and Progressing; comes back when the progress deadline would pass. */
  async syncRolloutStatus(view: ReplicaSetsView): Promise<void> {
    const all = view.newRS ? [view.newRS, ...view.oldRSs] : view.oldRSs;
    const s = calculateStatus(this.d, all, view.newRS);
    updateProgressing(this.d, s, view.newRS);
    mirrorReplicaFailure(s, view.newRS);
    if (this.statusChanged(s)) await this.writeStatus(s);
    this.requeueForDeadline(s);
  }

  private requeueForDeadline(s: DeploymentStatus): void {
    const deadline = this.d.spec.progressDeadlineSeconds;
    if (deadline === undefined || deadline === null || this.d.spec.paused) return;
    const c = getCondition(s.conditions, PROGRESSING);
    if (!c || c.reason === 'NewReplicaSetAvailable' || c.reason === 'ProgressDeadlineExceeded') return;
    const from = Date.parse(c.lastUpdateTime ?? c.lastTransitionTime ?? '');
    if (Number.isNaN(from)) return;
    this.deps.requeueAfter(Math.max(0, from + deadline * 1000 - Date.now()) + 200);
  }
}

export function asReplicaSets(objs: KObject[]): ReplicaSet[] {
  return objs.map((o) => structuredClone(o) as ReplicaSet);
}
