// batch/v1 Job.
import { randomUUID } from 'node:crypto';
import { humanDuration } from '../../../../pkg/api/duration.js';
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkMin, col, deepEqual, ensureObj, isObj, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { WIDE_WORKLOAD_COLUMNS, validatePodTemplate, validateSelectorAndTemplate, wideCells } from '../apps/workload.js';

const JOB_RESTART_POLICIES = ['OnFailure', 'Never'];
const CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';
const JOB_NAME = 'batch.kubernetes.io/job-name';

export function defaultJobSpec(spec: Json): void {
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  setDefault(spec, 'parallelism', 1);
  setDefault(spec, 'backoffLimit', spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null ? 2147483647 : 6);
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  setDefault(spec, 'podReplacementPolicy', isObj(spec.podFailurePolicy) ? 'Failed' : 'TerminatingOrFailed');
  defaultPodTemplate(ensureObj(spec, 'template'));
}

/** Checks of a JobSpec shared by Job and CronJob.spec.jobTemplate; the selector is generated. */
export function validateJobSpec(spec: Json, path: string, requireSelector: boolean): FieldError[] {
  if (!isObj(spec)) return [fieldErrors.required(path)];
  const errs: FieldError[] = [];
  checkMin(errs, spec.parallelism, `${path}.parallelism`, 0);
  checkMin(errs, spec.completions, `${path}.completions`, 0);
  checkMin(errs, spec.backoffLimit, `${path}.backoffLimit`, 0);
  checkMin(errs, spec.activeDeadlineSeconds, `${path}.activeDeadlineSeconds`, 1);
  checkMin(errs, spec.ttlSecondsAfterFinished, `${path}.ttlSecondsAfterFinished`, 0);
  checkMin(errs, spec.backoffLimitPerIndex, `${path}.backoffLimitPerIndex`, 0);
  const mode = spec.completionMode ?? 'NonIndexed';
  if (!['NonIndexed', 'Indexed'].includes(mode)) errs.push(fieldErrors.notSupported(`${path}.completionMode`, mode, ['NonIndexed', 'Indexed']));
  if (mode === 'Indexed' && (spec.completions === undefined || spec.completions === null)) {
    errs.push(fieldErrors.required(`${path}.completions`, 'when completion mode is Indexed'));
  }
  if (spec.backoffLimitPerIndex !== undefined && spec.backoffLimitPerIndex !== null && mode !== 'Indexed') {
    errs.push(fieldErrors.forbidden(`${path}.backoffLimitPerIndex`, 'requires indexed completion mode'));
  }
  if (spec.podReplacementPolicy !== undefined && !['TerminatingOrFailed', 'Failed'].includes(spec.podReplacementPolicy)) {
    errs.push(fieldErrors.notSupported(`${path}.podReplacementPolicy`, spec.podReplacementPolicy, ['Failed', 'TerminatingOrFailed']));
  }
  if (requireSelector || spec.manualSelector === true) {
    errs.push(...validateSelectorAndTemplate(spec, path, { kindWord: 'job', restartPolicies: JOB_RESTART_POLICIES }));
  } else {
    errs.push(...validatePodTemplate(spec.template, `${path}.template`, JOB_RESTART_POLICIES));
  }
  return errs;
}

function jobStatusString(job: KObject): string {
  const conds: Json[] = Array.isArray((job.status as Json)?.conditions) ? (job.status as Json).conditions : [];
  const has = (t: string) => conds.some((c) => isObj(c) && c.type === t && c.status === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (job.metadata.deletionTimestamp) return 'Terminating';
  if (has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function completionsString(job: KObject): string {
  const spec: Json = job.spec ?? {};
  const succeeded = (job.status as Json)?.succeeded ?? 0;
  if (typeof spec.completions === 'number') return `${succeeded}/${spec.completions}`;
  const parallelism = typeof spec.parallelism === 'number' ? spec.parallelism : 0;
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function durationString(job: KObject, now: number): string {
  const status: Json = job.status ?? {};
  if (!status.startTime) return '';
  const start = Date.parse(status.startTime);
  const end = status.completionTime ? Date.parse(status.completionTime) : now;
  return humanDuration(end - start);
}

export const jobStrategy: Strategy = {
  info: {
    group: 'batch',
    version: 'v1',
    kind: 'Job',
    listKind: 'JobList',
    plural: 'jobs',
    singular: 'job',
    namespaced: true,
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1Job',
  },
  defaults(obj) {
    defaultJobSpec(ensureObj(obj, 'spec'));
  },
  validate(obj) {
    return validateJobSpec(obj.spec, 'spec', false);
  },
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    const oldSpec: Json = old.spec ?? {};
    if (!deepEqual(spec.selector, oldSpec.selector)) errs.push(fieldErrors.immutable('spec.selector', spec.selector));
    if (!deepEqual(spec.template, oldSpec.template)) errs.push(fieldErrors.immutable('spec.template', spec.template));
    if (spec.completions !== oldSpec.completions) errs.push(fieldErrors.immutable('spec.completions', spec.completions));
    if ((spec.completionMode ?? 'NonIndexed') !== (oldSpec.completionMode ?? 'NonIndexed')) errs.push(fieldErrors.immutable('spec.completionMode', spec.completionMode));
    if (!deepEqual(spec.podFailurePolicy, oldSpec.podFailurePolicy)) errs.push(fieldErrors.immutable('spec.podFailurePolicy', spec.podFailurePolicy));
    return errs;
  },
  prepareForCreate(obj) {
    obj.status = {};
    const spec = ensureObj(obj, 'spec');
    if (spec.manualSelector === true) return;
    // The selector is the job's own uid, so a job never adopts another job's pods.
    if (!obj.metadata.uid) obj.metadata.uid = randomUUID();
    const uid = obj.metadata.uid;
    const template = ensureObj(spec, 'template');
    const meta = ensureObj(template, 'metadata');
    const labels: Record<string, string> = isObj(meta.labels) ? meta.labels : {};
    labels[CONTROLLER_UID] = uid;
    labels['controller-uid'] = uid;
    if (obj.metadata.name) {
      labels[JOB_NAME] = obj.metadata.name;
      labels['job-name'] = obj.metadata.name;
    }
    meta.labels = labels;
    spec.selector = { matchLabels: { [CONTROLLER_UID]: uid } };
  },
  prepareForUpdate(obj, old) {
    const spec: Json = obj.spec;
    const oldSpec: Json = old.spec;
    if (isObj(spec) && isObj(oldSpec) && spec.selector === undefined && oldSpec.manualSelector !== true) {
      spec.selector = oldSpec.selector;
    }
  },
  hasGeneration: true,
  selectableFields: (obj) => ({ 'status.successful': String((obj.status as Json)?.succeeded ?? 0) }),
  table: {
    columns: [
      NAME_COLUMN,
      col('Status', 'string', 'Status of the job.'),
      col('Completions', 'string', 'The desired number of successfully finished pods the job should be run with.'),
      col('Duration', 'string', 'Time required to complete the job.'),
      AGE_COLUMN,
      ...WIDE_WORKLOAD_COLUMNS,
    ],
    cells: (obj, now) => [obj.metadata.name, jobStatusString(obj), completionsString(obj), durationString(obj, now), age(obj, now), ...wideCells(obj.spec)],
  },
};
