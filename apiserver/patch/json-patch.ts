// RFC 6902 JSON Patch over plain JSON values, with RFC 6901 pointers.
// Errors follow the Kubernetes apiserver: an undecodable patch (wrong shape, unknown op) is 400,
// a patch that does not apply to the object (missing path, failing test) is 422.
import { clone, deepEqual, del, get, has, isObject, set, show, type JsonObject } from './json-value.js';
import { StatusError } from '../status.js';
import { malformedPatch, unprocessablePatch } from './patch-errors.js';

// Kubernetes' cap, so one request cannot make the server loop for long.
const MAX_OPERATIONS = 10000;

type Op = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
const OPS = new Set<Op>(['add', 'remove', 'replace', 'move', 'copy', 'test']);

interface Operation {
  op: Op;
  path: string[];
  rawPath: string;
  from?: string[];
  rawFrom?: string;
  value?: unknown;
}

/** Splits an RFC 6901 pointer into unescaped reference tokens; '' is the whole document. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw malformedPatch(`json patch: invalid JSON pointer ${show(pointer)}: must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((tok) => {
      if (/~[^01]|~$/.test(tok)) throw malformedPatch(`json patch: invalid JSON pointer ${show(pointer)}: "~" must be followed by 0 or 1`);
      return tok.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function decodeOperation(raw: unknown, i: number): Operation {
  if (!isObject(raw)) throw malformedPatch(`json patch: operation ${i} is not an object: ${show(raw)}`);
  const op = get(raw, 'op');
  if (typeof op !== 'string' || !OPS.has(op as Op)) {
    throw malformedPatch(`json patch: operation ${i}: unknown or missing "op" ${show(op)}; expected one of add, remove, replace, move, copy, test`);
  }
  const path = get(raw, 'path');
  if (typeof path !== 'string') throw malformedPatch(`json patch: operation ${i} (${op}): missing or non-string "path"`);
  const out: Operation = { op: op as Op, path: parsePointer(path), rawPath: path };
  if (op === 'add' || op === 'replace' || op === 'test') {
    if (!has(raw, 'value')) throw malformedPatch(`json patch: operation ${i} (${op} ${path}): missing "value"`);
    out.value = get(raw, 'value');
  }
  if (op === 'move' || op === 'copy') {
    const from = get(raw, 'from');
    if (typeof from !== 'string') throw malformedPatch(`json patch: operation ${i} (${op} ${path}): missing or non-string "from"`);
    out.from = parsePointer(from);
    out.rawFrom = from;
  }
  return out;
}

/** Parses an array index token; `allowEnd` accepts "-" and len (positions for insertion). */
function arrayIndex(arr: unknown[], tok: string, allowEnd: boolean, pointer: string): number {
  if (tok === '-' && allowEnd) return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(tok)) throw unprocessablePatch(`json patch: ${show(pointer)}: ${show(tok)} is not a valid array index`);
  const n = Number(tok);
  const max = allowEnd ? arr.length : arr.length - 1;
  if (n > max) throw unprocessablePatch(`json patch: ${show(pointer)}: index ${n} is out of range (list has ${arr.length} items)`);
  return n;
}

/** Walks to the container holding the last token. */
function parentOf(doc: unknown, path: string[], pointer: string): unknown {
  let cur = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const tok = path[i];
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, tok, false, pointer)];
    else if (isObject(cur) && has(cur, tok)) cur = cur[tok];
    else throw unprocessablePatch(`json patch: doc is missing path ${show(pointer)}`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw unprocessablePatch(`json patch: doc is missing path ${show(pointer)}: parent is not a map or list`);
  return cur;
}

function getAt(doc: unknown, path: string[], pointer: string): unknown {
  if (path.length === 0) return doc;
  const parent = parentOf(doc, path, pointer);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false, pointer)];
  const p = parent as JsonObject;
  if (!has(p, last)) throw unprocessablePatch(`json patch: doc is missing path ${show(pointer)}`);
  return p[last];
}

// The mutators work on the private copy made by applyJsonPatch and return the new root.
function addAt(doc: unknown, path: string[], pointer: string, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path, pointer);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, pointer), 0, value);
  else set(parent as JsonObject, last, value);
  return doc;
}

function removeAt(doc: unknown, path: string[], pointer: string, op: string): unknown {
  if (path.length === 0) throw unprocessablePatch(`json patch: ${op} of the whole document is not allowed`);
  const parent = parentOf(doc, path, pointer);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, pointer), 1);
  else {
    const p = parent as JsonObject;
    if (!has(p, last)) throw unprocessablePatch(`json patch: ${op} operation does not apply: doc is missing path ${show(pointer)}`);
    del(p, last);
  }
  return doc;
}

function replaceAt(doc: unknown, path: string[], pointer: string, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path, pointer);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) parent[arrayIndex(parent, last, false, pointer)] = value;
  else {
    const p = parent as JsonObject;
    if (!has(p, last)) throw unprocessablePatch(`json patch: replace operation does not apply: doc is missing key ${show(pointer)}`);
    set(p, last, value);
  }
  return doc;
}

function isPrefix(prefix: string[], path: string[]): boolean {
  return prefix.length < path.length && prefix.every((t, i) => path[i] === t);
}

/** Applies an RFC 6902 patch (already decoded from JSON) and returns a new document; `doc` is not modified. */
export function applyJsonPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw malformedPatch(`json patch: the patch must be a JSON list of operations, got ${show(patch, 80)}`);
  if (patch.length > MAX_OPERATIONS) {
    throw new StatusError(413, 'RequestEntityTooLarge', `The allowed maximum operations in a JSON patch is ${MAX_OPERATIONS}, got ${patch.length}`);
  }
  const ops = patch.map((raw, i) => decodeOperation(raw, i));
  let out = clone(doc);
  for (const o of ops) {
    switch (o.op) {
      case 'add':
        out = addAt(out, o.path, o.rawPath, clone(o.value));
        break;
      case 'remove':
        out = removeAt(out, o.path, o.rawPath, 'remove');
        break;
      case 'replace':
        out = replaceAt(out, o.path, o.rawPath, clone(o.value));
        break;
      case 'move': {
        const from = o.from!;
        if (isPrefix(from, o.path)) throw unprocessablePatch(`json patch: move from ${show(o.rawFrom)} to ${show(o.rawPath)}: cannot move a value into one of its children`);
        const value = getAt(out, from, o.rawFrom!);
        if (from.length === o.path.length && from.every((t, i) => t === o.path[i])) break;
        out = removeAt(out, from, o.rawFrom!, 'move');
        out = addAt(out, o.path, o.rawPath, value);
        break;
      }
      case 'copy':
        out = addAt(out, o.path, o.rawPath, clone(getAt(out, o.from!, o.rawFrom!)));
        break;
      case 'test': {
        let actual: unknown;
        try {
          actual = getAt(out, o.path, o.rawPath);
        } catch {
          throw unprocessablePatch(`json patch: test operation failed: ${show(o.rawPath)} is missing, expected ${show(o.value)}`);
        }
        if (!deepEqual(actual, o.value)) {
          throw unprocessablePatch(`json patch: test operation failed: value at ${show(o.rawPath)} is ${show(actual)}, expected ${show(o.value)}`);
        }
        break;
      }
    }
  }
  return out;
}
