// The verbs on resource paths: get, list, watch, create, update, patch, delete, deletecollection,
// and the subresources status, scale and binding. Decodes the request, calls the registry, and
// encodes the answer as JSON, YAML or a Table as the client asked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as yaml from 'js-yaml';
import type { KObject } from '../../pkg/api/types.js';
import type { CachedObject, WatchCache } from '../cache/watch-cache.js';
import type { DeleteOptions, PatchType, ResourceRegistry, WriteResult } from '../registry/generic.js';
import type { FieldValidation, RequestContext } from '../registry/context.js';
import type { UserInfo } from '../auth/tokens.js';
import { errors, StatusError } from '../status.js';
import { decodeBody, mediaType, readBody } from './body.js';
import { send, sendJson } from './respond.js';
import { serveWatch, type WatchSettings } from './watch.js';
import { defaultTable, tableJson, type IncludeObject } from '../table.js';
import type { ResourcePath } from './path.js';
import { labelSelectorToString } from '../../pkg/api/labels.js';
import { jsonPathValues } from '../../pkg/api/jsonpath.js';
import { applyJsonPatch } from '../patch/json-patch.js';
import { applyMergePatch } from '../patch/merge-patch.js';

export interface ResourceEnv {
  cache: WatchCache;
  watch: WatchSettings;
  /** the pods registry, for bindings and evictions */
  registry(group: string, version: string, plural: string): ResourceRegistry | undefined;
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply',
};

type Format = { kind: 'json' } | { kind: 'yaml' } | { kind: 'table'; include: IncludeObject };

/** Chooses the response encoding from Accept, the way the Kubernetes negotiator does for our types. */
function negotiate(accept: string | undefined, query: URLSearchParams): Format {
  const a = (accept ?? '').toLowerCase();
  if (!a) return { kind: 'json' };
  const parts = a.split(',').map((p) => p.trim());
  for (const p of parts) {
    const params = p.split(';').map((x) => x.trim());
    const type = params[0];
    if (type === 'application/json' && params.some((x) => x === 'as=table')) {
      if (params.some((x) => x === 'g=meta.k8s.io') && params.some((x) => x === 'v=v1' || x === 'v=v1beta1')) {
        const inc = (query.get('includeObject') ?? 'Metadata') as IncludeObject;
        if (!['None', 'Metadata', 'Object'].includes(inc)) throw errors.badRequest(`includeObject: Unsupported value: "${inc}": supported values: "None", "Metadata", "Object"`);
        return { kind: 'table', include: inc };
      }
      continue;
    }
    if (params.some((x) => x.startsWith('as='))) continue; // other transformations (PartialObjectMetadata): fall through
    if (type === 'application/json' || type === '*/*' || type === 'application/*') return { kind: 'json' };
    if (type === 'application/yaml') return { kind: 'yaml' };
  }
  if (parts.some((p) => p.startsWith('application/vnd.kubernetes.protobuf'))) {
    throw errors.notAcceptable('only the following media types are accepted: application/json, application/yaml');
  }
  throw errors.notAcceptable('only the following media types are accepted: application/json, application/yaml');
}

function fieldValidation(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw errors.badRequest(`fieldValidation: Unsupported value: "${v}": supported values: "Ignore", "Strict", "Warn"`);
}

function dryRun(q: URLSearchParams): boolean {
  const all = q.getAll('dryRun');
  for (const v of all) if (v !== 'All') throw errors.badRequest(`dryRun: Unsupported value: "${v}": supported values: "All"`);
  return all.length > 0;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw errors.badRequest(`${name}: Invalid value: "${v}": must be an integer`);
  return Number(v);
}

export function requestContext(req: IncomingMessage, user: UserInfo, q: URLSearchParams): RequestContext {
  const fm = q.get('fieldManager') ?? undefined;
  if (fm !== undefined && (fm.length > 128 || /[^\x20-\x7e]/.test(fm))) {
    throw errors.badRequest(`fieldManager: Invalid value: "${fm.slice(0, 140)}": must be at most 128 printable characters`);
  }
  return {
    user,
    userAgent: String(req.headers['user-agent'] ?? ''),
    now: new Date(),
    dryRun: dryRun(q),
    fieldManager: fm,
    fieldValidation: fieldValidation(q),
    warnings: [],
  };
}

function listJson(reg: ResourceRegistry, items: CachedObject[], meta: { resourceVersion: string; continue?: string; remainingItemCount?: number }, view: (c: CachedObject) => CachedObject): string {
  const m: Record<string, unknown> = { resourceVersion: meta.resourceVersion };
  if (meta.continue) m.continue = meta.continue;
  if (meta.remainingItemCount !== undefined) m.remainingItemCount = meta.remainingItemCount;
  return `{"kind":"${reg.info.listKind}","apiVersion":"${reg.apiVersion}","metadata":${JSON.stringify(m)},"items":[${items.map((c) => view(c).json).join(',')}]}`;
}

export class ResourceHandler {
  constructor(private readonly env: ResourceEnv) {}

  /** Rewrites apiVersion for custom resources served in a version other than the stored one. */
  private view(reg: ResourceRegistry): (c: CachedObject) => CachedObject {
    return (c) => {
      if (c.obj.apiVersion === reg.apiVersion) return c;
      const obj = { ...c.obj, apiVersion: reg.apiVersion } as KObject;
      return { ...c, obj, json: JSON.stringify(obj) };
    };
  }

  private sendObject(res: ServerResponse, code: number, reg: ResourceRegistry, c: { obj: KObject; json: string; rev?: number }, fmt: Format, ctx: RequestContext | undefined, gzip: boolean): void {
    const warnings = ctx?.warnings;
    const cached = this.view(reg)({ key: '', obj: c.obj, json: c.json, rev: Number(c.obj.metadata.resourceVersion ?? 0) });
    if (fmt.kind === 'table') {
      send(res, code, tableJson(reg.strategy.table ?? defaultTable, [cached], { include: fmt.include, resourceVersion: c.obj.metadata.resourceVersion }), { warnings, gzip });
    } else if (fmt.kind === 'yaml') {
      send(res, code, yaml.dump(JSON.parse(cached.json)), { warnings, contentType: 'application/yaml', gzip });
    } else {
      send(res, code, cached.json, { warnings, gzip });
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse, reg: ResourceRegistry, path: ResourcePath, q: URLSearchParams, user: UserInfo): Promise<void> {
    const method = req.method ?? 'GET';
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const ns = reg.info.namespaced ? path.namespace : undefined;
    if (reg.info.namespaced && !ns && path.name) {
      throw errors.notFoundPath();
    }
    const name = path.name;
    const sub = path.subresource;
    if (path.rest.length) throw errors.notFoundPath();
    if (sub && !(reg.info.subresources ?? []).includes(sub)) throw errors.notFoundPath();
    const fmt = negotiate(String(req.headers['accept'] ?? ''), q);
    const watching = path.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';

    if (method === 'GET' && watching) {
      if (sub) throw errors.methodNotAllowed('watch is not supported on subresources');
      let fieldSelector = q.get('fieldSelector') ?? undefined;
      if (name) fieldSelector = [fieldSelector, `metadata.name=${name}`].filter(Boolean).join(',');
      const match = reg.matcher({ labelSelector: q.get('labelSelector') ?? undefined, fieldSelector });
      serveWatch(req, res, reg, this.env.cache, {
        namespace: ns,
        match,
        resourceVersion: q.get('resourceVersion') ?? undefined,
        allowBookmarks: q.get('allowWatchBookmarks') === 'true',
        timeoutSeconds: intParam(q, 'timeoutSeconds'),
        sendInitialEvents: q.has('sendInitialEvents') ? q.get('sendInitialEvents') === 'true' : undefined,
        table: fmt.kind === 'table' ? { table: reg.strategy.table ?? defaultTable, include: fmt.include } : undefined,
        view: this.view(reg),
      }, this.env.watch);
      return;
    }

    if (!name) {
      if (sub) throw errors.notFoundPath();
      switch (method) {
        case 'GET':
          return this.list(res, reg, ns, q, fmt, gzip);
        case 'POST': {
          const ctx = requestContext(req, user, q);
          const body = decodeBody(await readBody(req), req.headers['content-type']);
          const r = await reg.create(ctx, ns, body);
          return this.sendObject(res, 201, reg, r, fmt, ctx, gzip);
        }
        case 'DELETE': {
          const ctx = requestContext(req, user, q);
          const opts = await this.deleteOptions(req, q);
          const deleted = await reg.deleteCollection(ctx, ns, { labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined }, opts);
          send(res, 200, listJson(reg, deleted, { resourceVersion: String(this.env.cache.revision) }, this.view(reg)), { warnings: ctx.warnings, gzip });
          return;
        }
        default:
          throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
      }
    }

    if (sub === 'scale') return this.scale(req, res, reg, ns, name, q, user);
    if (sub === 'binding') {
      if (method !== 'POST') throw errors.methodNotAllowed('binding only accepts POST');
      const ctx = requestContext(req, user, q);
      const body = decodeBody(await readBody(req), req.headers['content-type']);
      return this.bind(res, ctx, reg, ns, name, body, gzip);
    }
    if (sub === 'eviction') {
      if (method !== 'POST') throw errors.methodNotAllowed('eviction only accepts POST');
      const ctx = requestContext(req, user, q);
      const body = decodeBody(await readBody(req), req.headers['content-type']) as { deleteOptions?: DeleteOptions } | null;
      await reg.delete(ctx, ns, name, body?.deleteOptions ?? {});
      sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      return;
    }
    if (sub && !['status', 'finalize', 'ephemeralcontainers'].includes(sub)) {
      throw new StatusError(400, 'BadRequest', `${reg.info.plural}/${sub} is not available yet: no node agent serves it in this version of skiff`);
    }
    const writeSub = sub === 'finalize' ? undefined : sub;

    switch (method) {
      case 'GET': {
        // resourceVersion=0 asks for any recent state: the cache as it is.
        const c = q.get('resourceVersion') === '0' ? reg.get(ns, name) : await reg.getConsistent(ns, name);
        return this.sendObject(res, 200, reg, c, fmt, undefined, gzip);
      }
      case 'PUT': {
        const ctx = requestContext(req, user, q);
        const body = decodeBody(await readBody(req), req.headers['content-type']);
        const r = await reg.update(ctx, ns, name, body, writeSub);
        return this.sendObject(res, r.created ? 201 : 200, reg, r, fmt, ctx, gzip);
      }
      case 'PATCH': {
        const ctx = requestContext(req, user, q);
        const type = PATCH_TYPES[mediaType(req.headers['content-type'])];
        if (!type) throw errors.unsupportedMediaType(mediaType(req.headers['content-type']));
        if (type === 'apply' && mediaType(req.headers['content-type']) === 'application/apply-patch+cbor') throw errors.unsupportedMediaType('application/apply-patch+cbor');
        const raw = await readBody(req);
        const body = decodeBody(raw, type === 'apply' ? 'application/apply-patch+yaml' : 'application/json', ['application/json', 'application/apply-patch+yaml']);
        const force = q.get('force') === 'true';
        if (q.has('force') && type !== 'apply') throw errors.badRequest('force: Forbidden: may not be specified for non-apply patch');
        const r = await reg.patch(ctx, ns, name, type, body, { subresource: writeSub, force });
        return this.sendObject(res, r.created ? 201 : 200, reg, r, fmt, ctx, gzip);
      }
      case 'DELETE': {
        if (sub) throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
        const ctx = requestContext(req, user, q);
        const opts = await this.deleteOptions(req, q);
        ctx.dryRun = ctx.dryRun || (opts.dryRun ?? []).includes('All');
        const r = await reg.delete(ctx, ns, name, opts);
        return this.sendObject(res, r.deleted ? 200 : 202, reg, r, fmt, ctx, gzip);
      }
      default:
        throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    }
  }

  private async list(res: ServerResponse, reg: ResourceRegistry, ns: string | undefined, q: URLSearchParams, fmt: Format, gzip: boolean): Promise<void> {
    const limit = intParam(q, 'limit');
    if (limit !== undefined && limit < 0) throw errors.badRequest(`limit: Invalid value: ${limit}: must be greater than or equal to 0`);
    const r = await reg.list(ns, {
      labelSelector: q.get('labelSelector') ?? undefined,
      fieldSelector: q.get('fieldSelector') ?? undefined,
      limit,
      continue: q.get('continue') ?? undefined,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
    });
    const view = this.view(reg);
    if (fmt.kind === 'table') {
      send(res, 200, tableJson(reg.strategy.table ?? defaultTable, r.items.map(view), { include: fmt.include, resourceVersion: r.resourceVersion, continue: r.continue, remainingItemCount: r.remainingItemCount }), { gzip });
    } else if (fmt.kind === 'yaml') {
      send(res, 200, yaml.dump(JSON.parse(listJson(reg, r.items, r, view))), { contentType: 'application/yaml', gzip });
    } else {
      send(res, 200, listJson(reg, r.items, r, view), { gzip });
    }
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteOptions> {
    const raw = await readBody(req);
    let opts: DeleteOptions = {};
    if (raw.length && raw.toString('utf8').trim() !== '') {
      const body = decodeBody(raw, req.headers['content-type']);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest('DeleteOptions must be a JSON object');
      opts = body as DeleteOptions;
    }
    const g = intParam(q, 'gracePeriodSeconds');
    if (g !== undefined) opts.gracePeriodSeconds = g;
    const p = q.get('propagationPolicy');
    if (p) opts.propagationPolicy = p as DeleteOptions['propagationPolicy'];
    if (q.get('orphanDependents') !== null) opts.orphanDependents = q.get('orphanDependents') === 'true';
    if (opts.gracePeriodSeconds !== undefined && (typeof opts.gracePeriodSeconds !== 'number' || !Number.isInteger(opts.gracePeriodSeconds))) {
      throw errors.badRequest('gracePeriodSeconds must be an integer');
    }
    if (opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds < 0) opts.gracePeriodSeconds = 0;
    return opts;
  }

  // ---- scale ---------------------------------------------------------------------------------

  private scaleOf(reg: ResourceRegistry, obj: KObject): Record<string, unknown> {
    const specPath = reg.strategy.scale?.specReplicasPath ?? '.spec.replicas';
    const statusPath = reg.strategy.scale?.statusReplicasPath ?? '.status.replicas';
    const desired = jsonPathValues(specPath, obj)[0];
    const observed = jsonPathValues(statusPath, obj)[0];
    const m = obj.metadata;
    let selector = '';
    if (reg.strategy.scale) selector = reg.strategy.scale.selector(obj);
    else {
      const sel = (obj.spec as { selector?: unknown } | undefined)?.selector;
      if (sel && typeof sel === 'object') selector = labelSelectorToString(sel as never);
    }
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
      spec: { replicas: typeof desired === 'number' ? desired : 0 },
      status: { replicas: typeof observed === 'number' ? observed : 0, selector },
    };
  }

  private async scale(req: IncomingMessage, res: ServerResponse, reg: ResourceRegistry, ns: string | undefined, name: string, q: URLSearchParams, user: UserInfo): Promise<void> {
    const method = req.method;
    if (method === 'GET') {
      sendJson(res, 200, this.scaleOf(reg, reg.get(ns, name).obj));
      return;
    }
    if (method !== 'PUT' && method !== 'PATCH') throw errors.methodNotAllowed('scale supports get, update and patch');
    const ctx = requestContext(req, user, q);
    const raw = await readBody(req);
    let pinned: string | undefined;
    let desired: (cur: KObject) => number;
    if (method === 'PUT') {
      const body = decodeBody(raw, req.headers['content-type']) as { spec?: { replicas?: unknown }; metadata?: { resourceVersion?: string } } | null;
      if (!body || typeof body !== 'object') throw errors.badRequest('the body must be an autoscaling/v1 Scale');
      pinned = body.metadata?.resourceVersion;
      desired = () => scaleReplicas(body.spec?.replicas, name);
    } else {
      const type = PATCH_TYPES[mediaType(req.headers['content-type'])];
      if (!type || type === 'apply') throw errors.unsupportedMediaType(mediaType(req.headers['content-type']));
      const patch = decodeBody(raw, 'application/json');
      desired = (cur) => {
        const scale = this.scaleOf(reg, cur);
        const out = (type === 'json' ? applyJsonPatch(scale, patch) : applyMergePatch(scale, patch)) as { spec?: { replicas?: unknown } };
        return scaleReplicas(out?.spec?.replicas, name);
      };
    }
    const r: WriteResult = await reg.modifyWith(ctx, ns, name, (cur) => {
      setPath(cur, reg.strategy.scale?.specReplicasPath ?? '.spec.replicas', desired(cur));
      return cur;
    }, pinned);
    sendJson(res, 200, this.scaleOf(reg, r.obj), { warnings: ctx.warnings });
  }

  // ---- binding -------------------------------------------------------------------------------

  private async bind(res: ServerResponse, ctx: RequestContext, pods: ResourceRegistry, ns: string | undefined, name: string, body: unknown, gzip: boolean): Promise<void> {
    const b = body as { target?: { name?: unknown; kind?: unknown }; metadata?: { name?: string } } | null;
    const node = b?.target?.name;
    if (typeof node !== 'string' || node === '') {
      throw errors.invalid('Binding', '', name, [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
    }
    if (b?.target?.kind !== undefined && b.target.kind !== 'Node' && b.target.kind !== '') {
      throw errors.invalid('Binding', '', name, [{ reason: 'FieldValueNotSupported', field: 'target.kind', message: `Unsupported value: "${String(b.target.kind)}": supported values: "Node"` }]);
    }
    await pods.modifyWith(ctx, ns, name, (pod) => {
      const spec = (pod.spec ?? {}) as { nodeName?: string };
      if (pod.metadata.deletionTimestamp) throw errors.conflict('pods', '', name, 'pod is being deleted, cannot be assigned to a host');
      if (spec.nodeName) throw errors.conflict('pods', '', name, `pod ${name} is already assigned to node "${spec.nodeName}"`);
      spec.nodeName = node;
      pod.spec = spec;
      const status = (pod.status ?? {}) as { conditions?: { type: string; status: string; lastTransitionTime?: string; lastProbeTime?: null }[] };
      const conds = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ctx.now.toISOString().replace(/\.\d{3}Z$/, 'Z') });
      status.conditions = conds;
      pod.status = status;
      return pod;
    }, undefined, 'binding');
    send(res, 201, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }), { gzip });
  }

  async bindingCollection(req: IncomingMessage, res: ServerResponse, ns: string, q: URLSearchParams, user: UserInfo): Promise<void> {
    if (req.method !== 'POST') throw errors.methodNotAllowed('bindings only accepts POST');
    const ctx = requestContext(req, user, q);
    const body = decodeBody(await readBody(req), req.headers['content-type']);
    const pods = this.env.registry('', 'v1', 'pods')!;
    const name = (body as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    if (typeof name !== 'string' || !name) throw errors.invalid('Binding', '', '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value' }]);
    return this.bind(res, ctx, pods, ns, name, body, false);
  }
}

/** Sets a simple dotted path (.spec.replicas), creating objects on the way. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.replace(/^\./, '').split('.');
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (typeof cur[p] !== 'object' || cur[p] === null || Array.isArray(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function scaleReplicas(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw errors.invalid('Scale', 'autoscaling', name, [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(v ?? null)}: must be greater than or equal to 0` }]);
  }
  return v;
}
