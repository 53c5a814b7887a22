import test from 'ava';
import { applyStrategicMergePatch } from '../../../apiserver/patch/strategic-merge-patch.js';
import { listStrategy } from '../../../apiserver/patch/merge-keys.js';
import { StatusError } from '../../../apiserver/status.js';

function deployment(containers: unknown[]): Record<string, unknown> {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 1, template: { spec: { containers } } } };
}

function containersOf(obj: unknown): Record<string, unknown>[] {
  return (obj as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }).spec.template.spec.containers;
}

function fails(t: import('ava').ExecutionContext, fn: () => unknown, code: number, match?: RegExp): void {
  const e = t.throws(fn);
  t.true(e instanceof StatusError, `expected a StatusError, got ${String(e)}`);
  t.is((e as StatusError).code, code);
  if (match) t.regex(e!.message, match);
}

test('merge-key table', (t) => {
  const podSpecs = [['spec'], ['spec', 'template', 'spec'], ['spec', 'jobTemplate', 'spec', 'template', 'spec'], ['template', 'spec']];
  for (const ps of podSpecs) {
    for (const c of ['containers', 'initContainers', 'ephemeralContainers']) {
      t.like(listStrategy([...ps, c]), { strategy: 'merge', key: 'name' });
      t.like(listStrategy([...ps, c, 'ports']), { strategy: 'merge', key: 'containerPort' });
      t.like(listStrategy([...ps, c, 'env']), { strategy: 'merge', key: 'name' });
      t.like(listStrategy([...ps, c, 'volumeMounts']), { strategy: 'merge', key: 'mountPath' });
      t.like(listStrategy([...ps, c, 'volumeDevices']), { strategy: 'merge', key: 'devicePath' });
      t.like(listStrategy([...ps, c, 'args']), { strategy: 'replace' });
    }
    t.like(listStrategy([...ps, 'volumes']), { strategy: 'merge', key: 'name' });
    t.like(listStrategy([...ps, 'imagePullSecrets']), { strategy: 'merge', key: 'name' });
    t.like(listStrategy([...ps, 'hostAliases']), { strategy: 'merge', key: 'ip' });
    t.like(listStrategy([...ps, 'topologySpreadConstraints']), { strategy: 'merge', key: 'topologyKey' });
    t.like(listStrategy([...ps, 'resourceClaims']), { strategy: 'merge', key: 'name' });
    t.like(listStrategy([...ps, 'schedulingGates']), { strategy: 'merge', key: 'name' });
    t.like(listStrategy([...ps, 'tolerations']), { strategy: 'replace' });
  }
  t.deepEqual(listStrategy(['metadata', 'finalizers']), { strategy: 'merge-set' });
  t.like(listStrategy(['metadata', 'ownerReferences']), { strategy: 'merge', key: 'uid' });
  t.like(listStrategy(['spec', 'ports']), { strategy: 'merge', key: 'port' });
  t.like(listStrategy(['status', 'conditions']), { strategy: 'merge', key: 'type' });
  t.like(listStrategy(['status', 'addresses']), { strategy: 'merge', key: 'type' });
  t.like(listStrategy(['spec', 'rules']), { strategy: 'replace' });
});

test('kubectl client-side apply patch: merge by key, order, directives dropped', (t) => {
  const live = deployment([
    { name: 'web', image: 'nginx:1.27', env: [{ name: 'A', value: '1' }, { name: 'B', value: 'x' }], ports: [{ containerPort: 80, protocol: 'TCP' }] },
    { name: 'sidecar', image: 'busybox' },
  ]);
  // Exactly what kubectl apply (client side) sends for an image and env change.
  const patch = JSON.parse(
    '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"env":[{"name":"A","value":"2"}],"image":"nginx:1.28","name":"web"}]}}}}',
  );
  const out = applyStrategicMergePatch(live, patch);
  t.deepEqual(containersOf(out), [
    { name: 'web', image: 'nginx:1.28', env: [{ name: 'A', value: '2' }, { name: 'B', value: 'x' }], ports: [{ containerPort: 80, protocol: 'TCP' }] },
    { name: 'sidecar', image: 'busybox' },
  ]);
  t.false(JSON.stringify(out).includes('$'), 'no directive leaks');
  t.is(containersOf(live)[0].image, 'nginx:1.27', 'input untouched');
});

test('setElementOrder reorders and new items are added', (t) => {
  const live = deployment([{ name: 'a' }, { name: 'b' }]);
  const out = applyStrategicMergePatch(live, {
    spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'c' }, { name: 'b' }, { name: 'a' }], containers: [{ name: 'c', image: 'x' }] } } },
  });
  t.deepEqual(containersOf(out).map((c) => c.name), ['c', 'b', 'a']);
});

test('$patch: delete of a list item and null deletes a field', (t) => {
  const live = deployment([{ name: 'a', image: 'x', command: ['sh'] }, { name: 'b' }]);
  const out = applyStrategicMergePatch(live, {
    spec: { replicas: null, template: { spec: { containers: [{ name: 'b', $patch: 'delete' }, { name: 'a', command: null }] } } },
  });
  t.deepEqual(containersOf(out), [{ name: 'a', image: 'x' }]);
  t.false('replicas' in (out as { spec: object }).spec);
});

test('$patch: replace on a list and on a map', (t) => {
  const live = deployment([{ name: 'a' }, { name: 'b' }]);
  const out = applyStrategicMergePatch(live, { spec: { template: { spec: { containers: [{ $patch: 'replace' }, { name: 'z', image: 'i' }] } } } });
  t.deepEqual(containersOf(out), [{ name: 'z', image: 'i' }]);
  const out2 = applyStrategicMergePatch({ metadata: { labels: { a: '1', b: '2' } } }, { metadata: { labels: { $patch: 'replace', c: '3' } } });
  t.deepEqual(out2, { metadata: { labels: { c: '3' } } });
});

test('$patch: delete on a map', (t) => {
  const out = applyStrategicMergePatch({ spec: { strategy: { rollingUpdate: { maxSurge: 1 } }, replicas: 2 } }, { spec: { strategy: { $patch: 'delete' } } });
  t.deepEqual(out, { spec: { replicas: 2 } });
});

test('$retainKeys clears the other keys', (t) => {
  const live = { spec: { template: { spec: { volumes: [{ name: 'v', emptyDir: {} }] } } } };
  const out = applyStrategicMergePatch(live, { spec: { template: { spec: { volumes: [{ name: 'v', $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' } }] } } } });
  t.deepEqual(out, { spec: { template: { spec: { volumes: [{ name: 'v', configMap: { name: 'cm' } }] } } } });
  fails(t, () => applyStrategicMergePatch(live, { spec: { $retainKeys: 'x' } }), 400, /retainKeys/);
  fails(t, () => applyStrategicMergePatch(live, { spec: { $retainKeys: ['a'], b: 1 } }), 422, /retainKeys/);
});

test('finalizers merge as a set; $deleteFromPrimitiveList removes', (t) => {
  const live = { metadata: { finalizers: ['a', 'b'] } };
  t.deepEqual(applyStrategicMergePatch(live, { metadata: { finalizers: ['b', 'c'] } }), { metadata: { finalizers: ['a', 'b', 'c'] } });
  t.deepEqual(applyStrategicMergePatch(live, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }), { metadata: { finalizers: ['b'] } });
  t.deepEqual(
    applyStrategicMergePatch(live, { metadata: { '$setElementOrder/finalizers': ['c', 'b', 'a'], finalizers: ['c'] } }),
    { metadata: { finalizers: ['c', 'b', 'a'] } },
  );
});

test('lists without a merge key are replaced', (t) => {
  const live = deployment([{ name: 'a', args: ['1', '2'] }]);
  const out = applyStrategicMergePatch(live, { spec: { template: { spec: { containers: [{ name: 'a', args: ['3'] }], tolerations: [{ key: 'k' }] } } } });
  t.deepEqual(containersOf(out), [{ name: 'a', args: ['3'] }]);
});

test('other keyed lists: ports, service ports, conditions, ownerReferences', (t) => {
  const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } };
  t.deepEqual(applyStrategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }), { spec: { ports: [{ port: 80, targetPort: 9090 }, { port: 443 }] } });
  const st = { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Progressing', status: 'True' }] } };
  t.deepEqual(applyStrategicMergePatch(st, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }), {
    status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Progressing', status: 'True' }] },
  });
  const owned = { metadata: { ownerReferences: [{ uid: '1', name: 'a' }] } };
  t.deepEqual(applyStrategicMergePatch(owned, { metadata: { ownerReferences: [{ uid: '2', name: 'b' }] } }), {
    metadata: { ownerReferences: [{ uid: '1', name: 'a' }, { uid: '2', name: 'b' }] },
  });
});

test('custom list strategy resolver wins', (t) => {
  const opts = { listStrategy: (p: string[]) => (p.join('.') === 'spec.items' ? ({ strategy: 'merge', key: 'id' } as const) : undefined) };
  const out = applyStrategicMergePatch({ spec: { items: [{ id: 1, v: 'a' }, { id: 2 }] } }, { spec: { items: [{ id: 1, v: 'b' }] } }, opts);
  t.deepEqual(out, { spec: { items: [{ id: 1, v: 'b' }, { id: 2 }] } });
});

test('new fields carrying directives are cleaned', (t) => {
  const out = applyStrategicMergePatch({}, { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'a', env: [{ name: 'x', $patch: 'delete' }], image: null }] } } } });
  t.deepEqual(out, { spec: { template: { spec: { containers: [{ name: 'a', env: [] }] } } } });
});

test('malformed strategic patches', (t) => {
  const live = deployment([{ name: 'a' }]);
  fails(t, () => applyStrategicMergePatch(live, [1]), 400);
  fails(t, () => applyStrategicMergePatch(live, { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }), 422, /merge key "name"/);
  fails(t, () => applyStrategicMergePatch(live, { spec: { template: { spec: { containers: ['x'] } } } }), 422);
  fails(t, () => applyStrategicMergePatch(live, { spec: { $patch: 'explode' } }), 400, /explode/);
  fails(t, () => applyStrategicMergePatch(live, { spec: { template: { spec: { '$setElementOrder/containers': 'x' } } } }), 400);
  fails(t, () => applyStrategicMergePatch(live, { spec: { template: { spec: { '$setElementOrder/containers': [{ image: 'x' }] } } } }), 400);
  fails(t, () => applyStrategicMergePatch(live, { metadata: { finalizers: [{ a: 1 }] } }), 400);
});
