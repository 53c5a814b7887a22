// The ReplicaSet controller's reconcile against an in-memory cache and a recording client: a
// second reconcile before the informer has seen the new pods creates nothing more
// (expectations), and surplus pods are deleted least useful first.
import test from 'ava';
import type { KObject } from '../../../pkg/api/types.js';
import type { ControllerContext } from '../../../controllers/controller.js';
import { defaultControllerOptions } from '../../../controllers/controller.js';
import { ReplicaSetController } from '../../../controllers/replicaset/replicaset-controller.js';

class FakeCache {
  items = new Map<string, KObject>();
  on(): this {
    return this;
  }
  get(k: string) {
    return this.items.get(k);
  }
  list() {
    return [...this.items.values()];
  }
  listNamespace(ns: string) {
    return this.list().filter((o) => o.metadata.namespace === ns);
  }
}

function harness() {
  const rsCache = new FakeCache();
  const podCache = new FakeCache();
  const calls: { method: string; path: string; body?: any }[] = [];
  let n = 0;
  const client = {
    create: async (path: string, body: any) => {
      calls.push({ method: 'POST', path, body });
      return { ...body, metadata: { ...body.metadata, name: `${body.metadata.generateName}${n++}`, uid: `p${n}` } };
    },
    patch: async (path: string, body: any) => {
      calls.push({ method: 'PATCH', path, body });
      return body;
    },
    delete: async (path: string, body: any) => {
      calls.push({ method: 'DELETE', path, body });
      return {};
    },
  };
  const ctx = {
    client,
    informers: { informer: (gvr: { resource: string }) => (gvr.resource === 'pods' ? podCache : rsCache) },
    recorder: () => ({ event() {} }),
    options: defaultControllerOptions,
  } as unknown as ControllerContext;
  const c = new ReplicaSetController(ctx);
  c.setup();
  return { c, rsCache, podCache, calls };
}

const rs = (replicas: number): KObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name: 'web', namespace: 'ns', uid: 'rs1', generation: 1 },
  spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
});

test('no duplicate pods when reconciling again before the informer catches up', async (t) => {
  const { c, rsCache, calls } = harness();
  rsCache.items.set('ns/web', rs(3));
  await c.sync('ns/web');
  const creates = calls.filter((x) => x.method === 'POST');
  t.is(creates.length, 3);
  t.like(creates[0]!.body.metadata, { generateName: 'web-', labels: { app: 'web' } });
  t.like(creates[0]!.body.metadata.ownerReferences[0], { kind: 'ReplicaSet', uid: 'rs1', controller: true, blockOwnerDeletion: true });
  await c.sync('ns/web');
  t.is(calls.filter((x) => x.method === 'POST').length, 3, 'second sync created nothing');
  t.deepEqual(c.expectations.pending('ns/web'), { add: 3, del: 0 });
});

test('surplus pods: the not-ready and unscheduled ones go first; terminating pods are not counted', async (t) => {
  const { c, rsCache, podCache, calls } = harness();
  rsCache.items.set('ns/web', rs(2));
  const pod = (name: string, o: { node?: string; ready?: boolean; deleting?: boolean }): KObject => ({
    metadata: {
      name,
      namespace: 'ns',
      uid: name,
      labels: { app: 'web' },
      creationTimestamp: '2024-01-01T00:00:00Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'rs1', controller: true }],
      ...(o.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
    },
    spec: o.node ? { nodeName: o.node } : {},
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False' }] },
  });
  for (const p of [pod('a', { node: 'n', ready: true }), pod('b', { node: 'n', ready: true }), pod('c', { node: 'n' }), pod('d', {}), pod('e', { node: 'n', ready: true, deleting: true })]) podCache.items.set(`ns/${p.metadata.name}`, p);
  await c.sync('ns/web');
  const deleted = calls.filter((x) => x.method === 'DELETE').map((x) => x.path.split('/').pop());
  t.deepEqual(deleted.sort(), ['c', 'd']);
  const status = calls.find((x) => x.method === 'PATCH' && x.path.endsWith('/status'))!.body.status;
  t.like(status, { replicas: 4, readyReplicas: 2, availableReplicas: 2, fullyLabeledReplicas: 4, observedGeneration: 1 });
});

test('an orphan matching the selector is adopted with a resourceVersion precondition', async (t) => {
  const { c, rsCache, podCache, calls } = harness();
  rsCache.items.set('ns/web', rs(1));
  podCache.items.set('ns/stray', { metadata: { name: 'stray', namespace: 'ns', uid: 's1', resourceVersion: '42', labels: { app: 'web' } }, spec: {}, status: { phase: 'Pending' } });
  await c.sync('ns/web');
  const adopt = calls.find((x) => x.method === 'PATCH' && x.path.endsWith('/pods/stray'))!;
  t.like(adopt.body.metadata, { resourceVersion: '42', uid: 's1' });
  t.like(adopt.body.metadata.ownerReferences[0], { uid: 'rs1', controller: true });
  t.is(calls.filter((x) => x.method === 'POST').length, 0, 'the adopted pod counts');
});
