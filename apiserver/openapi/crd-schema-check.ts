// Checks that a CRD's openAPIV3Schema is structural enough for pruning and validation to mean
// something: every node typed, arrays with items, properties and additionalProperties not mixed,
// patterns that compile, metadata restricted to name/generateName.
import { fieldErrors } from '../../pkg/api/field-errors.js';
import type { FieldError } from '../../pkg/api/types.js';
import { compilePattern, type JSONSchema } from './crd-validation.js';

const TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const LIST_TYPES = ['atomic', 'map', 'set'];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkNode(s: JSONSchema, path: string, errs: FieldError[], root: boolean, inCombinator: boolean): void {
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const type = s.type;
  if (type === undefined || type === '') {
    if (root) errs.push(fieldErrors.required(`${path}.type`, 'must not be empty at the root'));
    else if (!inCombinator && !intOrString && !preserve) errs.push(fieldErrors.required(`${path}.type`, 'must not be empty for specified object fields'));
  } else if (typeof type !== 'string' || !TYPES.includes(type)) {
    errs.push(fieldErrors.notSupported(`${path}.type`, type, TYPES));
  } else if (root && type !== 'object') {
    errs.push(fieldErrors.invalid(`${path}.type`, type, 'must be object at the root'));
  }
  if (intOrString && type !== undefined && !inCombinator) {
    errs.push(fieldErrors.forbidden(`${path}.type`, 'must be empty when x-kubernetes-int-or-string is true'));
  }
  if ('$ref' in s) errs.push(fieldErrors.forbidden(`${path}.$ref`, '$ref is not supported'));
  if (type === 'array' && !inCombinator && !isObj(s.items)) errs.push(fieldErrors.required(`${path}.items`, 'must be specified'));
  if (s.items !== undefined && !isObj(s.items)) errs.push(fieldErrors.forbidden(`${path}.items`, 'items must be a schema object and not an array'));
  if (isObj(s.properties) && s.additionalProperties !== undefined && s.additionalProperties !== false) {
    errs.push(fieldErrors.forbidden(`${path}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'));
  }
  if (typeof s.pattern === 'string' && !compilePattern(s.pattern)) {
    errs.push(fieldErrors.invalid(`${path}.pattern`, s.pattern, 'must be a valid regular expression'));
  } else if (s.pattern !== undefined && typeof s.pattern !== 'string') {
    errs.push(fieldErrors.invalid(`${path}.pattern`, s.pattern, 'must be a string'));
  }
  const listType = s['x-kubernetes-list-type'];
  if (listType !== undefined) {
    if (typeof listType !== 'string' || !LIST_TYPES.includes(listType)) errs.push(fieldErrors.notSupported(`${path}.x-kubernetes-list-type`, listType, LIST_TYPES));
    else if (type !== 'array') errs.push(fieldErrors.invalid(`${path}.x-kubernetes-list-type`, listType, 'must only be used on type array'));
    else if (listType === 'map' && !(Array.isArray(s['x-kubernetes-list-map-keys']) && (s['x-kubernetes-list-map-keys'] as unknown[]).length > 0)) {
      errs.push(fieldErrors.required(`${path}.x-kubernetes-list-map-keys`, 'must not be empty if x-kubernetes-list-type is map'));
    }
  }
  for (const k of ['maximum', 'minimum', 'maxLength', 'minLength', 'maxItems', 'minItems', 'maxProperties', 'minProperties', 'multipleOf']) {
    if (s[k] !== undefined && typeof s[k] !== 'number') errs.push(fieldErrors.invalid(`${path}.${k}`, s[k], 'must be a number'));
  }
  if (s.required !== undefined && !(Array.isArray(s.required) && s.required.every((r) => typeof r === 'string'))) {
    errs.push(fieldErrors.invalid(`${path}.required`, s.required, 'must be a list of property names'));
  }
  if (s.enum !== undefined && !Array.isArray(s.enum)) errs.push(fieldErrors.invalid(`${path}.enum`, s.enum, 'must be a list'));

  if (s.properties !== undefined && !isObj(s.properties)) errs.push(fieldErrors.invalid(`${path}.properties`, s.properties, 'must be a map of schemas'));
  if (isObj(s.properties)) {
    for (const [k, p] of Object.entries(s.properties)) {
      const pp = `${path}.properties[${k}]`;
      if (!isObj(p)) {
        errs.push(fieldErrors.invalid(pp, p, 'must be a schema object'));
        continue;
      }
      if (root && k === 'metadata') checkRootMetadata(p, pp, errs);
      checkNode(p, pp, errs, false, inCombinator);
    }
  }
  if (isObj(s.items)) checkNode(s.items, `${path}.items`, errs, false, inCombinator);
  if (isObj(s.additionalProperties)) checkNode(s.additionalProperties, `${path}.additionalProperties`, errs, false, inCombinator);
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    const list = s[k];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      errs.push(fieldErrors.invalid(`${path}.${k}`, list, 'must be a list of schemas'));
      continue;
    }
    list.forEach((x, i) => {
      if (isObj(x)) checkNode(x, `${path}.${k}[${i}]`, errs, false, true);
      else errs.push(fieldErrors.invalid(`${path}.${k}[${i}]`, x, 'must be a schema object'));
    });
  }
  if (isObj(s.not)) checkNode(s.not, `${path}.not`, errs, false, true);
}

function checkRootMetadata(p: JSONSchema, path: string, errs: FieldError[]): void {
  if (isObj(p.properties)) {
    for (const k of Object.keys(p.properties)) {
      if (k !== 'name' && k !== 'generateName') {
        errs.push(fieldErrors.forbidden(path, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
        return;
      }
    }
  }
}

/**
 * FieldErrors for a schema that pruning and validation cannot work with. `path` is where the
 * schema sits in the CRD, e.g. spec.versions[0].schema.openAPIV3Schema.
 */
export function validateCrdSchema(schema: unknown, path = 'spec.versions[0].schema.openAPIV3Schema'): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObj(schema)) {
    errs.push(fieldErrors.required(path, 'must be an object schema'));
    return errs;
  }
  checkNode(schema, path, errs, true, false);
  return errs;
}
