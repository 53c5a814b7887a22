// The StatefulSet controller: pods with stable names `<set>-<ordinal>`, stable network identity
// (hostname = pod name, subdomain = serviceName) and stable storage (one PersistentVolumeClaim
// per volumeClaimTemplate and pod, `<claim>-<pod>`, kept when the pod goes). The decisions live
// in statefulset-plan.ts. Revisions are told apart by the controller-revision-hash label only
// (ControllerRevision objects are not served), so a pod recreated below the partition gets the
// update revision's template: the old template is not kept anywhere.
import type { KObject } from '../../pkg/api/types.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf, type Informer } from '../../pkg/client/informer.js';
import { isAlreadyExists, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { selectorFromLabelSelector } from '../../pkg/api/labels.js';
import { Expectations } from '../daemonset/expectations.js';
import { CONTROLLER_REVISION_HASH, KINDS, controllerRef, isControlledBy, podFromTemplate, stableEqual, type Json } from '../daemonset/pod-util.js';
import { planStatefulSet } from './statefulset-plan.js';
import { ownedPodHandlers } from '../daemonset/owned-pods.js';

const PVCS = { group: '', version: 'v1', resource: 'persistentvolumeclaims' };
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

class StatefulSetController implements Controller {
  readonly name = 'statefulset-controller';
  private sets!: Informer;
  private pods!: Informer;
  private readonly queue: WorkQueue<string>;
  private readonly expectations = new Expectations();
  private readonly recorder: EventRecorder;
  private running = false;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue((k) => this.sync(k), { name: this.name, workers: 2, baseDelayMs: 100, maxDelayMs: 10_000 });
    this.recorder = ctx.recorder('statefulset-controller');
  }

  private enqueue(key: string | undefined): void {
    if (key && this.running) this.queue.add(key);
  }


  setup(): void {
    this.sets = this.ctx.informers.informer(R.statefulsets);
    this.pods = this.ctx.informers.informer(R.pods);
    this.sets.on({
      add: (s) => this.enqueue(keyOf(s)),
      update: (_o, s) => this.enqueue(keyOf(s)),
      delete: (s) => this.expectations.forget(keyOf(s)),
    });
    this.pods.on(ownedPodHandlers('StatefulSet', this.expectations, (k) => this.enqueue(k)));
  }

  run(): void {
    this.running = true;
    for (const s of this.sets.list()) this.queue.add(keyOf(s));
  }

  stop(): void {
    this.running = false;
    this.queue.shutdown();
  }

  private async sync(key: string): Promise<void> {
    const sts = this.sets.get(key);
    if (!sts || sts.metadata.deletionTimestamp) {
      this.expectations.forget(key);
      return;
    }
    if (!this.expectations.satisfied(key)) {
      this.queue.addAfter(key, 5_000);
      return;
    }
    const ns = sts.metadata.namespace!;
    const matches = selectorFromLabelSelector((sts.spec as Json)?.selector);
    const pods = this.pods.listNamespace(ns).filter((p) => isControlledBy(p, sts) && matches(p.metadata.labels));
    const plan = planStatefulSet(sts, pods, Date.now());

    const errors: unknown[] = [];
    await Promise.all(
      plan.delete.map(async (p) => {
        this.expectations.expectDeletion(key, p.metadata.uid!);
        try {
          await this.ctx.client.delete(resourcePath(R.pods, ns, p.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: p.metadata.uid } });
          this.recorder.event(sts, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata.name} in StatefulSet ${sts.metadata.name} successful`);
        } catch (e) {
          this.expectations.deletionObserved(key, p.metadata.uid!);
          if (!isNotFound(e)) errors.push(e);
        }
      }),
    );
    if (plan.create.length) {
      this.expectations.expectCreations(key, plan.create.length);
      await Promise.all(
        plan.create.map(async (ord) => {
          const pod = statefulPod(sts, ord, plan.updateRevision);
          try {
            await this.ensureClaims(sts, pod);
            await this.ctx.client.create(resourcePath(R.pods, ns), pod);
            this.recorder.event(sts, 'Normal', 'SuccessfulCreate', `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} successful`);
          } catch (e) {
            this.expectations.creationObserved(key);
            this.recorder.event(sts, 'Warning', 'FailedCreate', `create Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} failed error: ${(e as Error).message}`);
            errors.push(e);
          }
        }),
      );
    }
    if (errors.length) throw errors[0];
    if (!stableEqual(plan.status, sts.status ?? {})) {
      const next = structuredClone(sts);
      next.status = plan.status;
      await this.ctx.client.update(resourcePath(R.statefulsets, ns, sts.metadata.name, 'status'), next);
    }
    if (plan.requeueAfterMs !== undefined) this.queue.addAfter(key, plan.requeueAfterMs);
  }

  /** The pod's claims, created when missing; an existing claim is reused (that is the point). */
  private async ensureClaims(sts: KObject, pod: KObject): Promise<void> {
    for (const claim of statefulClaims(sts, pod.metadata.name!)) {
      try {
        await this.ctx.client.create(resourcePath(PVCS, sts.metadata.namespace), claim);
        this.recorder.event(sts, 'Normal', 'SuccessfulCreate', `create Claim ${claim.metadata.name} Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} success`);
      } catch (e) {
        if (!isAlreadyExists(e)) {
          this.recorder.event(sts, 'Warning', 'FailedCreate', `create Claim ${claim.metadata.name} for Pod ${pod.metadata.name} in StatefulSet ${sts.metadata.name} failed error: ${(e as Error).message}`);
          throw e;
        }
      }
    }
  }
}

/** The PersistentVolumeClaims of one pod, from the set's volumeClaimTemplates. */
export function statefulClaims(sts: KObject, podName: string): KObject[] {
  const spec: Json = sts.spec ?? {};
  const deleteWithSet = spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete';
  return ((spec.volumeClaimTemplates ?? []) as Json[]).map((t) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: `${t.metadata?.name}-${podName}`,
      namespace: sts.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), ...(spec.selector?.matchLabels ?? {}) },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ...(deleteWithSet ? { ownerReferences: [controllerRef(sts, KINDS.StatefulSet)] } : {}),
    },
    spec: structuredClone(t.spec ?? {}),
  }));
}

/** Pod `<set>-<ordinal>`: identity labels, hostname and subdomain, its claims as volumes. */
export function statefulPod(sts: KObject, ordinal: number, revision: string): KObject {
  const spec: Json = sts.spec ?? {};
  const name = `${sts.metadata.name}-${ordinal}`;
  const pod = podFromTemplate(spec.template, sts, KINDS.StatefulSet, {
    name,
    labels: { [CONTROLLER_REVISION_HASH]: revision, [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal) },
  });
  const ps = pod.spec as Json;
  ps.hostname = name;
  if (spec.serviceName) ps.subdomain = spec.serviceName;
  const claims = ((spec.volumeClaimTemplates ?? []) as Json[]).map((t) => String(t.metadata?.name));
  if (claims.length) {
    const volumes: Json[] = (ps.volumes ?? []).filter((v: Json) => !claims.includes(v?.name));
    for (const c of claims) volumes.push({ name: c, persistentVolumeClaim: { claimName: `${c}-${name}` } });
    ps.volumes = volumes;
  }
  return pod;
}

export const statefulSetController: ControllerFactory = (ctx) => new StatefulSetController(ctx);
