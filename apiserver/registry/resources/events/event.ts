// events.k8s.io/v1 Event: the structured event API (regarding/note/reportingController).
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, checkMin, isObj, str, type Json } from '../common.js';
import { eventCells, eventTableColumns } from '../core/event.js';

const EVENT_TYPES = ['Normal', 'Warning'];

function validateEvent(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (!obj.eventTime) errs.push(fieldErrors.required('eventTime'));
  if (!obj.reportingController) errs.push(fieldErrors.required('reportingController'));
  else if (String(obj.reportingController).length > 128) errs.push(fieldErrors.tooLong('reportingController', obj.reportingController, 128));
  if (!obj.reportingInstance) errs.push(fieldErrors.required('reportingInstance'));
  else if (String(obj.reportingInstance).length > 128) errs.push(fieldErrors.tooLong('reportingInstance', obj.reportingInstance, 128));
  if (!obj.action) errs.push(fieldErrors.required('action'));
  else if (String(obj.action).length > 128) errs.push(fieldErrors.tooLong('action', obj.action, 128));
  if (!obj.reason) errs.push(fieldErrors.required('reason'));
  else if (String(obj.reason).length > 128) errs.push(fieldErrors.tooLong('reason', obj.reason, 128));
  if (!EVENT_TYPES.includes(str(obj.type))) errs.push(fieldErrors.notSupported('type', obj.type ?? '', EVENT_TYPES));
  if (obj.note !== undefined && Buffer.byteLength(str(obj.note)) > 1024) errs.push(fieldErrors.tooLong('note', '', 1024));
  const reg: Json = obj.regarding;
  const ns = obj.metadata.namespace ?? '';
  if (isObj(reg) && reg.namespace && ns && reg.namespace !== ns) {
    errs.push(fieldErrors.invalid('regarding.namespace', reg.namespace, 'does not match event.namespace'));
  }
  if (isObj(obj.series)) {
    checkMin(errs, obj.series.count, 'series.count', 2);
    if (!obj.series.lastObservedTime) errs.push(fieldErrors.required('series.lastObservedTime'));
  }
  return errs;
}

export const eventsV1EventStrategy: Strategy = {
  info: {
    group: 'events.k8s.io',
    version: 'v1',
    kind: 'Event',
    listKind: 'EventList',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    verbs: ALL_VERBS,
    modelName: 'EventsV1Event',
  },
  validate: validateEvent,
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    for (const f of ['eventTime', 'action', 'reason', 'reportingController', 'reportingInstance', 'type', 'note']) {
      if (JSON.stringify(obj[f] ?? null) !== JSON.stringify(old[f] ?? null)) errs.push(fieldErrors.immutable(f, obj[f]));
    }
    if (JSON.stringify(obj.regarding ?? null) !== JSON.stringify(old.regarding ?? null)) errs.push(fieldErrors.immutable('regarding', obj.regarding));
    return errs;
  },
  selectableFields(obj) {
    const reg: Json = isObj(obj.regarding) ? obj.regarding : {};
    const fields: Record<string, string> = {
      'regarding.kind': str(reg.kind),
      'regarding.namespace': str(reg.namespace),
      'regarding.name': str(reg.name),
      'regarding.uid': str(reg.uid),
      'regarding.apiVersion': str(reg.apiVersion),
      'regarding.resourceVersion': str(reg.resourceVersion),
      'regarding.fieldPath': str(reg.fieldPath),
      reason: str(obj.reason),
      reportingController: str(obj.reportingController),
      type: str(obj.type),
    };
    // The core API's names for the same fields, which clients also send to this group.
    for (const k of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) fields[`involvedObject.${k}`] = fields[`regarding.${k}`];
    fields.reportingComponent = fields.reportingController;
    fields.source = fields.reportingController;
    return fields;
  },
  table: {
    columns: eventTableColumns,
    cells(obj, now) {
      const reg: Json = isObj(obj.regarding) ? obj.regarding : {};
      const series: Json = isObj(obj.series) ? obj.series : undefined;
      return eventCells(
        obj.metadata.name ?? '',
        {
          firstTimestamp: str(obj.deprecatedFirstTimestamp) || undefined,
          lastTimestamp: str(obj.deprecatedLastTimestamp) || undefined,
          eventTime: str(obj.eventTime) || undefined,
          seriesLast: series ? str(series.lastObservedTime) || undefined : undefined,
          seriesCount: series?.count,
          count: typeof obj.deprecatedCount === 'number' ? obj.deprecatedCount : 0,
          type: str(obj.type),
          reason: str(obj.reason),
          kind: str(reg.kind),
          name: str(reg.name),
          fieldPath: str(reg.fieldPath),
          source: str(obj.reportingController),
          message: str(obj.note),
        },
        now,
      );
    },
  },
};
