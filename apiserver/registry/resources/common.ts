// Small helpers every resource module uses: verbs, shared table columns, numeric checks, and
// printing of Go-style values inside messages that Kubernetes users recognise.
import { ageSince } from '../../../pkg/api/duration.js';
import { fieldErrors } from '../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../pkg/api/types.js';
import type { TableColumn } from '../strategy.js';

/** Objects of a kind are unstructured JSON; modules read them through this loose type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const NAME_COLUMN: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
};

export const AGE_COLUMN: TableColumn = {
  name: 'Age',
  type: 'string',
  description:
    'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata',
};

export function col(name: string, type: TableColumn['type'], description: string, priority?: number): TableColumn {
  const c: TableColumn = { name, type, description };
  if (priority) c.priority = priority;
  return c;
}

export function age(obj: KObject, now: number): string {
  return ageSince(obj.metadata?.creationTimestamp, now);
}

export function isObj(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns obj[key] as an object, creating it when absent (for defaulting). */
export function ensureObj(parent: Record<string, Json>, key: string): Record<string, Json> {
  if (!isObj(parent[key])) parent[key] = {};
  return parent[key];
}

export function setDefault(o: Record<string, Json>, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') {
    // Missing and null mean the same thing in an API object.
    return (a === undefined || a === null) && (b === undefined || b === null);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) if (!deepEqual(ao[k], bo[k])) return false;
  return true;
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Checks an optional integer field is >= min; Kubernetes phrases 0 and 1 differently. */
export function checkMin(errs: FieldError[], v: unknown, path: string, min: number): void {
  if (v === undefined || v === null) return;
  if (!isInt(v)) {
    errs.push(fieldErrors.typeInvalid(path, v, 'must be an integer'));
    return;
  }
  if (v < min) {
    errs.push(fieldErrors.invalid(path, v, min === 1 ? 'must be greater than 0' : `must be greater than or equal to ${min}`));
  }
}

export function notFound(path: string, value: unknown): FieldError {
  return { reason: 'FieldValueNotFound', field: path, message: `Not found: ${JSON.stringify(value)}` };
}

/** Go's %#v of a map[string]string, keys sorted: map[string]string{"app":"web", "tier":"fe"}. */
export function goStringMap(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return `map[string]string{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(m![k])}`).join(', ')}}`;
}

/** An invalid FieldError whose value is printed verbatim (Go-formatted values). */
export function invalidRaw(field: string, shown: string, detail: string): FieldError {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${shown}: ${detail}` };
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

export function orNone(s: string | undefined | null): string {
  return s ? s : '<none>';
}

/** IntOrString percentage ("25%") or integer; undefined if malformed. */
export function parseIntOrPercent(v: unknown): { value: number; percent: boolean } | undefined {
  if (isInt(v)) return { value: v, percent: false };
  if (typeof v === 'string') {
    const m = /^(\d+)%$/.exec(v);
    if (m) return { value: Number(m[1]), percent: true };
    if (/^\d+$/.test(v)) return undefined;
  }
  return undefined;
}

/** Validates an IntOrString that must be a non-negative int or a percentage. */
export function checkIntOrPercent(errs: FieldError[], v: unknown, path: string): void {
  if (v === undefined || v === null) return;
  if (isInt(v)) {
    if (v < 0) errs.push(fieldErrors.invalid(path, v, 'must be greater than or equal to 0'));
    return;
  }
  const p = parseIntOrPercent(v);
  if (!p) {
    errs.push(fieldErrors.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"));
  } else if (p.value > 100) {
    errs.push(fieldErrors.invalid(path, v, 'must not be greater than 100%'));
  }
}

export function isZeroIntOrPercent(v: unknown): boolean {
  const p = parseIntOrPercent(v);
  return !!p && p.value === 0;
}

export function nsOf(obj: KObject): string {
  return obj.metadata?.namespace ?? '';
}
