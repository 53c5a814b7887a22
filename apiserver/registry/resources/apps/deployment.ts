// apps/v1 Deployment.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { labelSelectorToString } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkIntOrPercent, checkMin, col, deepEqual, ensureObj, isObj, isZeroIntOrPercent, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { WIDE_WORKLOAD_COLUMNS, replicasOf, statusNum, validateSelectorAndTemplate, wideCells } from './workload.js';

const STRATEGY_TYPES = ['Recreate', 'RollingUpdate'];

export function defaultDeployment(obj: KObject): void {
  const spec = ensureObj(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  const strategy = ensureObj(spec, 'strategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = ensureObj(strategy, 'rollingUpdate');
    setDefault(ru, 'maxUnavailable', '25%');
    setDefault(ru, 'maxSurge', '25%');
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

function validateDeployment(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  checkMin(errs, spec.replicas, 'spec.replicas', 0);
  errs.push(...validateSelectorAndTemplate(spec, 'spec', { kindWord: 'deployment', restartPolicies: ['Always'] }));
  const st: Json = spec.strategy;
  if (isObj(st)) {
    const type = st.type ?? 'RollingUpdate';
    if (!STRATEGY_TYPES.includes(type)) errs.push(fieldErrors.notSupported('spec.strategy.type', type, STRATEGY_TYPES));
    if (type === 'Recreate' && st.rollingUpdate !== undefined && st.rollingUpdate !== null) {
      errs.push(fieldErrors.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
    }
    if (type === 'RollingUpdate' && isObj(st.rollingUpdate)) {
      const ru = st.rollingUpdate;
      checkIntOrPercent(errs, ru.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable');
      checkIntOrPercent(errs, ru.maxSurge, 'spec.strategy.rollingUpdate.maxSurge');
      if (isZeroIntOrPercent(ru.maxUnavailable) && isZeroIntOrPercent(ru.maxSurge)) {
        errs.push(fieldErrors.invalid('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
      }
    }
  }
  checkMin(errs, spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', 0);
  checkMin(errs, spec.minReadySeconds, 'spec.minReadySeconds', 0);
  checkMin(errs, spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds', 0);
  if (typeof spec.progressDeadlineSeconds === 'number' && typeof spec.minReadySeconds === 'number' && spec.progressDeadlineSeconds <= spec.minReadySeconds) {
    errs.push(fieldErrors.invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
  }
  return errs;
}

/** apps/v1 selectors are fixed at creation: changing them would orphan the pods. */
export function validateSelectorImmutable(obj: KObject, old: KObject, path = 'spec.selector'): FieldError[] {
  const sel = (obj.spec as Json)?.selector;
  const oldSel = (old.spec as Json)?.selector;
  return deepEqual(sel, oldSel) ? [] : [fieldErrors.immutable(path, sel)];
}

export const deploymentStrategy: Strategy = {
  info: {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    listKind: 'DeploymentList',
    plural: 'deployments',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status', 'scale'],
    modelName: 'V1Deployment',
  },
  defaults: defaultDeployment,
  validate: validateDeployment,
  validateUpdate: (obj, old) => validateSelectorImmutable(obj, old),
  hasGeneration: true,
  scale: { selector: (obj) => labelSelectorToString((obj.spec as Json)?.selector) },
  table: {
    columns: [
      NAME_COLUMN,
      col('Ready', 'string', 'Number of the pod with ready state'),
      col('Up-to-date', 'integer', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'integer', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
      AGE_COLUMN,
      ...WIDE_WORKLOAD_COLUMNS,
    ],
    cells: (obj, now) => [
      obj.metadata.name,
      `${statusNum(obj, 'readyReplicas')}/${replicasOf(obj)}`,
      statusNum(obj, 'updatedReplicas'),
      statusNum(obj, 'availableReplicas'),
      age(obj, now),
      ...wideCells(obj.spec),
    ],
  },
};
