import test from 'ava';
import { nameValidatorForKind, validateObjectMeta, validateObjectMetaUpdate } from '../../../apiserver/registry/meta-validation.js';
import { errors } from '../../../apiserver/status.js';
import type { KObject } from '../../../pkg/api/types.js';
import { isDns1123Label } from '../../../pkg/api/validation.js';

const obj = (metadata: KObject['metadata']): KObject => ({ metadata });
const lines = (o: KObject, namespaced = true, kind?: string) => validateObjectMeta(o, { namespaced, kind }).map((e) => `${e.field}: ${e.message}`);

test('a well-formed object is clean', (t) => {
  t.deepEqual(lines(obj({ name: 'web', namespace: 'default', labels: { app: 'web', 'app.kubernetes.io/name': 'x' }, annotations: { 'example.com/a': 'b' }, finalizers: ['example.com/f'] })), []);
  t.deepEqual(lines(obj({ generateName: 'web-', namespace: 'default' })), []);
});

test('name rules in Kubernetes wording', (t) => {
  t.deepEqual(lines(obj({ name: 'Bad_Name', namespace: 'default' })), [
    "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  ]);
  t.deepEqual(lines(obj({ namespace: 'default' })), ['metadata.name: Required value: name or generateName is required']);
  t.is(lines(obj({ name: 'a.b' }), false, 'Namespace').length, 1);
  t.is(lines(obj({ name: '1svc', namespace: 'x' }), true, 'Service').length, 1);
  t.deepEqual(lines(obj({ name: 'a.b', namespace: 'x' }), true, 'Pod'), []);
  t.deepEqual(lines(obj({ name: 'system:controller' }), false, 'ClusterRole'), []);
  t.deepEqual(validateObjectMeta(obj({ name: 'a.b' }), { namespaced: false, nameValidator: isDns1123Label }).length, 1);
  t.is(nameValidatorForKind('CronJob')('a'.repeat(53)).length, 1);
});

test('namespace presence follows scope', (t) => {
  t.deepEqual(lines(obj({ name: 'x' })), ['metadata.namespace: Required value']);
  t.deepEqual(lines(obj({ name: 'x', namespace: 'default' }), false), ['metadata.namespace: Forbidden: not allowed on this type']);
});

test('labels, annotations, finalizers, owner references', (t) => {
  t.deepEqual(lines(obj({ name: 'x', namespace: 'd', labels: { '-x': 'v' } })), [
    "metadata.labels: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
  ]);
  t.is(lines(obj({ name: 'x', namespace: 'd', labels: { a: 'has space' } }))[0].slice(0, 40), 'metadata.labels: Invalid value: "has spa');
  t.is(lines(obj({ name: 'x', namespace: 'd', annotations: { 'bad key': 'v' } })).length, 1);
  const big = { a: 'x'.repeat(256 * 1024) };
  t.deepEqual(lines(obj({ name: 'x', namespace: 'd', annotations: big })), ['metadata.annotations: Too long: may not be more than 262144 bytes']);
  t.deepEqual(lines(obj({ name: 'x', namespace: 'd', finalizers: ['bad/name/x'] })).length, 1);
  const refs = [
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true },
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '2', controller: true },
    { apiVersion: '', kind: 'X', name: 'c', uid: '3' },
  ];
  const l = lines(obj({ name: 'x', namespace: 'd', ownerReferences: refs }));
  t.true(l.includes('metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty'));
  t.true(l.some((s) => s.includes('Only one reference can have Controller set to true')));
});

test('identity fields are immutable', (t) => {
  const old = obj({ name: 'a', namespace: 'd', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z' });
  t.deepEqual(validateObjectMetaUpdate(obj({ ...old.metadata }), old), []);
  const errs = validateObjectMetaUpdate(obj({ ...old.metadata, uid: 'u2', name: 'b' }), old);
  t.deepEqual(errs.map((e) => e.field).sort(), ['metadata.name', 'metadata.uid']);
  t.is(errs.find((e) => e.field === 'metadata.uid')!.message, 'Invalid value: "u2": field is immutable');
});

test('errors render as kubectl prints them', (t) => {
  const causes = validateObjectMeta(obj({ name: 'Bad', namespace: 'd' }), { namespaced: true });
  const e = errors.invalid('Pod', '', 'Bad', causes);
  t.true(e.message.startsWith('Pod "Bad" is invalid: metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain'));
});
