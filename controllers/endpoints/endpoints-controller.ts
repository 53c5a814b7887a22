// Endpoints: for every Service with a selector, an Endpoints object of the same name listing the
// selected pods with an IP — ready ones under addresses, the others under notReadyAddresses (all
// under addresses with publishNotReadyAddresses) — grouped into subsets by their resolved ports.
import type { KObject } from '../../pkg/api/types.js';
import { isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { endpointsOf, sameJson, selectorOf, targetRef, watchServicePods } from './service-pods.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function desiredSubsets(svc: KObject, eps: ReturnType<typeof endpointsOf>): Json[] {
  const publishAll = (svc.spec as Json)?.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: Json[]; addresses: Json[]; notReadyAddresses: Json[] }>();
  for (const ep of eps) {
    if (ep.terminating && !publishAll) continue;
    const k = JSON.stringify(ep.ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports: ep.ports, addresses: [], notReadyAddresses: [] }));
    const addr = { ip: ep.ip, ...(ep.nodeName ? { nodeName: ep.nodeName } : {}), targetRef: targetRef(ep.pod) };
    (ep.ready || publishAll ? g.addresses : g.notReadyAddresses).push(addr);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({
      ...(g.addresses.length ? { addresses: g.addresses } : {}),
      ...(g.notReadyAddresses.length ? { notReadyAddresses: g.notReadyAddresses } : {}),
      ...(g.ports.length ? { ports: g.ports } : {}),
    }));
}

export const endpointsController: ControllerFactory = (ctx: ControllerContext): Controller => {
  const services = ctx.informers.informer(R.services);
  const pods = ctx.informers.informer(R.pods);
  const endpoints = ctx.informers.informer(R.endpoints);
  const queue = new WorkQueue<string>((k) => reconcile(k), { name: 'endpoints-controller', workers: 4 });

  async function reconcile(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const svc = services.get(key);
    if (!svc) {
      if (!endpoints.get(key)) return;
      try {
        await ctx.client.delete(resourcePath(R.endpoints, ns, name));
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      return;
    }
    if (!selectorOf(svc)) return;
    const subsets = desiredSubsets(svc, endpointsOf(svc, pods));
    const labels = { ...(svc.metadata.labels ?? {}), 'endpointslice.kubernetes.io/skip-mirror': 'true' };
    const cur = endpoints.get(key);
    if (cur && sameJson(cur.subsets ?? [], subsets) && sameJson(cur.metadata.labels ?? {}, labels)) return;
    const body: KObject = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: cur ? { ...structuredClone(cur.metadata), labels } : { name, namespace: ns, labels },
      subsets,
    };
    if (cur) {
      await ctx.client.update(resourcePath(R.endpoints, ns, name), body);
      return;
    }
    // AlreadyExists (made meanwhile) fails this pass; the retry finds it in the cache and updates it.
    await ctx.client.create(resourcePath(R.endpoints, ns), body);
  }

  return {
    name: 'endpoints-controller',
    setup() {
      watchServicePods(services, pods, (k) => queue.add(k));
      endpoints.on({ delete: (e) => services.get(`${e.metadata.namespace}/${e.metadata.name}`) && queue.add(`${e.metadata.namespace}/${e.metadata.name}`) });
    },
    run() {
      for (const s of services.list()) queue.add(`${s.metadata.namespace}/${s.metadata.name}`);
    },
    stop() {
      queue.shutdown();
    },
  };
};
