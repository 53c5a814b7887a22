// What the apps/batch workload kinds share: a selector that must pick the template's pods, the
// template checks, and the wide-output columns (Containers, Images, Selector).
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { formatLabelSelector, isEmptyLabelSelector, selectorFromLabelSelector, validateLabelSelector, type LabelSelector } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { StatusError } from '../../../status.js';
import type { TableColumn } from '../../strategy.js';
import { col, goStringMap, invalidRaw, isObj, type Json } from '../common.js';
import { validatePodTemplateSpec } from '../core/pod-spec.js';

export interface SelectorCheckOptions {
  /** Kubernetes says "empty selector is invalid for deployment" etc. */
  kindWord: string;
  /** restart policies the template may use */
  restartPolicies: string[];
}

/** Selector present, non-empty, valid, and matching the template's labels; then the template. */
export function validateSelectorAndTemplate(spec: Json, path: string, opts: SelectorCheckOptions): FieldError[] {
  const errs: FieldError[] = [];
  const sel: Json = spec.selector;
  if (sel === undefined || sel === null) {
    errs.push(fieldErrors.required(`${path}.selector`));
  } else {
    const selErrs = validateLabelSelector(sel, `${path}.selector`);
    errs.push(...selErrs);
    if (selErrs.length === 0 && isEmptyLabelSelector(sel)) {
      errs.push(fieldErrors.invalid(`${path}.selector`, sel, `empty selector is invalid for ${opts.kindWord}`));
    }
    if (selErrs.length === 0 && isObj(spec.template)) {
      const labels: Record<string, string> = isObj(spec.template.metadata?.labels) ? spec.template.metadata.labels : {};
      let matches = false;
      try {
        matches = selectorFromLabelSelector(sel as LabelSelector)(labels);
      } catch (e) {
        if (!(e instanceof StatusError)) throw e;
      }
      if (!matches) errs.push(invalidRaw(`${path}.template.metadata.labels`, goStringMap(labels), '`selector` does not match template `labels`'));
    }
  }
  errs.push(...validatePodTemplate(spec.template, `${path}.template`, opts.restartPolicies));
  return errs;
}

export function validatePodTemplate(template: Json, path: string, restartPolicies: string[]): FieldError[] {
  const errs = validatePodTemplateSpec(template, path);
  const rp = isObj(template) && isObj(template.spec) ? template.spec.restartPolicy : undefined;
  if (rp !== undefined && !restartPolicies.includes(rp)) {
    if (['Always', 'OnFailure', 'Never'].includes(rp)) errs.push(fieldErrors.notSupported(`${path}.spec.restartPolicy`, rp, restartPolicies));
  }
  if (isObj(template) && isObj(template.spec) && template.spec.activeDeadlineSeconds !== undefined && restartPolicies.includes('Always')) {
    errs.push(fieldErrors.forbidden(`${path}.spec.activeDeadlineSeconds`, 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return errs;
}

export const WIDE_WORKLOAD_COLUMNS: TableColumn[] = [
  col('Containers', 'string', 'Names of each container in the template.', 1),
  col('Images', 'string', 'Images referenced by each container in the template.', 1),
  col('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1),
];

export function containersAndImages(template: Json): [string, string] {
  const cs: Json[] = isObj(template) && isObj(template.spec) && Array.isArray(template.spec.containers) ? template.spec.containers : [];
  return [cs.map((c) => c?.name ?? '').join(','), cs.map((c) => c?.image ?? '').join(',')];
}

export function wideCells(spec: Json): unknown[] {
  const [names, images] = containersAndImages(spec?.template);
  return [names, images, formatLabelSelector(spec?.selector)];
}

export function replicasOf(obj: KObject): number {
  const r = (obj.spec as Json)?.replicas;
  return typeof r === 'number' ? r : 1;
}

export function statusNum(obj: KObject, field: string): number {
  const v = (obj.status as Json)?.[field];
  return typeof v === 'number' ? v : 0;
}
