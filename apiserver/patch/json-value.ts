// Plain-JSON helpers shared by the patch engines. Every property access goes through own-property
// checks: patches come from users, and a key such as "__proto__" or "constructor" must behave like
// any other key instead of reaching into Object.prototype.

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function has(obj: JsonObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

export function get(obj: JsonObject, key: string): unknown {
  return has(obj, key) ? obj[key] : undefined;
}

export function set(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

export function del(obj: JsonObject, key: string): void {
  if (has(obj, key)) delete obj[key];
}

/** Deep copy of a JSON value; anything that is not JSON (functions, undefined in arrays) is rejected by the caller's validation, not here. */
export function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T;
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v)) set(out, k, clone(v[k]));
    return out as T;
  }
  return v;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!has(b, k) || !deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/** Short type name for error messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (isObject(v)) return 'map';
  return typeof v;
}

/** JSON text of a value, shortened so an error message stays readable. */
export function show(v: unknown, max = 200): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max) + '...' : s;
}
