// OpenAPI for the API server: the /openapi/v3 index and per-group-version documents kubectl reads
// (field validation support, explain, schema-driven strategic merge patches), plus the schema
// checks the registry runs on writes (unknown fields, type mismatches, custom resource validation).
import { createHash } from 'node:crypto';
import type { ResourceInfo } from '../registry/strategy.js';
import { schemaClosure, componentSchema, schemaNameOf, DELETE_OPTIONS, PATCH, STATUS, type Schema } from './schemas.js';
import { resourcePaths, type PathResource } from './paths.js';
import { customComponentSchemas, customSchemaName } from './custom-schemas.js';
import { builtinKind, MODELS } from './models.js';
import { checkModelObject, checkObjectMeta } from './strict.js';
import { unknownFieldsBySchema } from './crd-prune.js';

export { validateCustomResource, applyDefaults } from './crd-validation.js';
export { pruneUnknown, unknownFieldsBySchema } from './crd-prune.js';
export { validateCrdSchema } from './crd-schema-check.js';
export { strictDecodingMessage, decodingMessage } from './strict.js';
export { customSchemaName } from './custom-schemas.js';

export interface CrdSchemaSource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** the version's openAPIV3Schema */
  schema: object;
  subresources?: string[];
}

export interface GVK {
  group: string;
  version: string;
  kind: string;
}

export interface OpenApiDocument {
  body: string;
  /** content hash, as in the ?hash= of the root's serverRelativeURL */
  hash: string;
}

export interface OpenApi {
  /** the /openapi/v3 index: {paths: {'api/v1': {serverRelativeURL: '/openapi/v3/api/v1?hash=…'}}} */
  root(): { paths: Record<string, { serverRelativeURL: string }> };
  /** 'api/v1' or 'apis/apps/v1'; undefined when no such group version is served */
  document(groupVersionPath: string): OpenApiDocument | undefined;
  /** unknown fields of an object of any served kind, built-in or custom (see unknownFields) */
  unknownFields(gvk: GVK, obj: unknown): string[];
}

const OPENAPI_INFO = { title: 'Kubernetes', version: 'v1.32.2' };
const ALWAYS = [STATUS, DELETE_OPTIONS, PATCH];

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

interface Entry {
  path: PathResource;
  /** component schema names whose closures this resource needs */
  builtin: string[];
  custom?: Record<string, Schema>;
}

function builtinEntry(r: ResourceInfo): Entry {
  const model = r.modelName && MODELS[r.modelName] ? r.modelName : builtinKind(r.group, r.version, r.kind)?.model;
  const subresources = r.subresources ?? [];
  if (model) {
    const schema = schemaNameOf(model)!;
    const listSchema = MODELS[model + 'List'] ? schemaNameOf(model + 'List') : undefined;
    const builtin = [schema, ...(listSchema ? [listSchema] : [])];
    if (subresources.includes('scale')) builtin.push('io.k8s.api.autoscaling.v1.Scale');
    if (subresources.includes('binding')) builtin.push('io.k8s.api.core.v1.Binding');
    return { path: { ...pathBase(r, subresources), schema, listSchema, custom: false }, builtin };
  }
  // A served kind without a typed schema: described as an open object, patched like a custom resource.
  const custom = customComponentSchemas({ group: r.group, version: r.version, kind: r.kind });
  const name = customSchemaName(r.group, r.version, r.kind);
  return { path: { ...pathBase(r, subresources), schema: name, listSchema: `${name}List`, custom: true }, builtin: ['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta'], custom };
}

function pathBase(r: { group: string; version: string; kind: string; plural: string; namespaced: boolean; verbs?: string[] }, subresources: string[]) {
  return { group: r.group, version: r.version, kind: r.kind, plural: r.plural, namespaced: r.namespaced, verbs: r.verbs, subresources };
}

function crdEntry(c: CrdSchemaSource): Entry {
  const name = customSchemaName(c.group, c.version, c.kind);
  const subresources = c.subresources ?? [];
  const builtin = ['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta'];
  if (subresources.includes('scale')) builtin.push('io.k8s.api.autoscaling.v1.Scale');
  return {
    path: { ...pathBase(c, subresources), schema: name, listSchema: `${name}List`, custom: true },
    builtin,
    custom: customComponentSchemas({ group: c.group, version: c.version, kind: c.kind, schema: c.schema }),
  };
}

/** Serialized documents by input signature, shared across rebuilds so a CRD change only re-serializes its own group version. */
const documentCache = new Map<string, OpenApiDocument>();

function renderDocument(entries: Entry[]): OpenApiDocument {
  const signature = JSON.stringify(entries.map((e) => [e.path, e.builtin, e.custom ?? null]));
  const cached = documentCache.get(signature);
  if (cached) return cached;
  const paths: Record<string, unknown> = {};
  const names = new Set<string>();
  const schemas: Record<string, unknown> = {};
  for (const e of entries) {
    Object.assign(paths, resourcePaths(e.path));
    for (const n of [...e.builtin, ...ALWAYS]) for (const c of schemaClosure(n)) names.add(c);
    if (e.custom) Object.assign(schemas, e.custom);
  }
  for (const n of [...names].sort()) {
    const s = componentSchema(n);
    if (!s) throw new Error(`openapi: no schema named ${n}`);
    schemas[n] = s;
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(schemas).sort()) sorted[k] = schemas[k];
  const body = JSON.stringify({ openapi: '3.0.0', info: OPENAPI_INFO, paths, components: { schemas: sorted } });
  const doc = { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
  if (documentCache.size > 256) documentCache.clear();
  documentCache.set(signature, doc);
  return doc;
}

/**
 * Builds the OpenAPI view of what is served. Documents are rendered on first request and cached;
 * call again when the set of resources or CRDs changes.
 */
export function buildOpenApi(resources: ResourceInfo[], crds: CrdSchemaSource[]): OpenApi {
  const byGv = new Map<string, Entry[]>();
  const add = (gv: string, e: Entry): void => {
    const list = byGv.get(gv);
    if (list) list.push(e);
    else byGv.set(gv, [e]);
  };
  const crdKeys = new Set(crds.map((c) => `${c.group}/${c.version}/${c.kind}`));
  const crdSchemas = new Map(crds.map((c) => [`${c.group}/${c.version}/${c.kind}`, c.schema]));
  const untyped = new Set<string>();
  for (const r of resources) {
    // CRD-backed resources are described from their schema, not as untyped kinds.
    if (crdKeys.has(`${r.group}/${r.version}/${r.kind}`)) continue;
    const e = builtinEntry(r);
    if (e.path.custom) untyped.add(`${r.group}/${r.version}/${r.kind}`);
    add(gvPath(r.group, r.version), e);
  }
  for (const c of crds) {
    add(gvPath(c.group, c.version), crdEntry(c));
  }
  const docs = new Map<string, OpenApiDocument>();
  let rootCache: { paths: Record<string, { serverRelativeURL: string }> } | undefined;

  const document = (gv: string): OpenApiDocument | undefined => {
    const d = docs.get(gv);
    if (d) return d;
    const list = byGv.get(gv);
    if (!list) return undefined;
    const doc = renderDocument(list);
    docs.set(gv, doc);
    return doc;
  };

  return {
    root() {
      if (rootCache) return rootCache;
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const gv of [...byGv.keys()].sort()) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${document(gv)!.hash}` };
      rootCache = { paths };
      return rootCache;
    },
    document,
    unknownFields(gvk, obj) {
      const key = `${gvk.group}/${gvk.version}/${gvk.kind}`;
      const schema = crdSchemas.get(key);
      if (schema) return unknownFieldsBySchema(schema, obj);
      if (untyped.has(key)) {
        const meta = (obj as { metadata?: unknown } | null)?.metadata;
        return meta === undefined ? [] : checkObjectMeta(meta, 'metadata', false).unknown;
      }
      return unknownFields(gvk, obj);
    },
  };
}

function modelFor(gvk: GVK): string {
  const k = builtinKind(gvk.group, gvk.version, gvk.kind);
  if (!k || k.namingOnly) throw new Error(`openapi: no built-in schema for ${gvk.group || 'core'}/${gvk.version} ${gvk.kind}`);
  return k.model;
}

/** Whether unknownFields / typeMismatches / pruneBuiltin know this kind. */
export function hasBuiltinSchema(gvk: GVK): boolean {
  const k = builtinKind(gvk.group, gvk.version, gvk.kind);
  return !!k && !k.namingOnly;
}

/**
 * Fields of a built-in kind's object that its schema does not know, in Kubernetes' path form
 * without a leading dot (spec.template.spec.containers[0].imagePullPolicyy, metadata.labelz).
 * Throws for kinds without a built-in schema (see hasBuiltinSchema).
 */
export function unknownFields(gvk: GVK, obj: unknown): string[] {
  return checkModelObject(modelFor(gvk), obj).unknown;
}

/** Values of the wrong JSON type, worded like Go's decoder; Kubernetes rejects these in every validation mode. */
export function typeMismatches(gvk: GVK, obj: unknown): string[] {
  return checkModelObject(modelFor(gvk), obj).mismatches;
}

/** Drops unknown fields in place (what decoding into typed structs does); returns their paths. */
export function pruneBuiltin(gvk: GVK, obj: unknown): string[] {
  return checkModelObject(modelFor(gvk), obj, true).unknown;
}
