// The root CA publisher: a ConfigMap kube-root-ca.crt in every active namespace whose ca.crt is the
// CA the cluster's API server certificate chains to, so pods can verify the API server (it is one
// source of their kube-api-access volume). The CA is the one this controller manager itself trusts
// for the API server; edits to the ConfigMap are put back and a deleted one is made again.
import type { KObject } from '../../pkg/api/types.js';
import { ROOT_CA_CONFIGMAP } from '../../pkg/api/serviceaccounts.js';
import { ApiError, isAlreadyExists, isConflict, isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { logger } from '../../pkg/log/logger.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { namespaceActive } from './serviceaccounts-controller.js';

export const ROOT_CA_KEY = 'ca.crt';
const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/** The ConfigMap body that makes cur (if any) carry the CA; undefined when it already does. */
export function desiredRootCaConfigMap(ns: string, ca: string, cur: KObject | undefined): KObject | undefined {
  const data = (cur?.data as Record<string, string> | undefined) ?? {};
  const annotations = cur?.metadata.annotations ?? {};
  if (cur && data[ROOT_CA_KEY] === ca && Object.keys(data).length === 1 && annotations[DESCRIPTION_ANNOTATION] !== undefined) return undefined;
  const metadata = cur ? { ...structuredClone(cur.metadata), annotations: { ...annotations, [DESCRIPTION_ANNOTATION]: annotations[DESCRIPTION_ANNOTATION] ?? DESCRIPTION } } : { name: ROOT_CA_CONFIGMAP, namespace: ns, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } };
  const out: KObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { [ROOT_CA_KEY]: ca } };
  return out;
}

export const rootCaPublisher: ControllerFactory = (ctx: ControllerContext): Controller => {
  const log = logger('root-ca-cert-publisher');
  const ca = ctx.client.config.ca;
  const namespaces = ctx.informers.informer(R.namespaces);
  const configMaps = ctx.informers.informer(R.configmaps, { fieldSelector: `metadata.name=${ROOT_CA_CONFIGMAP}` });
  const queue = new WorkQueue<string>((ns) => reconcile(ns), { name: 'root-ca-cert-publisher', workers: 2 });

  async function reconcile(ns: string): Promise<void> {
    if (!ca || !namespaceActive(namespaces.get(ns))) return;
    const cur = configMaps.get(`${ns}/${ROOT_CA_CONFIGMAP}`);
    const body = desiredRootCaConfigMap(ns, ca, cur);
    if (!body) return;
    try {
      if (cur) await ctx.client.update(resourcePath(R.configmaps, ns, ROOT_CA_CONFIGMAP), body);
      else await ctx.client.create(resourcePath(R.configmaps, ns), body);
    } catch (e) {
      // A stale cache entry: the watch event that follows queues the namespace again.
      if (isAlreadyExists(e) || isConflict(e) || isNotFound(e)) return;
      if (e instanceof ApiError && e.code === 403) return; // namespace terminating
      throw e;
    }
  }

  return {
    name: 'root-ca-cert-publisher',
    setup() {
      if (!ca) {
        log.warn('the controller manager trusts the API server without a CA (insecure kubeconfig): no kube-root-ca.crt ConfigMaps are published');
        return;
      }
      namespaces.on({ add: (n) => queue.add(n.metadata.name!), update: (_o, n) => queue.add(n.metadata.name!) });
      configMaps.on({ update: (_o, cm) => queue.add(cm.metadata.namespace!), delete: (cm) => queue.add(cm.metadata.namespace!) });
    },
    run() {
      for (const n of namespaces.list()) queue.add(n.metadata.name!);
    },
    stop() {
      queue.shutdown();
    },
  };
};
