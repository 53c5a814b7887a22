// apps/v1 StatefulSet.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { labelSelectorToString } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1123Label } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkIntOrPercent, checkMin, col, deepEqual, ensureObj, isObj, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { WIDE_WORKLOAD_COLUMNS, containersAndImages, replicasOf, statusNum, validateSelectorAndTemplate } from './workload.js';

const MUTABLE_SPEC_FIELDS = ['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];
const RETENTION = ['Retain', 'Delete'];

function defaultStatefulSet(obj: KObject): void {
  const spec = ensureObj(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'podManagementPolicy', 'OrderedReady');
  const us = ensureObj(spec, 'updateStrategy');
  setDefault(us, 'type', 'RollingUpdate');
  if (us.type === 'RollingUpdate') setDefault(ensureObj(us, 'rollingUpdate'), 'partition', 0);
  setDefault(spec, 'revisionHistoryLimit', 10);
  const ret = ensureObj(spec, 'persistentVolumeClaimRetentionPolicy');
  setDefault(ret, 'whenDeleted', 'Retain');
  setDefault(ret, 'whenScaled', 'Retain');
  defaultPodTemplate(ensureObj(spec, 'template'));
  for (const t of Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []) {
    if (isObj(t)) {
      const s = ensureObj(t, 'spec');
      setDefault(s, 'volumeMode', 'Filesystem');
    }
  }
}

function validateStatefulSet(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  checkMin(errs, spec.replicas, 'spec.replicas', 0);
  checkMin(errs, spec.minReadySeconds, 'spec.minReadySeconds', 0);
  checkMin(errs, spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', 0);
  if (spec.serviceName) for (const m of isDns1123Label(String(spec.serviceName))) errs.push(fieldErrors.invalid('spec.serviceName', spec.serviceName, m));
  if (spec.podManagementPolicy !== undefined && !['OrderedReady', 'Parallel'].includes(spec.podManagementPolicy)) {
    errs.push(fieldErrors.notSupported('spec.podManagementPolicy', spec.podManagementPolicy, ['OrderedReady', 'Parallel']));
  }
  const us: Json = spec.updateStrategy;
  if (isObj(us)) {
    const type = us.type ?? 'RollingUpdate';
    if (!['RollingUpdate', 'OnDelete'].includes(type)) errs.push(fieldErrors.notSupported('spec.updateStrategy.type', type, ['OnDelete', 'RollingUpdate']));
    if (type === 'OnDelete' && us.rollingUpdate !== undefined && us.rollingUpdate !== null) {
      errs.push(fieldErrors.invalid('spec.updateStrategy.rollingUpdate', us.rollingUpdate, 'only allowed for updateStrategy \'RollingUpdate\''));
    }
    if (isObj(us.rollingUpdate)) {
      checkMin(errs, us.rollingUpdate.partition, 'spec.updateStrategy.rollingUpdate.partition', 0);
      checkIntOrPercent(errs, us.rollingUpdate.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable');
    }
  }
  const ret: Json = spec.persistentVolumeClaimRetentionPolicy;
  if (isObj(ret)) {
    for (const f of ['whenDeleted', 'whenScaled']) {
      if (ret[f] !== undefined && !RETENTION.includes(ret[f])) errs.push(fieldErrors.notSupported(`spec.persistentVolumeClaimRetentionPolicy.${f}`, ret[f], RETENTION));
    }
  }
  if (isObj(spec.ordinals)) checkMin(errs, spec.ordinals.start, 'spec.ordinals.start', 0);
  errs.push(...validateSelectorAndTemplate(spec, 'spec', { kindWord: 'statefulset', restartPolicies: ['Always'] }));
  return errs;
}

function validateStatefulSetUpdate(obj: KObject, old: KObject): FieldError[] {
  const a: Json = { ...(isObj(obj.spec) ? obj.spec : {}) };
  const b: Json = { ...(isObj(old.spec) ? old.spec : {}) };
  for (const f of MUTABLE_SPEC_FIELDS) {
    delete a[f];
    delete b[f];
  }
  if (deepEqual(a, b)) return [];
  return [
    fieldErrors.forbidden(
      'spec',
      "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
    ),
  ];
}

export const statefulSetStrategy: Strategy = {
  info: {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    listKind: 'StatefulSetList',
    plural: 'statefulsets',
    singular: 'statefulset',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status', 'scale'],
    modelName: 'V1StatefulSet',
  },
  defaults: defaultStatefulSet,
  validate: validateStatefulSet,
  validateUpdate: validateStatefulSetUpdate,
  hasGeneration: true,
  scale: { selector: (obj) => labelSelectorToString((obj.spec as Json)?.selector) },
  table: {
    columns: [NAME_COLUMN, col('Ready', 'string', 'Number of the pod with ready state'), AGE_COLUMN, ...WIDE_WORKLOAD_COLUMNS.slice(0, 2)],
    cells: (obj, now) => [obj.metadata.name, `${statusNum(obj, 'readyReplicas')}/${replicasOf(obj)}`, age(obj, now), ...containersAndImages((obj.spec as Json)?.template)],
  },
};
