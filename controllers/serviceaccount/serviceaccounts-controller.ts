// The ServiceAccounts controller: every active namespace has a `default` ServiceAccount, made when
// the namespace appears and made again if someone deletes it (pods are refused without one).
import type { KObject } from '../../pkg/api/types.js';
import { ApiError, isAlreadyExists, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';

export const SERVICE_ACCOUNTS_GVR = { group: '', version: 'v1', resource: 'serviceaccounts' } as const;
export const MANAGED_SERVICE_ACCOUNTS = ['default'];

export function namespaceActive(ns: KObject | undefined): boolean {
  if (!ns || ns.metadata.deletionTimestamp) return false;
  return (ns.status as { phase?: string } | undefined)?.phase !== 'Terminating';
}

/** A terminating namespace refuses new content with 403: nothing to do then. */
function namespaceTerminating(e: unknown): boolean {
  return e instanceof ApiError && e.code === 403;
}

export const serviceAccountsController: ControllerFactory = (ctx: ControllerContext): Controller => {
  const namespaces = ctx.informers.informer(R.namespaces);
  const accounts = ctx.informers.informer(SERVICE_ACCOUNTS_GVR, { fieldSelector: `metadata.name=${MANAGED_SERVICE_ACCOUNTS[0]}` });
  const queue = new WorkQueue<string>((ns) => reconcile(ns), { name: 'serviceaccount-controller', workers: 2 });

  async function reconcile(ns: string): Promise<void> {
    if (!namespaceActive(namespaces.get(ns))) return;
    for (const name of MANAGED_SERVICE_ACCOUNTS) {
      if (accounts.get(`${ns}/${name}`)) continue;
      try {
        await ctx.client.create(resourcePath(SERVICE_ACCOUNTS_GVR, ns), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: ns } });
      } catch (e) {
        if (isAlreadyExists(e) || namespaceTerminating(e)) continue;
        throw e;
      }
    }
  }

  return {
    name: 'serviceaccount-controller',
    setup() {
      namespaces.on({ add: (n) => queue.add(n.metadata.name!), update: (_o, n) => queue.add(n.metadata.name!) });
      accounts.on({ delete: (sa) => queue.add(sa.metadata.namespace!) });
    },
    run() {
      for (const n of namespaces.list()) queue.add(n.metadata.name!);
    },
    stop() {
      queue.shutdown();
    },
  };
};
