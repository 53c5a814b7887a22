// The ReplicaSet controller: keeps spec.replicas pods matching the template alive. It adopts
// orphans its selector matches and releases pods that stop matching, creates missing pods in
// slow-start batches and deletes surplus ones (the least useful first), and reports counts and
// the ReplicaFailure condition in status. Expectations keep it from acting twice on one
// ReplicaSet before its informer has seen the pods it created or deleted.
import type { KObject } from '../../pkg/api/types.js';
import { selectorFromLabelSelector, type LabelMatcher } from '../../pkg/api/labels.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { isNotFound, resourcePath, type RestClient } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { logger } from '../../pkg/log/logger.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { claimObjects } from '../common/claim.js';
import { controllerRefOf } from '../common/controller-ref.js';
import { Expectations } from '../common/expectations.js';
import { spamFiltered, type FilteredRecorder } from '../common/event-spam-filter.js';
import { canonicalJson } from '../common/hash.js';
import { splitKey } from '../common/keys.js';
import { podFromTemplate } from '../common/pod-template.js';
import { isPodActive, isPodReady, msUntilAvailable, rankPodsForDeletion } from '../common/pods.js';
import { slowStartBatch } from '../common/slow-start.js';
import { calculateReplicaSetStatus, errorMessage } from './replicaset-status.js';
import { REPLICASET_KIND, type ReplicaSet } from './types.js';

/** At most this many pods are created or deleted per sync, as Kubernetes' burstReplicas. */
export const BURST_REPLICAS = 500;

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  readonly expectations = new Expectations();
  private rsInf!: Informer<ReplicaSet>;
  private podInf!: Informer<KObject>;
  private queue?: WorkQueue<string>;
  /** keys seen before run(): caches may be partial until then */
  private early = new Set<string>();
  private readonly client: RestClient;
  private readonly recorder: FilteredRecorder;
  private readonly log = logger('replicaset-controller');

  constructor(private readonly ctx: ControllerContext) {
    this.client = ctx.client;
    this.recorder = spamFiltered(ctx.recorder('replicaset-controller'));
  }

  setup(): void {
    this.rsInf = this.ctx.informers.informer<ReplicaSet>(R.replicasets);
    this.podInf = this.ctx.informers.informer<KObject>(R.pods);
    this.rsInf.on({
      add: (rs) => this.enqueue(rs),
      update: (_old, rs) => this.enqueue(rs),
      delete: (rs) => {
        this.expectations.delete(keyOf(rs));
        this.enqueue(rs);
      },
    });
    this.podInf.on({
      add: (pod) => this.podAdded(pod),
      update: (old, pod) => this.podUpdated(old, pod),
      delete: (pod) => this.podDeleted(pod),
    });
  }

  run(): void {
    this.queue = new WorkQueue((key) => this.sync(key), { name: 'replicaset-controller', workers: 8 });
    for (const k of this.early) this.queue.add(k);
    this.early.clear();
  }

  stop(): void {
    this.queue?.shutdown();
  }

  /** Resolves when no work is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue?.idle() ?? Promise.resolve();
  }

  private enqueue(rs: KObject): void {
    this.enqueueKey(keyOf(rs));
  }

  private enqueueKey(key: string, afterMs?: number): void {
    if (!this.queue) this.early.add(key);
    else if (afterMs !== undefined) this.queue.addAfter(key, afterMs);
    else this.queue.add(key);
  }

  // ---- pod events ----

  /** The ReplicaSet a controller reference points at, if it still is that object. */
  private ownerOf(pod: KObject): ReplicaSet | undefined {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const rs = this.rsInf.get(`${pod.metadata.namespace}/${ref.name}`);
    return rs && rs.metadata.uid === ref.uid ? rs : undefined;
  }

  private matchingReplicaSets(pod: KObject): ReplicaSet[] {
    const out: ReplicaSet[] = [];
    for (const rs of this.rsInf.listNamespace(pod.metadata.namespace ?? '')) {
      const m = matcherOf(rs);
      if (m && m(pod.metadata.labels)) out.push(rs);
    }
    return out;
  }

  private podAdded(pod: KObject): void {
    if (pod.metadata.deletionTimestamp) {
      // Seen for the first time already terminating (e.g. after a relist): a deletion.
      this.podDeleted(pod);
      return;
    }
    if (controllerRefOf(pod)) {
      const rs = this.ownerOf(pod);
      if (!rs) return;
      this.expectations.creationObserved(keyOf(rs));
      this.enqueue(rs);
      return;
    }
    for (const rs of this.matchingReplicaSets(pod)) this.enqueue(rs);
  }

  private podUpdated(old: KObject, pod: KObject): void {
    if (old.metadata.resourceVersion === pod.metadata.resourceVersion) return;
    const labelsChanged = canonicalJson(old.metadata.labels ?? {}) !== canonicalJson(pod.metadata.labels ?? {});
    if (pod.metadata.deletionTimestamp) {
      // A terminating pod no longer counts: treat it as deleted now, not when it is finally gone.
      this.podDeleted(pod);
      if (labelsChanged) this.podDeleted(old);
      return;
    }
    const oldRef = controllerRefOf(old);
    const ref = controllerRefOf(pod);
    if (oldRef && oldRef.uid !== ref?.uid) {
      const prev = this.ownerOf(old);
      if (prev) this.enqueue(prev);
    }
    if (ref) {
      const rs = this.ownerOf(pod);
      if (!rs) return;
      this.enqueue(rs);
      // A pod that just became ready becomes available after minReadySeconds: look again then.
      const minReady = rs.spec.minReadySeconds ?? 0;
      if (minReady > 0 && !isPodReady(old) && isPodReady(pod)) this.enqueueKey(keyOf(rs), minReady * 1000 + 100);
      return;
    }
    if (labelsChanged || oldRef) for (const rs of this.matchingReplicaSets(pod)) this.enqueue(rs);
  }

  private podDeleted(pod: KObject): void {
    const rs = this.ownerOf(pod);
    if (!rs) return;
    const key = keyOf(rs);
    this.expectations.deletionObserved(key, pod.metadata.uid);
    this.enqueue(rs);
  }

  // ---- reconcile ----

  async sync(key: string): Promise<void> {
    const cached = this.rsInf.get(key);
    if (!cached) {
      this.expectations.delete(key);
      return;
    }
    const rs = structuredClone(cached);
    const matches = matcherOf(rs);
    if (!matches) {
      this.log.warn({ key }, 'invalid selector; not managing pods');
      return;
    }
    const { namespace } = splitKey(key);
    const needsSync = this.expectations.satisfied(key);
    const candidates = this.podInf.listNamespace(namespace).filter(isPodActive);
    const pods = await claimObjects(candidates, {
      client: this.client,
      owner: rs,
      ownerKind: REPLICASET_KIND,
      matches,
      pathOf: (p) => resourcePath(R.pods, p.metadata.namespace, p.metadata.name),
    });
    let manageError: unknown;
    if (needsSync && !rs.metadata.deletionTimestamp) {
      try {
        await this.manageReplicas(key, rs, pods);
      } catch (e) {
        manageError = e;
      }
    }
    // While pods it asked for are still arriving, the status would only be rewritten once per
    // arrival; the sync that sees the last of them writes it.
    if (!needsSync && !this.expectations.satisfied(key)) return;
    const now = Date.now();
    const status = calculateReplicaSetStatus(rs, pods, manageError, now);
    if (canonicalJson(status) !== canonicalJson(normalizedStatus(rs.status))) {
      try {
        await this.client.patch(resourcePath(R.replicasets, namespace, rs.metadata.name, 'status'), { status: { ...status, conditions: status.conditions ?? null } }, 'merge');
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    if (manageError) throw manageError;
    // Pods ready but not yet available: come back when the first of them is.
    const minReady = rs.spec.minReadySeconds ?? 0;
    if (minReady > 0) {
      const waits = pods.map((p) => msUntilAvailable(p, minReady, now)).filter((x): x is number => x !== undefined);
      if (waits.length) this.enqueueKey(key, Math.min(...waits) + 100);
    }
  }

  private async manageReplicas(key: string, rs: ReplicaSet, pods: KObject[]): Promise<void> {
    const want = rs.spec.replicas ?? 1;
    const diff = pods.length - want;
    const ns = rs.metadata.namespace!;
    if (diff < 0) {
      const n = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expectCreations(key, n);
      const owner: KObject = { ...rs, apiVersion: REPLICASET_KIND.apiVersion, kind: REPLICASET_KIND.kind };
      const { succeeded, errors } = await slowStartBatch(n, 1, async () => {
        try {
          const pod = await this.client.create(resourcePath(R.pods, ns), podFromTemplate(owner, REPLICASET_KIND, rs.spec.template ?? {}));
          this.recorder.event(owner, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`);
        } catch (e) {
          // This creation will never be observed.
          this.expectations.creationObserved(key);
          throw e;
        }
      });
      if (errors.length) {
        // Creations never attempted will not be observed either.
        const skipped = n - succeeded - errors.length;
        if (skipped > 0) this.expectations.creationObserved(key, skipped);
        const msg = errorMessage(errors[0]);
        this.recorder.event(owner, 'Warning', 'FailedCreate', `Error creating: ${msg}`);
        throw errors[0];
      }
      return;
    }
    if (diff > 0) {
      const n = Math.min(diff, BURST_REPLICAS);
      const victims = rankPodsForDeletion(pods, pods).slice(0, n);
      this.expectations.expectDeletions(
        key,
        victims.map((p) => p.metadata.uid!),
      );
      const owner: KObject = { ...rs, apiVersion: REPLICASET_KIND.apiVersion, kind: REPLICASET_KIND.kind };
      const errors: unknown[] = [];
      await Promise.all(
        victims.map(async (p) => {
          try {
            await this.client.delete(resourcePath(R.pods, ns, p.metadata.name), { preconditions: { uid: p.metadata.uid } });
            this.recorder.event(owner, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
          } catch (e) {
            this.expectations.deletionObserved(key, p.metadata.uid);
            if (isNotFound(e)) return;
            this.recorder.event(owner, 'Warning', 'FailedDelete', `Error deleting: ${errorMessage(e)}`);
            errors.push(e);
          }
        }),
      );
      if (errors.length) throw errors[0];
    }
  }
}

function matcherOf(rs: ReplicaSet): LabelMatcher | undefined {
  try {
    const sel = rs.spec?.selector;
    if (!sel || (!sel.matchLabels && !sel.matchExpressions?.length)) return undefined;
    return selectorFromLabelSelector(sel);
  } catch {
    return undefined;
  }
}

/** The stored status in the shape calculateReplicaSetStatus produces, to detect no-op writes. */
function normalizedStatus(s: ReplicaSet['status']): unknown {
  const out: Record<string, unknown> = {
    replicas: s?.replicas ?? 0,
    fullyLabeledReplicas: s?.fullyLabeledReplicas ?? 0,
    readyReplicas: s?.readyReplicas ?? 0,
    availableReplicas: s?.availableReplicas ?? 0,
    observedGeneration: s?.observedGeneration,
  };
  if (s?.conditions?.length) out.conditions = s.conditions;
  return out;
}

export const replicaSetController: ControllerFactory = (ctx) => new ReplicaSetController(ctx);
