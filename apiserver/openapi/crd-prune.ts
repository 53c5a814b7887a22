// Unknown fields of custom resources: Kubernetes prunes fields a structural schema does not
// declare (unless x-kubernetes-preserve-unknown-fields), and under fieldValidation=Strict reports
// them instead. apiVersion, kind and metadata are implied at the root and in embedded resources.
import { childPath, type JSONSchema } from './crd-validation.js';
import { checkObjectMeta } from './strict.js';

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function walk(schema: JSONSchema, v: unknown, path: string, prune: boolean, out: string[], resourceRoot: boolean): void {
  // A value of the wrong type is validation's to report; walking it would only add noise.
  if (typeof schema.type === 'string' && schema.type !== (Array.isArray(v) ? 'array' : isObj(v) ? 'object' : schema.type)) return;
  if (Array.isArray(v)) {
    if (isObj(schema.items)) for (let i = 0; i < v.length; i++) walk(schema.items, v[i], `${path}[${i}]`, prune, out, false);
    return;
  }
  if (!isObj(v)) return;
  const props = isObj(schema.properties) ? schema.properties : undefined;
  const additional = schema.additionalProperties;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = resourceRoot || schema['x-kubernetes-embedded-resource'] === true;
  for (const key of Object.keys(v)) {
    const p = props && Object.hasOwn(props, key) ? props[key] : undefined;
    // metadata is typed as ObjectMeta whatever the schema says; a schema may only narrow name/generateName
    if (embedded && key === 'metadata') {
      const meta = checkObjectMeta(v[key], childPath(path, key), prune);
      out.push(...meta.unknown);
      continue;
    }
    if (isObj(p)) {
      walk(p, v[key], childPath(path, key), prune, out, false);
    } else if (embedded && (key === 'apiVersion' || key === 'kind')) {
      continue;
    } else if (isObj(additional)) {
      walk(additional, v[key], childPath(path, key), prune, out, false);
    } else if (additional === true || preserve) {
      continue;
    } else {
      out.push(childPath(path, key));
      if (prune) delete v[key];
    }
  }
}

/**
 * Removes the fields the schema does not declare, in place, as Kubernetes does on every write of a
 * custom resource. Returns the paths removed (useful for fieldValidation=Warn).
 */
export function pruneUnknown(schema: object, obj: unknown): string[] {
  const out: string[] = [];
  if (isObj(schema)) walk(schema as JSONSchema, obj, '', true, out, true);
  return out;
}

/** The fields fieldValidation=Strict rejects, in Kubernetes' path form (spec.foo, spec.items[0].bar). */
export function unknownFieldsBySchema(schema: object, obj: unknown): string[] {
  const out: string[] = [];
  if (isObj(schema)) walk(schema as JSONSchema, obj, '', false, out, true);
  return out;
}
