// Validation of ObjectMeta shared by every kind, in Kubernetes' wording and field paths.
import { fieldErrors } from '../../pkg/api/field-errors.js';
import { validateLabels } from '../../pkg/api/labels.js';
import type { FieldError, KObject, ObjectMeta } from '../../pkg/api/types.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isQualifiedName, isValidPathSegmentName, maxLenError } from '../../pkg/api/validation.js';

export { validateLabels };

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

export interface MetaValidationOptions {
  namespaced: boolean;
  /** checks metadata.name; when absent, chosen by kind (nameValidatorForKind) */
  nameValidator?: (name: string) => string[];
  /** the object's kind, to pick Kubernetes' name rule when nameValidator is not given */
  kind?: string;
}

function cronJobName(name: string): string[] {
  // Jobs the CronJob creates append an 11-character suffix and must still fit in a label value.
  const errs = isDns1123Subdomain(name);
  if (name.length > 52) errs.push(maxLenError(52));
  return errs;
}

const NAME_RULES: Record<string, (name: string) => string[]> = {
  Namespace: isDns1123Label,
  Service: isDns1035Label,
  Role: isValidPathSegmentName,
  ClusterRole: isValidPathSegmentName,
  RoleBinding: isValidPathSegmentName,
  ClusterRoleBinding: isValidPathSegmentName,
  HorizontalPodAutoscaler: isValidPathSegmentName,
  CronJob: cronJobName,
};

/** Kubernetes' name rule for a built-in kind; DNS-1123 subdomain for all others. */
export function nameValidatorForKind(kind: string | undefined): (name: string) => string[] {
  return (kind && NAME_RULES[kind]) || isDns1123Subdomain;
}

export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (typeof annotations !== 'object' || Array.isArray(annotations)) return [fieldErrors.typeInvalid(path, annotations, 'must be a map of string to string')];
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations as Record<string, unknown>)) {
    // Annotation keys are case-insensitive in the prefix's DNS sense, so Kubernetes lowercases first.
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(fieldErrors.invalid(path, k, m));
    if (typeof v !== 'string') errs.push(fieldErrors.typeInvalid(path, v, 'annotation values must be strings'));
    total += Buffer.byteLength(k) + Buffer.byteLength(typeof v === 'string' ? v : String(v));
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(fieldErrors.tooLong(path, '', TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [fieldErrors.typeInvalid(path, refs, 'must be a list')];
  const errs: FieldError[] = [];
  const controllers: string[] = [];
  for (const r of refs as Record<string, unknown>[]) {
    if (!r || typeof r !== 'object') {
      errs.push(fieldErrors.typeInvalid(path, r, 'must be an object'));
      continue;
    }
    if (!r.apiVersion) errs.push(fieldErrors.invalid(`${path}.apiVersion`, r.apiVersion ?? '', 'version must not be empty'));
    if (!r.kind) errs.push(fieldErrors.invalid(`${path}.kind`, r.kind ?? '', 'kind must not be empty'));
    if (!r.name) errs.push(fieldErrors.invalid(`${path}.name`, r.name ?? '', 'name must not be empty'));
    if (!r.uid) errs.push(fieldErrors.invalid(`${path}.uid`, r.uid ?? '', 'uid must not be empty'));
    if (r.controller === true) controllers.push(`${r.kind}/${r.name}`);
  }
  if (controllers.length > 1) {
    errs.push(
      fieldErrors.invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(' and ')}`),
    );
  }
  return errs;
}

function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  if (finalizers === undefined || finalizers === null) return [];
  if (!Array.isArray(finalizers)) return [fieldErrors.typeInvalid(path, finalizers, 'must be a list of strings')];
  const errs: FieldError[] = [];
  for (const f of finalizers) {
    if (typeof f !== 'string') {
      errs.push(fieldErrors.typeInvalid(path, f, 'must be a string'));
      continue;
    }
    for (const m of isQualifiedName(f)) errs.push(fieldErrors.invalid(path, f, m));
  }
  return errs;
}

/** generateName may end in '-' (the random suffix follows), so that dash is not judged. */
function validateGenerateName(gen: string, validator: (n: string) => string[]): string[] {
  const masked = gen.endsWith('-') ? gen.slice(0, -1) + 'a' : gen;
  return validator(masked);
}

export function validateObjectMeta(obj: KObject, opts: MetaValidationOptions): FieldError[] {
  const meta: ObjectMeta | undefined = obj.metadata;
  if (!meta || typeof meta !== 'object') return [fieldErrors.required('metadata')];
  const nameFn = opts.nameValidator ?? nameValidatorForKind(opts.kind);
  const errs: FieldError[] = [];
  if (meta.generateName) {
    for (const m of validateGenerateName(meta.generateName, nameFn)) errs.push(fieldErrors.invalid('metadata.generateName', meta.generateName, m));
  }
  if (!meta.name) {
    if (!meta.generateName) errs.push(fieldErrors.required('metadata.name', 'name or generateName is required'));
  } else if (typeof meta.name !== 'string') {
    errs.push(fieldErrors.typeInvalid('metadata.name', meta.name, 'must be a string'));
  } else {
    for (const m of nameFn(meta.name)) errs.push(fieldErrors.invalid('metadata.name', meta.name, m));
  }
  if (opts.namespaced) {
    if (!meta.namespace) errs.push(fieldErrors.required('metadata.namespace'));
    else for (const m of isDns1123Label(meta.namespace)) errs.push(fieldErrors.invalid('metadata.namespace', meta.namespace, m));
  } else if (meta.namespace) {
    errs.push(fieldErrors.forbidden('metadata.namespace', 'not allowed on this type'));
  }
  if (meta.generation !== undefined && (typeof meta.generation !== 'number' || meta.generation < 0)) {
    errs.push(fieldErrors.invalid('metadata.generation', meta.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  errs.push(...validateOwnerReferences(meta.ownerReferences, 'metadata.ownerReferences'));
  errs.push(...validateFinalizers(meta.finalizers, 'metadata.finalizers'));
  return errs;
}

/** Identity fields may never change once the object exists. */
export function validateObjectMetaUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const m = obj.metadata ?? {};
  const o = old.metadata ?? {};
  for (const f of ['name', 'namespace', 'uid', 'creationTimestamp'] as const) {
    if ((m[f] ?? '') !== (o[f] ?? '')) errs.push(fieldErrors.immutable(`metadata.${f}`, m[f] ?? ''));
  }
  if (m.generation !== undefined && o.generation !== undefined && m.generation < o.generation) {
    errs.push(fieldErrors.invalid('metadata.generation', m.generation, 'must not be decremented'));
  }
  return errs;
}
