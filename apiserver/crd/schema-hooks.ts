// How a custom resource is decoded and validated: against its version's openAPIV3Schema
// (unknown fields reported for fieldValidation and pruned, defaults applied, schema validation),
// with metadata checked as ObjectMeta like any built-in object.
import type { KObject } from '../../pkg/api/types.js';
import type { SchemaHooks } from '../registry/generic.js';
import { pruneUnknown, unknownFieldsBySchema } from '../openapi/crd-prune.js';
import { applyDefaults, validateCustomResource } from '../openapi/crd-validation.js';
import { checkObjectMeta } from '../openapi/strict.js';

export interface CrdSchemaSource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  schema: Record<string, unknown>;
  subresources?: string[];
}

export function customResourceHooks(src: CrdSchemaSource): SchemaHooks {
  const schema = src.schema;
  return {
    check(obj: KObject, prune: boolean) {
      const meta = checkObjectMeta(obj.metadata, 'metadata', false);
      // The schema walk checks metadata as ObjectMeta itself; only type mismatches come from checkObjectMeta.
      const unknown = unknownFieldsBySchema(schema, obj);
      if (prune) pruneUnknown(schema, obj);
      applyDefaults(schema, obj);
      return { unknown, mismatches: meta.mismatches };
    },
    validate: (obj) => validateCustomResource(schema, obj),
    noStrategicMerge: true,
  };
}
