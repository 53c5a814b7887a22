// core/v1 Namespace.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError } from '../../../../pkg/api/types.js';
import { isDns1123Label, isQualifiedName } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { AGE_COLUMN, NAME_COLUMN, age, col, ensureObj, isObj, str, type Json } from '../common.js';

const STANDARD_FINALIZERS = ['kubernetes', 'orphan', 'foregroundDeletion'];
const NAME_LABEL = 'kubernetes.io/metadata.name';

export const namespaceStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: ['status'],
    modelName: 'V1Namespace',
  },
  nameValidator: isDns1123Label,
  defaults(obj) {
    const spec = ensureObj(obj, 'spec');
    if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
    const status = ensureObj(obj, 'status');
    if (!status.phase) status.phase = 'Active';
    // The name label lets selectors (e.g. NetworkPolicy namespaceSelector) pick namespaces by name.
    if (obj.metadata.name) {
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), [NAME_LABEL]: obj.metadata.name };
    }
  },
  validate(obj) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    if (spec.finalizers !== undefined && !Array.isArray(spec.finalizers)) {
      errs.push(fieldErrors.typeInvalid('spec.finalizers', spec.finalizers, 'must be a list of strings'));
    } else {
      for (const f of spec.finalizers ?? []) {
        const msgs = isQualifiedName(String(f));
        for (const m of msgs) errs.push(fieldErrors.invalid('spec.finalizers', f, m));
        if (!msgs.length && !STANDARD_FINALIZERS.includes(f) && !String(f).includes('/')) {
          errs.push(fieldErrors.invalid('spec.finalizers', f, 'name is neither a standard finalizer name nor is it fully qualified'));
        }
      }
    }
    const phase = (obj.status as Json)?.phase;
    if (phase !== undefined && !['Active', 'Terminating'].includes(phase)) errs.push(fieldErrors.notSupported('status.phase', phase, ['Active', 'Terminating']));
    return errs;
  },
  prepareForCreate(obj) {
    obj.status = { phase: 'Active' };
  },
  prepareForUpdate(obj, old) {
    if (!isObj(obj.status) && isObj(old.status)) obj.status = old.status;
  },
  selectableFields(obj) {
    return { 'status.phase': str((obj.status as Json)?.phase) };
  },
  table: {
    columns: [NAME_COLUMN, col('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
    cells: (obj, now) => [obj.metadata.name, str((obj.status as Json)?.phase), age(obj, now)],
  },
};
