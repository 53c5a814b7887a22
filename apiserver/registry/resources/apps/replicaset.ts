// apps/v1 ReplicaSet.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { labelSelectorToString } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkMin, col, ensureObj, isObj, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { validateSelectorImmutable } from './deployment.js';
import { WIDE_WORKLOAD_COLUMNS, replicasOf, statusNum, validateSelectorAndTemplate, wideCells } from './workload.js';

function validateReplicaSet(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  checkMin(errs, spec.replicas, 'spec.replicas', 0);
  checkMin(errs, spec.minReadySeconds, 'spec.minReadySeconds', 0);
  errs.push(...validateSelectorAndTemplate(spec, 'spec', { kindWord: 'deployment', restartPolicies: ['Always'] }));
  return errs;
}

export const replicaSetStrategy: Strategy = {
  info: {
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    listKind: 'ReplicaSetList',
    plural: 'replicasets',
    singular: 'replicaset',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status', 'scale'],
    modelName: 'V1ReplicaSet',
  },
  defaults(obj) {
    const spec = ensureObj(obj, 'spec');
    setDefault(spec, 'replicas', 1);
    defaultPodTemplate(ensureObj(spec, 'template'));
  },
  validate: validateReplicaSet,
  validateUpdate: (obj, old) => validateSelectorImmutable(obj, old),
  hasGeneration: true,
  scale: { selector: (obj) => labelSelectorToString((obj.spec as Json)?.selector) },
  selectableFields: (obj) => ({ 'status.replicas': String(statusNum(obj, 'replicas')) }),
  table: {
    columns: [
      NAME_COLUMN,
      col('Desired', 'integer', 'Replicas is the number of desired replicas.'),
      col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
      col('Ready', 'integer', 'The number of ready replicas for this replica set.'),
      AGE_COLUMN,
      ...WIDE_WORKLOAD_COLUMNS,
    ],
    cells: (obj, now) => [obj.metadata.name, replicasOf(obj), statusNum(obj, 'replicas'), statusNum(obj, 'readyReplicas'), age(obj, now), ...wideCells(obj.spec)],
  },
};
