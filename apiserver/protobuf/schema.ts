// The message table (fields.generated.json) and the mapping from an object's apiVersion/kind to
// the protobuf message that encodes it.
import generated from './fields.generated.json' with { type: 'json' };

export interface FieldFact {
  name: string;
  type: string;
  repeated?: boolean;
  /** Set on map fields: the key type; `type` is then the value type. */
  key?: string;
  /** Go's omitempty on a non-pointer field: its zero value is left out of the JSON form. */
  omitEmpty?: boolean;
  /** An embedded struct whose fields JSON places in the parent object. */
  inline?: boolean;
}

export interface MessageFact {
  fields: Record<string, FieldFact>;
  /** A named Go slice (ExtraValue, Verbs): its JSON form is the array held in field 1. */
  list?: boolean;
}

const messages = (generated as { messages: Record<string, MessageFact> }).messages;

export function message(name: string): MessageFact | undefined {
  return Object.hasOwn(messages, name) ? messages[name] : undefined;
}

export const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
export const TIME = `${META}.Time`;
export const MICRO_TIME = `${META}.MicroTime`;
export const DURATION = `${META}.Duration`;
export const FIELDS_V1 = `${META}.FieldsV1`;
export const QUANTITY = 'k8s.io.apimachinery.pkg.api.resource.Quantity';
export const INT_OR_STRING = 'k8s.io.apimachinery.pkg.util.intstr.IntOrString';
export const RAW_EXTENSION = 'k8s.io.apimachinery.pkg.runtime.RawExtension';

/** API group → proto package segment under k8s.io.api. */
const GROUP_PACKAGES: Record<string, string> = {
  '': 'core',
  apps: 'apps',
  batch: 'batch',
  autoscaling: 'autoscaling',
  policy: 'policy',
  'rbac.authorization.k8s.io': 'rbac',
  'authorization.k8s.io': 'authorization',
  'authentication.k8s.io': 'authentication',
  'coordination.k8s.io': 'coordination',
  'discovery.k8s.io': 'discovery',
  'networking.k8s.io': 'networking',
  'scheduling.k8s.io': 'scheduling',
  'events.k8s.io': 'events',
};

/** Kinds every group version also serves from meta/v1 (option and status objects). */
const META_KINDS = new Set(['DeleteOptions', 'CreateOptions', 'UpdateOptions', 'PatchOptions', 'GetOptions', 'ListOptions', 'Status', 'WatchEvent']);

/** The message for apiVersion/kind, or undefined when this table cannot encode that kind. */
export function messageForKind(apiVersion: string, kind: string): string | undefined {
  if (!/^[A-Za-z0-9]+$/.test(kind)) return undefined;
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (!/^v\d+[a-z0-9]*$/.test(version)) return undefined;
  if (META_KINDS.has(kind) || group === 'meta.k8s.io') {
    const name = `${META}.${kind}`;
    if (version === 'v1' && message(name)) return name;
  }
  const pkg = Object.hasOwn(GROUP_PACKAGES, group) ? GROUP_PACKAGES[group] : undefined;
  if (!pkg) return undefined;
  const name = `k8s.io.api.${pkg}.${version}.${kind}`;
  // Only objects (lists included) carry metadata in field 1; that keeps a kind like PodSpec out.
  return message(name)?.fields['1']?.name === 'metadata' ? name : undefined;
}
