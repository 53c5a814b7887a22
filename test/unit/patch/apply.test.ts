import test from 'ava';
import { fieldSetOf, fromFieldsV1, serverSideApply, toFieldsV1, updateManagedFields, type ManagedFieldsEntry } from '../../../apiserver/patch/apply.js';
import { StatusError } from '../../../apiserver/status.js';

const NOW = '2025-01-01T00:00:00Z';
const LATER = '2025-01-01T00:05:00Z';

type Obj = Record<string, any>;

function config(replicas: number | undefined, image: string, extra: Obj = {}): Obj {
  const spec: Obj = {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }] }] } },
    ...extra,
  };
  if (replicas !== undefined) spec.replicas = replicas;
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web' } }, spec };
}

function entries(obj: Obj): ManagedFieldsEntry[] {
  return obj.metadata.managedFields;
}

function apply(live: Obj | undefined, applied: Obj, manager = 'kubectl', force = false, now = NOW): Obj {
  return serverSideApply(live, applied, { manager, force, apiVersion: 'apps/v1', now }).object as Obj;
}

test('create via apply records an Apply entry in FieldsV1 form', (t) => {
  const obj = apply(undefined, config(2, 'nginx:1.27'));
  t.is(obj.spec.replicas, 2);
  const [e, ...rest] = entries(obj);
  t.is(rest.length, 0);
  t.like(e, { manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', time: NOW, fieldsType: 'FieldsV1' });
  t.deepEqual(e.fieldsV1, {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': {
      'f:replicas': {},
      'f:selector': {},
      'f:template': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:containers': {
            'k:{"name":"web"}': {
              '.': {},
              'f:image': {},
              'f:name': {},
              'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
            },
          },
        },
      },
    },
  });
});

test('re-apply without a field removes it; re-applying the same is a no-op', (t) => {
  const first = apply(undefined, config(2, 'nginx:1.27', { minReadySeconds: 5 }));
  const second = apply(first, config(undefined, 'nginx:1.27'), 'kubectl', false, LATER);
  t.false('replicas' in second.spec);
  t.false('minReadySeconds' in second.spec);
  t.false(JSON.stringify(entries(second)).includes('f:replicas'));
  t.is(entries(second)[0].time, LATER);
  const third = apply(second, config(undefined, 'nginx:1.27'), 'kubectl', false, '2025-01-02T00:00:00Z');
  t.deepEqual(third, second, 'nothing changes, not even the time');
});

test('removing a label drops the empty labels map; container items merge by name', (t) => {
  const first = apply(undefined, config(1, 'a'));
  const cfg = config(1, 'b');
  delete cfg.metadata.labels;
  cfg.spec.template.spec.containers.push({ name: 'side', image: 's' });
  const second = apply(first, cfg);
  t.false('labels' in second.metadata);
  t.deepEqual(second.spec.template.spec.containers.map((c: Obj) => [c.name, c.image]), [['web', 'b'], ['side', 's']]);
});

test('fields set by others are kept when the applier stops setting them', (t) => {
  let obj = apply(undefined, config(1, 'a'));
  // a controller adds an annotation and a container field (Update)
  const next = structuredClone(obj);
  next.metadata.annotations = { note: 'x' };
  next.spec.template.spec.containers[0].imagePullPolicy = 'Always';
  next.metadata.managedFields = updateManagedFields(obj, next, { manager: 'ctrl', apiVersion: 'apps/v1', now: LATER });
  obj = next;
  const ctrl = entries(obj).find((e) => e.manager === 'ctrl')!;
  t.like(ctrl, { operation: 'Update', time: LATER });
  t.deepEqual(ctrl.fieldsV1, {
    'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } },
    'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:imagePullPolicy': {} } } } } },
  });
  // the applier now drops its container: the item stays, named, because ctrl owns a field in it; the applier's fields go
  const cfg = config(1, 'a');
  cfg.spec.template.spec.containers = [];
  const after = apply(obj, cfg);
  t.deepEqual(after.spec.template.spec.containers, [{ name: 'web', imagePullPolicy: 'Always' }]);
  t.is(after.spec.template.spec.containers[0].imagePullPolicy, 'Always');
  t.is(after.spec.template.spec.containers[0].image, undefined);
  t.is(after.metadata.annotations.note, 'x');
});

test('conflict with an Update manager; force takes ownership', (t) => {
  // created by kubectl create / client-side apply
  const created = config(1, 'nginx:1.27');
  created.metadata.managedFields = updateManagedFields(undefined, created, { manager: 'kubectl-client-side-apply', apiVersion: 'apps/v1', now: NOW });
  t.is(entries(created)[0].operation, 'Update');
  t.deepEqual(entries(created)[0].fieldsV1!['f:metadata'], { 'f:labels': { '.': {}, 'f:app': {} } });

  const e = t.throws(() => apply(created, config(3, 'nginx:1.27')));
  t.true(e instanceof StatusError);
  const se = e as StatusError;
  t.is(se.code, 409);
  t.is(se.reason, 'Conflict');
  t.is(se.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas');
  t.deepEqual(se.details?.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-client-side-apply" using apps/v1', field: '.spec.replicas' }]);

  // same values: no conflict, shared ownership
  const shared = apply(created, config(1, 'nginx:1.27'));
  t.is(entries(shared).length, 2);
  t.true(JSON.stringify(entries(shared).find((x) => x.manager === 'kubectl-client-side-apply')).includes('f:replicas'));

  const forced = apply(created, config(3, 'nginx:1.28'), 'kubectl', true, LATER);
  t.is(forced.spec.replicas, 3);
  const old = entries(forced).find((x) => x.manager === 'kubectl-client-side-apply')!;
  t.false(JSON.stringify(old.fieldsV1).includes('f:replicas'));
  t.false(JSON.stringify(old.fieldsV1).includes('f:image'));
  t.is(old.time, NOW, 'the loser keeps its time');
  t.deepEqual(entries(forced).map((x) => x.operation), ['Apply', 'Update']);
});

test('second applier conflicts, several conflicts are listed', (t) => {
  const a = apply(undefined, config(1, 'x'), 'alice');
  const e = t.throws(() => apply(a, config(2, 'y'), 'bob')) as StatusError;
  t.is(e.code, 409);
  t.is(e.details?.causes?.length, 2);
  t.is(
    e.message,
    'Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas\n- .spec.template.spec.containers[name="web"].image',
  );
  const forced = apply(a, config(2, 'y'), 'bob', true);
  const alice = entries(forced).find((x) => x.manager === 'alice')!;
  t.false(JSON.stringify(alice.fieldsV1).includes('f:replicas'));
  t.true(JSON.stringify(alice.fieldsV1).includes('f:selector'));
  // alice re-applies her old config: now she conflicts with bob
  t.throws(() => apply(forced, config(1, 'x'), 'alice'), { message: /conflicts with "bob":/ });
});

test('objects without managedFields are owned by before-first-apply', (t) => {
  const live = config(1, 'x');
  const e = t.throws(() => apply(live, config(2, 'x'))) as StatusError;
  t.regex(e.message, /conflict with "before-first-apply" using apps\/v1: .spec.replicas/);
});

test('updateManagedFields: create owns everything, update moves changed fields', (t) => {
  const obj: Obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', uid: 'u', resourceVersion: '5', labels: { a: '1' } }, data: { k: 'v', j: 'w' } };
  const mf = updateManagedFields(undefined, obj, { manager: 'kubectl-create', apiVersion: 'v1', now: NOW });
  t.deepEqual(mf, [
    {
      manager: 'kubectl-create',
      operation: 'Update',
      apiVersion: 'v1',
      time: NOW,
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { '.': {}, 'f:j': {}, 'f:k': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } } },
    },
  ]);
  const old: Obj = { ...obj, metadata: { ...obj.metadata, managedFields: mf } };
  const next = structuredClone(old);
  next.data.k = 'changed';
  delete next.data.j;
  next.metadata.resourceVersion = '6';
  const mf2 = updateManagedFields(old, next, { manager: 'kubectl-edit', apiVersion: 'v1', now: LATER });
  t.deepEqual(
    mf2.map((e) => [e.manager, e.time, e.fieldsV1]),
    [
      ['kubectl-create', NOW, { 'f:data': {}, 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } } }],
      ['kubectl-edit', LATER, { 'f:data': { 'f:k': {} } }],
    ],
  );
  // no change: same entries
  t.deepEqual(updateManagedFields({ ...next, metadata: { ...next.metadata, managedFields: mf2 } }, { ...next, metadata: { ...next.metadata, managedFields: mf2 } }, { manager: 'x', apiVersion: 'v1', now: LATER }), mf2);
});

test('status is owned only through the status subresource', (t) => {
  const old: Obj = { metadata: { name: 'p' }, spec: { a: 1 } };
  const next: Obj = { metadata: { name: 'p' }, spec: { a: 1 }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } };
  t.deepEqual(updateManagedFields(old, next, { manager: 'm', apiVersion: 'v1', now: NOW }), []);
  const mf = updateManagedFields(old, next, { manager: 'kubelet', apiVersion: 'v1', now: NOW, subresource: 'status' });
  t.like(mf[0], { manager: 'kubelet', subresource: 'status' });
  t.deepEqual(mf[0].fieldsV1, {
    'f:status': { 'f:conditions': { '.': {}, 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:phase': {} },
  });
});

test('fieldsV1 round trip and canonical keys', (t) => {
  const obj = config(1, 'x', { template: { spec: { containers: [{ name: 'a', env: [{ name: 'E', value: '1' }], ports: [{ containerPort: 53, protocol: 'UDP' }] }] } } });
  obj.metadata.finalizers = ['a/b', 'c'];
  const set = fieldSetOf(obj);
  const json = toFieldsV1(set);
  t.deepEqual(toFieldsV1(fromFieldsV1(json)), json);
  t.true(fromFieldsV1(json).equals(set));
  t.deepEqual((json['f:metadata'] as Obj)['f:finalizers'], { 'v:"a/b"': {}, 'v:"c"': {} });
  // keys written in another order still name the same item
  const other = fromFieldsV1({ 'f:spec': { 'f:ports': { 'k:{"protocol":"TCP","port":80}': { '.': {} } } } });
  t.deepEqual(toFieldsV1(other), { 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': {} } } });
  t.throws(() => fromFieldsV1({ 'x:bad': {} }), { instanceOf: StatusError });
  t.throws(() => fromFieldsV1({ 'k:notjson': {} }), { instanceOf: StatusError });
  t.throws(() => fromFieldsV1([]), { instanceOf: StatusError });
});

test('apply rejects bad configurations', (t) => {
  const noKey = config(1, 'x');
  delete noKey.spec.template.spec.containers[0].name;
  const e = t.throws(() => apply(undefined, noKey)) as StatusError;
  t.is(e.code, 422);
  t.regex(e.message, /omits key field "name"/);
  const dup = config(1, 'x');
  dup.spec.template.spec.containers.push({ name: 'web' });
  t.is((t.throws(() => apply(undefined, dup)) as StatusError).code, 422);
  const withMf = config(1, 'x');
  withMf.metadata.managedFields = [];
  t.is((t.throws(() => apply(undefined, withMf)) as StatusError).code, 400);
  t.is((t.throws(() => serverSideApply(undefined, [] as unknown as object, { manager: 'm', force: false, apiVersion: 'v1', now: NOW })) as StatusError).code, 400);
});

test('null in the configuration clears the field', (t) => {
  const live = apply(undefined, config(1, 'x', { paused: true }), 'a');
  const out = apply(live, { ...config(1, 'x'), spec: { ...config(1, 'x').spec, paused: null } }, 'a');
  t.false('paused' in out.spec);
});

test('lists are merged per item, other lists replaced, sets unioned', (t) => {
  const a = apply(undefined, { metadata: { name: 'p', finalizers: ['x'] }, spec: { containers: [{ name: 'a', args: ['1', '2'] }] } }, 'one');
  const b = apply(a, { metadata: { name: 'p', finalizers: ['y'] }, spec: { containers: [{ name: 'b', image: 'i' }] } }, 'two');
  t.deepEqual(b.metadata.finalizers, ['x', 'y']);
  t.deepEqual(b.spec.containers.map((c: Obj) => c.name), ['a', 'b']);
  const c = apply(b, { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', args: ['3'] }] } }, 'one');
  t.deepEqual(c.spec.containers[0].args, ['3']);
  t.deepEqual(c.metadata.finalizers, ['y'], 'one no longer applies "x"');
});

test('updateManagedFields: a client may rewrite or clear managedFields', (t) => {
  const old: Obj = { metadata: { name: 'c' }, data: { a: '1' } };
  old.metadata.managedFields = updateManagedFields(undefined, old, { manager: 'one', apiVersion: 'v1', now: NOW });
  const cleared = structuredClone(old);
  cleared.metadata.managedFields = [{}];
  cleared.data.b = '2';
  t.deepEqual(
    updateManagedFields(old, cleared, { manager: 'two', apiVersion: 'v1', now: LATER }).map((e) => [e.manager, e.fieldsV1]),
    [['two', { 'f:data': { 'f:b': {} } }]],
  );
  const bogus = structuredClone(old);
  bogus.metadata.managedFields = [{ manager: 'x', operation: 'Nope' }];
  t.is((t.throws(() => updateManagedFields(old, bogus, { manager: 'two', apiVersion: 'v1', now: LATER })) as StatusError).code, 400);
});
