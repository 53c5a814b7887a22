// What a new Namespace gets before its create is answered: the `default` ServiceAccount and the
// kube-root-ca.crt ConfigMap. Kubernetes leaves both to controllers, so a pod created right after
// its namespace can be refused for want of the account; skiff's users and tests create pods at
// once, so the API server makes them in the same request. The controllers (controllers/serviceaccount)
// still own them afterwards: they recreate them when deleted and keep the CA current.
import type { KObject } from '../../../../pkg/api/types.js';
import { logger } from '../../../../pkg/log/logger.js';
import { desiredRootCaConfigMap } from '../../../../controllers/serviceaccount/root-ca-publisher.js';
import { systemContext } from '../../../bootstrap.js';
import { StatusError } from '../../../status.js';
import type { ResourceRegistry } from '../../generic.js';
import { DEFAULT_SERVICE_ACCOUNT } from './serviceaccount-admission.js';

export interface NamespaceContentOptions {
  serviceAccounts: ResourceRegistry;
  configMaps: ResourceRegistry;
  caCert: string;
}

export function namespaceContent(opts: NamespaceContentOptions): (ns: KObject) => Promise<void> {
  const log = logger('namespace-content');
  const create = async (reg: ResourceRegistry, ns: string, obj: KObject) => {
    try {
      await reg.create(systemContext('kube-controller-manager'), ns, obj);
    } catch (e) {
      // Already there (a namesake made first) or the namespace went away meanwhile: both fine.
      if (e instanceof StatusError && (e.reason === 'AlreadyExists' || e.code === 404 || e.code === 403)) return;
      // The controllers make it later; the namespace itself was created.
      log.warn({ err: e, namespace: ns, kind: obj.kind }, 'could not create namespace content');
    }
  };
  return async (nsObj) => {
    const ns = nsObj.metadata.name!;
    await create(opts.serviceAccounts, ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DEFAULT_SERVICE_ACCOUNT, namespace: ns } });
    await create(opts.configMaps, ns, desiredRootCaConfigMap(ns, opts.caCert, undefined)!);
  };
}
