// Server-side printing: meta.k8s.io/v1 Table responses (what `kubectl get` asks for), built from a
// resource's Table definition. Each row carries the object as PartialObjectMetadata, or whole with
// includeObject=Object (kubectl needs it for -A and --sort-by).
import type { KObject } from '../pkg/api/types.js';
import type { CachedObject } from './cache/watch-cache.js';
import type { Table, TableColumn } from './registry/strategy.js';
import { humanDuration } from '../pkg/api/duration.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

const NAME_COLUMN: TableColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.' };
const AGE_COLUMN: TableColumn = { name: 'Age', type: 'string', description: 'Time since the object was created.' };

/** The table of kinds without their own columns (and of CRDs without printer columns). */
export const defaultTable: Table = {
  columns: [NAME_COLUMN, { name: 'Created At', type: 'date', description: 'When the object was created.' }],
  cells: (o) => [o.metadata.name ?? '', o.metadata.creationTimestamp ?? ''],
};

export function ageOf(obj: KObject, now: number): string {
  const t = obj.metadata.creationTimestamp;
  if (!t) return '<unknown>';
  return humanDuration(now - Date.parse(t));
}

export { NAME_COLUMN, AGE_COLUMN };

function columnJson(c: TableColumn): string {
  return JSON.stringify({ name: c.name, type: c.type, format: c.format ?? '', description: c.description ?? '', priority: c.priority ?? 0 });
}

function rowObject(c: CachedObject, include: IncludeObject): string | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return c.json;
  return JSON.stringify({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: c.obj.metadata });
}

export function tableRow(table: Table, c: CachedObject, include: IncludeObject, now: number): string {
  let cells: unknown[];
  try {
    cells = table.cells(c.obj, now);
  } catch {
    // A malformed object must still list; print what we can rather than fail the whole table.
    cells = table.columns.map((col, i) => (i === 0 ? c.obj.metadata.name ?? '' : '<error>'));
  }
  const obj = rowObject(c, include);
  return `{"cells":${JSON.stringify(cells)}${obj ? `,"object":${obj}` : ''}}`;
}

export function tableJson(
  table: Table,
  items: CachedObject[],
  opts: { include: IncludeObject; resourceVersion?: string; continue?: string; remainingItemCount?: number; withColumns?: boolean },
): string {
  const now = Date.now();
  const meta: Record<string, unknown> = {};
  if (opts.resourceVersion) meta.resourceVersion = opts.resourceVersion;
  if (opts.continue) meta.continue = opts.continue;
  if (opts.remainingItemCount !== undefined) meta.remainingItemCount = opts.remainingItemCount;
  const cols = opts.withColumns === false ? '' : `"columnDefinitions":[${table.columns.map(columnJson).join(',')}],`;
  return `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":${JSON.stringify(meta)},${cols}"rows":[${items.map((c) => tableRow(table, c, opts.include, now)).join(',')}]}`;
}
