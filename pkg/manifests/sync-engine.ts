// The one apply-and-prune engine, used by the Sync controller (git and directory sources) and by
// `skiff server|up -f PATH --watch`. A revision goes in all or nothing as far as the API lets us:
// every object is resolved and validated by a server-side dry-run apply before any is applied;
// then objects are applied in dependency order (CRDs, Namespaces, cluster-wide and configuration
// objects, Services, workloads, custom resources) with server-side apply, and what the previous
// inventory held but the revision no longer declares is pruned.
import type { KObject } from '../api/types.js';
import { parseApiVersion } from '../api/types.js';
import { ApiError, isNotFound, resourcePath, type GVR, type RestClient } from '../client/rest.js';
import { KindResolver } from './apply.js';
import type { Manifest } from './load.js';
import { entryId, entryOf, ownedBy, describeEntry, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, type InventoryEntry, type Owner } from './inventory.js';

export interface EngineOptions {
  /** server-side apply field manager */
  fieldManager: string;
  /** written as labels on every object; prune deletes only objects still labelled so */
  owner: Owner;
  /** namespace for namespaced objects that name none (default: "default") */
  targetNamespace?: string;
}

export interface PlannedObject {
  source: string;
  /** the object as it will be applied: namespace set, owner labels added */
  object: KObject;
  gvr: GVR;
  namespaced: boolean;
  entry: InventoryEntry;
  id: string;
  rank: number;
  /** its kind comes from a CRD of the same revision that the server does not serve yet */
  awaitsCrd: boolean;
  /** resourceVersion the dry run answered with (undefined: the object would be created) */
  dryRunRv?: string;
}

export interface AppliedObject extends PlannedObject {
  live: KObject;
  action: 'created' | 'configured' | 'unchanged';
}

export type FailureReason = 'BuildFailed' | 'ValidationFailed' | 'ApplyFailed' | 'PruneFailed';

export class SyncFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    readonly problems: string[],
  ) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`);
  }
}

export interface SyncOutcome {
  applied: AppliedObject[];
  pruned: InventoryEntry[];
  /** what the owner manages now: the plan, plus anything that could not be pruned */
  inventory: InventoryEntry[];
  /** problems after validation passed (apply or prune of some objects failed) */
  problems: string[];
  failure?: SyncFailure;
}

const CRD_GROUP = 'apiextensions.k8s.io';
const BUILTIN_GROUPS = new Set(['', 'apps', 'batch', 'autoscaling', 'policy', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io', 'storage.k8s.io', 'scheduling.k8s.io', 'node.k8s.io', CRD_GROUP, 'admissionregistration.k8s.io', 'certificates.k8s.io']);
const EARLY_KINDS = new Set(['ServiceAccount', 'Secret', 'ConfigMap', 'ResourceQuota', 'LimitRange', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass', 'StorageClass', 'PersistentVolume', 'PersistentVolumeClaim', 'NetworkPolicy']);
const SERVER_OWNED_META = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'];

function rankOf(group: string, kind: string): number {
  if (group === CRD_GROUP && kind === 'CustomResourceDefinition') return 0;
  if (group === '' && kind === 'Namespace') return 1;
  if (EARLY_KINDS.has(kind)) return 2;
  if (group === '' && kind === 'Service') return 3;
  if (!BUILTIN_GROUPS.has(group)) return 5;
  return 4;
}

function label(o: { source: string; object: KObject; namespaced?: boolean }): string {
  const ns = o.object.metadata.namespace;
  return `${o.source}: ${o.object.kind} ${ns ? `${ns}/` : ''}${o.object.metadata.name}`;
}

function apiMessage(e: unknown): string {
  return e instanceof ApiError ? e.message : (e as Error).message;
}

function rvNumber(rv: string | undefined): number {
  return rv && /^\d+$/.test(rv) ? Number(rv) : 0;
}

export class ApplyEngine {
  readonly resolver: KindResolver;

  constructor(
    private readonly client: RestClient,
    resolver?: KindResolver,
  ) {
    this.resolver = resolver ?? new KindResolver(client);
  }

  /** Resolves kinds and scopes, sets namespaces and owner labels; throws on what cannot be. */
  async plan(manifests: Manifest[], opts: EngineOptions): Promise<PlannedObject[]> {
    this.resolver.invalidate();
    const problems: string[] = [];
    const planned: PlannedObject[] = [];
    // CRDs of this revision: their kinds may not be served yet.
    const declared = new Map<string, { plural: string; namespaced: boolean }>();
    for (const m of manifests) {
      const o = m.object;
      if (o.kind !== 'CustomResourceDefinition' || parseApiVersion(o.apiVersion!).group !== CRD_GROUP) continue;
      const spec = o.spec as { group?: string; names?: { kind?: string; plural?: string }; scope?: string; versions?: { name: string }[] } | undefined;
      for (const v of spec?.versions ?? []) {
        if (spec?.group && spec.names?.kind && spec.names.plural) declared.set(`${spec.group}/${v.name}/${spec.names.kind}`, { plural: spec.names.plural, namespaced: spec.scope !== 'Cluster' });
      }
    }
    const seen = new Map<string, string>();
    for (const m of manifests) {
      const o = structuredClone(m.object);
      for (const k of SERVER_OWNED_META) delete o.metadata[k];
      delete o.status;
      const { group, version } = parseApiVersion(o.apiVersion!);
      let ref: { plural: string; namespaced: boolean };
      let awaitsCrd = false;
      try {
        ref = await this.resolver.resolve(o.apiVersion!, o.kind!);
      } catch (e) {
        const d = declared.get(`${group}/${version}/${o.kind}`);
        if (!d) {
          problems.push(`${m.source}: ${o.kind} ${o.metadata.name}: ${apiMessage(e)}`);
          continue;
        }
        ref = d;
        awaitsCrd = true;
      }
      if (ref.namespaced) o.metadata.namespace = o.metadata.namespace || opts.targetNamespace || 'default';
      else delete o.metadata.namespace;
      o.metadata.labels = { ...(o.metadata.labels ?? {}), [OWNER_NAME_LABEL]: opts.owner.name, [OWNER_NAMESPACE_LABEL]: opts.owner.namespace };
      const entry = entryOf(o);
      const id = entryId(entry);
      const prev = seen.get(id);
      if (prev !== undefined) {
        problems.push(`${m.source}: ${describeEntry(entry)} is also declared in ${prev}`);
        continue;
      }
      seen.set(id, m.source);
      planned.push({ source: m.source, object: o, gvr: { group, version, resource: ref.plural }, namespaced: ref.namespaced, entry, id, rank: rankOf(group, o.kind!), awaitsCrd });
    }
    if (problems.length) throw new SyncFailure('ValidationFailed', problems);
    // A stable sort keeps the files' order within a rank.
    return planned.map((p, i) => [p, i] as const).sort((a, b) => a[0].rank - b[0].rank || a[1] - b[1]).map(([p]) => p);
  }

  private path(p: PlannedObject, namespace = p.object.metadata.namespace): string {
    return resourcePath(p.gvr, p.namespaced ? namespace : undefined, p.object.metadata.name);
  }

  private applyQuery(opts: EngineOptions, dryRun: boolean) {
    return { fieldManager: opts.fieldManager, force: true, fieldValidation: 'Strict', ...(dryRun ? { dryRun: 'All' } : {}) };
  }

  /** Server-side dry-run apply of every object (objects awaiting a CRD are checked once it is served). */
  async validate(plan: PlannedObject[], opts: EngineOptions): Promise<void> {
    const problems: string[] = [];
    const newNamespaces = new Set(plan.filter((p) => p.object.kind === 'Namespace' && p.gvr.group === '').map((p) => p.object.metadata.name!));
    const missing = new Map<string, boolean>();
    const nsMissing = async (ns: string): Promise<boolean> => {
      let m = missing.get(ns);
      if (m === undefined) {
        try {
          await this.client.get(resourcePath({ group: '', version: 'v1', resource: 'namespaces' }, undefined, ns));
          m = false;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          m = true;
        }
        missing.set(ns, m);
      }
      return m;
    };
    await Promise.all(
      plan.map(async (p) => {
        if (p.awaitsCrd) return;
        const ns = p.object.metadata.namespace;
        try {
          if (p.namespaced && ns && newNamespaces.has(ns) && (await nsMissing(ns))) {
            // The namespace comes with this revision: check the object's content in one that exists.
            const probe = structuredClone(p.object);
            probe.metadata.namespace = 'default';
            await this.client.patch<KObject>(this.path(p, 'default'), probe, 'apply', this.applyQuery(opts, true));
            p.dryRunRv = undefined;
            return;
          }
          const r = await this.client.patch<KObject>(this.path(p), p.object, 'apply', this.applyQuery(opts, true));
          p.dryRunRv = r.metadata.creationTimestamp ? r.metadata.resourceVersion : undefined;
        } catch (e) {
          problems.push(`${label(p)}: ${apiMessage(e)}`);
        }
      }),
    );
    if (problems.length) throw new SyncFailure('ValidationFailed', problems);
  }

  private async applyOne(p: PlannedObject, opts: EngineOptions): Promise<AppliedObject> {
    const live = await this.client.patch<KObject>(this.path(p), p.object, 'apply', this.applyQuery(opts, false));
    const action = p.dryRunRv === undefined ? 'created' : live.metadata.resourceVersion === p.dryRunRv ? 'unchanged' : 'configured';
    return { ...p, live, action };
  }

  private async waitEstablished(names: string[], ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (const name of names) {
      for (;;) {
        const crd = await this.client.get<KObject>(resourcePath({ group: CRD_GROUP, version: 'v1', resource: 'customresourcedefinitions' }, undefined, name));
        const conds = (crd.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
        if (conds.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (Date.now() > deadline) throw new Error(`CustomResourceDefinition ${name} not established after ${ms / 1000}s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Applies a validated plan in order, then prunes (when asked) what `previous` holds and the plan
   * does not. Never throws for an object's failure: the outcome lists problems, and an inventory
   * that still covers everything applied or not yet pruned.
   */
  async apply(plan: PlannedObject[], previous: InventoryEntry[], opts: EngineOptions & { prune: boolean }): Promise<SyncOutcome> {
    const applied: AppliedObject[] = [];
    const problems: string[] = [];
    const crdsApplied: string[] = [];
    for (const p of plan) {
      try {
        if (p.awaitsCrd) {
          if (crdsApplied.length) {
            await this.waitEstablished(crdsApplied.splice(0));
            this.resolver.invalidate();
          }
          const ref = await this.resolver.resolve(p.object.apiVersion!, p.object.kind!);
          p.gvr = { ...p.gvr, resource: ref.plural };
          p.namespaced = ref.namespaced;
          p.awaitsCrd = false;
          await this.validate([p], opts);
        }
        const a = await this.applyOne(p, opts);
        applied.push(a);
        if (p.rank === 0) crdsApplied.push(p.object.metadata.name!);
      } catch (e) {
        problems.push(e instanceof SyncFailure ? e.message : `${label(p)}: ${apiMessage(e)}`);
      }
    }
    const wanted = new Set(plan.map((p) => p.id));
    const inventory = plan.filter((p) => applied.some((a) => a.id === p.id)).map((p) => p.entry);
    // Objects we failed to apply this time but managed before stay ours.
    for (const p of plan) if (!applied.some((a) => a.id === p.id) && previous.some((e) => entryId(e) === p.id)) inventory.push(p.entry);
    const pruned: InventoryEntry[] = [];
    const stale = previous.filter((e) => !wanted.has(entryId(e)));
    if (opts.prune && problems.length === 0) {
      const order = stale.map((e) => ({ e, rank: rankOf(parseApiVersion(e.apiVersion).group, e.kind) })).sort((a, b) => b.rank - a.rank);
      for (const { e } of order) {
        try {
          if (await this.pruneOne(e, opts.owner)) pruned.push(e);
        } catch (err) {
          problems.push(`prune ${describeEntry(e)}: ${apiMessage(err)}`);
          inventory.push(e);
        }
      }
    } else if (opts.prune) {
      // Half-applied revision: keep tracking the old objects, prune once a revision applies cleanly.
      inventory.push(...stale);
    }
    const failure = problems.length ? new SyncFailure(applied.length === plan.length ? 'PruneFailed' : 'ApplyFailed', problems) : undefined;
    return { applied, pruned, inventory, problems, failure };
  }

  /** Deletes an object this owner applied, unless it is gone or someone else owns it now. */
  private async pruneOne(e: InventoryEntry, owner: Owner): Promise<boolean> {
    let ref;
    try {
      ref = await this.resolver.resolve(e.apiVersion, e.kind);
    } catch {
      return true; // its kind is no longer served: nothing is left to delete
    }
    const { group, version } = parseApiVersion(e.apiVersion);
    const path = resourcePath({ group, version, resource: ref.plural }, ref.namespaced ? e.namespace : undefined, e.name);
    let live: KObject;
    try {
      live = await this.client.get<KObject>(path);
    } catch (err) {
      if (isNotFound(err)) return true;
      throw err;
    }
    if (!ownedBy(live, owner)) return false;
    if (live.metadata.annotations?.['gitops.skiff.dev/prune'] === 'disabled') return false;
    if (live.metadata.deletionTimestamp) return true;
    try {
      await this.client.delete(path, { propagationPolicy: 'Background', preconditions: { uid: live.metadata.uid } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return true;
  }

  /** Re-applies objects of an already validated plan (drift correction). */
  async reapply(objects: PlannedObject[], opts: EngineOptions): Promise<{ applied: AppliedObject[]; problems: string[] }> {
    const applied: AppliedObject[] = [];
    const problems: string[] = [];
    for (const p of objects) {
      try {
        const live = await this.client.patch<KObject>(this.path(p), p.object, 'apply', this.applyQuery(opts, false));
        applied.push({ ...p, live, action: 'configured' });
      } catch (e) {
        problems.push(`${label(p)}: ${apiMessage(e)}`);
      }
    }
    return { applied, problems };
  }

  /** Build, validate, apply and prune in one call; a build or validation failure applies nothing. */
  async sync(manifests: Manifest[], previous: InventoryEntry[], opts: EngineOptions & { prune: boolean }): Promise<SyncOutcome> {
    const plan = await this.plan(manifests, opts);
    await this.validate(plan, opts);
    return this.apply(plan, previous, opts);
  }
}

/** Whether a live object is at least as new as what our apply returned (informer caches lag). */
export function notOlderThan(live: KObject, applied: KObject): boolean {
  return rvNumber(live.metadata.resourceVersion) >= rvNumber(applied.metadata.resourceVersion);
}
