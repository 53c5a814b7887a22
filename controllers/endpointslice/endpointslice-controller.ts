// EndpointSlices: for every Service with a selector, IPv4 slices of its selected pods with
// conditions ready / serving / terminating, owned by the Service and labelled with its name. Pods
// are grouped by their resolved ports, 100 endpoints to a slice (the Kubernetes default); a
// Service without pods keeps one empty slice. Slice names are derived from the service and the
// group, so a retried create can never make a duplicate.
import { createHash } from 'node:crypto';
import type { KObject } from '../../pkg/api/types.js';
import { isConflict, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { keyOf } from '../../pkg/client/informer.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { endpointsOf, podReady, sameJson, selectorOf, targetRef } from '../endpoints/service-pods.js';
import { watchServicePods } from '../endpoints/service-pods.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
const MAX_ENDPOINTS_PER_SLICE = 100;

function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 5);
}

export function desiredSlices(svc: KObject, eps: ReturnType<typeof endpointsOf>): KObject[] {
  const name = svc.metadata.name!;
  const ns = svc.metadata.namespace!;
  const groups = new Map<string, { ports: Json[]; endpoints: Json[] }>();
  for (const ep of eps) {
    if (ep.ip.includes(':')) continue; // IPv4 slices only
    const k = JSON.stringify(ep.ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports: ep.ports, endpoints: [] }));
    const serving = podReady(ep.pod);
    g.endpoints.push({
      addresses: [ep.ip],
      conditions: { ready: serving && !ep.terminating, serving, terminating: ep.terminating },
      ...(ep.nodeName ? { nodeName: ep.nodeName } : {}),
      targetRef: targetRef(ep.pod),
    });
  }
  const labels = { ...(svc.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
  const owner = { apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata.uid!, controller: true, blockOwnerDeletion: true };
  const slice = (id: string, ports: Json[], endpoints: Json[]): KObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-${shortHash(id)}`, namespace: ns, labels, ownerReferences: [owner] },
    addressType: 'IPv4',
    endpoints,
    ports,
  });
  if (groups.size === 0) return [slice('placeholder', [], [])];
  const out: KObject[] = [];
  for (const [k, g] of [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
      out.push(slice(`${k}#${i / MAX_ENDPOINTS_PER_SLICE}`, g.ports, g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE)));
    }
  }
  return out;
}

export const endpointSliceController: ControllerFactory = (ctx: ControllerContext): Controller => {
  const services = ctx.informers.informer(R.services);
  const pods = ctx.informers.informer(R.pods);
  const slices = ctx.informers.informer(R.endpointslices, { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` });
  const queue = new WorkQueue<string>((k) => reconcile(k), { name: 'endpointslice-controller', workers: 4 });

  function managedSlices(ns: string, svcName: string): KObject[] {
    return slices.listNamespace(ns).filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === svcName);
  }

  async function remove(s: KObject): Promise<void> {
    try {
      await ctx.client.delete(resourcePath(R.endpointslices, s.metadata.namespace, s.metadata.name), { preconditions: { uid: s.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e) && !isConflict(e)) throw e;
    }
  }

  async function reconcile(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const svc = services.get(key);
    const existing = managedSlices(ns, name);
    if (!svc || !selectorOf(svc)) {
      for (const s of existing) await remove(s);
      return;
    }
    const want = desiredSlices(svc, endpointsOf(svc, pods));
    const wanted = new Set(want.map((s) => s.metadata.name));
    for (const d of want) {
      const cur = slices.get(`${ns}/${d.metadata.name}`);
      if (!cur) {
        await ctx.client.create(resourcePath(R.endpointslices, ns), d);
        continue;
      }
      if (
        sameJson(cur.endpoints ?? [], d.endpoints) &&
        sameJson(cur.ports ?? [], d.ports) &&
        sameJson(cur.metadata.labels, d.metadata.labels) &&
        sameJson(cur.metadata.ownerReferences, d.metadata.ownerReferences)
      ) {
        continue;
      }
      await ctx.client.update(resourcePath(R.endpointslices, ns, d.metadata.name), { ...d, metadata: { ...structuredClone(cur.metadata), labels: d.metadata.labels, ownerReferences: d.metadata.ownerReferences } });
    }
    for (const s of existing) if (!wanted.has(s.metadata.name)) await remove(s);
  }

  return {
    name: 'endpointslice-controller',
    setup() {
      watchServicePods(services, pods, (k) => queue.add(k));
      const bySlice = (s: KObject) => {
        const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
        if (svc) queue.add(`${s.metadata.namespace}/${svc}`);
      };
      // A slice changed or removed by someone else is put right.
      slices.on({ update: (_o, s) => bySlice(s), delete: bySlice });
    },
    run() {
      for (const s of services.list()) queue.add(keyOf(s));
    },
    stop() {
      queue.shutdown();
    },
  };
};
