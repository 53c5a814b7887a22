// autoscaling/v2 HorizontalPodAutoscaler.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { validateQuantity } from '../../../../pkg/api/quantity.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isValidPathSegmentName } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkMin, col, ensureObj, isObj, setDefault, str, type Json } from '../common.js';

const METRIC_TYPES = ['Object', 'Pods', 'Resource', 'ContainerResource', 'External'];
const TARGET_TYPES = ['Utilization', 'Value', 'AverageValue'];

function defaultHpa(obj: KObject): void {
  const spec = ensureObj(obj, 'spec');
  setDefault(spec, 'minReplicas', 1);
  if (!Array.isArray(spec.metrics) || spec.metrics.length === 0) {
    spec.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
  }
  const behavior = ensureObj(spec, 'behavior');
  const up = ensureObj(behavior, 'scaleUp');
  setDefault(up, 'stabilizationWindowSeconds', 0);
  setDefault(up, 'selectPolicy', 'Max');
  setDefault(up, 'policies', [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ]);
  const down = ensureObj(behavior, 'scaleDown');
  setDefault(down, 'selectPolicy', 'Max');
  setDefault(down, 'policies', [{ type: 'Percent', value: 100, periodSeconds: 15 }]);
}

function validateTarget(t: Json, path: string): FieldError[] {
  if (!isObj(t)) return [fieldErrors.required(path)];
  const errs: FieldError[] = [];
  if (!TARGET_TYPES.includes(t.type)) errs.push(fieldErrors.notSupported(`${path}.type`, t.type ?? '', TARGET_TYPES));
  if (t.type === 'Utilization') checkMin(errs, t.averageUtilization, `${path}.averageUtilization`, 1);
  if (t.type === 'Utilization' && t.averageUtilization === undefined) errs.push(fieldErrors.required(`${path}.averageUtilization`));
  for (const f of ['value', 'averageValue']) {
    if (t[f] !== undefined) for (const m of validateQuantity(t[f])) errs.push(fieldErrors.invalid(`${path}.${f}`, t[f], m));
  }
  if (t.type === 'Value' && t.value === undefined) errs.push(fieldErrors.required(`${path}.value`, 'must set either a target value for metric or a per-pod target'));
  if (t.type === 'AverageValue' && t.averageValue === undefined) errs.push(fieldErrors.required(`${path}.averageValue`, 'must set either a target value for metric or a per-pod target'));
  return errs;
}

function validateHpa(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  const ref: Json = spec.scaleTargetRef;
  if (!isObj(ref)) errs.push(fieldErrors.required('spec.scaleTargetRef'));
  else {
    if (!ref.kind) errs.push(fieldErrors.required('spec.scaleTargetRef.kind'));
    else for (const m of isValidPathSegmentName(String(ref.kind))) errs.push(fieldErrors.invalid('spec.scaleTargetRef.kind', ref.kind, m));
    if (!ref.name) errs.push(fieldErrors.required('spec.scaleTargetRef.name'));
    else for (const m of isValidPathSegmentName(String(ref.name))) errs.push(fieldErrors.invalid('spec.scaleTargetRef.name', ref.name, m));
  }
  checkMin(errs, spec.minReplicas, 'spec.minReplicas', 1);
  if (spec.maxReplicas === undefined || spec.maxReplicas === null) errs.push(fieldErrors.required('spec.maxReplicas'));
  else checkMin(errs, spec.maxReplicas, 'spec.maxReplicas', 1);
  if (typeof spec.minReplicas === 'number' && typeof spec.maxReplicas === 'number' && spec.minReplicas > spec.maxReplicas) {
    errs.push(fieldErrors.invalid('spec.minReplicas', spec.minReplicas, 'must be less than or equal to `maxReplicas`'));
  }
  (Array.isArray(spec.metrics) ? spec.metrics : []).forEach((m: Json, i: number) => {
    const p = `spec.metrics[${i}]`;
    if (!isObj(m)) return;
    if (!METRIC_TYPES.includes(m.type)) {
      errs.push(fieldErrors.notSupported(`${p}.type`, m.type ?? '', METRIC_TYPES));
      return;
    }
    const key = m.type === 'Object' ? 'object' : m.type === 'Pods' ? 'pods' : m.type === 'Resource' ? 'resource' : m.type === 'ContainerResource' ? 'containerResource' : 'external';
    const src = m[key];
    if (!isObj(src)) {
      errs.push(fieldErrors.required(`${p}.${key}`, `must populate information for the given metric source`));
      return;
    }
    if ((key === 'resource' || key === 'containerResource') && !src.name) errs.push(fieldErrors.required(`${p}.${key}.name`));
    if (key === 'containerResource' && !src.container) errs.push(fieldErrors.required(`${p}.${key}.container`));
    if ((key === 'pods' || key === 'object' || key === 'external') && !src.metric?.name) errs.push(fieldErrors.required(`${p}.${key}.metric.name`));
    errs.push(...validateTarget(src.target, `${p}.${key}.target`));
  });
  return errs;
}

function formatValue(t: Json): string {
  if (!isObj(t)) return '<unknown>';
  if (t.averageUtilization !== undefined) return `${t.averageUtilization}%`;
  if (t.averageValue !== undefined) return String(t.averageValue);
  if (t.value !== undefined) return String(t.value);
  return '<unknown>';
}

function targetsCell(obj: KObject): string {
  const metrics: Json[] = Array.isArray((obj.spec as Json)?.metrics) ? (obj.spec as Json).metrics : [];
  const current: Json[] = Array.isArray((obj.status as Json)?.currentMetrics) ? (obj.status as Json).currentMetrics : [];
  if (metrics.length === 0) return '<none>';
  const items = metrics.filter(isObj).map((m, i) => {
    const key = m.type === 'Resource' ? 'resource' : m.type === 'ContainerResource' ? 'containerResource' : m.type === 'Pods' ? 'pods' : m.type === 'Object' ? 'object' : 'external';
    const src: Json = m[key] ?? {};
    const cur: Json = current[i]?.[key]?.current;
    const target = formatValue(src.target);
    let now = '<unknown>';
    if (isObj(cur)) {
      if (src.target?.type === 'Utilization' && cur.averageUtilization !== undefined) now = `${cur.averageUtilization}%`;
      else if (src.target?.type === 'AverageValue' && cur.averageValue !== undefined) now = String(cur.averageValue);
      else if (src.target?.type === 'Value' && cur.value !== undefined) now = String(cur.value);
    }
    const prefix = key === 'resource' ? `${src.name}: ` : key === 'containerResource' ? `${src.name} of container "${src.container}": ` : '';
    return `${prefix}${now}/${target}`;
  });
  const shown = items.slice(0, 3).join(', ');
  return items.length > 3 ? `${shown} + ${items.length - 3} more...` : shown;
}

export const hpaStrategy: Strategy = {
  info: {
    group: 'autoscaling',
    version: 'v2',
    kind: 'HorizontalPodAutoscaler',
    listKind: 'HorizontalPodAutoscalerList',
    plural: 'horizontalpodautoscalers',
    singular: 'horizontalpodautoscaler',
    namespaced: true,
    shortNames: ['hpa'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V2HorizontalPodAutoscaler',
  },
  nameValidator: isValidPathSegmentName,
  defaults: defaultHpa,
  validate: validateHpa,
  hasGeneration: true,
  table: {
    columns: [
      NAME_COLUMN,
      col('Reference', 'string', 'reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.'),
      col('Targets', 'string', 'metrics contains the specifications for which to use to calculate the desired replica count'),
      col('MinPods', 'string', 'minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.'),
      col('MaxPods', 'integer', 'maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.'),
      col('Replicas', 'integer', 'currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.'),
      AGE_COLUMN,
    ],
    cells(obj, now) {
      const spec: Json = obj.spec ?? {};
      const ref: Json = spec.scaleTargetRef ?? {};
      return [
        obj.metadata.name,
        `${str(ref.kind)}/${str(ref.name)}`,
        targetsCell(obj),
        spec.minReplicas !== undefined && spec.minReplicas !== null ? String(spec.minReplicas) : '<unset>',
        spec.maxReplicas ?? 0,
        (obj.status as Json)?.currentReplicas ?? 0,
        age(obj, now),
      ];
    },
  },
};
