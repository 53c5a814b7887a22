// batch/v1 CronJob.
import { ageSince } from '../../../../pkg/api/duration.js';
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { formatLabelSelector } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1123Subdomain, maxLenError } from '../../../../pkg/api/validation.js';
import { validateAnnotations } from '../../meta-validation.js';
import { validateLabels } from '../../../../pkg/api/labels.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, checkMin, col, ensureObj, isObj, setDefault, type Json } from '../common.js';
import { defaultPodTemplate } from '../core/pod-spec.js';
import { containersAndImages } from '../apps/workload.js';
import { CronError, isValidTimeZone, parseCronSchedule } from './cron.js';
import { validateJobSpec } from './job.js';

const CONCURRENCY = ['Allow', 'Forbid', 'Replace'];

/** Job names are the CronJob's name plus an 11-character suffix; they must stay valid names. */
export function cronJobName(name: string): string[] {
  const errs = isDns1123Subdomain(name);
  if (name.length > 52) errs.push(maxLenError(52));
  return errs;
}

function validateCronJob(obj: KObject): FieldError[] {
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const errs: FieldError[] = [];
  if (!spec.schedule) errs.push(fieldErrors.required('spec.schedule'));
  else if (typeof spec.schedule !== 'string') errs.push(fieldErrors.typeInvalid('spec.schedule', spec.schedule, 'must be a string'));
  else {
    try {
      parseCronSchedule(spec.schedule);
    } catch (e) {
      if (!(e instanceof CronError)) throw e;
      errs.push(fieldErrors.invalid('spec.schedule', spec.schedule, e.message));
    }
  }
  if (spec.timeZone !== undefined && spec.timeZone !== null) {
    const tz = String(spec.timeZone);
    if (tz === '' || tz.toLowerCase() === 'local' || !isValidTimeZone(tz)) errs.push(fieldErrors.invalid('spec.timeZone', spec.timeZone, `unknown time zone ${tz}`));
  }
  if (spec.concurrencyPolicy !== undefined && !CONCURRENCY.includes(spec.concurrencyPolicy)) {
    errs.push(fieldErrors.notSupported('spec.concurrencyPolicy', spec.concurrencyPolicy, CONCURRENCY));
  }
  checkMin(errs, spec.startingDeadlineSeconds, 'spec.startingDeadlineSeconds', 0);
  checkMin(errs, spec.successfulJobsHistoryLimit, 'spec.successfulJobsHistoryLimit', 0);
  checkMin(errs, spec.failedJobsHistoryLimit, 'spec.failedJobsHistoryLimit', 0);
  const jt: Json = spec.jobTemplate;
  if (!isObj(jt)) errs.push(fieldErrors.required('spec.jobTemplate'));
  else {
    if (isObj(jt.metadata)) {
      errs.push(...validateLabels(jt.metadata.labels, 'spec.jobTemplate.metadata.labels'));
      errs.push(...validateAnnotations(jt.metadata.annotations, 'spec.jobTemplate.metadata.annotations'));
    }
    errs.push(...validateJobSpec(jt.spec, 'spec.jobTemplate.spec', false));
  }
  return errs;
}

export const cronJobStrategy: Strategy = {
  info: {
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    listKind: 'CronJobList',
    plural: 'cronjobs',
    singular: 'cronjob',
    namespaced: true,
    shortNames: ['cj'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1CronJob',
  },
  nameValidator: cronJobName,
  defaults(obj) {
    const spec = ensureObj(obj, 'spec');
    setDefault(spec, 'concurrencyPolicy', 'Allow');
    setDefault(spec, 'suspend', false);
    setDefault(spec, 'successfulJobsHistoryLimit', 3);
    setDefault(spec, 'failedJobsHistoryLimit', 1);
    const jt = ensureObj(spec, 'jobTemplate');
    defaultPodTemplate(ensureObj(ensureObj(jt, 'spec'), 'template'));
  },
  validate: validateCronJob,
  prepareForCreate(obj) {
    obj.status = {};
  },
  hasGeneration: true,
  table: {
    columns: [
      NAME_COLUMN,
      col('Schedule', 'string', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'),
      col('Timezone', 'string', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.'),
      col('Suspend', 'boolean', 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.'),
      col('Active', 'integer', 'A list of pointers to currently running jobs.'),
      col('Last Schedule', 'string', 'Information when was the last time the job was successfully scheduled.'),
      AGE_COLUMN,
      col('Containers', 'string', 'Names of each container in the template.', 1),
      col('Images', 'string', 'Images referenced by each container in the template.', 1),
      col('Selector', 'string', 'Label selector for pods.', 1),
    ],
    cells(obj, now) {
      const spec: Json = obj.spec ?? {};
      const status: Json = obj.status ?? {};
      const jobSpec: Json = spec.jobTemplate?.spec ?? {};
      const [names, images] = containersAndImages(jobSpec.template);
      return [
        obj.metadata.name,
        spec.schedule ?? '',
        spec.timeZone ?? '<none>',
        spec.suspend === undefined || spec.suspend === null ? '<unset>' : spec.suspend ? 'True' : 'False',
        Array.isArray(status.active) ? status.active.length : 0,
        status.lastScheduleTime ? ageSince(status.lastScheduleTime, now) : '<none>',
        age(obj, now),
        names,
        images,
        formatLabelSelector(jobSpec.selector),
      ];
    },
  },
};
