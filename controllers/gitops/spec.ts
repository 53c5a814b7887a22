// The Sync resource (gitops.skiff.dev/v1alpha1): its shape, the defaults the controller applies,
// and the status conditions it writes (Ready, Reconciling, Stalled, as Flux and kstatus read them).
import type { KObject } from '../../pkg/api/types.js';
import type { InventoryEntry } from '../../pkg/manifests/inventory.js';

export const SYNCS = { group: 'gitops.skiff.dev', version: 'v1alpha1', resource: 'syncs' };
export const SYNC_API_VERSION = 'gitops.skiff.dev/v1alpha1';
export const FIELD_MANAGER = 'skiff-gitops';

export interface SyncSpec {
  source: {
    git?: { url: string; ref?: string; path?: string; secretRef?: { name: string } };
    directory?: { path: string };
  };
  interval?: string;
  prune?: boolean;
  suspend?: boolean;
  targetNamespace?: string;
  dependsOn?: { name: string; namespace?: string }[];
  wait?: boolean;
  timeout?: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface SyncStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  lastSyncTime?: string;
  inventory?: { entries: InventoryEntry[] };
}

export type Sync = KObject & { spec: SyncSpec; status?: SyncStatus };

export const DEFAULT_INTERVAL_MS = 60_000;
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** A Go-style duration (1h30m, 30s, 250ms) in milliseconds. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    end = re.lastIndex;
  }
  if (!s || end !== s.length) throw new Error(`invalid duration "${s}" (examples: 30s, 5m, 1h30m)`);
  return total;
}

/** Spec problems the schema cannot express; undefined when the spec is usable. */
export function specProblem(spec: SyncSpec): string | undefined {
  const src = spec.source ?? {};
  if (!!src.git === !!src.directory) return 'spec.source: exactly one of git or directory is required';
  try {
    if (spec.interval !== undefined && parseDuration(spec.interval) < 1000) return 'spec.interval: must be at least 1s';
    if (spec.timeout !== undefined) parseDuration(spec.timeout);
  } catch (e) {
    return `spec.${spec.interval !== undefined && !/^([0-9.]+(ms|s|m|h))+$/.test(spec.interval) ? 'interval' : 'timeout'}: ${(e as Error).message}`;
  }
  return undefined;
}

export function intervalMs(spec: SyncSpec): number {
  return spec.interval ? parseDuration(spec.interval) : DEFAULT_INTERVAL_MS;
}

export function timeoutMs(spec: SyncSpec): number {
  return spec.timeout ? parseDuration(spec.timeout) : DEFAULT_TIMEOUT_MS;
}

export function nowIso(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sets a condition, keeping lastTransitionTime when its status does not change. */
export function setCondition(conds: Condition[], c: Omit<Condition, 'lastTransitionTime'>): Condition[] {
  const prev = conds.find((x) => x.type === c.type);
  const next: Condition = { ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : nowIso() };
  return [...conds.filter((x) => x.type !== c.type), next];
}

export function removeCondition(conds: Condition[], type: string): Condition[] {
  return conds.filter((c) => c.type !== type);
}

export function readyCondition(s: Sync): Condition | undefined {
  return s.status?.conditions?.find((c) => c.type === 'Ready');
}
