// OpenAPI v3 component schemas of the built-in models, built from the generated field facts on
// first use and cached: what `kubectl explain` renders and what kubectl's client-side apply reads
// to compute strategic merge patches (hence the patch-strategy and list-type markers).
import { ENUM_FACTS, LIST_FACTS, SERVED_KINDS } from './k8s-facts.js';
import { MODELS } from './models.js';

export type Schema = Record<string, unknown>;

export const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
export const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
export const TIME = 'io.k8s.apimachinery.pkg.apis.meta.v1.Time';
export const MICRO_TIME = 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime';
export const FIELDS_V1 = 'io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1';
export const PATCH = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch';
export const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
export const STATUS = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';
export const DELETE_OPTIONS = 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions';

/** Schemas that are not client-node models: scalars with a meaning of their own. */
const SPECIAL: Record<string, Schema> = {
  [QUANTITY]: {
    description: 'A fixed-point amount such as "500m", "2", "1Gi" or "1e3"; written as a string or a number.',
    type: 'string',
  },
  [INT_OR_STRING]: {
    description: 'Either an integer or a string, such as a port number or a port name, or "25%".',
    type: 'string',
    format: 'int-or-string',
  },
  [TIME]: { description: 'A timestamp in RFC 3339 form, to the second.', type: 'string', format: 'date-time' },
  [MICRO_TIME]: { description: 'A timestamp in RFC 3339 form, to the microsecond.', type: 'string', format: 'date-time' },
  [FIELDS_V1]: { description: 'The set of fields a manager owns, in the FieldsV1 trie form.', type: 'object' },
  [PATCH]: { description: 'A patch document; its form depends on the request content type.', type: 'object' },
};

export const ref = (name: string): string => `#/components/schemas/${name}`;

/** Field references are written allOf-wrapped, the way kubectl's explain expects them. */
function refSchema(name: string): Schema {
  return { allOf: [{ $ref: ref(name) }] };
}

const SCALAR_FIELD_DOCS: Record<string, string> = {
  apiVersion: 'The versioned schema of this representation of an object, e.g. "apps/v1".',
  kind: 'The REST resource type this object represents, in CamelCase, e.g. "Deployment".',
  metadata: "Standard object's metadata: name, namespace, labels, annotations and the fields the server sets.",
  spec: 'The desired state of the object.',
  status: 'The most recently observed state of the object; written by the system.',
  items: 'The objects of the list.',
};

/** The schema of one field, from its encoded type. `into` collects the component names it uses. */
export function fieldSchema(encoded: string, into?: Set<string>): Schema {
  if (encoded.startsWith('[]')) return { type: 'array', items: fieldSchema(encoded.slice(2), into) };
  if (encoded.startsWith('map:')) return { type: 'object', additionalProperties: fieldSchema(encoded.slice(4), into) };
  if (encoded.startsWith('ref:')) {
    const m = MODELS[encoded.slice(4)];
    if (!m) throw new Error(`openapi: unknown model ${encoded.slice(4)}`);
    into?.add(m.name);
    return refSchema(m.name);
  }
  const special = specialName(encoded);
  if (special) {
    into?.add(special);
    return refSchema(special);
  }
  if (encoded === 'any') return { 'x-kubernetes-preserve-unknown-fields': true };
  const [type, format] = encoded.split(':');
  const s: Schema = { type };
  if (format) s.format = format;
  return s;
}

function specialName(encoded: string): string | undefined {
  switch (encoded) {
    case 'Quantity':
      return QUANTITY;
    case 'IntOrString':
      return INT_OR_STRING;
    case 'Time':
      return TIME;
    case 'MicroTime':
      return MICRO_TIME;
  }
  return undefined;
}

const modelByName = new Map<string, string>();
for (const [model, facts] of Object.entries(MODELS)) modelByName.set(facts.name, model);

/** Kinds a component schema is the top-level schema of, for x-kubernetes-group-version-kind. */
const gvkByModel = new Map<string, { group: string; version: string; kind: string }[]>();
for (const k of SERVED_KINDS) {
  gvkByModel.set(k.model, [{ group: k.group, version: k.version, kind: k.kind }]);
  if (MODELS[k.model + 'List']) gvkByModel.set(k.model + 'List', [{ group: k.group, version: k.version, kind: k.kind + 'List' }]);
}
const kindDocs = new Map(SERVED_KINDS.map((k) => [k.model, k.description]));

function describeModel(model: string, name: string): string {
  const own = kindDocs.get(model);
  if (own) return own;
  if (model.endsWith('List') && kindDocs.has(model.slice(0, -4))) return `A list of ${name.slice(name.lastIndexOf('.') + 1, -4)} objects.`;
  return `Fields of ${name.slice(name.lastIndexOf('.') + 1)} (${name.slice(0, name.lastIndexOf('.'))}).`;
}

const built = new Map<string, Schema>();

function buildModelSchema(model: string): Schema {
  const facts = MODELS[model];
  const properties: Record<string, Schema> = {};
  const lists = LIST_FACTS[model] ?? {};
  const enums = ENUM_FACTS[model] ?? {};
  for (const [field, encoded] of Object.entries(facts.fields)) {
    const s = fieldSchema(encoded);
    const doc = SCALAR_FIELD_DOCS[field];
    if (doc && (field !== 'items' || model.endsWith('List'))) s.description = doc;
    const lf = lists[field];
    if (lf) {
      if (lf.mergeKey) s['x-kubernetes-patch-merge-key'] = lf.mergeKey;
      if (lf.strategy) s['x-kubernetes-patch-strategy'] = lf.strategy;
      if (lf.listType) s['x-kubernetes-list-type'] = lf.listType;
      if (lf.mapKeys) s['x-kubernetes-list-map-keys'] = lf.mapKeys;
    }
    if (enums[field]) {
      s.enum = enums[field];
      s.description = `One of: ${enums[field].map((e) => JSON.stringify(e)).join(', ')}.`;
    }
    properties[field] = s;
  }
  const schema: Schema = { description: describeModel(model, facts.name), type: 'object', properties };
  if (facts.required?.length) schema.required = facts.required;
  const gvk = gvkByModel.get(model);
  if (gvk) schema['x-kubernetes-group-version-kind'] = gvk;
  return schema;
}

/** The component schema with this Kubernetes name (built once). */
export function componentSchema(name: string): Schema | undefined {
  const cached = built.get(name);
  if (cached) return cached;
  const special = SPECIAL[name];
  if (special) return special;
  const model = modelByName.get(name);
  if (!model) return undefined;
  const s = buildModelSchema(model);
  built.set(name, s);
  return s;
}

/** Kubernetes schema name of a client-node model ('V1Deployment' → 'io.k8s.api.apps.v1.Deployment'). */
export function schemaNameOf(model: string): string | undefined {
  return MODELS[model]?.name;
}

const closures = new Map<string, string[]>();

/** The named schema and every schema it refers to, transitively (cached per root). */
export function schemaClosure(name: string): string[] {
  const cached = closures.get(name);
  if (cached) return cached;
  const seen = new Set<string>();
  const stack = [name];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    const model = modelByName.get(n);
    if (!model) continue;
    const into = new Set<string>();
    for (const encoded of Object.values(MODELS[model].fields)) fieldSchema(encoded, into);
    for (const r of into) if (!seen.has(r)) stack.push(r);
  }
  const list = [...seen];
  closures.set(name, list);
  return list;
}
