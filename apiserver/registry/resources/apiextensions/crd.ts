// apiextensions.k8s.io/v1 CustomResourceDefinition: the definition itself. Serving the custom
// resources it declares happens elsewhere.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, NAME_COLUMN, col, ensureObj, isObj, setDefault, str, type Json } from '../common.js';

const SCOPES = ['Cluster', 'Namespaced'];

function defaultCrd(obj: KObject): void {
  const spec = ensureObj(obj, 'spec');
  const names = ensureObj(spec, 'names');
  if (names.kind && !names.singular) names.singular = String(names.kind).toLowerCase();
  if (names.kind && !names.listKind) names.listKind = `${names.kind}List`;
  setDefault(ensureObj(spec, 'conversion'), 'strategy', 'None');
}

function validateNames(names: Json, path: string): FieldError[] {
  if (!isObj(names)) return [fieldErrors.required(path)];
  const errs: FieldError[] = [];
  if (!names.plural) errs.push(fieldErrors.required(`${path}.plural`));
  else for (const m of isDns1123Label(String(names.plural))) errs.push(fieldErrors.invalid(`${path}.plural`, names.plural, m));
  if (names.singular) for (const m of isDns1123Label(String(names.singular))) errs.push(fieldErrors.invalid(`${path}.singular`, names.singular, m));
  if (!names.kind) errs.push(fieldErrors.required(`${path}.kind`));
  else if (!/^[A-Za-z][A-Za-z0-9]*$/.test(String(names.kind))) {
    for (const m of isDns1035Label(String(names.kind).toLowerCase())) errs.push(fieldErrors.invalid(`${path}.kind`, names.kind, m));
  }
  if (!names.listKind) errs.push(fieldErrors.required(`${path}.listKind`));
  else if (names.listKind === names.kind) errs.push(fieldErrors.invalid(`${path}.listKind`, names.listKind, 'kind and listKind may not be the same'));
  (Array.isArray(names.shortNames) ? names.shortNames : []).forEach((s: Json, i: number) => {
    for (const m of isDns1123Label(String(s))) errs.push(fieldErrors.invalid(`${path}.shortNames[${i}]`, s, m));
  });
  (Array.isArray(names.categories) ? names.categories : []).forEach((s: Json, i: number) => {
    for (const m of isDns1123Label(String(s))) errs.push(fieldErrors.invalid(`${path}.categories[${i}]`, s, m));
  });
  return errs;
}

function validateSchema(v: Json, path: string): FieldError[] {
  const schema: Json = v.schema?.openAPIV3Schema;
  if (!isObj(schema)) return [fieldErrors.required(`${path}.schema.openAPIV3Schema`, 'schemas are required')];
  if (schema.type === undefined) return [fieldErrors.required(`${path}.schema.openAPIV3Schema.type`, 'must not be empty at the root')];
  if (schema.type !== 'object') return [fieldErrors.invalid(`${path}.schema.openAPIV3Schema.type`, schema.type, 'must be object at the root')];
  return [];
}

function validateCrd(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  const group = str(spec.group);
  if (!group) errs.push(fieldErrors.required('spec.group'));
  else {
    for (const m of isDns1123Subdomain(group)) errs.push(fieldErrors.invalid('spec.group', group, m));
    if (!group.includes('.')) errs.push(fieldErrors.invalid('spec.group', group, 'should be a domain with at least one dot'));
  }
  errs.push(...validateNames(spec.names, 'spec.names'));
  if (!spec.scope) errs.push(fieldErrors.required('spec.scope'));
  else if (!SCOPES.includes(spec.scope)) errs.push(fieldErrors.notSupported('spec.scope', spec.scope, SCOPES));
  const plural = str(spec.names?.plural);
  if (plural && group && obj.metadata.name !== `${plural}.${group}`) {
    errs.push(fieldErrors.invalid('metadata.name', obj.metadata.name ?? '', 'must be spec.names.plural+"."+spec.group'));
  }
  const versions: Json[] = Array.isArray(spec.versions) ? spec.versions : [];
  if (versions.length === 0) errs.push(fieldErrors.required('spec.versions', 'must have exactly one version marked as storage version'));
  const seen = new Set<string>();
  let storage = 0;
  let served = 0;
  versions.forEach((v, i) => {
    const p = `spec.versions[${i}]`;
    if (!isObj(v)) return;
    if (!v.name) errs.push(fieldErrors.required(`${p}.name`));
    else {
      for (const m of isDns1035Label(String(v.name))) errs.push(fieldErrors.invalid(`${p}.name`, v.name, m));
      if (seen.has(v.name)) errs.push(fieldErrors.invalid('spec.versions', versions.map((x) => x?.name), 'must contain unique version names'));
      seen.add(v.name);
    }
    if (v.storage === true) storage++;
    if (v.served === true) served++;
    if (typeof v.served !== 'boolean') errs.push(fieldErrors.required(`${p}.served`));
    if (typeof v.storage !== 'boolean') errs.push(fieldErrors.required(`${p}.storage`));
    errs.push(...validateSchema(v, p));
    const scale: Json = v.subresources?.scale;
    if (isObj(scale)) {
      if (!scale.specReplicasPath) errs.push(fieldErrors.required(`${p}.subresources.scale.specReplicasPath`));
      if (!scale.statusReplicasPath) errs.push(fieldErrors.required(`${p}.subresources.scale.statusReplicasPath`));
    }
  });
  if (versions.length > 0 && storage !== 1) {
    errs.push(fieldErrors.invalid('spec.versions', versions.map((x) => x?.name), 'must have exactly one version marked as storage version'));
  }
  if (versions.length > 0 && served === 0) {
    errs.push(fieldErrors.invalid('spec.versions', versions.map((x) => x?.name), 'must have at least one version marked as served'));
  }
  const conv = spec.conversion?.strategy;
  if (conv !== undefined && !['None', 'Webhook'].includes(conv)) errs.push(fieldErrors.notSupported('spec.conversion.strategy', conv, ['None', 'Webhook']));
  return errs;
}

export const crdStrategy: Strategy = {
  info: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    listKind: 'CustomResourceDefinitionList',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1CustomResourceDefinition',
  },
  defaults: defaultCrd,
  validate: validateCrd,
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    const oldSpec: Json = old.spec ?? {};
    if (spec.group !== oldSpec.group) errs.push(fieldErrors.immutable('spec.group', spec.group));
    if (spec.scope !== oldSpec.scope) errs.push(fieldErrors.immutable('spec.scope', spec.scope));
    // Objects already stored under a version must stay readable.
    const stored: string[] = Array.isArray((old.status as Json)?.storedVersions) ? (old.status as Json).storedVersions : [];
    const names = new Set((Array.isArray(spec.versions) ? spec.versions : []).map((v: Json) => v?.name));
    for (const s of stored) {
      if (!names.has(s)) errs.push(fieldErrors.invalid('status.storedVersions', stored, `must appear in spec.versions`));
    }
    return errs;
  },
  prepareForCreate(obj) {
    const versions: Json[] = Array.isArray((obj.spec as Json)?.versions) ? (obj.spec as Json).versions : [];
    obj.status = {
      acceptedNames: { plural: '', kind: '' },
      storedVersions: versions.filter((v) => isObj(v) && v.storage === true).map((v) => v.name),
    };
  },
  hasGeneration: true,
  table: {
    columns: [NAME_COLUMN, col('Created At', 'date', 'CreationTimestamp is a timestamp representing the server time when this object was created.')],
    cells: (obj) => [obj.metadata.name, obj.metadata.creationTimestamp ?? ''],
  },
};
