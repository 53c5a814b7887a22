// maxSurge / maxUnavailable: an integer or a percentage of the desired replicas. Percentages
// round up for surge and down for unavailability, as Kubernetes does, so a rollout is never
// stuck (at least one of them is non-zero) and never goes below what the user allowed.
export type IntOrPercent = number | string | undefined | null;

export function scaledValue(v: IntOrPercent, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (m) {
    const x = (Number(m[1]) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  if (/^\d+$/.test(v)) return Number(v);
  throw new Error(`invalid value for IntOrString: ${JSON.stringify(v)}`);
}

/** [maxSurge, maxUnavailable] for `desired` replicas. */
export function resolveFenceposts(maxSurge: IntOrPercent, maxUnavailable: IntOrPercent, desired: number): [number, number] {
  const surge = scaledValue(maxSurge, desired, true);
  let unavailable = scaledValue(maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}
