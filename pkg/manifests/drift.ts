// Drift: has someone changed a field we declared? We keep, per applied object, the live values of
// exactly the fields the manifest declares (its "shape"), as the server returned them after our
// apply — so server-side normalization (defaults, quantity forms) never looks like drift — and
// compare a later live object projected on the same shape.

/** The live values at the fields `shape` declares. */
export function project(shape: unknown, live: unknown): unknown {
  if (shape !== null && typeof shape === 'object' && !Array.isArray(shape)) {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return live ?? null;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(shape as object)) out[k] = project((shape as Record<string, unknown>)[k], (live as Record<string, unknown>)[k]);
    return out;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(live)) return live ?? null;
    // Elements beyond the declared ones are someone else's (or dropped ones of ours): keep them
    // whole so that either shows up as a difference.
    return live.map((el, i) => (i < shape.length ? project(shape[i], el) : el));
  }
  return live === undefined ? null : live;
}

/** Paths (a.b[0].c) where two projections differ; empty when equal. */
export function diffPaths(a: unknown, b: unknown, path = '', out: string[] = []): string[] {
  if (a === b) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    if (Array.isArray(a) !== Array.isArray(b)) {
      out.push(path || '.');
      return out;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) out.push(path || '.');
      else a.forEach((el, i) => diffPaths(el, b[i], `${path}[${i}]`, out));
      return out;
    }
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) diffPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    return out;
  }
  out.push(path || '.');
  return out;
}

/**
 * The part of a manifest drift is checked on: everything but status, server-owned metadata, and
 * apiVersion/kind (list items from a watch may omit them).
 */
export function driftShape(manifest: { metadata: Record<string, unknown> } & Record<string, unknown>): Record<string, unknown> {
  const { status: _status, metadata, apiVersion: _v, kind: _k, ...rest } = manifest;
  const m: Record<string, unknown> = {};
  for (const k of ['labels', 'annotations']) if (metadata[k] !== undefined) m[k] = metadata[k];
  return { ...rest, metadata: m };
}
