// A container's definition as one short string, to tell that a running container no longer
// matches its pod's spec (kubelet's container hash). Keys are sorted so that the order fields
// arrive in from the API does not count as a change.
import { createHash } from 'node:crypto';

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      // missing and null mean the same in an API object
      if (x !== undefined && x !== null) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

export function containerHash(container: object): string {
  return createHash('sha256').update(JSON.stringify(canonical(container))).digest('hex').slice(0, 16);
}
