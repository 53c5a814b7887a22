// Sets of field paths, as server-side apply tracks ownership in metadata.managedFields.
// A set is a trie whose edges are path elements in their FieldsV1 spelling:
//   f:<field>          a field of a map
//   k:{"name":"web"}   an item of a list keyed by its merge key(s) (JSON, keys sorted by name)
//   v:<json>           an item of a set of scalars
// A node is a member when the path to it is in the set; FieldsV1 writes that as ".": {} when the
// node also has children, and as an empty object otherwise.
import { deepEqual, get, has, isObject, show, type JsonObject } from './json-value.js';
import {
  resolveListStrategy,
  resolveMapStrategy,
  type ListStrategy,
  type ListStrategyResolver,
  type MapStrategyResolver,
} from './merge-keys.js';
import { malformedPatch, unprocessablePatch } from './patch-errors.js';

export class FieldSet {
  member = false;
  readonly children = new Map<string, FieldSet>();

  child(pe: string): FieldSet {
    let c = this.children.get(pe);
    if (!c) {
      c = new FieldSet();
      this.children.set(pe, c);
    }
    return c;
  }

  insert(path: string[]): void {
    let n: FieldSet = this;
    for (const pe of path) n = n.child(pe);
    n.member = true;
  }

  has(path: string[]): boolean {
    let n: FieldSet | undefined = this;
    for (const pe of path) {
      n = n.children.get(pe);
      if (!n) return false;
    }
    return n.member;
  }

  /** The node at `path`, if any. */
  at(path: string[]): FieldSet | undefined {
    let n: FieldSet | undefined = this;
    for (const pe of path) {
      n = n?.children.get(pe);
      if (!n) return undefined;
    }
    return n;
  }

  isEmpty(): boolean {
    if (this.member) return false;
    for (const c of this.children.values()) if (!c.isEmpty()) return false;
    return true;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    out.member = this.member;
    for (const [pe, c] of this.children) out.children.set(pe, c.clone());
    return out;
  }

  /** Drops subtrees with no member (sets built by walking leave such branches behind). */
  compact(): FieldSet {
    for (const [pe, c] of this.children) {
      c.compact();
      if (c.isEmpty()) this.children.delete(pe);
    }
    return this;
  }

  union(other: FieldSet): FieldSet {
    const out = this.clone();
    out.addAll(other);
    return out;
  }

  addAll(other: FieldSet): void {
    this.member ||= other.member;
    for (const [pe, c] of other.children) this.child(pe).addAll(c);
  }

  // The set operations build results bottom-up and attach only non-empty children, so results
  // stay compact without a second walk.

  /** Members of this set that are not members of `other` (not recursive: a member of `other` does not remove what lies beneath it). */
  difference(other: FieldSet): FieldSet {
    return diffNode(this, other) ?? new FieldSet();
  }

  intersection(other: FieldSet): FieldSet {
    return intersectNode(this, other) ?? new FieldSet();
  }

  /** This set without anything at or beneath a member of `prefixes`. */
  recursiveDifference(prefixes: FieldSet): FieldSet {
    return recursiveDiffNode(this, prefixes) ?? new FieldSet();
  }

  /** Every member path, in trie order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = [];
    if (this.member) out.push(prefix);
    for (const [pe, c] of this.children) out.push(...c.paths([...prefix, pe]));
    return out;
  }

  equals(other: FieldSet): boolean {
    return this.difference(other).isEmpty() && other.difference(this).isEmpty();
  }
}

function diffNode(a: FieldSet, b: FieldSet): FieldSet | undefined {
  const out = new FieldSet();
  out.member = a.member && !b.member;
  for (const [pe, c] of a.children) {
    const bc = b.children.get(pe);
    const d = bc ? diffNode(c, bc) : c.isEmpty() ? undefined : c.clone();
    if (d) out.children.set(pe, d);
  }
  return out.member || out.children.size > 0 ? out : undefined;
}

function intersectNode(a: FieldSet, b: FieldSet): FieldSet | undefined {
  const out = new FieldSet();
  out.member = a.member && b.member;
  for (const [pe, c] of a.children) {
    const bc = b.children.get(pe);
    const i = bc ? intersectNode(c, bc) : undefined;
    if (i) out.children.set(pe, i);
  }
  return out.member || out.children.size > 0 ? out : undefined;
}

function recursiveDiffNode(a: FieldSet, prefixes: FieldSet): FieldSet | undefined {
  if (prefixes.member) return undefined;
  const out = new FieldSet();
  out.member = a.member;
  for (const [pe, c] of a.children) {
    const pc = prefixes.children.get(pe);
    const d = pc ? recursiveDiffNode(c, pc) : c.isEmpty() ? undefined : c.clone();
    if (d) out.children.set(pe, d);
  }
  return out.member || out.children.size > 0 ? out : undefined;
}

// ---- path elements -------------------------------------------------------------------------

export function fieldPE(name: string): string {
  return 'f:' + name;
}

export function valuePE(v: unknown): string {
  return 'v:' + JSON.stringify(v);
}

function keyPEFromFields(fields: [string, unknown][]): string {
  if (fields.length === 1) return 'k:{' + JSON.stringify(fields[0][0]) + ':' + JSON.stringify(fields[0][1]) + '}';
  const sorted = [...fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return 'k:{' + sorted.map(([k, v]) => JSON.stringify(k) + ':' + JSON.stringify(v)).join(',') + '}';
}

export function keyFieldsOf(s: Extract<ListStrategy, { strategy: 'merge' }>): string[] {
  return s.keys ?? [s.key];
}

/**
 * The k: element naming a list item, or undefined when a key field is missing and has no default
 * (or is not a scalar).
 */
export function keyPE(item: unknown, s: Extract<ListStrategy, { strategy: 'merge' }>): string | undefined {
  if (!isObject(item)) return undefined;
  const fields: [string, unknown][] = [];
  for (const k of keyFieldsOf(s)) {
    let v = get(item, k);
    if (v === undefined || v === null) v = s.keyDefaults && has(s.keyDefaults, k) ? s.keyDefaults[k] : undefined;
    if (v === undefined) {
      // Only the first key is mandatory; Kubernetes lets later keys be absent when they have defaults.
      if (k === keyFieldsOf(s)[0]) return undefined;
      continue;
    }
    if (isObject(v) || Array.isArray(v)) return undefined;
    fields.push([k, v]);
  }
  return keyPEFromFields(fields);
}

/** `.spec.containers[name="web"].image`, the way Kubernetes prints a field path in conflicts. */
export function pathString(path: string[]): string {
  return path
    .map((pe) => {
      if (pe.startsWith('f:')) return '.' + pe.slice(2);
      if (pe.startsWith('v:')) return '[=' + pe.slice(2) + ']';
      if (pe.startsWith('k:')) {
        try {
          const obj = JSON.parse(pe.slice(2)) as JsonObject;
          return '[' + Object.keys(obj).map((k) => `${k}=${JSON.stringify(obj[k])}`).join(',') + ']';
        } catch {
          return '[' + pe.slice(2) + ']';
        }
      }
      if (pe.startsWith('i:')) return '[' + pe.slice(2) + ']';
      return pe;
    })
    .join('');
}

// ---- FieldsV1 ------------------------------------------------------------------------------

export function toFieldsV1(set: FieldSet): JsonObject {
  return encodeNode(set, true) ?? {};
}

function encodeNode(set: FieldSet, root: boolean): JsonObject | undefined {
  const out: JsonObject = {};
  let children = 0;
  // Path elements start with "f:", "k:", "v:" or "i:", so plain assignment cannot hit __proto__.
  for (const pe of [...set.children.keys()].sort()) {
    const c = encodeNode(set.children.get(pe)!, false);
    if (c) {
      out[pe] = c;
      children++;
    }
  }
  if (set.member && children > 0) return { '.': {}, ...out };
  if (set.member || children > 0 || root) return out;
  return undefined;
}

/** Reads a FieldsV1 trie; throws a 400 on anything that is not one. */
export function fromFieldsV1(json: unknown): FieldSet {
  const set = new FieldSet();
  read(json, set, true);
  return set;
}

// Stored entries repeat the same item keys on every request; remember their canonical spelling.
const canonical = new Map<string, string>();

function canonicalPE(k: string): string {
  const kind = k.slice(0, 2);
  if (kind === 'f:' || kind === 'i:') return k;
  const known = canonical.get(k);
  if (known !== undefined) return known;
  let pe: string;
  try {
    if (kind === 'k:') {
      const parsed: unknown = JSON.parse(k.slice(2));
      if (!isObject(parsed)) throw new Error('not a map');
      pe = keyPEFromFields(Object.keys(parsed).map((f) => [f, parsed[f]]));
    } else if (kind === 'v:') {
      pe = 'v:' + JSON.stringify(JSON.parse(k.slice(2)));
    } else {
      throw new Error('unknown prefix');
    }
  } catch {
    throw malformedPatch(`metadata.managedFields: invalid fieldsV1 key ${show(k)}`);
  }
  if (canonical.size >= 10000) canonical.clear();
  canonical.set(k, pe);
  return pe;
}

function read(json: unknown, node: FieldSet, root: boolean): void {
  if (!isObject(json)) throw malformedPatch(`metadata.managedFields: invalid fieldsV1: expected a map, got ${show(json, 80)}`);
  const keys = Object.keys(json);
  if (keys.length === 0 && !root) node.member = true;
  for (const k of keys) {
    if (k === '.') {
      if (!root) node.member = true;
      continue;
    }
    read(json[k], node.child(canonicalPE(k)), false);
  }
}

// ---- sets from objects ---------------------------------------------------------------------

export interface SchemaOptions {
  listStrategy?: ListStrategyResolver;
  mapStrategy?: MapStrategyResolver;
}

/**
 * Indexes the items of a keyed list by their k: element. Returns undefined when an item has no
 * key or two items share one: such a list can only be handled as a whole.
 */
export function indexKeyedList(list: unknown[], s: Extract<ListStrategy, { strategy: 'merge' }>): Map<string, unknown> | undefined {
  const out = new Map<string, unknown>();
  for (const item of list) {
    const pe = keyPE(item, s);
    if (pe === undefined || out.has(pe)) return undefined;
    out.set(pe, item);
  }
  return out;
}

/**
 * The fields an object sets: every scalar, every list item (by key or value), every list or map
 * handled as a whole. Maps themselves are not members, as in Kubernetes' applied sets.
 * With `strict`, a keyed list whose items lack their key or repeat one is an error (an applied
 * configuration must name its items); otherwise such a list counts as one value.
 */
export function fieldSetOf(obj: unknown, opts: SchemaOptions & { strict?: boolean } = {}): FieldSet {
  const set = new FieldSet();
  if (isObject(obj)) for (const k of Object.keys(obj)) walk(obj[k], [k], set.child(fieldPE(k)), opts);
  return set.compact();
}

function walk(v: unknown, path: string[], node: FieldSet, opts: SchemaOptions & { strict?: boolean }): void {
  if (isObject(v)) {
    if (resolveMapStrategy(opts.mapStrategy, path) === 'atomic') {
      node.member = true;
      return;
    }
    for (const k of Object.keys(v)) walk(v[k], [...path, k], node.child(fieldPE(k)), opts);
    return;
  }
  if (!Array.isArray(v)) {
    node.member = true;
    return;
  }
  const s = resolveListStrategy(opts.listStrategy, path);
  if (s.strategy === 'merge-set') {
    if (v.some((x) => isObject(x) || Array.isArray(x))) {
      if (opts.strict) throw unprocessablePatch(`.${path.join('.')}: expected a list of scalars (a set), found a ${isObject(v.find((x) => isObject(x))) ? 'map' : 'list'} item`);
      node.member = true;
      return;
    }
    for (const x of v) node.child(valuePE(x)).member = true;
    return;
  }
  if (s.strategy === 'merge') {
    const index = indexKeyedList(v, s);
    if (!index) {
      if (opts.strict) throw badKeyedList(v, s, path);
      node.member = true;
      return;
    }
    for (const [pe, item] of index) {
      const c = node.child(pe);
      c.member = true;
      for (const k of Object.keys(item as JsonObject)) walk((item as JsonObject)[k], [...path, k], c.child(fieldPE(k)), opts);
    }
    return;
  }
  node.member = true;
}

function badKeyedList(v: unknown[], s: Extract<ListStrategy, { strategy: 'merge' }>, path: string[]): Error {
  const keys = keyFieldsOf(s);
  const seen = new Set<string>();
  for (let i = 0; i < v.length; i++) {
    const pe = keyPE(v[i], s);
    if (pe === undefined) {
      return unprocessablePatch(`.${path.join('.')}: element ${i}: associative list with keys ${show(keys)} has an element that omits key field ${show(keys[0])} (and doesn't have a default value)`);
    }
    if (seen.has(pe)) return unprocessablePatch(`.${path.join('.')}: duplicate entries for key ${pathString([pe])}`);
    seen.add(pe);
  }
  return unprocessablePatch(`.${path.join('.')}: invalid associative list`);
}

// ---- comparing two objects -----------------------------------------------------------------

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** Which fields `after` adds, changes and removes relative to `before`. */
export function compareObjects(before: unknown, after: unknown, opts: SchemaOptions = {}): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const a = isObject(before) ? before : {};
  const b = isObject(after) ? after : {};
  compareMaps(a, b, [], [], c, opts);
  c.added.compact();
  c.modified.compact();
  c.removed.compact();
  return c;
}

function nodeAt(set: FieldSet, setPath: string[]): FieldSet {
  let n = set;
  for (const pe of setPath) n = n.child(pe);
  return n;
}

function addTree(set: FieldSet, setPath: string[], v: unknown, path: string[], opts: SchemaOptions): void {
  const n = nodeAt(set, setPath);
  n.member = true;
  if (isObject(v) || Array.isArray(v)) walk(v, path, n, opts);
  // walk() marks wholes (atomic lists/maps) itself; a granular map or keyed list keeps its own
  // membership too, which is what FieldsV1 shows as ".".
  n.member = true;
}

function compareMaps(a: JsonObject, b: JsonObject, path: string[], setPath: string[], c: Comparison, opts: SchemaOptions): void {
  for (const k of Object.keys(a)) {
    if (!has(b, k)) addTree(c.removed, [...setPath, fieldPE(k)], a[k], [...path, k], opts);
  }
  for (const k of Object.keys(b)) {
    const sp = [...setPath, fieldPE(k)];
    const p = [...path, k];
    if (!has(a, k)) {
      // The top-level parts of an object always exist in its type; only what is inside them is new.
      if (path.length === 0 && isObject(b[k]) && (k === 'metadata' || k === 'spec' || k === 'status')) compareValues({}, b[k], p, sp, c, opts);
      else addTree(c.added, sp, b[k], p, opts);
      continue;
    }
    compareValues(a[k], b[k], p, sp, c, opts);
  }
}

function compareValues(a: unknown, b: unknown, path: string[], setPath: string[], c: Comparison, opts: SchemaOptions): void {
  if (isObject(a) && isObject(b) && resolveMapStrategy(opts.mapStrategy, path) === 'granular') {
    compareMaps(a, b, path, setPath, c, opts);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const s = resolveListStrategy(opts.listStrategy, path);
    if (s.strategy === 'merge-set' && ![...a, ...b].some((x) => isObject(x) || Array.isArray(x))) {
      const as = new Set(a.map(valuePE));
      const bs = new Set(b.map(valuePE));
      for (const pe of as) if (!bs.has(pe)) nodeAt(c.removed, [...setPath, pe]).member = true;
      for (const pe of bs) if (!as.has(pe)) nodeAt(c.added, [...setPath, pe]).member = true;
      return;
    }
    if (s.strategy === 'merge') {
      const ai = indexKeyedList(a, s);
      const bi = indexKeyedList(b, s);
      if (ai && bi) {
        for (const [pe, item] of ai) if (!bi.has(pe)) addTree(c.removed, [...setPath, pe], item, path, opts);
        for (const [pe, item] of bi) {
          const before = ai.get(pe);
          if (before === undefined) addTree(c.added, [...setPath, pe], item, path, opts);
          else compareMaps(before as JsonObject, item as JsonObject, path, [...setPath, pe], c, opts);
        }
        return;
      }
    }
  }
  if (deepEqual(a, b)) return;
  nodeAt(c.modified, setPath).member = true;
  const typeChanged = isObject(a) !== isObject(b) || Array.isArray(a) !== Array.isArray(b);
  if (typeChanged) {
    if (isObject(a) || Array.isArray(a)) walk(a, path, nodeAt(c.removed, setPath), opts);
    if (isObject(b) || Array.isArray(b)) walk(b, path, nodeAt(c.added, setPath), opts);
  }
}
