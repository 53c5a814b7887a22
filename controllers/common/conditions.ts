// status.conditions helpers shared by workload controllers. A condition whose status does not
// change keeps its lastTransitionTime, as API conventions require.
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export function nowIso(now = Date.now()): string {
  return new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function getCondition(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

/** Returns the list with `c` set; keeps lastTransitionTime when the status is unchanged. */
export function setCondition(conds: Condition[] | undefined, c: Condition): Condition[] {
  const list = conds ? [...conds] : [];
  const i = list.findIndex((x) => x.type === c.type);
  if (i < 0) return [...list, c];
  const old = list[i]!;
  if (old.status === c.status && old.reason === c.reason && old.message === c.message) return list;
  list[i] = old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime ?? c.lastTransitionTime } : c;
  return list;
}

export function removeCondition(conds: Condition[] | undefined, type: string): Condition[] {
  return (conds ?? []).filter((c) => c.type !== type);
}
