// core/v1 Event.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy, TableColumn } from '../../strategy.js';
import { ageSince } from '../../../../pkg/api/duration.js';
import { ALL_VERBS, NAME_COLUMN, col, isObj, str, type Json } from '../common.js';

const EVENT_TYPES = ['Normal', 'Warning'];

function validateEvent(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const io: Json = obj.involvedObject;
  const ns = obj.metadata.namespace ?? '';
  if (!isObj(io)) {
    errs.push(fieldErrors.required('involvedObject'));
  } else if (io.namespace && ns && io.namespace !== ns) {
    errs.push(fieldErrors.invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace'));
  }
  // Events written through the new API (eventTime set) must say who reported them.
  if (obj.eventTime) {
    if (!obj.reportingComponent) errs.push(fieldErrors.required('reportingController'));
    if (!obj.reportingInstance) errs.push(fieldErrors.required('reportingInstance'));
    if (!obj.action) errs.push(fieldErrors.required('action'));
    if (!obj.reason) errs.push(fieldErrors.required('reason'));
    if (obj.type !== undefined && !EVENT_TYPES.includes(str(obj.type))) errs.push(fieldErrors.notSupported('type', obj.type, EVENT_TYPES));
  }
  if (obj.count !== undefined && obj.count !== null && !(typeof obj.count === 'number' && obj.count >= 0)) {
    errs.push(fieldErrors.invalid('count', obj.count, 'must be greater than or equal to 0'));
  }
  return errs;
}

function microAge(ts: Json, now: number): string {
  return typeof ts === 'string' && ts ? ageSince(ts, now) : '<unknown>';
}

export const eventTableColumns: TableColumn[] = [
  col('Last Seen', 'string', 'Time when last event from this source was observed'),
  col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
  col('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for this event being generated.'),
  col('Object', 'string', 'The object that this event is about. Mapped from event.involvedObject.'),
  col('Subobject', 'string', 'The subobject that this event is about. Mapped from event.involvedObject.fieldPath.', 1),
  col('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
  col('Message', 'string', 'A human-readable description of the status of this operation.'),
  col('First Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.', 1),
  col('Count', 'string', 'The number of times this event has occurred.', 1),
  { ...NAME_COLUMN, priority: 1 },
];

export interface EventView {
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  seriesLast?: string;
  seriesCount?: number;
  count?: number;
  type: string;
  reason: string;
  kind: string;
  name: string;
  fieldPath: string;
  source: string;
  message: string;
}

export function eventCells(name: string, e: EventView, now: number): unknown[] {
  let first = e.firstTimestamp ? ageSince(e.firstTimestamp, now) : microAge(e.eventTime, now);
  let last = e.lastTimestamp ? ageSince(e.lastTimestamp, now) : first;
  let count = e.count ?? 0;
  if (e.seriesLast) {
    last = microAge(e.seriesLast, now);
    count = e.seriesCount ?? count;
  }
  if (!e.firstTimestamp && !e.eventTime) first = '<unknown>';
  return [last, e.type, e.reason, `${e.kind.toLowerCase()}/${e.name}`, e.fieldPath, e.source, e.message, first, String(count), name];
}

function sourceString(component: string, host: string): string {
  if (!component && !host) return '';
  return host ? `${component}, ${host}` : component;
}

export const coreEventStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Event',
    listKind: 'EventList',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    verbs: ALL_VERBS,
    modelName: 'CoreV1Event',
  },
  defaults(obj) {
    if (!obj.type) obj.type = 'Normal';
    if (!isObj(obj.source)) obj.source = {};
  },
  validate: validateEvent,
  selectableFields(obj) {
    const io: Json = isObj(obj.involvedObject) ? obj.involvedObject : {};
    const src: Json = isObj(obj.source) ? obj.source : {};
    return {
      'involvedObject.kind': str(io.kind),
      'involvedObject.namespace': str(io.namespace),
      'involvedObject.name': str(io.name),
      'involvedObject.uid': str(io.uid),
      'involvedObject.apiVersion': str(io.apiVersion),
      'involvedObject.resourceVersion': str(io.resourceVersion),
      'involvedObject.fieldPath': str(io.fieldPath),
      reason: str(obj.reason),
      reportingComponent: str(obj.reportingComponent),
      source: str(src.component),
      type: str(obj.type),
    };
  },
  table: {
    columns: eventTableColumns,
    cells(obj, now) {
      const io: Json = isObj(obj.involvedObject) ? obj.involvedObject : {};
      const src: Json = isObj(obj.source) ? obj.source : {};
      const series: Json = isObj(obj.series) ? obj.series : undefined;
      return eventCells(
        obj.metadata.name ?? '',
        {
          firstTimestamp: str(obj.firstTimestamp) || undefined,
          lastTimestamp: str(obj.lastTimestamp) || undefined,
          eventTime: str(obj.eventTime) || undefined,
          seriesLast: series ? str(series.lastObservedTime) || undefined : undefined,
          seriesCount: series?.count,
          count: typeof obj.count === 'number' ? obj.count : 0,
          type: str(obj.type),
          reason: str(obj.reason),
          kind: str(io.kind),
          name: str(io.name),
          fieldPath: str(io.fieldPath),
          source: sourceString(str(src.component) || str(obj.reportingComponent), str(src.host)),
          message: str(obj.message),
        },
        now,
      );
    },
  },
};
