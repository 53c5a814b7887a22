// coordination.k8s.io/v1 Lease.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkMin, col, isObj, str, type Json } from '../common.js';

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export const leaseStrategy: Strategy = {
  info: {
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    listKind: 'LeaseList',
    plural: 'leases',
    singular: 'lease',
    namespaced: true,
    verbs: ALL_VERBS,
    modelName: 'V1Lease',
  },
  validate(obj) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec;
    if (spec === undefined || spec === null) return errs;
    if (!isObj(spec)) return [fieldErrors.typeInvalid('spec', spec, 'must be an object')];
    checkMin(errs, spec.leaseDurationSeconds, 'spec.leaseDurationSeconds', 1);
    checkMin(errs, spec.leaseTransitions, 'spec.leaseTransitions', 0);
    for (const f of ['acquireTime', 'renewTime']) {
      if (spec[f] !== undefined && spec[f] !== null && !(typeof spec[f] === 'string' && MICRO_TIME.test(spec[f]))) {
        errs.push(fieldErrors.invalid(`spec.${f}`, spec[f], 'must be an RFC 3339 timestamp with microseconds'));
      }
    }
    if (spec.strategy !== undefined && spec.strategy !== null && spec.strategy !== 'OldestEmulationVersion') {
      errs.push(fieldErrors.notSupported('spec.strategy', spec.strategy, ['OldestEmulationVersion']));
    }
    return errs;
  },
  table: {
    columns: [NAME_COLUMN, col('Holder', 'string', 'The holder of the lease'), AGE_COLUMN],
    cells: (obj, now) => [obj.metadata.name, str((obj.spec as Json)?.holderIdentity), age(obj, now)],
  },
};
