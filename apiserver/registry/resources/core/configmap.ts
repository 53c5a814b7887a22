// core/v1 ConfigMap.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isConfigMapKey } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, deepEqual, isObj, type Json } from '../common.js';

export const MAX_DATA_SIZE = 1024 * 1024;

/** Checks base64 the way Go's StdEncoding decoder does; returns the offending byte offset or -1. */
export function base64ErrorOffset(s: string): number {
  if (s.length % 4 !== 0) {
    const bad = s.search(/[^A-Za-z0-9+/=]/);
    return bad >= 0 ? bad : s.length - (s.length % 4);
  }
  const m = /^[A-Za-z0-9+/]*={0,2}$/.exec(s);
  if (m) return -1;
  const bad = s.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  return s.indexOf('=');
}

function byteSize(data: Json, binary: boolean): number {
  let n = 0;
  for (const [k, v] of Object.entries(isObj(data) ? data : {})) {
    n += Buffer.byteLength(k);
    if (typeof v === 'string') n += binary ? Buffer.from(v, 'base64').length : Buffer.byteLength(v);
  }
  return n;
}

function validateConfigMap(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const data: Json = obj.data;
  const binary: Json = obj.binaryData;
  for (const [field, m, isBinary] of [['data', data, false], ['binaryData', binary, true]] as const) {
    if (m === undefined || m === null) continue;
    if (!isObj(m)) {
      errs.push(fieldErrors.typeInvalid(field, m, 'must be a map of string to string'));
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      for (const msg of isConfigMapKey(k)) errs.push(fieldErrors.invalid(`${field}[${k}]`, k, msg));
      if (typeof v !== 'string') errs.push(fieldErrors.typeInvalid(`${field}[${k}]`, v, 'must be a string'));
      else if (isBinary) {
        const off = base64ErrorOffset(v);
        if (off >= 0) errs.push(fieldErrors.invalid(`${field}[${k}]`, '<binary>', `illegal base64 data at input byte ${off}`));
      }
      if (!isBinary && isObj(binary) && k in binary) errs.push(fieldErrors.invalid(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    }
  }
  const total = byteSize(data, false) + byteSize(binary, true);
  if (total > MAX_DATA_SIZE) errs.push(fieldErrors.tooLong('', '', MAX_DATA_SIZE));
  return errs;
}

/** Shared by ConfigMap and Secret: with immutable=true nothing of the payload may change. */
export function validateImmutablePayload(obj: KObject, old: KObject, fields: string[]): FieldError[] {
  const errs: FieldError[] = [];
  if (old.immutable !== true) return errs;
  if (obj.immutable !== true) errs.push(fieldErrors.forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) {
    if (!deepEqual(obj[f], old[f])) errs.push(fieldErrors.forbidden(f, 'field is immutable when `immutable` is set'));
  }
  return errs;
}

export const configMapStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    listKind: 'ConfigMapList',
    plural: 'configmaps',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    verbs: ALL_VERBS,
    modelName: 'V1ConfigMap',
  },
  validate: validateConfigMap,
  validateUpdate: (obj, old) => validateImmutablePayload(obj, old, ['data', 'binaryData']),
  table: {
    columns: [NAME_COLUMN, col('Data', 'integer', 'Data contains the configuration data.'), AGE_COLUMN],
    cells: (obj, now) => [obj.metadata.name, Object.keys(isObj(obj.data) ? obj.data : {}).length + Object.keys(isObj(obj.binaryData) ? obj.binaryData : {}).length, age(obj, now)],
  },
};
