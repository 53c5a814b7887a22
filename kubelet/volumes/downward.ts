// The downward API: pod fields and container resources rendered as strings, shared by env vars
// (valueFrom.fieldRef/resourceFieldRef) and downwardAPI/projected volumes so both agree on formats.
import { cpus, totalmem } from 'node:os';
import { parseQuantity } from '../../pkg/api/quantity.js';
import type { KObject } from '../../pkg/api/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export class DownwardError extends Error {}

/** What the node knows about a pod that is not in the pod object itself. */
export interface PodRuntimeFacts {
  nodeName: string;
  hostIP: string;
  hostIPs?: string[];
  podIP?: string;
  podIPs?: string[];
}

export interface Allocatable {
  cpu: string;
  memory: string;
  ephemeralStorage?: string;
}

/** Go's %q for the common cases, so label/annotation files read exactly as kubelet writes them. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** kubelet's FormatMap: sorted `key="value"` lines. */
export function formatMap(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  return keys.map((k) => `${k}=${goQuote(String(m![k]))}`).join('\n');
}

const SUBSCRIPT_RE = /^(.*)\['(.*)'\]$/;

/** Values of the pod's metadata that downwardAPI volumes may project. */
export function metadataFieldValue(pod: KObject, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const sub = SUBSCRIPT_RE.exec(fieldPath);
  if (sub) {
    const [, base, key] = sub;
    if (base === 'metadata.labels') return String(meta.labels?.[key] ?? '');
    if (base === 'metadata.annotations') return String(meta.annotations?.[key] ?? '');
    throw new DownwardError(`unsupported fieldPath: ${fieldPath}`);
  }
  switch (fieldPath) {
    case 'metadata.name':
      return String(meta.name ?? '');
    case 'metadata.namespace':
      return String(meta.namespace ?? '');
    case 'metadata.uid':
      return String(meta.uid ?? '');
    case 'metadata.labels':
      return formatMap(meta.labels);
    case 'metadata.annotations':
      return formatMap(meta.annotations);
    default:
      throw new DownwardError(`unsupported fieldPath: ${fieldPath}`);
  }
}

/** Every field env vars may reference: the metadata ones plus what only the node knows. */
export function podFieldValue(pod: KObject, fieldPath: string, facts: PodRuntimeFacts): string {
  const spec = (pod.spec ?? {}) as Json;
  switch (fieldPath) {
    case 'spec.nodeName':
      return String(spec.nodeName ?? facts.nodeName);
    case 'spec.serviceAccountName':
      return String(spec.serviceAccountName ?? '');
    case 'status.hostIP':
      return facts.hostIP;
    case 'status.hostIPs':
      return (facts.hostIPs ?? [facts.hostIP]).filter((ip) => ip !== '').join(',');
    case 'status.podIP':
      return facts.podIP ?? '';
    case 'status.podIPs':
      return (facts.podIPs ?? (facts.podIP ? [facts.podIP] : [])).join(',');
    default:
      return metadataFieldValue(pod, fieldPath);
  }
}

function quantityOr(v: unknown): string | undefined {
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new DownwardError('divisor must not be zero');
  const q = a / b;
  return a % b !== 0n && a > 0n === b > 0n ? q + 1n : q;
}

function allocatableFor(resource: string, allocatable: Allocatable | undefined): string {
  if (resource === 'cpu') return allocatable?.cpu ?? String(cpus().length);
  if (resource === 'memory') return allocatable?.memory ?? String(totalmem());
  if (resource === 'ephemeral-storage' && allocatable?.ephemeralStorage !== undefined) return allocatable.ephemeralStorage;
  throw new DownwardError(`no node allocatable ${resource} known to default limits.${resource}`);
}

/**
 * Kubernetes' ExtractContainerResourceValue: the container's limit or request divided by the
 * divisor, rounded up (cpu in millicores, the rest in whole units). Unset limits default to the
 * node's allocatable as kubelet does for the downward API; unset requests follow the limit the
 * user set (API defaulting), else 0.
 */
export function containerResourceValue(container: Json, resource: string, divisor: unknown, allocatable?: Allocatable): string {
  const dot = resource.indexOf('.');
  const kind = resource.slice(0, dot);
  const name = resource.slice(dot + 1);
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests')) throw new DownwardError(`unsupported container resource: ${resource}`);
  const isCpu = name === 'cpu';
  if (!isCpu && name !== 'memory' && name !== 'ephemeral-storage' && !name.startsWith('hugepages-')) {
    throw new DownwardError(`unsupported container resource: ${resource}`);
  }
  const res = (container.resources ?? {}) as Json;
  const limit = quantityOr(res.limits?.[name]);
  let raw: string;
  if (kind === 'limits') raw = limit ?? (name.startsWith('hugepages-') ? '0' : allocatableFor(name, allocatable));
  else raw = quantityOr(res.requests?.[name]) ?? limit ?? '0';
  const value = parseQuantity(raw).nanos;
  let div = divisor === undefined || divisor === null || divisor === '' ? 0n : parseQuantity(String(divisor)).nanos;
  if (div === 0n) div = 1_000_000_000n;
  // cpu compares in milli-units and memory-like resources in whole units, each rounded up first
  const unit = isCpu ? 1_000_000n : 1_000_000_000n;
  const v = ceilDiv(value, unit);
  const d = ceilDiv(div, unit);
  return ceilDiv(v, d).toString();
}
