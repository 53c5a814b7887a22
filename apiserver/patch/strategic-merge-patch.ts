// Kubernetes strategic merge patch: a merge patch in which some lists merge item by item (by a
// merge key, or as sets of scalars) and the patch may carry directives:
//   $patch: replace | delete | merge      on a map or as a list item
//   $retainKeys: [...]                     keys of the map to keep (others are cleared)
//   $setElementOrder/<list>: [...]         the order of the list after merging
//   $deleteFromPrimitiveList/<list>: [...] scalars to remove from a set-like list
// Directives never reach the result. Errors: a patch that is not well-formed is 400, one that
// cannot be applied (e.g. a list item without its merge key) is 422.
import { clone, deepEqual, del, get, has, isObject, set, show, typeName, type JsonObject } from './json-value.js';
import { resolveListStrategy, type ListStrategy, type ListStrategyResolver } from './merge-keys.js';
import { malformedPatch, unprocessablePatch } from './patch-errors.js';

export interface StrategicMergeOptions {
  /** Overrides the built-in merge-key table for the paths it answers (returns undefined otherwise). */
  listStrategy?: ListStrategyResolver;
}

const PATCH = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_FROM = '$deleteFromPrimitiveList/';

function isDirectiveKey(k: string): boolean {
  return k === PATCH || k === RETAIN_KEYS || k.startsWith(SET_ORDER) || k.startsWith(DELETE_FROM);
}

function where(path: string[]): string {
  return path.length ? path.join('.') : '<root>';
}

class Merger {
  constructor(private readonly opts: StrategicMergeOptions) {}

  strategy(path: string[]): ListStrategy {
    return resolveListStrategy(this.opts.listStrategy, path);
  }

  // `original` values belong to the merger (the document is copied once up front), so they are
  // changed in place; patch values are copied as they go in.

  /** Merges `patch` into `original` (a map or undefined). Returns undefined when the map is deleted. */
  mergeMap(original: JsonObject | undefined, patch: JsonObject, path: string[]): JsonObject | undefined {
    if (has(patch, PATCH)) {
      const d = patch[PATCH];
      if (d === 'delete') return undefined;
      if (d === 'replace') {
        const rest: JsonObject = {};
        for (const k of Object.keys(patch)) if (k !== PATCH) set(rest, k, patch[k]);
        return this.mergeMap(undefined, rest, path);
      }
      if (d !== 'merge') throw malformedPatch(`strategic merge patch: unknown $patch directive ${show(d)} in map at ${where(path)}`);
    }
    const out: JsonObject = original ?? {};

    if (has(patch, RETAIN_KEYS)) {
      const keep = patch[RETAIN_KEYS];
      if (!Array.isArray(keep) || !keep.every((k) => typeof k === 'string')) {
        throw malformedPatch(`strategic merge patch: $retainKeys at ${where(path)} must be a list of strings`);
      }
      for (const k of Object.keys(patch)) {
        if (!isDirectiveKey(k) && patch[k] !== null && !keep.includes(k)) {
          throw unprocessablePatch(`strategic merge patch: field ${show(k)} at ${where(path)} is not listed in $retainKeys ${show(keep)}`);
        }
      }
      for (const k of Object.keys(out)) if (!keep.includes(k)) del(out, k);
    }

    const orders = new Map<string, unknown[]>();
    const deletions = new Map<string, unknown[]>();
    for (const k of Object.keys(patch)) {
      if (k.startsWith(SET_ORDER) || k.startsWith(DELETE_FROM)) {
        const v = patch[k];
        const field = k.startsWith(SET_ORDER) ? k.slice(SET_ORDER.length) : k.slice(DELETE_FROM.length);
        if (!Array.isArray(v)) throw malformedPatch(`strategic merge patch: ${k} at ${where(path)} must be a list, got ${typeName(v)}`);
        if (!field) throw malformedPatch(`strategic merge patch: directive ${show(k)} at ${where(path)} names no field`);
        (k.startsWith(SET_ORDER) ? orders : deletions).set(field, v);
      }
    }

    for (const k of Object.keys(patch)) {
      if (isDirectiveKey(k)) continue;
      const pv = patch[k];
      const fieldPath = [...path, k];
      if (pv === null) {
        del(out, k);
        continue;
      }
      const ov = get(out, k);
      if (isObject(pv)) {
        const merged = this.mergeMap(isObject(ov) ? ov : undefined, pv, fieldPath);
        if (merged === undefined) del(out, k);
        else set(out, k, merged);
      } else if (Array.isArray(pv)) {
        const merged = this.mergeList(Array.isArray(ov) ? ov : undefined, pv, fieldPath);
        if (merged === undefined) del(out, k);
        else set(out, k, merged);
      } else {
        set(out, k, pv);
      }
    }

    for (const [field, values] of deletions) {
      const cur = get(out, field);
      if (cur === undefined) continue;
      if (!Array.isArray(cur)) throw unprocessablePatch(`strategic merge patch: $deleteFromPrimitiveList/${field} at ${where(path)}: the field is a ${typeName(cur)}, not a list`);
      for (const v of values) {
        if (isObject(v) || Array.isArray(v)) throw malformedPatch(`strategic merge patch: $deleteFromPrimitiveList/${field} at ${where(path)} may only hold scalars`);
      }
      set(out, field, cur.filter((x) => !values.some((v) => deepEqual(v, x))));
    }

    for (const [field, order] of orders) {
      const cur = get(out, field);
      if (cur === undefined) continue;
      if (!Array.isArray(cur)) throw unprocessablePatch(`strategic merge patch: $setElementOrder/${field} at ${where(path)}: the field is a ${typeName(cur)}, not a list`);
      set(out, field, this.reorder(cur, order, [...path, field]));
    }
    return out;
  }

  /** Merges a patch list into `original`. Returns undefined if nothing is left to set. */
  mergeList(original: unknown[] | undefined, patch: unknown[], path: string[]): unknown[] | undefined {
    const s = this.strategy(path);
    if (s.strategy === 'replace') {
      return patch.filter((item) => !(isObject(item) && get(item, PATCH) === 'delete')).map((item) => this.fresh(item, path));
    }
    if (s.strategy === 'merge-set') {
      const out = original ?? [];
      for (const item of patch) {
        if (isObject(item) || Array.isArray(item)) {
          throw malformedPatch(`strategic merge patch: ${where(path)} is a list of scalars, got a ${typeName(item)} item ${show(item)}`);
        }
        if (!out.some((x) => deepEqual(x, item))) out.push(item);
      }
      return out;
    }
    const key = s.key;
    let out: unknown[] = original ?? [];
    const items: JsonObject[] = [];
    for (const item of patch) {
      if (Array.isArray(item)) throw unprocessablePatch(`strategic merge patch: ${where(path)}: lists of lists are not supported`);
      if (!isObject(item)) throw unprocessablePatch(`strategic merge patch: ${where(path)} merges items by ${show(key)}, got a ${typeName(item)} item ${show(item)}`);
      const d = get(item, PATCH);
      if (d === 'replace') {
        // {"$patch":"replace"} as an item: the other items become the whole list.
        out = [];
        continue;
      }
      if (d !== undefined && d !== 'delete' && d !== 'merge') {
        throw malformedPatch(`strategic merge patch: unknown $patch directive ${show(d)} in list ${where(path)}`);
      }
      items.push(item);
    }
    for (const item of items) {
      const kv = get(item, key);
      if (kv === undefined || kv === null) {
        throw unprocessablePatch(`strategic merge patch: ${where(path)}: item ${show(item)} does not contain the merge key ${show(key)}`);
      }
      const idx = out.findIndex((x) => isObject(x) && deepEqual(get(x, key), kv));
      if (get(item, PATCH) === 'delete') {
        out = out.filter((x) => !(isObject(x) && deepEqual(get(x, key), kv)));
        continue;
      }
      const body: JsonObject = {};
      for (const k of Object.keys(item)) if (k !== PATCH) set(body, k, item[k]);
      if (idx >= 0) {
        const merged = this.mergeMap(out[idx] as JsonObject, body, path);
        if (merged === undefined) out.splice(idx, 1);
        else out[idx] = merged;
      } else {
        const merged = this.mergeMap(undefined, body, path);
        if (merged !== undefined) out.push(merged);
      }
    }
    return out;
  }

  /** A patch value for a place with nothing to merge into: directives applied, nulls dropped. */
  fresh(v: unknown, path: string[]): unknown {
    if (isObject(v)) return this.mergeMap(undefined, v, path) ?? {};
    if (Array.isArray(v)) return v.map((x) => this.fresh(x, path));
    return v;
  }

  /**
   * Orders `list` by `order`. Items named in `order` take the positions such items already occupy,
   * in the order given; items not named keep their place, so the server's own additions survive.
   */
  reorder(list: unknown[], order: unknown[], path: string[]): unknown[] {
    const s = this.strategy(path);
    const key = s.strategy === 'merge' ? s.key : undefined;
    const identity = (x: unknown): unknown => {
      if (key === undefined) return x;
      return isObject(x) ? get(x, key) : undefined;
    };
    const wanted = order.map((o) => {
      if (key === undefined) {
        if (isObject(o) || Array.isArray(o)) throw malformedPatch(`strategic merge patch: $setElementOrder for ${where(path)} must list scalars`);
        return o;
      }
      if (!isObject(o) || get(o, key) === undefined) {
        throw malformedPatch(`strategic merge patch: $setElementOrder for ${where(path)} must list maps holding the merge key ${show(key)}, got ${show(o)}`);
      }
      return get(o, key);
    });
    const rank = (x: unknown): number => {
      const id = identity(x);
      if (id === undefined) return -1;
      return wanted.findIndex((w) => deepEqual(w, id));
    };
    const slots: number[] = [];
    const named: unknown[] = [];
    list.forEach((x, i) => {
      if (rank(x) >= 0) {
        slots.push(i);
        named.push(x);
      }
    });
    named.sort((a, b) => rank(a) - rank(b));
    const out = list.slice();
    slots.forEach((slot, i) => (out[slot] = named[i]));
    return out;
  }
}

/** Applies a strategic merge patch and returns a new object; neither argument is modified. */
export function applyStrategicMergePatch(doc: unknown, patch: unknown, opts: StrategicMergeOptions = {}): unknown {
  if (!isObject(patch)) throw malformedPatch(`strategic merge patch: the patch must be a JSON object, got ${show(patch, 80)}`);
  if (doc !== undefined && !isObject(doc)) throw malformedPatch(`strategic merge patch: the document must be a JSON object, got ${typeName(doc)}`);
  return new Merger(opts).mergeMap(doc === undefined ? undefined : clone(doc), patch, []) ?? {};
}
