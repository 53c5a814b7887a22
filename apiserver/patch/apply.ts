// Field ownership (metadata.managedFields) and server-side apply, after the model Kubernetes uses:
// every manager owns a set of fields; an Update owns what it changed, an Apply owns exactly what
// its configuration sets. Applying merges the configuration into the live object, removes what
// the applier dropped since its last apply (unless someone else owns it) and refuses (409) to
// change a value another manager owns unless forced, in which case ownership moves.
import type { ManagedFieldsEntry } from '../../pkg/api/types.js';
import { StatusError } from '../status.js';
import { FieldSet, compareObjects, fieldPE, fieldSetOf, fromFieldsV1, indexKeyedList, keyFieldsOf, keyPE, pathString, toFieldsV1, valuePE, type SchemaOptions } from './field-set.js';
import { clone, deepEqual, del, get, has, isObject, set, show, type JsonObject } from './json-value.js';
import { resolveListStrategy, resolveMapStrategy } from './merge-keys.js';
import { malformedPatch } from './patch-errors.js';

export { FieldSet, fieldSetOf, toFieldsV1, fromFieldsV1, compareObjects, pathString } from './field-set.js';
export type { ManagedFieldsEntry };

export interface OwnershipOptions extends SchemaOptions {
  manager: string;
  /** group/version of the request, e.g. "apps/v1" */
  apiVersion: string;
  /** RFC 3339 time recorded in the entry this request touches */
  now: string;
  /** 'status' when writing the status subresource: then only status fields count, otherwise status is not owned */
  subresource?: string;
}

export interface ApplyOptions extends OwnershipOptions {
  force: boolean;
}

interface Manager {
  entry: ManagedFieldsEntry;
  set: FieldSet;
}

// Fields the server sets or that identify the object: never owned (Kubernetes strips the same).
const STRIPPED = (() => {
  const s = new FieldSet();
  for (const f of ['apiVersion', 'kind']) s.insert([fieldPE(f)]);
  for (const f of ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'selfLink', 'managedFields', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
    s.insert([fieldPE('metadata'), fieldPE(f)]);
  }
  return s;
})();

/** The part of a set a request through `subresource` can own. */
function relevant(s: FieldSet, subresource: string | undefined): FieldSet {
  const out = s.recursiveDifference(STRIPPED);
  const status = fieldPE('status');
  if (subresource === 'status') {
    for (const pe of [...out.children.keys()]) if (pe !== status) out.children.delete(pe);
  } else {
    out.children.delete(status);
  }
  return out;
}

function identity(e: ManagedFieldsEntry): string {
  // Appliers keep one identity across versions; updaters are told apart by version too.
  return JSON.stringify([e.manager ?? '', e.operation ?? '', e.operation === 'Apply' ? '' : (e.apiVersion ?? ''), e.subresource ?? '']);
}

function decodeManagers(entries: unknown): Map<string, Manager> {
  const out = new Map<string, Manager>();
  if (entries === undefined || entries === null) return out;
  if (!Array.isArray(entries)) throw malformedPatch('metadata.managedFields must be a list');
  for (const raw of entries) {
    if (!isObject(raw)) throw malformedPatch(`metadata.managedFields: invalid entry ${show(raw, 80)}`);
    const e = raw as ManagedFieldsEntry;
    if (e.operation !== 'Apply' && e.operation !== 'Update') throw malformedPatch(`metadata.managedFields: invalid operation ${show(e.operation)}`);
    if (e.fieldsType !== undefined && e.fieldsType !== 'FieldsV1') throw malformedPatch(`metadata.managedFields: unsupported fieldsType ${show(e.fieldsType)}`);
    const s = fromFieldsV1(e.fieldsV1 ?? {});
    const { fieldsV1: _f, ...meta } = e;
    const id = identity(e);
    const prev = out.get(id);
    if (prev) prev.set.addAll(s);
    else out.set(id, { entry: meta, set: s });
  }
  return out;
}

function encodeManagers(managers: Map<string, Manager>): ManagedFieldsEntry[] {
  const out: ManagedFieldsEntry[] = [];
  for (const { entry, set: s } of managers.values()) {
    if (s.isEmpty()) continue;
    const e: ManagedFieldsEntry = { manager: entry.manager, operation: entry.operation, apiVersion: entry.apiVersion };
    if (entry.time !== undefined) e.time = entry.time;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = toFieldsV1(s);
    if (entry.subresource) e.subresource = entry.subresource;
    out.push(e);
  }
  // Kubernetes' order: Apply before Update, then oldest first, then by name.
  out.sort((p, q) => {
    if (p.operation !== q.operation) return (p.operation ?? '') < (q.operation ?? '') ? -1 : 1;
    const pt = p.time ? Date.parse(p.time) : 0;
    const qt = q.time ? Date.parse(q.time) : 0;
    if (pt !== qt) return pt - qt;
    for (const k of ['manager', 'apiVersion', 'subresource'] as const) {
      const a = p[k] ?? '';
      const b = q[k] ?? '';
      if (a !== b) return a < b ? -1 : 1;
    }
    return 0;
  });
  return out;
}

/**
 * The object as seen without its managedFields. Only the top level and metadata are copied: the
 * callers read the result (comparisons, field sets) or deep-copy what they merge into, so a full
 * deep copy here was a measured hot spot for nothing.
 */
function withoutManagedFields(obj: JsonObject): JsonObject {
  const meta = get(obj, 'metadata');
  if (!isObject(meta) || !has(meta, 'managedFields')) return obj;
  const m: JsonObject = { ...meta };
  del(m, 'managedFields');
  return { ...obj, metadata: m };
}

// ---- Update --------------------------------------------------------------------------------

/**
 * managedFields after an ordinary create (old undefined), update or patch by `opts.manager`:
 * what changed becomes that manager's (operation Update), and is taken from everyone else.
 */
export function updateManagedFields(old: object | undefined, updated: object, opts: OwnershipOptions): ManagedFieldsEntry[] {
  const before = old === undefined ? undefined : (old as JsonObject);
  const after = updated as JsonObject;
  const oldEntries = before ? get(asMeta(before), 'managedFields') : undefined;
  const newEntries = get(asMeta(after), 'managedFields');
  // A client that sends managedFields different from what is stored is rewriting them (as
  // Kubernetes allows; [{}] clears them); otherwise the stored ones are the starting point.
  const reset = Array.isArray(newEntries) && newEntries.length === 1 && deepEqual(newEntries[0], {});
  const base = reset ? [] : Array.isArray(newEntries) && newEntries.length > 0 && !deepEqual(newEntries, oldEntries) ? newEntries : oldEntries;
  const managers = decodeManagers(base);
  const cmp = compareObjects(before ? withoutManagedFields(before) : {}, withoutManagedFields(after), opts);
  const changed = relevant(cmp.modified.union(cmp.added), opts.subresource);
  const removed = relevant(cmp.removed, opts.subresource);
  if (changed.isEmpty() && removed.isEmpty()) return encodeManagers(managers);

  const me: ManagedFieldsEntry = { manager: opts.manager, operation: 'Update', apiVersion: opts.apiVersion, time: opts.now };
  if (opts.subresource) me.subresource = opts.subresource;
  const id = identity(me);
  for (const [mid, m] of managers) {
    if (mid === id) continue;
    m.set = m.set.difference(changed).difference(removed);
  }
  const prev = managers.get(id)?.set ?? new FieldSet();
  managers.set(id, { entry: me, set: prev.union(changed).difference(removed) });
  return encodeManagers(managers);
}

function asMeta(obj: JsonObject): JsonObject {
  const m = get(obj, 'metadata');
  return isObject(m) ? m : {};
}

// ---- Apply ---------------------------------------------------------------------------------

export interface ApplyResult {
  object: JsonObject;
  managedFields: ManagedFieldsEntry[];
}

/**
 * Server-side apply of `applied` (the configuration, an object) onto `live` (undefined when the
 * object does not exist yet). Returns the new object with metadata.managedFields set.
 */
export function serverSideApply(live: object | undefined, applied: object, opts: ApplyOptions): ApplyResult {
  if (!isObject(applied)) throw malformedPatch(`apply: the configuration must be an object, got ${show(applied, 80)}`);
  if (live !== undefined && !isObject(live)) throw malformedPatch('apply: the live object must be an object');
  if (!opts.manager) throw malformedPatch('PATCH with apply requires a fieldManager');
  const appliedMeta = get(applied, 'metadata');
  if (isObject(appliedMeta) && get(appliedMeta, 'managedFields') !== undefined && get(appliedMeta, 'managedFields') !== null) {
    throw malformedPatch('metadata.managedFields must be nil');
  }
  const liveObj = live === undefined ? undefined : (live as JsonObject);
  const liveClean = liveObj ? withoutManagedFields(liveObj) : {};

  const config = withoutNulls(applied) as JsonObject;
  const newSet = relevant(fieldSetOf(config, { ...opts, strict: true }), opts.subresource);

  const managers = decodeManagers(liveObj ? get(asMeta(liveObj), 'managedFields') : undefined);
  if (liveObj && managers.size === 0) {
    // Objects written before anyone tracked ownership: someone owns what is there, so a first
    // apply that changes it must conflict, as in Kubernetes.
    const e: ManagedFieldsEntry = { manager: 'before-first-apply', operation: 'Update', apiVersion: opts.apiVersion };
    managers.set(identity(e), { entry: e, set: relevant(fieldSetOf(liveClean, opts), undefined) });
  }

  const me: ManagedFieldsEntry = { manager: opts.manager, operation: 'Apply', apiVersion: opts.apiVersion, time: opts.now };
  if (opts.subresource) me.subresource = opts.subresource;
  const id = identity(me);
  const lastSet = managers.get(id)?.set;

  const merged = mergeMap(clone(liveClean), applied, [], opts);

  const others = new FieldSet();
  for (const [mid, m] of managers) if (mid !== id) others.addAll(m.set);
  let result = merged;
  if (lastSet) {
    const toRemove = lastSet.difference(newSet).difference(others);
    removeFields(result, toRemove, others.union(newSet), [], opts);
  }

  const cmp = compareObjects(liveClean, result, opts);
  const changed = relevant(cmp.modified.union(cmp.added), opts.subresource);
  const removed = relevant(cmp.removed, opts.subresource);

  const conflicts: { manager: Manager; paths: string[][] }[] = [];
  for (const [mid, m] of managers) {
    if (mid === id) continue;
    const c = m.set.intersection(changed);
    if (!c.isEmpty()) conflicts.push({ manager: m, paths: c.paths() });
  }
  if (conflicts.length > 0 && !opts.force) throw conflictError(conflicts);

  if (liveObj && lastSet && lastSet.equals(newSet) && changed.isEmpty() && removed.isEmpty() && deepEqual(liveClean, result)) {
    // Nothing to do: keep the stored entries (and their times) as they are.
    result = clone(liveObj);
    return { object: result, managedFields: (get(asMeta(result), 'managedFields') as ManagedFieldsEntry[] | undefined) ?? [] };
  }

  for (const [mid, m] of managers) {
    if (mid === id) continue;
    m.set = m.set.difference(changed).difference(removed);
  }
  managers.set(id, { entry: me, set: newSet });
  const managedFields = encodeManagers(managers);
  const meta = get(result, 'metadata');
  const metaObj = isObject(meta) ? meta : {};
  if (!isObject(meta)) set(result, 'metadata', metaObj);
  if (managedFields.length > 0) set(metaObj, 'managedFields', managedFields);
  else del(metaObj, 'managedFields');
  return { object: result, managedFields };
}

function conflictError(conflicts: { manager: Manager; paths: string[][] }[]): StatusError {
  const causes: { reason: string; message: string; field: string }[] = [];
  const lines: string[] = [];
  for (const { manager, paths } of conflicts) {
    const who = printManager(manager.entry);
    lines.push(`conflicts with ${who}:`);
    for (const p of paths) {
      causes.push({ reason: 'FieldManagerConflict', message: `conflict with ${who}`, field: pathString(p) });
      lines.push(`- ${pathString(p)}`);
    }
  }
  const message =
    causes.length === 1
      ? `Apply failed with 1 conflict: ${causes[0].message}: ${causes[0].field}`
      : `Apply failed with ${causes.length} conflicts: ${lines.join('\n')}`;
  return new StatusError(409, 'Conflict', message, { causes });
}

function printManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager ?? '');
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion ?? ''}`;
  return s;
}

function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v)) if (v[k] !== null) set(out, k, withoutNulls(v[k]));
    return out;
  }
  return v;
}

// `live` values passed to these merges are private copies and are changed in place.

function mergeMap(live: JsonObject, applied: JsonObject, path: string[], opts: SchemaOptions): JsonObject {
  for (const k of Object.keys(applied)) {
    const av = applied[k];
    if (av === null) {
      // An explicit null in the configuration clears the field.
      del(live, k);
      continue;
    }
    set(live, k, mergeValue(get(live, k), av, [...path, k], opts));
  }
  return live;
}

function mergeValue(lv: unknown, av: unknown, path: string[], opts: SchemaOptions): unknown {
  if (isObject(av)) {
    if (isObject(lv) && resolveMapStrategy(opts.mapStrategy, path) === 'granular') return mergeMap(lv, av, path, opts);
    return withoutNulls(av);
  }
  if (!Array.isArray(av)) return av;
  const s = resolveListStrategy(opts.listStrategy, path);
  if (s.strategy === 'merge-set' && Array.isArray(lv)) {
    const out = lv.slice();
    const have = new Set(out.map(valuePE));
    for (const x of av) if (!have.has(valuePE(x))) out.push(x);
    return orderLike(out, av.map(valuePE), valuePE);
  }
  if (s.strategy === 'merge' && Array.isArray(lv) && indexKeyedList(lv, s)) {
    const out = lv.slice();
    const pos = new Map<string, number>();
    out.forEach((item, i) => pos.set(keyPE(item, s)!, i));
    const order: string[] = [];
    for (const item of av) {
      const pe = keyPE(item, s)!; // the configuration's keys were checked when its field set was built
      order.push(pe);
      const i = pos.get(pe);
      if (i === undefined) {
        pos.set(pe, out.length);
        out.push(withoutNulls(item));
      } else {
        out[i] = mergeMap(out[i] as JsonObject, item as JsonObject, path, opts);
      }
    }
    return orderLike(out, order, (x) => keyPE(x, s));
  }
  return withoutNulls(av);
}

/** Items named in `order` are put in that order, in the positions such items occupy; the rest stay put. */
function orderLike(list: unknown[], order: string[], id: (x: unknown) => string | undefined): unknown[] {
  const rank = new Map<string, number>();
  order.forEach((o, i) => rank.has(o) || rank.set(o, i));
  const slots: number[] = [];
  const named: { item: unknown; rank: number }[] = [];
  list.forEach((x, i) => {
    const k = id(x);
    const r = k === undefined ? undefined : rank.get(k);
    if (r !== undefined) {
      slots.push(i);
      named.push({ item: x, rank: r });
    }
  });
  named.sort((a, b) => a.rank - b.rank);
  slots.forEach((slot, i) => (list[slot] = named[i].item));
  return list;
}

/**
 * Removes the fields of `toRemove` from `obj`, except where `owned` (everyone's fields after this
 * apply) still has something beneath: then only the applier's own parts go. Maps and lists this
 * empties are removed too, so dropping the last label also drops `labels`.
 */
function removeFields(obj: JsonObject, toRemove: FieldSet, owned: FieldSet | undefined, path: string[], opts: SchemaOptions): void {
  for (const [pe, node] of toRemove.children) {
    if (!pe.startsWith('f:')) continue;
    const name = pe.slice(2);
    if (!has(obj, name)) continue;
    const ownedChild = owned?.children.get(pe);
    if (node.member && (!ownedChild || ownedChild.isEmpty())) {
      del(obj, name);
      continue;
    }
    const v = obj[name];
    const p = [...path, name];
    if (isObject(v) && Object.keys(v).length > 0) {
      removeFields(v, node, ownedChild, p, opts);
      if (Object.keys(v).length === 0 && !ownedChild?.member) del(obj, name);
    } else if (Array.isArray(v) && v.length > 0) {
      const rest = removeFromList(v, node, ownedChild, p, opts);
      if (rest.length === 0 && !ownedChild?.member) del(obj, name);
      else set(obj, name, rest);
    }
  }
}

function removeFromList(list: unknown[], toRemove: FieldSet, owned: FieldSet | undefined, path: string[], opts: SchemaOptions): unknown[] {
  const s = resolveListStrategy(opts.listStrategy, path);
  let out = list;
  for (const [pe, node] of toRemove.children) {
    const ownedChild = owned?.children.get(pe);
    const ownedBeneath = ownedChild !== undefined && !ownedChild.isEmpty();
    if (pe.startsWith('v:')) {
      if (node.member && !ownedBeneath) out = out.filter((x) => isObject(x) || Array.isArray(x) || valuePE(x) !== pe);
    } else if (pe.startsWith('k:') && s.strategy === 'merge') {
      if (node.member && !ownedBeneath) {
        out = out.filter((x) => keyPE(x, s) !== pe);
      } else {
        const item = out.find((x) => keyPE(x, s) === pe);
        if (isObject(item)) {
          // The item stays for its other owners, so it keeps the fields that name it.
          const keep = node.clone();
          for (const k of keyFieldsOf(s)) keep.children.delete(fieldPE(k));
          removeFields(item, keep, ownedChild, path, opts);
        }
      }
    }
  }
  return out;
}
