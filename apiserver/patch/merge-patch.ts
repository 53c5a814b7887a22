// RFC 7386 JSON merge patch. Kubernetes objects are always JSON objects, so a patch whose top level
// is not an object is refused (400) rather than replacing the whole object.
import { clone, deepEqual, del, get, has, isObject, set, show, type JsonObject } from './json-value.js';
import { malformedPatch } from './patch-errors.js';

function mergeValue(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const k of Object.keys(patch)) {
    const pv = patch[k];
    if (pv === null) del(out, k);
    else set(out, k, mergeValue(get(out, k), pv));
  }
  return out;
}

/** Applies a merge patch and returns a new object; neither argument is modified. */
export function applyMergePatch(doc: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw malformedPatch(`merge patch: the patch must be a JSON object, got ${show(patch, 80)}`);
  return mergeValue(doc, patch);
}

/** The merge patch that turns `original` into `modified` (both objects): removed keys become null. */
export function createMergePatch(original: unknown, modified: unknown): JsonObject {
  if (!isObject(original) || !isObject(modified)) throw malformedPatch('merge patch: can only diff two JSON objects');
  return diff(original, modified);
}

function diff(original: JsonObject, modified: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k of Object.keys(original)) if (!has(modified, k)) set(out, k, null);
  for (const k of Object.keys(modified)) {
    const mv = modified[k];
    if (!has(original, k)) {
      set(out, k, clone(mv));
      continue;
    }
    const ov = original[k];
    if (isObject(ov) && isObject(mv)) {
      const sub = diff(ov, mv);
      if (Object.keys(sub).length > 0) set(out, k, sub);
    } else if (!deepEqual(ov, mv)) {
      // Merge patches cannot express a null value (null means delete), so a null inside the new
      // value comes out as an absent key; Kubernetes objects do not distinguish the two.
      set(out, k, clone(mv));
    }
  }
  return out;
}
