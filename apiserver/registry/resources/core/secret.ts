// core/v1 Secret. stringData is write-only: it is folded into data before storage, as Kubernetes
// does while converting to its internal type.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isConfigMapKey } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, isObj, str, type Json } from '../common.js';
import { MAX_DATA_SIZE, base64ErrorOffset, validateImmutablePayload } from './configmap.js';

/** Keys each well-known type must carry. */
const REQUIRED_KEYS: Record<string, string[]> = {
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

function validateSecret(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const data: Json = obj.data;
  if (data !== undefined && data !== null && !isObj(data)) return [fieldErrors.typeInvalid('data', data, 'must be a map of string to base64 string')];
  let total = 0;
  for (const [k, v] of Object.entries(isObj(data) ? data : {})) {
    for (const m of isConfigMapKey(k)) errs.push(fieldErrors.invalid(`data[${k}]`, k, m));
    if (typeof v !== 'string') {
      errs.push(fieldErrors.typeInvalid(`data[${k}]`, v, 'must be a base64 encoded string'));
      continue;
    }
    const off = base64ErrorOffset(v);
    if (off >= 0) errs.push(fieldErrors.invalid(`data[${k}]`, '<secret contents redacted>', `illegal base64 data at input byte ${off}`));
    total += Buffer.from(v, 'base64').length;
  }
  if (total > MAX_DATA_SIZE) errs.push(fieldErrors.tooLong('data', '', MAX_DATA_SIZE));
  const type = str(obj.type) || 'Opaque';
  const keys = Object.keys(isObj(data) ? data : {});
  for (const k of REQUIRED_KEYS[type] ?? []) if (!keys.includes(k)) errs.push(fieldErrors.required(`data[${k}]`));
  if (type === 'kubernetes.io/service-account-token' && !obj.metadata.annotations?.['kubernetes.io/service-account.name']) {
    errs.push(fieldErrors.required('metadata.annotations[kubernetes.io/service-account.name]'));
  }
  if (type === 'kubernetes.io/basic-auth' && !keys.includes('username') && !keys.includes('password')) {
    errs.push(fieldErrors.required('data[username]'));
  }
  return errs;
}

export const secretStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Secret',
    listKind: 'SecretList',
    plural: 'secrets',
    singular: 'secret',
    namespaced: true,
    verbs: ALL_VERBS,
    modelName: 'V1Secret',
  },
  defaults(obj) {
    if (!obj.type) obj.type = 'Opaque';
    if (isObj(obj.stringData)) {
      const data: Json = isObj(obj.data) ? obj.data : {};
      for (const [k, v] of Object.entries(obj.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      obj.data = data;
    }
    delete obj.stringData;
  },
  validate: validateSecret,
  validateUpdate(obj, old) {
    const errs = validateImmutablePayload(obj, old, ['data']);
    if ((obj.type ?? 'Opaque') !== (old.type ?? 'Opaque')) errs.push(fieldErrors.immutable('type', obj.type));
    return errs;
  },
  selectableFields: (obj) => ({ type: str(obj.type) }),
  table: {
    columns: [
      NAME_COLUMN,
      col('Type', 'string', 'The type of the secret'),
      col('Data', 'integer', 'The number of keys in the secret'),
      AGE_COLUMN,
    ],
    cells: (obj, now) => [obj.metadata.name, str(obj.type), Object.keys(isObj(obj.data) ? obj.data : {}).length, age(obj, now)],
  },
};
