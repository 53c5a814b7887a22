// @kubernetes/client-node 1.x, unmodified, against a real `skiff server`: typed CRUD with
// optimistic concurrency for four kinds, informers that see every change, a watch from an expired
// resourceVersion that ends with 410 Gone, and an informer that relists after its watch expired.
import test, { type ExecutionContext } from 'ava';
import * as k8s from '@kubernetes/client-node';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/api-client.js';

let srv: TestServer;
/** a second server whose watch window is tiny, so resourceVersions expire after a few writes */
let small: TestServer;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const NS = 'cn-crud';

function config(s: TestServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(s.kubeconfig);
  return kc;
}

test.before(async () => {
  // API-server tests: no controller writes status behind the test's resourceVersions.
  [srv, small] = await Promise.all([startServer({ args: ['--disable-controllers'] }), startServer({ args: ['--disable-controllers', '--watch-cache-size', '20'] })]);
  const kc = config(srv);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});

test.after.always(async () => {
  await Promise.all([srv?.stop(), small?.stop()]);
});

const mergePatch = () => k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Runs fn and returns the HTTP code and Status body of the ApiException it must throw. */
async function apiError(t: ExecutionContext, fn: () => Promise<unknown>): Promise<{ code: number; body: any }> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const raw = (e as k8s.ApiException<unknown>).body;
      let body: any = raw;
      if (typeof raw === 'string') {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      return { code: e.code, body };
    }
    throw e;
  }
  t.fail('the call succeeded but an API error was expected');
  return { code: 0, body: undefined };
}

interface Ops<T extends k8s.KubernetesObject> {
  create(body: T): Promise<T>;
  read(name: string): Promise<T>;
  replace(name: string, body: T): Promise<T>;
  patch(name: string, body: object): Promise<T>;
  remove(name: string): Promise<unknown>;
  list(labelSelector: string): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
}

/** The same life cycle for every kind: create, read, replace (and a stale replace), patch, list, delete. */
async function lifeCycle<T extends k8s.KubernetesObject>(t: ExecutionContext, ops: Ops<T>, make: (name: string, labels: Record<string, string>) => T, change: (o: T) => void, check: (o: T) => void) {
  const created = await ops.create(make('one', { suite: 'cn', which: 'one' }));
  await ops.create(make('two', { suite: 'cn', which: 'two' }));
  const m = created.metadata!;
  t.is(m.name, 'one');
  t.is(m.namespace, NS);
  t.truthy(m.uid);
  t.truthy(m.creationTimestamp);
  t.regex(m.resourceVersion ?? '', /^\d+$/);

  const read = await ops.read('one');
  t.is(read.metadata!.uid, m.uid);
  t.is(read.metadata!.resourceVersion, m.resourceVersion);

  change(read);
  const replaced = await ops.replace('one', read);
  t.not(replaced.metadata!.resourceVersion, m.resourceVersion);
  check(replaced);
  t.true(Number(replaced.metadata!.resourceVersion) > Number(m.resourceVersion));

  // The object as first read carries a resourceVersion that is no longer current.
  const stale = { ...read, metadata: { ...read.metadata, resourceVersion: m.resourceVersion } } as T;
  const conflict = await apiError(t, () => ops.replace('one', stale));
  t.is(conflict.code, 409);
  t.is(conflict.body?.kind, 'Status');
  t.is(conflict.body?.reason, 'Conflict');
  t.is((await ops.read('one')).metadata!.resourceVersion, replaced.metadata!.resourceVersion, 'a refused update must not change the object');

  const patched = await ops.patch('one', { metadata: { labels: { patched: 'yes' }, annotations: { note: 'merge' } } });
  t.is(patched.metadata!.labels?.patched, 'yes');
  t.is(patched.metadata!.labels?.which, 'one', 'a merge patch keeps the keys it does not name');
  t.is(patched.metadata!.annotations?.note, 'merge');
  check(patched);

  const one = await ops.list('suite=cn,which=one');
  t.deepEqual(one.items.map((o) => o.metadata!.name), ['one']);
  t.regex(one.metadata?.resourceVersion ?? '', /^\d+$/);
  const both = await ops.list('suite=cn');
  t.deepEqual(both.items.map((o) => o.metadata!.name).sort(), ['one', 'two']);
  t.deepEqual((await ops.list('patched in (yes)')).items.map((o) => o.metadata!.name), ['one']);
  t.deepEqual((await ops.list('suite=cn,!patched')).items.map((o) => o.metadata!.name), ['two']);

  await ops.remove('one');
  await ops.remove('two');
  const gone = await apiError(t, () => ops.read('one'));
  t.is(gone.code, 404);
  t.is(gone.body?.reason, 'NotFound');
  t.deepEqual((await ops.list('suite=cn')).items, []);
}

test('ConfigMap: create, read, replace, stale replace 409, merge patch, list by label, delete', async (t) => {
  await lifeCycle<k8s.V1ConfigMap>(
    t,
    {
      create: (body) => core.createNamespacedConfigMap({ namespace: NS, body }),
      read: (name) => core.readNamespacedConfigMap({ name, namespace: NS }),
      replace: (name, body) => core.replaceNamespacedConfigMap({ name, namespace: NS, body }),
      patch: (name, body) => core.patchNamespacedConfigMap({ name, namespace: NS, body }, mergePatch()),
      remove: (name) => core.deleteNamespacedConfigMap({ name, namespace: NS }),
      list: (labelSelector) => core.listNamespacedConfigMap({ namespace: NS, labelSelector }),
    },
    (name, labels) => ({ metadata: { name, labels }, data: { greeting: 'hello', name } }),
    (o) => (o.data = { ...o.data, greeting: 'bonjour' }),
    (o) => {
      t.is(o.data?.greeting, 'bonjour');
      t.is(o.kind, 'ConfigMap');
      t.is(o.apiVersion, 'v1');
    },
  );
});

test('Secret: the same life cycle; stringData is stored as base64 data', async (t) => {
  await lifeCycle<k8s.V1Secret>(
    t,
    {
      create: (body) => core.createNamespacedSecret({ namespace: NS, body }),
      read: (name) => core.readNamespacedSecret({ name, namespace: NS }),
      replace: (name, body) => core.replaceNamespacedSecret({ name, namespace: NS, body }),
      patch: (name, body) => core.patchNamespacedSecret({ name, namespace: NS, body }, mergePatch()),
      remove: (name) => core.deleteNamespacedSecret({ name, namespace: NS }),
      list: (labelSelector) => core.listNamespacedSecret({ namespace: NS, labelSelector }),
    },
    (name, labels) => ({ metadata: { name, labels }, type: 'Opaque', stringData: { password: `pw-${name}` } }),
    (o) => (o.data = { ...o.data, token: Buffer.from('t0ken').toString('base64') }),
    (o) => {
      t.is(Buffer.from(o.data?.password ?? '', 'base64').toString(), 'pw-one');
      t.is(Buffer.from(o.data?.token ?? '', 'base64').toString(), 't0ken');
      t.is(o.stringData, undefined);
      t.is(o.type, 'Opaque');
    },
  );
});

test('Service: the same life cycle; ports survive replace and patch', async (t) => {
  await lifeCycle<k8s.V1Service>(
    t,
    {
      create: (body) => core.createNamespacedService({ namespace: NS, body }),
      read: (name) => core.readNamespacedService({ name, namespace: NS }),
      replace: (name, body) => core.replaceNamespacedService({ name, namespace: NS, body }),
      patch: (name, body) => core.patchNamespacedService({ name, namespace: NS, body }, mergePatch()),
      remove: (name) => core.deleteNamespacedService({ name, namespace: NS }),
      list: (labelSelector) => core.listNamespacedService({ namespace: NS, labelSelector }),
    },
    (name, labels) => ({ metadata: { name, labels }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }),
    (o) => (o.spec!.ports = [...o.spec!.ports!, { name: 'https', port: 443, targetPort: 8443 }]),
    (o) => {
      t.deepEqual(o.spec?.ports?.map((p) => [p.name, p.port, p.targetPort, p.protocol]), [
        ['http', 80, 8080, 'TCP'],
        ['https', 443, 8443, 'TCP'],
      ]);
      t.is(o.spec?.type, 'ClusterIP');
    },
  );
});

test('Deployment: the same life cycle; generation follows spec changes only', async (t) => {
  await lifeCycle<k8s.V1Deployment>(
    t,
    {
      create: (body) => apps.createNamespacedDeployment({ namespace: NS, body }),
      read: (name) => apps.readNamespacedDeployment({ name, namespace: NS }),
      replace: (name, body) => apps.replaceNamespacedDeployment({ name, namespace: NS, body }),
      patch: (name, body) => apps.patchNamespacedDeployment({ name, namespace: NS, body }, mergePatch()),
      remove: (name) => apps.deleteNamespacedDeployment({ name, namespace: NS }),
      list: (labelSelector) => apps.listNamespacedDeployment({ namespace: NS, labelSelector }),
    },
    (name, labels) => ({
      metadata: { name, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'] }] } },
      },
    }),
    (o) => (o.spec!.replicas = 3),
    (o) => {
      t.is(o.spec?.replicas, 3);
      t.is(o.metadata?.generation, 2, 'one spec change since creation; a metadata-only patch does not bump generation');
      t.is(o.spec?.template.spec?.containers[0]?.image, 'busybox:1.36');
      t.is(o.spec?.strategy?.type, 'RollingUpdate');
    },
  );
});

test('create of an existing object is 409 AlreadyExists; read of a missing one is 404', async (t) => {
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dup' }, data: { a: '1' } } });
  const e = await apiError(t, () => core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'dup' }, data: { a: '2' } } }));
  t.is(e.code, 409);
  t.is(e.body?.reason, 'AlreadyExists');
  t.is((await core.readNamespacedConfigMap({ name: 'dup', namespace: NS })).data?.a, '1');
  const missing = await apiError(t, () => apps.readNamespacedDeployment({ name: 'nope', namespace: NS }));
  t.is(missing.code, 404);
  await core.deleteNamespacedConfigMap({ name: 'dup', namespace: NS });
});

/** ListWatch keeps the last revision it saw; the Informer type does not declare the accessor. */
function latestRv(inf: object): string {
  return (inf as { latestResourceVersion(): string }).latestResourceVersion();
}

/** Starts an informer and resolves once its first list is in. */
async function startInformer<T extends k8s.KubernetesObject>(inf: k8s.Informer<T> & k8s.ObjectCache<T>, connected: () => boolean) {
  await inf.start();
  await waitFor(connected, 15_000, () => 'the informer never connected');
}

test.serial('an informer sees add, update and delete events and its cache matches the server', async (t) => {
  const kc = config(srv);
  const c = kc.makeApiClient(k8s.CoreV1Api);
  const seen: string[] = [];
  const errs: unknown[] = [];
  let connects = 0;
  const inf = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => c.listNamespacedConfigMap({ namespace: 'default' }));
  inf.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
  inf.on('update', (o) => seen.push(`update ${o.metadata!.name} ${o.data?.v}`));
  inf.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
  inf.on('error', (e) => errs.push(e));
  inf.on('connect', () => connects++);
  try {
    await c.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'inf-pre' }, data: { v: '0' } } });
    await startInformer(inf, () => connects > 0 && seen.includes('add inf-pre'));
    await c.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'inf-a' }, data: { v: '1' } } });
    await waitFor(() => seen.includes('add inf-a'), 10_000, () => `no add event: ${seen.join('; ')} ${errs.join('; ')}`);
    await c.patchNamespacedConfigMap({ name: 'inf-a', namespace: 'default', body: { data: { v: '2' } } }, mergePatch());
    await waitFor(() => seen.includes('update inf-a 2'), 10_000, () => `no update event: ${seen.join('; ')}`);
    await c.deleteNamespacedConfigMap({ name: 'inf-a', namespace: 'default' });
    await waitFor(() => seen.includes('delete inf-a'), 10_000, () => `no delete event: ${seen.join('; ')}`);
    t.deepEqual(seen.filter((s) => s.includes('inf-a')), ['add inf-a', 'update inf-a 2', 'delete inf-a']);
    t.is(inf.get('inf-a', 'default'), undefined);
    const live = await c.listNamespacedConfigMap({ namespace: 'default' });
    t.deepEqual(
      inf.list('default').map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort(),
      live.items.map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort(),
    );
    t.deepEqual(errs, []);
  } finally {
    await inf.stop();
    await c.deleteNamespacedConfigMap({ name: 'inf-pre', namespace: 'default' }).catch(() => undefined);
  }
});

test.serial('a watch from an expired resourceVersion gets an ERROR event with a 410 Status, then the stream ends', async (t) => {
  const kc = config(small);
  const c = kc.makeApiClient(k8s.CoreV1Api);
  const first = await c.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'exp-0' } } });
  for (let i = 1; i <= 50; i++) await c.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `exp-${i}` } } });
  const events: { type: string; obj: any }[] = [];
  let doneErr: unknown = 'not yet';
  await new k8s.Watch(kc).watch(
    '/api/v1/namespaces/default/configmaps',
    { resourceVersion: first.metadata!.resourceVersion },
    (type, obj) => events.push({ type, obj }),
    (err) => (doneErr = err ?? null),
  );
  await waitFor(() => doneErr !== 'not yet', 10_000, () => `the stream did not end; events: ${JSON.stringify(events).slice(0, 500)}`);
  t.is(doneErr, null, 'the server ends the stream itself');
  t.is(events.length, 1, JSON.stringify(events).slice(0, 500));
  t.is(events[0]?.type, 'ERROR');
  t.is(events[0]?.obj.kind, 'Status');
  t.is(events[0]?.obj.code, 410);
  t.is(events[0]?.obj.reason, 'Expired');

  // A watch from a current revision does not expire.
  const now = await c.listNamespacedConfigMap({ namespace: 'default' });
  const live: string[] = [];
  const ctl = await new k8s.Watch(kc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: now.metadata!.resourceVersion }, (type, obj) => live.push(`${type} ${obj.metadata?.name}`), () => undefined);
  try {
    await c.deleteNamespacedConfigMap({ name: 'exp-0', namespace: 'default' });
    await waitFor(() => live.includes('DELETED exp-0'), 10_000, () => `no DELETED event: ${live.join('; ')}`);
    t.deepEqual(live, ['DELETED exp-0']);
  } finally {
    ctl.abort();
    await c.deleteCollectionNamespacedConfigMap({ namespace: 'default' });
  }
});

test.serial('an informer whose resourceVersion expired while it was stopped relists and converges on the live set', async (t) => {
  const kc = config(small);
  const c = kc.makeApiClient(k8s.CoreV1Api);
  const ns = 'relist';
  await c.createNamespace({ body: { metadata: { name: ns } } });
  for (let i = 0; i < 10; i++) await c.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `keep-${i}` }, data: { v: '0' } } });
  let lists = 0;
  let connects = 0;
  const deleted: string[] = [];
  const inf = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => {
    lists++;
    return c.listNamespacedConfigMap({ namespace: ns });
  });
  inf.on('connect', () => connects++);
  inf.on('delete', (o) => deleted.push(o.metadata!.name!));
  inf.on('error', () => undefined); // stopping aborts the watch, which reports an error
  const snapshot = () => inf.list(ns).map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();
  const liveSet = async () => (await c.listNamespacedConfigMap({ namespace: ns })).items.map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort();
  try {
    // 10 of ours and the namespace's kube-root-ca.crt, as in Kubernetes.
    await startInformer(inf, () => connects > 0 && inf.list(ns).length === 11);
    const before = latestRv(inf);
    await inf.stop();

    // Far more than the 20 events the server keeps: the informer's resourceVersion expires.
    for (let i = 0; i < 100; i++) await c.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `new-${i}` }, data: { v: String(i) } } });
    for (let i = 0; i < 5; i++) await c.deleteNamespacedConfigMap({ name: `keep-${i}`, namespace: ns });
    for (let i = 5; i < 10; i++) await c.patchNamespacedConfigMap({ name: `keep-${i}`, namespace: ns, body: { data: { v: 'changed' } } }, mergePatch());
    for (let i = 0; i < 50; i++) await c.deleteNamespacedConfigMap({ name: `new-${i}`, namespace: ns });
    const want = await liveSet();
    t.is(want.length, 56);

    const listsBefore = lists;
    await inf.start();
    await waitFor(() => JSON.stringify(snapshot()) === JSON.stringify(want), 20_000, () => `informer has ${inf.list(ns).length} objects, want ${want.length}; lists ${lists}`);
    t.true(lists > listsBefore, 'the informer relisted');
    t.not(latestRv(inf), before);
    t.deepEqual(deleted.filter((n) => n.startsWith('keep-')).sort(), ['keep-0', 'keep-1', 'keep-2', 'keep-3', 'keep-4']);
    t.is(inf.get('keep-7', ns)?.data?.v, 'changed');

    // And it keeps watching from the relisted revision.
    await c.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'after' } } });
    await waitFor(() => inf.get('after', ns) !== undefined, 10_000, () => 'the informer did not resume watching after the relist');
    t.deepEqual(snapshot(), await liveSet());
  } finally {
    await inf.stop();
  }
});
