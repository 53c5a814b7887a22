// Component schemas of kinds that have no client-node model: custom resources (published from
// their CRD's openAPIV3Schema, as Kubernetes does) and served kinds without a typed schema.
import { OBJECT_META, ref, type Schema } from './schemas.js';

export interface CustomKind {
  group: string;
  version: string;
  kind: string;
  /** openAPIV3Schema; undefined = a kind whose fields are not described */
  schema?: object;
}

/** Kubernetes names CRD schemas by the reversed group: stable.example.com → com.example.stable.v1.CronTab */
export function customSchemaName(group: string, version: string, kind: string): string {
  return `${group.split('.').reverse().join('.')}.${version}.${kind}`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const API_VERSION_DOC = 'The versioned schema of this representation of an object, e.g. "example.com/v1".';
const KIND_DOC = 'The REST resource type this object represents, in CamelCase.';

export function customComponentSchemas(k: CustomKind): Record<string, Schema> {
  const name = customSchemaName(k.group, k.version, k.kind);
  const base: Schema = isObj(k.schema) ? (JSON.parse(JSON.stringify(k.schema)) as Schema) : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const properties: Record<string, unknown> = isObj(base.properties) ? { ...base.properties } : {};
  properties.apiVersion = { type: 'string', description: API_VERSION_DOC };
  properties.kind = { type: 'string', description: KIND_DOC };
  properties.metadata = { allOf: [{ $ref: ref(OBJECT_META) }], description: "Standard object's metadata." };
  base.properties = properties;
  base.type = 'object';
  if (typeof base.description !== 'string') base.description = `${k.kind} is a ${k.schema ? 'custom resource' : 'resource'} of ${k.group || 'the core group'}/${k.version}.`;
  base['x-kubernetes-group-version-kind'] = [{ group: k.group, version: k.version, kind: k.kind }];
  const list: Schema = {
    description: `A list of ${k.kind} objects.`,
    type: 'object',
    required: ['items'],
    properties: {
      apiVersion: { type: 'string', description: API_VERSION_DOC },
      kind: { type: 'string', description: KIND_DOC },
      items: { type: 'array', items: { $ref: ref(name) }, description: 'The objects of the list.' },
      metadata: { allOf: [{ $ref: ref('io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta') }] },
    },
    'x-kubernetes-group-version-kind': [{ group: k.group, version: k.version, kind: `${k.kind}List` }],
  };
  return { [name]: base, [`${name}List`]: list };
}
