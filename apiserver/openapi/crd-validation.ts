// Validation of custom resources against a CRD's openAPIV3Schema: the structural-schema subset
// Kubernetes enforces, reported in its wording ("spec.replicas in body must be of type integer").
import { fieldErrors } from '../../pkg/api/field-errors.js';
import type { FieldError } from '../../pkg/api/types.js';

export type JSONSchema = Record<string, unknown>;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && deepEqual(ao[k], bo[k]));
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObj(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
  return true;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const IPV4 = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9a-fA-F:.]+$/;
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const BYTE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DURATION = /^([-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$/;

/** Whether a value fits a format; formats we do not know are accepted, as Kubernetes does. */
function formatMatches(format: string, v: unknown): boolean {
  if (typeof v === 'number') {
    if (format === 'int32') return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
    if (format === 'int64') return Number.isInteger(v) && Number.isSafeInteger(v);
    return true;
  }
  if (typeof v !== 'string') return true;
  switch (format) {
    case 'date-time':
    case 'datetime':
      return RFC3339.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T')));
    case 'date':
      return DATE.test(v);
    case 'uuid':
      return UUID.test(v);
    case 'ipv4':
      return IPV4.test(v);
    case 'ipv6':
      return IPV6.test(v) && v.includes(':');
    case 'hostname':
      return HOSTNAME.test(v);
    case 'email':
      return EMAIL.test(v);
    case 'byte':
      return BYTE.test(v);
    case 'duration':
      return DURATION.test(v);
    case 'uri':
      try {
        new URL(v);
        return true;
      } catch {
        return false;
      }
  }
  return true;
}

const regexCache = new Map<string, RegExp | null>();

export function compilePattern(p: string): RegExp | null {
  let re = regexCache.get(p);
  if (re === undefined) {
    try {
      re = new RegExp(p, 'u');
    } catch {
      re = null;
    }
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(p, re);
  }
  return re;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

function tooMany(field: string, count: number, max: number, what: string): FieldError {
  return { reason: 'FieldValueTooMany', field, message: `Too many: ${count}: must have at most ${max} ${what}` };
}

function validate(schema: JSONSchema, v: unknown, path: string, errs: FieldError[]): void {
  const where = path || '<root>';
  if (v === null) {
    if (schema.nullable === true) return;
    if (typeof schema.type === 'string') errs.push(fieldErrors.typeInvalid(path, 'null', `${where} in body must be of type ${schema.type}: "null"`));
    return;
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (!(typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)))) {
      errs.push(fieldErrors.typeInvalid(path, typeName(v), `${where} in body must be of type integer,string: "${typeName(v)}"`));
      return;
    }
  } else if (typeof schema.type === 'string' && !typeMatches(schema.type, v)) {
    errs.push(fieldErrors.typeInvalid(path, typeName(v), `${where} in body must be of type ${schema.type}: "${typeName(v)}"`));
    return;
  }

  if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, v))) {
    errs.push(fieldErrors.notSupported(path, v, schema.enum.map(show)));
  }

  if (typeof v === 'number') validateNumber(schema, v, path, where, errs);
  if (typeof v === 'string') validateString(schema, v, path, where, errs);
  if (typeof schema.format === 'string' && !formatMatches(schema.format, v)) {
    errs.push(fieldErrors.invalid(path, v, `${where} in body must be of type ${schema.format}: ${JSON.stringify(show(v))}`));
  }
  if (Array.isArray(v)) validateArray(schema, v, path, where, errs);
  if (isObj(v)) validateObject(schema, v, path, where, errs);
  validateCombinators(schema, v, path, errs);
}

function validateNumber(schema: JSONSchema, v: number, path: string, where: string, errs: FieldError[]): void {
  if (typeof schema.maximum === 'number') {
    if (schema.exclusiveMaximum === true ? v >= schema.maximum : v > schema.maximum) {
      const rel = schema.exclusiveMaximum === true ? 'less than' : 'less than or equal to';
      errs.push(fieldErrors.invalid(path, v, `${where} in body should be ${rel} ${schema.maximum}`));
    }
  }
  if (typeof schema.minimum === 'number') {
    if (schema.exclusiveMinimum === true ? v <= schema.minimum : v < schema.minimum) {
      const rel = schema.exclusiveMinimum === true ? 'greater than' : 'greater than or equal to';
      errs.push(fieldErrors.invalid(path, v, `${where} in body should be ${rel} ${schema.minimum}`));
    }
  }
  if (typeof schema.multipleOf === 'number' && schema.multipleOf > 0) {
    const q = v / schema.multipleOf;
    if (Math.abs(q - Math.round(q)) > 1e-9) errs.push(fieldErrors.invalid(path, v, `${where} in body should be a multiple of ${schema.multipleOf}`));
  }
}

function validateString(schema: JSONSchema, v: string, path: string, where: string, errs: FieldError[]): void {
  const length = [...v].length;
  if (typeof schema.maxLength === 'number' && length > schema.maxLength) errs.push(fieldErrors.tooLong(path, v, schema.maxLength));
  if (typeof schema.minLength === 'number' && length < schema.minLength) {
    errs.push(fieldErrors.invalid(path, v, `${where} in body should be at least ${schema.minLength} chars long`));
  }
  if (typeof schema.pattern === 'string') {
    const re = compilePattern(schema.pattern);
    if (re && !re.test(v)) errs.push(fieldErrors.invalid(path, v, `${where} in body should match '${schema.pattern}'`));
  }
}

function validateArray(schema: JSONSchema, v: unknown[], path: string, where: string, errs: FieldError[]): void {
  if (typeof schema.maxItems === 'number' && v.length > schema.maxItems) errs.push(tooMany(path, v.length, schema.maxItems, 'items'));
  if (typeof schema.minItems === 'number' && v.length < schema.minItems) {
    errs.push(fieldErrors.invalid(path, v, `${where} in body should have at least ${schema.minItems} items`));
  }
  const listType = schema['x-kubernetes-list-type'];
  if (schema.uniqueItems === true || listType === 'set') {
    for (let i = 1; i < v.length; i++) {
      if (v.slice(0, i).some((x) => deepEqual(x, v[i]))) errs.push(fieldErrors.duplicate(`${path}[${i}]`, v[i]));
    }
  }
  const mapKeys = schema['x-kubernetes-list-map-keys'];
  if (listType === 'map' && Array.isArray(mapKeys)) {
    const seen = new Set<string>();
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (!isObj(item)) continue;
      const key = JSON.stringify(mapKeys.map((k) => item[String(k)] ?? null));
      if (seen.has(key)) {
        const shown = Object.fromEntries(mapKeys.map((k) => [String(k), item[String(k)]]));
        errs.push(fieldErrors.duplicate(`${path}[${i}]`, shown));
      }
      seen.add(key);
    }
  }
  if (isObj(schema.items)) {
    for (let i = 0; i < v.length; i++) validate(schema.items, v[i], `${path}[${i}]`, errs);
  }
}

function validateObject(schema: JSONSchema, v: Record<string, unknown>, path: string, where: string, errs: FieldError[]): void {
  if (Array.isArray(schema.required)) {
    for (const r of schema.required) {
      if (typeof r === 'string' && (!Object.hasOwn(v, r) || v[r] === undefined)) errs.push(fieldErrors.required(childPath(path, r)));
    }
  }
  const props = isObj(schema.properties) ? schema.properties : undefined;
  const additional = schema.additionalProperties;
  const count = Object.keys(v).length;
  if (typeof schema.maxProperties === 'number' && count > schema.maxProperties) errs.push(tooMany(path, count, schema.maxProperties, 'properties'));
  if (typeof schema.minProperties === 'number' && count < schema.minProperties) {
    errs.push(fieldErrors.invalid(path, v, `${where} in body should have at least ${schema.minProperties} properties`));
  }
  for (const [k, x] of Object.entries(v)) {
    const p = props && Object.hasOwn(props, k) ? props[k] : undefined;
    if (isObj(p)) validate(p, x, childPath(path, k), errs);
    else if (isObj(additional)) validate(additional, x, childPath(path, k), errs);
  }
}

function validateCombinators(schema: JSONSchema, v: unknown, path: string, errs: FieldError[]): void {
  if (Array.isArray(schema.allOf)) {
    for (const s of schema.allOf) if (isObj(s)) validate(s, v, path, errs);
  }
  const passes = (s: unknown): boolean => {
    if (!isObj(s)) return true;
    const e: FieldError[] = [];
    validate(s, v, path, e);
    return e.length === 0;
  };
  if (Array.isArray(schema.anyOf) && schema.anyOf.length > 0 && !schema.anyOf.some(passes)) {
    errs.push(fieldErrors.invalid(path, v, `${path || '<root>'} in body must validate at least one schema (anyOf)`));
  }
  if (Array.isArray(schema.oneOf) && schema.oneOf.length > 0) {
    const n = schema.oneOf.filter(passes).length;
    if (n !== 1) errs.push(fieldErrors.invalid(path, v, `${path || '<root>'} in body must validate one and only one schema (oneOf)`));
  }
  if (isObj(schema.not) && passes(schema.not)) {
    errs.push(fieldErrors.invalid(path, v, `${path || '<root>'} in body must not validate the schema (not)`));
  }
}

/**
 * Validates a custom resource against its version's openAPIV3Schema. The object's apiVersion,
 * kind and metadata are validated elsewhere (generic metadata rules); the schema may still
 * restrict metadata.name and metadata.generateName.
 */
export function validateCustomResource(schema: object, obj: unknown): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObj(schema)) return errs;
  if (!isObj(obj)) {
    errs.push(fieldErrors.typeInvalid('', typeName(obj), `<root> in body must be of type object: "${typeName(obj)}"`));
    return errs;
  }
  validate(schema as JSONSchema, obj, '', errs);
  return errs;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** Fills in `default`s of the schema where fields are absent (or null and not nullable). Mutates obj. */
export function applyDefaults(schema: object, obj: unknown): void {
  if (!isObj(schema)) return;
  defaultValue(schema as JSONSchema, obj);
}

function defaultValue(schema: JSONSchema, v: unknown): void {
  if (isObj(v)) {
    const props = isObj(schema.properties) ? schema.properties : undefined;
    if (props) {
      for (const [k, p] of Object.entries(props)) {
        // assigning '__proto__' would replace the object's prototype instead of adding a field
        if (!isObj(p) || k === '__proto__') continue;
        if (Object.hasOwn(p, 'default') && (v[k] === undefined || (v[k] === null && p.nullable !== true))) v[k] = clone(p.default);
        if (v[k] !== undefined) defaultValue(p, v[k]);
      }
    }
    if (isObj(schema.additionalProperties)) {
      for (const [k, x] of Object.entries(v)) if (!props || !Object.hasOwn(props, k)) defaultValue(schema.additionalProperties, x);
    }
  } else if (Array.isArray(v) && isObj(schema.items)) {
    for (const x of v) defaultValue(schema.items, x);
  }
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf) if (isObj(s)) defaultValue(s, v);
}
