// What both the Endpoints and the EndpointSlice controllers need: the pods a Service selects,
// whether each is ready, and a Service port resolved against a pod (targetPort by number or by
// the name of a container port). Also the handlers that turn pod and service changes into
// service keys.
import type { KObject } from '../../pkg/api/types.js';
import { selectorFromLabelSelector } from '../../pkg/api/labels.js';
import type { Informer } from '../../pkg/client/informer.js';
import { keyOf } from '../../pkg/client/informer.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface PodEndpoint {
  pod: KObject;
  ip: string;
  nodeName?: string;
  ready: boolean;
  terminating: boolean;
  /** the pod's ports for this service, in the service's port order */
  ports: { name?: string; port: number; protocol: string; appProtocol?: string }[];
}

/** Services with a selector (others are managed by hand, and are left alone). */
export function selectorOf(svc: KObject): Record<string, string> | undefined {
  const spec = (svc.spec as Json) ?? {};
  if (spec.type === 'ExternalName') return undefined;
  const sel = spec.selector as Record<string, string> | undefined;
  return sel && Object.keys(sel).length ? sel : undefined;
}

export function servicePorts(svc: KObject): ServicePort[] {
  return (((svc.spec as Json)?.ports as ServicePort[] | undefined) ?? []).filter((p) => typeof p.port === 'number');
}

function resolveTargetPort(pod: KObject, sp: ServicePort): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const protocol = sp.protocol ?? 'TCP';
  for (const c of ((pod.spec as Json)?.containers as Json[] | undefined) ?? []) {
    for (const p of (c.ports as Json[] | undefined) ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === protocol) return p.containerPort;
  }
  return undefined;
}

export function podReady(pod: KObject): boolean {
  return ((pod.status as Json)?.conditions as Json[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The selected pods that can be endpoints: an IP, not finished. */
export function endpointsOf(svc: KObject, pods: Informer): PodEndpoint[] {
  const sel = selectorOf(svc);
  if (!sel) return [];
  const match = selectorFromLabelSelector({ matchLabels: sel });
  const ports = servicePorts(svc);
  const out: PodEndpoint[] = [];
  for (const pod of pods.listNamespace(svc.metadata.namespace!)) {
    if (!match(pod.metadata.labels)) continue;
    const status = (pod.status as Json) ?? {};
    if (!status.podIP || status.phase === 'Succeeded' || status.phase === 'Failed') continue;
    const resolved: PodEndpoint['ports'] = [];
    for (const sp of ports) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      resolved.push({ ...(sp.name !== undefined ? { name: sp.name } : {}), port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
    }
    out.push({
      pod,
      ip: String(status.podIP),
      nodeName: (pod.spec as Json)?.nodeName,
      ready: podReady(pod) && !pod.metadata.deletionTimestamp,
      terminating: !!pod.metadata.deletionTimestamp,
      ports: resolved,
    });
  }
  out.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
  return out;
}

export function targetRef(pod: KObject): Json {
  return { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
}

/**
 * Wires pod and service changes to a queue of service keys: a pod change concerns every service
 * in its namespace whose selector matches its old or new labels.
 */
export function watchServicePods(services: Informer, pods: Informer, enqueue: (key: string) => void): void {
  const forPod = (pod: KObject, old?: KObject) => {
    for (const svc of services.listNamespace(pod.metadata.namespace!)) {
      const sel = selectorOf(svc);
      if (!sel) continue;
      const m = selectorFromLabelSelector({ matchLabels: sel });
      if (m(pod.metadata.labels) || (old && m(old.metadata.labels))) enqueue(keyOf(svc));
    }
  };
  services.on({ add: (s) => enqueue(keyOf(s)), update: (_o, s) => enqueue(keyOf(s)), delete: (s) => enqueue(keyOf(s)) });
  pods.on({ add: (p) => forPod(p), update: (o, p) => forPod(p, o), delete: (p) => forPod(p) });
}

/** Order-insensitive deep comparison of plain JSON values. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if ((v as Json)[k] !== undefined) out[k] = canonical((v as Json)[k]);
    return out;
  }
  return v;
}
