// The generic registry: create / get / list / update / patch / delete for any resource, given its
// Strategy (the role of Kubernetes' genericregistry.Store). Reads come from the watch cache;
// writes go to the store with compare-and-swap on the object's revision and return once the cache
// has seen them, so a client that writes then lists sees its write.
import { randomUUID, randomBytes } from 'node:crypto';
import type { FieldError, KObject, ObjectMeta } from '../../pkg/api/types.js';
import { apiVersionOf } from '../../pkg/api/types.js';
import { errors, StatusError } from '../status.js';
import { ConflictError, KeyExistsError, NotFoundError, type Store } from '../storage/store.js';
import type { CachedObject, WatchCache } from '../cache/watch-cache.js';
import type { Strategy } from './strategy.js';
import { objectKey, resourcePrefix } from './keys.js';
import { managerOf, type RequestContext } from './context.js';
import { validateObjectMeta, validateObjectMetaUpdate } from './meta-validation.js';
import { applyJsonPatch } from '../patch/json-patch.js';
import { applyMergePatch } from '../patch/merge-patch.js';
import { applyStrategicMergePatch } from '../patch/strategic-merge-patch.js';
import { serverSideApply, updateManagedFields } from '../patch/apply.js';
import { fieldSelectorMatcher, labelSelectorMatcher, type ObjectMatcher } from './selection.js';

/** Per-resource knowledge that comes from schemas (built-in OpenAPI or a CRD's). */
export interface SchemaHooks {
  /**
   * Unknown fields (paths like 'spec.replicass') and JSON type mismatches (one message each) of a
   * decoded body; with prune, unknown fields are dropped from obj (what decoding into Go structs
   * does in Kubernetes).
   */
  check(obj: KObject, prune: boolean): { unknown: string[]; mismatches: string[] };
  /** schema validation (custom resources) */
  validate?(obj: KObject): FieldError[];
  /** list merge strategy for strategic merge patch and apply; undefined = built-in merge keys */
  listStrategy?: (path: string[]) => unknown;
  /** strategic merge patch is not allowed (custom resources) */
  noStrategicMerge?: boolean;
}

/** A subresource that writes one part of the object (pods/ephemeralcontainers), as status writes status. */
export interface PartialWrite {
  /** the object to store: the stored one with the part taken from the request */
  prepare(next: KObject, old: KObject): KObject;
  /** checks of the change, in place of the kind's update validation */
  validate(next: KObject, old: KObject): FieldError[];
}

export interface NamespaceLookup {
  /** 'Active', 'Terminating', or undefined when the namespace does not exist */
  phase(name: string): 'Active' | 'Terminating' | undefined;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: CachedObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteResult {
  obj: KObject;
  json: string;
  /** true when a create happened (201) */
  created?: boolean;
  /** delete: true when the object is gone, false when deletion is pending (finalizers, grace) */
  deleted?: boolean;
}

interface ContinueToken {
  rv: number;
  start: string;
}

const MAX_CAS_RETRIES = 20;

/** Deep copy of API data (plain JSON): a JSON round trip is several times faster than structuredClone. */
function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Everything but metadata and status: what a spec change means for metadata.generation. */
function specPart(obj: KObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

export class ResourceRegistry {
  readonly prefix: string;
  readonly apiVersion: string;
  /**
   * Work on a validated new object just before it is stored (Service IP and port allocation);
   * returns an undo for when the create fails. Not run for dry runs.
   */
  beforeCreate?: (obj: KObject) => () => void;
  /** The same for an update of the main resource (not its subresources), given the stored object. */
  beforeUpdate?: (obj: KObject, old: KObject) => () => void;
  /**
   * Admission of a new object once it is valid and its namespace is known to be active (the Pod
   * ServiceAccount step): may change it or throw a StatusError. Runs for dry runs too.
   */
  admitCreate?: (obj: KObject, ctx: RequestContext) => void;
  /** Subresources that write a part of the object, by name. */
  partialWrites?: Record<string, PartialWrite>;
  /** Work after a create is committed and before it is answered (a new Namespace's default ServiceAccount); must not throw. */
  afterCreate?: (obj: KObject) => Promise<void>;

  constructor(
    readonly strategy: Strategy,
    private readonly store: Store,
    private readonly cache: WatchCache,
    private readonly namespaces: NamespaceLookup,
    readonly schema: SchemaHooks,
  ) {
    this.prefix = resourcePrefix(strategy.info);
    this.apiVersion = apiVersionOf(strategy.info.group, strategy.info.version);
  }

  get info() {
    return this.strategy.info;
  }

  key(namespace: string | undefined, name: string): string {
    return objectKey(this.info, namespace, name);
  }

  private notFound(name: string): StatusError {
    return errors.notFound(this.info.plural, this.info.group, name);
  }

  private hasStatus(): boolean {
    return this.info.subresources?.includes('status') ?? false;
  }

  // ---- reads -------------------------------------------------------------------------------

  get(namespace: string | undefined, name: string): CachedObject {
    const c = this.cache.get(this.key(namespace, name));
    if (!c) throw this.notFound(name);
    return c;
  }

  /** A get as Kubernetes serves one without a resourceVersion: every acknowledged write is seen. */
  async getConsistent(namespace: string | undefined, name: string): Promise<CachedObject> {
    await this.cache.catchUp();
    const c = this.cache.get(this.key(namespace, name));
    if (!c) throw this.notFound(name);
    return c;
  }

  matcher(opts: { labelSelector?: string; fieldSelector?: string }): ObjectMatcher | undefined {
    const l = opts.labelSelector ? labelSelectorMatcher(opts.labelSelector) : undefined;
    const f = opts.fieldSelector ? fieldSelectorMatcher(opts.fieldSelector, this.strategy) : undefined;
    if (!l && !f) return undefined;
    return (o) => (!l || l(o)) && (!f || f(o));
  }

  async list(namespace: string | undefined, opts: ListOptions): Promise<ListResult> {
    const match = this.matcher(opts);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    let token: ContinueToken | undefined;
    if (opts.continue) token = decodeContinue(opts.continue);
    const nsPrefix = namespace ? `${this.prefix}${namespace}/` : this.prefix;

    // A paged list reads one consistent revision. The cache only holds the present, so a later
    // page is served from it only if nothing has changed since the first page; otherwise from the
    // store at the first page's revision (or 410 if that has been compacted).
    if (token && token.rv !== this.cache.revision) return this.listFromStore(nsPrefix, token, limit, match);

    if (opts.resourceVersion && opts.resourceVersion !== '0' && !token) {
      const rv = parseRv(opts.resourceVersion);
      if (opts.resourceVersionMatch === 'Exact' && rv !== this.cache.revision) {
        return this.listFromStore(nsPrefix, { rv, start: nsPrefix }, limit, match);
      }
      if (rv > this.cache.revision) await this.waitForRevision(rv);
    } else if (!opts.resourceVersion && !token) {
      await this.cache.catchUp();
    }
    const rv = this.cache.revision;
    let all = this.cache.list(this.prefix, namespace);
    if (token) {
      const start = token.start;
      let lo = 0;
      while (lo < all.length && all[lo]!.key < start) lo++;
      all = all.slice(lo);
    }
    const items: CachedObject[] = [];
    let i = 0;
    for (; i < all.length; i++) {
      const c = all[i]!;
      if (match && !match(c.obj)) continue;
      if (limit && items.length === limit) break;
      items.push(c);
    }
    const result: ListResult = { items, resourceVersion: String(rv) };
    if (limit && i < all.length) {
      result.continue = encodeContinue({ rv, start: all[i]!.key });
      if (!match) result.remainingItemCount = all.length - i;
    }
    return result;
  }

  private async waitForRevision(rv: number): Promise<void> {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(() => reject(errors.timeout(`Too large resource version: ${rv}, current: ${this.cache.revision}`)), 3000).unref(),
    );
    await Promise.race([this.cache.waitFor(rv), timer]);
  }

  private async listFromStore(nsPrefix: string, token: ContinueToken, limit: number, match?: ObjectMatcher): Promise<ListResult> {
    const items: CachedObject[] = [];
    let start = token.start;
    for (;;) {
      let res;
      try {
        res = await this.store.list(nsPrefix, { revision: token.rv, startKey: start, limit: limit ? limit + 1 : 0 });
      } catch (e) {
        if ((e as Error).name === 'CompactedError' || (e as Error).constructor?.name === 'CompactedError') {
          throw errors.gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
        }
        throw e;
      }
      let next: string | undefined;
      for (const kv of res.kvs) {
        if (limit && items.length === limit) {
          next = kv.key;
          break;
        }
        const obj = JSON.parse(kv.value) as KObject;
        obj.metadata.resourceVersion = String(kv.modRevision);
        if (match && !match(obj)) continue;
        items.push({ key: kv.key, obj, json: JSON.stringify(obj), rev: kv.modRevision });
      }
      if (next) return { items, resourceVersion: String(token.rv), continue: encodeContinue({ rv: token.rv, start: next }) };
      if (!res.more || res.kvs.length === 0) return { items, resourceVersion: String(token.rv) };
      start = res.kvs[res.kvs.length - 1]!.key + '\u0000';
    }
  }

  // ---- decoding of request bodies ----------------------------------------------------------

  /** Checks type meta and unknown fields, then prunes. Returns the object to work with. */
  decode(ctx: RequestContext, body: unknown, what: string = this.info.kind): KObject {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw errors.badRequest(`the body of the request must be a JSON object describing a ${this.info.kind}`);
    }
    const obj = body as KObject;
    if (obj.apiVersion !== undefined && obj.apiVersion !== this.apiVersion) {
      throw errors.badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${this.apiVersion})`);
    }
    if (obj.kind !== undefined && obj.kind !== what) {
      throw errors.badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${what})`);
    }
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (typeof obj.metadata !== 'object' || Array.isArray(obj.metadata)) {
      throw errors.badRequest(`${what} in version "${this.info.version}" cannot be handled as a ${what}: metadata must be an object`);
    }
    // null decodes to "absent" in Kubernetes (Go nil maps and slices are omitted).
    for (const k of Object.keys(obj.metadata)) if (obj.metadata[k] === null) delete obj.metadata[k];
    const problems = this.schema.check(obj, true);
    if (problems.mismatches.length) {
      throw errors.badRequest(`${what} in version "${this.info.version}" cannot be handled as a ${what}: ${problems.mismatches.join(', ')}`);
    }
    if (problems.unknown.length && ctx.fieldValidation !== 'Ignore') {
      const list = problems.unknown.map((p) => `unknown field "${p.replace(/^\./, '')}"`);
      if (ctx.fieldValidation === 'Strict') {
        throw errors.badRequest(`${what} in version "${this.info.version}" cannot be handled as a ${what}: strict decoding error: ${list.join(', ')}`);
      }
      ctx.warnings.push(...list);
    }
    obj.apiVersion = this.apiVersion;
    obj.kind = what;
    return obj;
  }

  private checkNamespace(namespace: string | undefined, obj: KObject): void {
    if (!this.info.namespaced) {
      if (obj.metadata.namespace) delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    obj.metadata.namespace = namespace ?? obj.metadata.namespace;
  }

  private validateNew(obj: KObject): void {
    const errs: FieldError[] = [
      ...validateObjectMeta(obj, { namespaced: this.info.namespaced, kind: this.info.kind }),
      ...(this.strategy.validate?.(obj) ?? []),
      ...(this.schema.validate?.(obj) ?? []),
    ];
    if (errs.length) throw errors.invalid(this.info.kind, this.info.group, obj.metadata.name ?? '', errs);
  }

  private validateChange(obj: KObject, old: KObject, partial?: PartialWrite): void {
    const errs: FieldError[] = [
      ...validateObjectMeta(obj, { namespaced: this.info.namespaced, kind: this.info.kind }),
      ...validateObjectMetaUpdate(obj, old),
      ...(this.strategy.validate?.(obj) ?? []),
      ...((partial ? partial.validate(obj, old) : this.strategy.validateUpdate?.(obj, old)) ?? []),
      ...(this.schema.validate?.(obj) ?? []),
    ];
    if (errs.length) throw errors.invalid(this.info.kind, this.info.group, obj.metadata.name ?? '', errs);
  }

  // ---- create ------------------------------------------------------------------------------

  async create(ctx: RequestContext, namespace: string | undefined, body: unknown): Promise<WriteResult> {
    const obj = this.decode(ctx, body);
    return this.createObject(ctx, namespace, obj);
  }

  private async createObject(ctx: RequestContext, namespace: string | undefined, obj: KObject, managed?: ObjectMeta['managedFields']): Promise<WriteResult> {
    this.checkNamespace(namespace, obj);
    const meta = obj.metadata;
    if (meta.resourceVersion) throw errors.badRequest('resourceVersion should not be set on objects to be created');
    if (!meta.name && meta.generateName && typeof meta.generateName === 'string') {
      meta.name = meta.generateName + randomSuffix();
    }
    if (!meta.name) {
      throw errors.invalid(this.info.kind, this.info.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = isoSeconds(ctx.now);
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (this.strategy.hasGeneration) meta.generation = 1;
    else delete meta.generation;
    // The status of a kind with a status subresource is the controllers' to write (Nodes excepted:
    // kubelets register them with their status).
    if (this.hasStatus() && this.info.kind !== 'Node') delete obj.status;
    this.strategy.prepareForCreate?.(obj);
    this.strategy.defaults?.(obj);
    this.validateNew(obj);
    // What a create depends on (its namespace, a pod's ServiceAccount) may have been written through
    // another server a moment ago: on a miss, catch the cache up with the store and look again.
    if (this.info.namespaced && !this.namespaces.phase(meta.namespace!)) await this.cache.catchUp();
    if (this.info.namespaced) this.requireNamespace(meta.namespace!);
    try {
      this.admitCreate?.(obj, ctx);
    } catch (e) {
      if (!(e instanceof StatusError) || !this.cache.sharedWriters) throw e;
      await this.cache.catchUp();
      this.admitCreate?.(obj, ctx);
    }
    obj.metadata.managedFields =
      managed ?? updateManagedFields(undefined, obj, { manager: managerOf(ctx), apiVersion: this.apiVersion, now: isoSeconds(ctx.now) });
    if (obj.metadata.managedFields && obj.metadata.managedFields.length === 0) delete obj.metadata.managedFields;
    const key = this.key(meta.namespace, meta.name);
    if (ctx.dryRun) {
      if (this.cache.get(key)) throw errors.alreadyExists(this.info.plural, this.info.group, meta.name);
      return { obj, json: JSON.stringify(obj), created: true };
    }
    if (this.cache.get(key)) throw errors.alreadyExists(this.info.plural, this.info.group, meta.name);
    const undo = this.beforeCreate?.(obj);
    let result: WriteResult;
    try {
      const kv = await this.store.create(key, serialize(obj));
      result = await this.committed(key, obj, kv.modRevision, { created: true });
    } catch (e) {
      if (e instanceof KeyExistsError) throw errors.alreadyExists(this.info.plural, this.info.group, meta.name);
      throw e;
    } finally {
      // Once committed the cache shows what is in use; the reservation is no longer needed.
      undo?.();
    }
    await this.afterCreate?.(result.obj);
    return result;
  }

  private requireNamespace(ns: string): void {
    const phase = this.namespaces.phase(ns);
    if (!phase) throw errors.notFound('namespaces', '', ns);
    if (phase === 'Terminating') {
      throw new StatusError(403, 'Forbidden', `${this.info.plural}${this.info.group ? '.' + this.info.group : ''} "" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        kind: this.info.plural,
        group: this.info.group || undefined,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  private async committed(key: string, obj: KObject, rev: number, extra: Partial<WriteResult> = {}): Promise<WriteResult> {
    await this.cache.waitFor(rev);
    obj.metadata.resourceVersion = String(rev);
    return { obj, json: JSON.stringify(obj), ...extra };
  }

  // ---- update / patch ----------------------------------------------------------------------

  /**
   * The read-modify-write loop shared by update, patch and subresource writes. `mutate` gets a
   * private copy of the current object and returns the desired one; on a revision conflict the
   * loop reruns it on the newer object unless the caller pinned a resourceVersion.
   */
  private async modify(
    ctx: RequestContext,
    namespace: string | undefined,
    name: string,
    mutate: (cur: KObject) => KObject,
    opts: { subresource?: string; pinned?: (next: KObject) => string | undefined; managedFields?: 'keep' | 'update' } = {},
  ): Promise<WriteResult> {
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const cur = this.cache.get(key);
      if (!cur) throw this.notFound(name);
      const old = cur.obj;
      // The cached serialization is a ready-made private copy.
      let next = mutate(JSON.parse(cur.json) as KObject);
      const pinnedRv = opts.pinned?.(next);
      if (pinnedRv && pinnedRv !== old.metadata.resourceVersion) {
        throw errors.conflict(this.info.plural, this.info.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      next = this.prepareUpdate(ctx, next, old, opts.subresource, opts.managedFields ?? 'update');
      if (sameJson(stripRv(next), stripRv(old))) return { obj: old, json: cur.json };
      // Deletion completes when the last finalizer of an object being deleted is removed.
      const finishing = next.metadata.deletionTimestamp && !(next.metadata.finalizers?.length) && !specFinalizers(next).length;
      if (ctx.dryRun) return { obj: next, json: JSON.stringify(next) };
      const undo = opts.subresource || finishing ? undefined : this.beforeUpdate?.(next, old);
      try {
        if (finishing && this.isGracefullyDone(next)) {
          const kv = await this.store.delete(key, cur.rev);
          return await this.committed(key, next, kv.modRevision, { deleted: true });
        }
        const kv = await this.store.update(key, serialize(next), cur.rev);
        return await this.committed(key, next, kv.modRevision);
      } catch (e) {
        if (e instanceof ConflictError) {
          if (pinnedRv || attempt >= MAX_CAS_RETRIES) {
            throw errors.conflict(this.info.plural, this.info.group, name, 'the object has been modified; please apply your changes to the latest version and try again');
          }
          await this.cache.waitFor(e.current.modRevision);
          continue;
        }
        if (e instanceof NotFoundError) throw this.notFound(name);
        throw e;
      } finally {
        undo?.();
      }
    }
  }

  /** A pod with a pending grace period is not removed when its finalizers go; the kubelet finishes it. */
  private isGracefullyDone(obj: KObject): boolean {
    return !(obj.metadata.deletionGracePeriodSeconds && obj.metadata.deletionGracePeriodSeconds > 0);
  }

  /** System fields, status/spec split, generation, defaults, validation, managed fields. */
  private prepareUpdate(ctx: RequestContext, next: KObject, old: KObject, subresource: string | undefined, managed: 'keep' | 'update'): KObject {
    const m = next.metadata;
    const o = old.metadata;
    if (m.name !== undefined && m.name !== o.name) {
      throw errors.badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${String(o.name)})`);
    }
    if (this.info.namespaced && m.namespace !== undefined && m.namespace !== o.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    m.name = o.name;
    if (this.info.namespaced) m.namespace = o.namespace;
    else delete m.namespace;
    // A uid in the body is a precondition, as in Kubernetes.
    if (m.uid !== undefined && m.uid !== '' && m.uid !== o.uid) {
      throw errors.conflict(this.info.plural, this.info.group, o.name!, `Precondition failed: UID in precondition: ${String(m.uid)}, UID in object meta: ${o.uid}`);
    }
    m.uid = o.uid;
    m.creationTimestamp = o.creationTimestamp;
    // deletionTimestamp only moves through DELETE.
    if (o.deletionTimestamp) m.deletionTimestamp = o.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (o.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
    else delete m.deletionGracePeriodSeconds;
    const partial = subresource ? this.partialWrites?.[subresource] : undefined;
    if (partial) {
      next = partial.prepare(next, old);
    } else if (subresource === 'status') {
      // A status write changes status only; the rest stays as stored.
      const status = next.status;
      next = clone(old);
      if (status === undefined) delete next.status;
      else next.status = status;
    } else if (this.hasStatus() && this.info.kind !== 'Node' && subresource !== 'binding') {
      // (A binding sets spec.nodeName and the PodScheduled condition together.)
      if (old.status === undefined) delete next.status;
      else next.status = clone(old.status);
    }
    next.apiVersion = this.apiVersion;
    next.kind = this.info.kind;
    this.strategy.defaults?.(next);
    this.strategy.prepareForUpdate?.(next, old);
    if (this.strategy.hasGeneration) {
      const gen = o.generation ?? 1;
      next.metadata.generation = sameJson(specPart(next), specPart(old)) ? gen : gen + 1;
    } else if (o.generation !== undefined) {
      next.metadata.generation = o.generation;
    }
    this.validateChange(next, old, partial);
    if (managed === 'update') {
      next.metadata.managedFields = updateManagedFields(old, next, {
        manager: managerOf(ctx),
        apiVersion: this.apiVersion,
        now: isoSeconds(ctx.now),
        subresource,
      });
      if (next.metadata.managedFields?.length === 0) delete next.metadata.managedFields;
    }
    return next;
  }

  async update(ctx: RequestContext, namespace: string | undefined, name: string, body: unknown, subresource?: string): Promise<WriteResult> {
    const obj = this.decode(ctx, body);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${String(obj.metadata.name)}) does not match the name on the URL (${name})`);
    }
    const rv = obj.metadata.resourceVersion;
    if (!this.cache.get(this.key(namespace, name))) {
      throw this.notFound(name);
    }
    return this.modify(ctx, namespace, name, () => clone(obj), { subresource, pinned: () => rv });
  }

  async patch(
    ctx: RequestContext,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: { subresource?: string; force?: boolean } = {},
  ): Promise<WriteResult> {
    if (type === 'strategic' && this.schema.noStrategicMerge) {
      throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
    }
    if (type === 'apply') return this.apply(ctx, namespace, name, patch, opts);
    // A patch that names a resourceVersion is a precondition, as in Kubernetes.
    const p = patch as { metadata?: { resourceVersion?: unknown } } | null;
    const pinnedRv = type !== 'json' && p && typeof p === 'object' && typeof p.metadata?.resourceVersion === 'string' ? p.metadata.resourceVersion : undefined;
    const pinned = () => pinnedRv;
    return this.modify(
      ctx,
      namespace,
      name,
      (cur) => {
        const curRv = cur.metadata.resourceVersion;
        let out: unknown;
        if (type === 'json') out = applyJsonPatch(cur, patch);
        else if (type === 'merge') out = applyMergePatch(cur, patch);
        else out = applyStrategicMergePatch(cur, patch, this.schema.listStrategy ? { listStrategy: this.schema.listStrategy as never } : undefined);
        const obj = this.decode(ctx, out);
        // resourceVersion in the patched result only matters as a precondition (checked above).
        obj.metadata.resourceVersion = curRv;
        return obj;
      },
      { subresource: opts.subresource, pinned },
    );
  }

  private async apply(ctx: RequestContext, namespace: string | undefined, name: string, body: unknown, opts: { subresource?: string; force?: boolean }): Promise<WriteResult> {
    const applied = this.decode(ctx, body);
    if (applied.metadata.name !== undefined && applied.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${String(applied.metadata.name)}) does not match the name on the URL (${name})`);
    }
    if (!ctx.fieldManager) throw errors.badRequest('PATCH with apply requires a fieldManager query parameter');
    const key = this.key(namespace, name);
    const ssaOpts = (cur?: KObject) => ({
      manager: ctx.fieldManager!,
      force: !!opts.force,
      apiVersion: this.apiVersion,
      now: isoSeconds(ctx.now),
      subresource: opts.subresource,
      listStrategy: this.schema.listStrategy as never,
      live: cur,
    });
    if (!this.cache.get(key)) {
      const { object } = serverSideApply(undefined, clone(applied), ssaOpts());
      const obj = object as KObject;
      obj.metadata.name = name;
      try {
        return await this.createObject(ctx, namespace, obj, obj.metadata.managedFields);
      } catch (e) {
        // Lost a race with another creator: apply onto what now exists.
        if (!(e instanceof StatusError && e.reason === 'AlreadyExists')) throw e;
      }
    }
    const pinnedRv = applied.metadata.resourceVersion;
    return this.modify(
      ctx,
      namespace,
      name,
      (cur) => {
        const { object } = serverSideApply(cur, clone(applied), ssaOpts(cur));
        return object as KObject;
      },
      { subresource: opts.subresource, pinned: () => pinnedRv, managedFields: 'keep' },
    );
  }

  /** Writes through a function of the current object (used by subresources such as scale and binding). */
  async modifyWith(ctx: RequestContext, namespace: string | undefined, name: string, mutate: (cur: KObject) => KObject, pinnedRv?: string, subresource?: string): Promise<WriteResult> {
    return this.modify(ctx, namespace, name, mutate, { pinned: () => pinnedRv, subresource });
  }

  // ---- delete ------------------------------------------------------------------------------

  async delete(ctx: RequestContext, namespace: string | undefined, name: string, options: DeleteOptions = {}): Promise<WriteResult> {
    const key = this.key(namespace, name);
    for (let attempt = 0; ; attempt++) {
      const cur = this.cache.get(key);
      if (!cur) throw this.notFound(name);
      const obj = cur.obj;
      const pre = options.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw errors.conflict(this.info.plural, this.info.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw errors.conflict(
          this.info.plural,
          this.info.group,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`,
        );
      }
      const next = JSON.parse(cur.json) as KObject;
      const pending = this.planDeletion(ctx, next, options);
      if (ctx.dryRun) return { obj: next, json: JSON.stringify(next), deleted: !pending };
      try {
        if (!pending) {
          const kv = await this.store.delete(key, cur.rev);
          await this.cache.waitFor(kv.modRevision);
          return { obj, json: cur.json, deleted: true };
        }
        if (sameJson(next, obj)) return { obj, json: cur.json, deleted: false };
        const kv = await this.store.update(key, serialize(next), cur.rev);
        return await this.committed(key, next, kv.modRevision, { deleted: false });
      } catch (e) {
        if (e instanceof ConflictError && attempt < MAX_CAS_RETRIES) {
          await this.cache.waitFor(e.current.modRevision);
          continue;
        }
        if (e instanceof NotFoundError) throw this.notFound(name);
        throw e;
      }
    }
  }

  /**
   * Decides between immediate and pending deletion, marking `obj` for the latter: finalizers
   * (including the garbage collector's orphan / foregroundDeletion) and, for pods on a node,
   * the grace period the kubelet honours. Returns true when deletion is pending.
   */
  private planDeletion(ctx: RequestContext, obj: KObject, options: DeleteOptions): boolean {
    const m = obj.metadata;
    const policy = options.propagationPolicy ?? (options.orphanDependents === true ? 'Orphan' : options.orphanDependents === false ? 'Background' : undefined);
    if (policy && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw errors.badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Orphan", "Background", "Foreground"`);
    }
    const fins = new Set(m.finalizers ?? []);
    if (!m.deletionTimestamp || policy) {
      if (policy === 'Orphan') {
        fins.add('orphan');
        fins.delete('foregroundDeletion');
      } else if (policy === 'Foreground') {
        fins.add('foregroundDeletion');
        fins.delete('orphan');
      } else if (policy === 'Background') {
        fins.delete('orphan');
        fins.delete('foregroundDeletion');
      }
    }
    // Finalizers of the garbage collector only matter when there may be dependents; an object
    // without any is finished at once unless other finalizers hold it.
    const grace = this.gracePeriod(obj, options);
    // A namespace also waits for its spec.finalizers (the namespace controller empties it first).
    const nsFinalizers = specFinalizers(obj).length > 0;
    if (nsFinalizers) {
      const status = (obj.status ?? {}) as { phase?: string };
      status.phase = 'Terminating';
      obj.status = status;
    }
    if (fins.size === 0 && grace === 0 && !nsFinalizers) return false;
    if (fins.size > 0) m.finalizers = [...fins];
    else delete m.finalizers;
    const now = ctx.now.getTime();
    if (!m.deletionTimestamp) {
      m.deletionTimestamp = isoSeconds(new Date(now + grace * 1000));
      m.deletionGracePeriodSeconds = grace;
    } else if (grace < (m.deletionGracePeriodSeconds ?? 0)) {
      // A shorter grace period brings the deadline forward (kubectl delete --now / --force).
      m.deletionTimestamp = isoSeconds(new Date(now + grace * 1000));
      m.deletionGracePeriodSeconds = grace;
      if (grace === 0 && fins.size === 0) return false;
    }
    return true;
  }

  private gracePeriod(obj: KObject, options: DeleteOptions): number {
    if (this.info.kind !== 'Pod') return 0;
    const spec = obj.spec as { nodeName?: string; terminationGracePeriodSeconds?: number } | undefined;
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    // Pods not on a node, or already finished, have no process to stop: they go at once.
    if (!spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    const g = options.gracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, g);
  }

  async deleteCollection(ctx: RequestContext, namespace: string | undefined, listOpts: ListOptions, options: DeleteOptions): Promise<CachedObject[]> {
    const { items } = await this.list(namespace, { labelSelector: listOpts.labelSelector, fieldSelector: listOpts.fieldSelector });
    const out: CachedObject[] = [];
    for (const c of items) {
      try {
        await this.delete(ctx, c.obj.metadata.namespace, c.obj.metadata.name!, options);
        out.push(c);
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 404)) throw e;
      }
    }
    return out;
  }
}

/** spec.finalizers of a Namespace (the only kind that has them). */
function specFinalizers(obj: KObject): string[] {
  if (obj.kind !== 'Namespace') return [];
  const f = (obj.spec as { finalizers?: unknown } | undefined)?.finalizers;
  return Array.isArray(f) ? (f as string[]) : [];
}

function serialize(obj: KObject): string {
  // resourceVersion is the store's revision, not part of the stored value.
  const rv = obj.metadata.resourceVersion;
  delete obj.metadata.resourceVersion;
  const s = JSON.stringify(obj);
  if (rv !== undefined) obj.metadata.resourceVersion = rv;
  return s;
}

function stripRv(obj: KObject): KObject {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = obj.metadata;
  const mf = (obj.metadata.managedFields ?? []).map((e) => ({ ...e, time: undefined }));
  return { ...obj, metadata: { ...meta, managedFields: mf } };
}

export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const ALNUM = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(): string {
  const b = randomBytes(5);
  let s = '';
  for (const x of b) s += ALNUM[x % ALNUM.length];
  return s;
}

function parseRv(s: string): number {
  if (!/^\d+$/.test(s)) throw errors.badRequest(`Invalid value: "${s}": resourceVersion must be a non-negative integer`);
  return Number(s);
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'skiff.v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(s: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (t.v !== 'skiff.v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return { rv: t.rv, start: t.start };
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}
