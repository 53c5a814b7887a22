// Objects every cluster starts with: the four system namespaces.
import type { RequestContext } from './registry/context.js';
import { StatusError } from './status.js';
import type { ResourceRegistry } from './registry/generic.js';

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export function systemContext(manager = 'skiff-apiserver'): RequestContext {
  return {
    user: { name: 'system:apiserver', groups: ['system:masters'] },
    userAgent: manager,
    now: new Date(),
    dryRun: false,
    fieldManager: manager,
    fieldValidation: 'Ignore',
    warnings: [],
  };
}

export async function bootstrapNamespaces(api: { registry(g: string, v: string, p: string): ResourceRegistry | undefined }): Promise<void> {
  const ns = api.registry('', 'v1', 'namespaces')!;
  for (const name of SYSTEM_NAMESPACES) {
    try {
      ns.get(undefined, name);
      continue;
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
    try {
      await ns.create(systemContext(), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    } catch (e) {
      if (!(e instanceof StatusError && e.reason === 'AlreadyExists')) throw e;
    }
  }
}

/**
 * The `kubernetes` Service in `default` (first address of the service range, port 443) and its
 * Endpoints pointing at this API server, which clients inside the cluster use to find the API.
 */
export async function bootstrapKubernetesService(
  api: { registry(g: string, v: string, p: string): ResourceRegistry | undefined },
  clusterIP: string,
  endpoint: { ip: string; port: number },
): Promise<void> {
  const svc = api.registry('', 'v1', 'services')!;
  const eps = api.registry('', 'v1', 'endpoints')!;
  const ensure = async (reg: ResourceRegistry, obj: Record<string, unknown> & { metadata: { name: string; labels?: Record<string, string> } }, same: (cur: Record<string, unknown>) => boolean) => {
    let cur: Record<string, unknown> | undefined;
    try {
      cur = reg.get('default', obj.metadata.name).obj as Record<string, unknown>;
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
    try {
      if (!cur) await reg.create(systemContext(), 'default', obj);
      else if (!same(cur)) await reg.modifyWith(systemContext(), 'default', obj.metadata.name, (o) => ({ ...o, ...obj, metadata: o.metadata }) as never);
    } catch (e) {
      if (!(e instanceof StatusError && (e.reason === 'AlreadyExists' || e.code === 409))) throw e;
    }
  };
  await ensure(
    svc,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: endpoint.port }], sessionAffinity: 'None' },
    },
    () => true,
  );
  const subsets = [{ addresses: [{ ip: endpoint.ip }], ports: [{ name: 'https', port: endpoint.port, protocol: 'TCP' }] }];
  await ensure(
    eps,
    { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets },
    (cur) => JSON.stringify(cur.subsets) === JSON.stringify(subsets),
  );
}
