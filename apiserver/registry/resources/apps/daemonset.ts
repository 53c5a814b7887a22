// apps/v1 DaemonSet.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { formatLabels } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkIntOrPercent, checkMin, col, ensureObj, isObj, isZeroIntOrPercent, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { validateSelectorImmutable } from './deployment.js';
import { WIDE_WORKLOAD_COLUMNS, statusNum, validateSelectorAndTemplate, wideCells } from './workload.js';

function defaultDaemonSet(obj: KObject): void {
  const spec = ensureObj(obj, 'spec');
  const us = ensureObj(spec, 'updateStrategy');
  setDefault(us, 'type', 'RollingUpdate');
  if (us.type === 'RollingUpdate') {
    const ru = ensureObj(us, 'rollingUpdate');
    setDefault(ru, 'maxUnavailable', 1);
    setDefault(ru, 'maxSurge', 0);
  }
  setDefault(spec, 'revisionHistoryLimit', 10);
  defaultPodTemplate(ensureObj(spec, 'template'));
}

function validateDaemonSet(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  errs.push(...validateSelectorAndTemplate(spec, 'spec', { kindWord: 'daemonset', restartPolicies: ['Always'] }));
  checkMin(errs, spec.minReadySeconds, 'spec.minReadySeconds', 0);
  checkMin(errs, spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', 0);
  const us: Json = spec.updateStrategy;
  if (isObj(us)) {
    const type = us.type ?? 'RollingUpdate';
    if (!['RollingUpdate', 'OnDelete'].includes(type)) errs.push(fieldErrors.notSupported('spec.updateStrategy.type', type, ['OnDelete', 'RollingUpdate']));
    if (type === 'RollingUpdate' && isObj(us.rollingUpdate)) {
      const ru = us.rollingUpdate;
      checkIntOrPercent(errs, ru.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable');
      checkIntOrPercent(errs, ru.maxSurge, 'spec.updateStrategy.rollingUpdate.maxSurge');
      if (isZeroIntOrPercent(ru.maxUnavailable ?? 1) && isZeroIntOrPercent(ru.maxSurge ?? 0)) {
        errs.push(fieldErrors.invalid('spec.updateStrategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
      }
    }
  }
  return errs;
}

export const daemonSetStrategy: Strategy = {
  info: {
    group: 'apps',
    version: 'v1',
    kind: 'DaemonSet',
    listKind: 'DaemonSetList',
    plural: 'daemonsets',
    singular: 'daemonset',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1DaemonSet',
  },
  defaults: defaultDaemonSet,
  validate: validateDaemonSet,
  validateUpdate: (obj, old) => validateSelectorImmutable(obj, old),
  hasGeneration: true,
  table: {
    columns: [
      NAME_COLUMN,
      col('Desired', 'integer', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).'),
      col('Current', 'integer', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.'),
      col('Ready', 'integer', 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.'),
      col('Up-to-date', 'integer', 'The total number of nodes that are running updated daemon pod'),
      col('Available', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)'),
      col('Node Selector', 'string', 'NodeSelector is a selector which must be true for the pod to fit on a node.'),
      AGE_COLUMN,
      ...WIDE_WORKLOAD_COLUMNS,
    ],
    cells: (obj, now) => [
      obj.metadata.name,
      statusNum(obj, 'desiredNumberScheduled'),
      statusNum(obj, 'currentNumberScheduled'),
      statusNum(obj, 'numberReady'),
      statusNum(obj, 'updatedNumberScheduled'),
      statusNum(obj, 'numberAvailable'),
      formatLabels((obj.spec as Json)?.template?.spec?.nodeSelector),
      age(obj, now),
      ...wideCells(obj.spec),
    ],
  },
};
