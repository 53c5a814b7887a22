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
