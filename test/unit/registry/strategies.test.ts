import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { builtinStrategies } from '../../../apiserver/registry/resources/index.js';
import type { KObject } from '../../../pkg/api/types.js';

test('every resource is listed once with its Kubernetes names', (t) => {
  const all = builtinStrategies();
  const keys = all.map((s) => `${s.info.group}/${s.info.version}/${s.info.plural}`);
  t.is(new Set(keys).size, keys.length);
  const find = (plural: string, group = '') => all.find((s) => s.info.plural === plural && s.info.group === group)!.info;
  t.deepEqual(find('pods').shortNames, ['po']);
  t.deepEqual(find('pods').categories, ['all']);
  t.deepEqual(find('services').shortNames, ['svc']);
  t.deepEqual(find('deployments', 'apps').shortNames, ['deploy']);
  t.deepEqual(find('customresourcedefinitions', 'apiextensions.k8s.io').shortNames, ['crd', 'crds']);
  t.deepEqual(find('horizontalpodautoscalers', 'autoscaling').categories, ['all']);
  t.false(find('namespaces').verbs.includes('deletecollection'));
  t.deepEqual(find('deployments', 'apps').subresources, ['status', 'scale']);
  for (const s of all) {
    t.is(s.info.listKind, `${s.info.kind}List`);
    t.is(s.info.singular, s.info.kind.toLowerCase());
  }
});

test('model names exist in @kubernetes/client-node', (t) => {
  for (const s of builtinStrategies()) {
    t.is(typeof (k8s as unknown as Record<string, unknown>)[s.info.modelName!], 'function', s.info.modelName);
  }
});

test('selectable fields tolerate an empty object and report strings', (t) => {
  for (const s of builtinStrategies()) {
    const f = s.selectableFields?.({ metadata: {}, spec: {}, status: {} } as KObject);
    if (!f) continue;
    for (const [k, v] of Object.entries(f)) t.true(v === undefined || typeof v === 'string', `${s.info.kind} ${k}`);
  }
  const pods = builtinStrategies().find((s) => s.info.plural === 'pods')!;
  t.deepEqual(Object.keys(pods.selectableFields!({ metadata: {} } as KObject)).sort(), [
    'spec.hostNetwork',
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'status.nominatedNodeName',
    'status.phase',
    'status.podIP',
  ]);
});

test('defaults are idempotent and validation never throws on empty objects', (t) => {
  for (const s of builtinStrategies()) {
    const o: KObject = { metadata: { name: 'x', namespace: 'd' } };
    s.prepareForCreate?.(o);
    s.defaults?.(o);
    const once = JSON.stringify(o);
    s.defaults?.(o);
    t.is(JSON.stringify(o), once, s.info.kind);
    t.notThrows(() => s.validate?.(o), s.info.kind);
    t.notThrows(() => s.validateUpdate?.(o, o), s.info.kind);
    t.deepEqual(s.validateUpdate?.(o, JSON.parse(once)) ?? [], [], s.info.kind);
  }
});
