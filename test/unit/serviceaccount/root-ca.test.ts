// The kube-root-ca.crt ConfigMap the root CA publisher keeps.
import test from 'ava';
import { desiredRootCaConfigMap } from '../../../controllers/serviceaccount/root-ca-publisher.js';
import { namespaceActive } from '../../../controllers/serviceaccount/serviceaccounts-controller.js';
import type { KObject } from '../../../pkg/api/types.js';

test('a new ConfigMap, an edited one put back, an equal one left alone', (t) => {
  const made = desiredRootCaConfigMap('app', 'CA', undefined)!;
  t.is(made.metadata.name, 'kube-root-ca.crt');
  t.is(made.metadata.namespace, 'app');
  t.deepEqual(made.data, { 'ca.crt': 'CA' });
  t.truthy(made.metadata.annotations?.['kubernetes.io/description']);
  const stored = { ...made, metadata: { ...made.metadata, resourceVersion: '7', uid: 'u' } } as KObject;
  t.is(desiredRootCaConfigMap('app', 'CA', stored), undefined);
  const fixed = desiredRootCaConfigMap('app', 'NEW', { ...stored, data: { 'ca.crt': 'CA', extra: 'x' } } as KObject)!;
  t.deepEqual(fixed.data, { 'ca.crt': 'NEW' });
  t.is(fixed.metadata.resourceVersion, '7');
});

test('terminating namespaces get nothing new', (t) => {
  t.true(namespaceActive({ metadata: { name: 'a' }, status: { phase: 'Active' } } as KObject));
  t.false(namespaceActive({ metadata: { name: 'a', deletionTimestamp: '2026-01-01T00:00:00Z' } } as KObject));
  t.false(namespaceActive({ metadata: { name: 'a' }, status: { phase: 'Terminating' } } as KObject));
  t.false(namespaceActive(undefined));
});
