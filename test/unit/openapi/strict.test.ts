import test from 'ava';
import {
  buildOpenApi,
  decodingMessage,
  hasBuiltinSchema,
  pruneBuiltin,
  strictDecodingMessage,
  typeMismatches,
  unknownFields,
} from '../../../apiserver/openapi/index.js';
import { builtinFixtures, crd, deployment, pod, servedResources } from './fixtures.js';

const DEPLOYMENT = { group: 'apps', version: 'v1', kind: 'Deployment' };
const POD = { group: '', version: 'v1', kind: 'Pod' };

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

for (const [name, f] of Object.entries(builtinFixtures)) {
  test(`realistic ${name} has no unknown fields and no type mismatches`, (t) => {
    t.deepEqual(unknownFields(f, f.obj), []);
    t.deepEqual(typeMismatches(f, f.obj), []);
  });
}

test('misspellings are found at every depth, in list items and in metadata', (t) => {
  const d = clone(deployment) as any;
  d.spec.replicass = 2;
  d.metadata.labelz = { a: 'b' };
  d.metadata.ownerReferences[0].controler = true;
  d.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
  d.spec.template.spec.containers[0].ports[1].containerPrt = 1;
  d.spec.template.spec.containers[0].livenessProbe.httpGet.paht = '/';
  d.spec.template.spec.volumes[1].configMap.items[0].kye = 'x';
  d.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].vaules = [];
  d.spec.template.metadata.annotationz = {};
  d.status.conditions[0].typo = 1;
  d.extra = true;
  t.deepEqual(unknownFields(DEPLOYMENT, d).sort(), [
    'extra',
    'metadata.labelz',
    'metadata.ownerReferences[0].controler',
    'spec.replicass',
    'spec.template.metadata.annotationz',
    'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].vaules',
    'spec.template.spec.containers[0].imagePullPolicyy',
    'spec.template.spec.containers[0].livenessProbe.httpGet.paht',
    'spec.template.spec.containers[0].ports[1].containerPrt',
    'spec.template.spec.volumes[1].configMap.items[0].kye',
    'status.conditions[0].typo',
  ]);
});

test('the strict decoding message is worded like Kubernetes', (t) => {
  const d = clone(deployment) as any;
  d.spec.foo = 1;
  d.spec.bar = 2;
  t.is(
    strictDecodingMessage('Deployment', 'v1', unknownFields(DEPLOYMENT, d)),
    'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.bar"',
  );
});

test('fields that are in the schema under a different parent are still unknown', (t) => {
  const p = clone(pod) as any;
  p.spec.containers[0].restartPolicy = 'Always'; // valid: sidecar field on containers in recent versions
  p.spec.containers[0].tolerations = [];
  p.spec.initContainers[0].nodeSelector = {};
  t.deepEqual(unknownFields(POD, p), ['spec.initContainers[0].nodeSelector', 'spec.containers[0].tolerations']);
});

test('type mismatches are reported with the field named', (t) => {
  const d = clone(deployment) as any;
  d.spec.replicas = '3';
  d.spec.template.spec.containers[0].ports[0].containerPort = 80.5;
  d.spec.template.spec.containers = d.spec.template.spec.containers[0];
  t.deepEqual(typeMismatches(DEPLOYMENT, d), [
    'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32',
    'json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container',
  ]);
  const p = clone(pod) as any;
  p.spec = 'x';
  p.metadata.labels = ['a'];
  p.spec2 = 1;
  t.deepEqual(typeMismatches(POD, p), [
    'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string',
    'json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec',
  ]);
  const q = clone(pod) as any;
  q.spec.containers[0].ports[0].containerPort = 80.5;
  q.spec.containers[0].env[0].value = 1;
  q.spec.containers[0].stdin = 'yes';
  t.deepEqual(typeMismatches(POD, q), [
    'json: cannot unmarshal number 80.5 into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32',
    'json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string',
    'json: cannot unmarshal string into Go struct field Container.spec.containers.stdin of type bool',
  ]);
  t.is(
    decodingMessage('Pod', 'v1', typeMismatches(POD, q)[1]),
    'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string',
  );
  t.deepEqual(typeMismatches(POD, 'x'), ['json: cannot unmarshal string into Go value of type v1.Pod']);
});

test('quantities, int-or-string, nulls and free-form fields accept what Kubernetes accepts', (t) => {
  const p = clone(pod) as any;
  p.spec.containers[0].resources = { limits: { cpu: 0.5, memory: '1Gi' }, requests: { cpu: '250m' } };
  p.spec.containers[0].livenessProbe.httpGet.port = 8080;
  p.spec.containers[0].readinessProbe.tcpSocket.port = 'http';
  p.spec.affinity = null;
  p.metadata.labels = null;
  p.metadata.managedFields = [{ manager: 'm', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {} } } } }];
  t.deepEqual(unknownFields(POD, p), []);
  t.deepEqual(typeMismatches(POD, p), []);
  p.spec.containers[0].resources.limits.cpu = { a: 1 };
  t.deepEqual(typeMismatches(POD, p), ['json: cannot unmarshal object into Go struct field ResourceRequirements.spec.containers.resources.limits of type resource.Quantity']);
});

test('CRD openAPIV3Schema is free-form inside JSONSchemaProps but typos around it are caught', (t) => {
  const gvk = { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition' };
  const c = clone(crd) as any;
  c.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.size.maximun = 3;
  c.spec.versions[0].servd = true;
  t.deepEqual(unknownFields(gvk, c), [
    'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].maximun',
    'spec.versions[0].servd',
  ]);
});

test('pruneBuiltin drops unknown fields in place and keeps the rest', (t) => {
  const d = clone(deployment) as any;
  d.spec.replicass = 2;
  d.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
  // reported in document order, depth first
  t.deepEqual(pruneBuiltin(DEPLOYMENT, d), ['spec.template.spec.containers[0].imagePullPolicyy', 'spec.replicass']);
  t.deepEqual(d, deployment);
  t.deepEqual(unknownFields(DEPLOYMENT, d), []);
});

test('kinds without a built-in schema are refused loudly; the built OpenApi covers CRDs', (t) => {
  t.false(hasBuiltinSchema({ group: 'example.com', version: 'v1', kind: 'Widget' }));
  t.false(hasBuiltinSchema({ group: '', version: 'v1', kind: 'PodTemplate' }));
  t.true(hasBuiltinSchema(DEPLOYMENT));
  t.true(hasBuiltinSchema({ group: 'events.k8s.io', version: 'v1', kind: 'Event' }));
  t.throws(() => unknownFields({ group: 'example.com', version: 'v1', kind: 'Widget' }, {}), { message: /no built-in schema/ });
  const api = buildOpenApi(servedResources(), [
    { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true, schema: crd.spec.versions[0].schema.openAPIV3Schema },
  ]);
  t.deepEqual(api.unknownFields({ group: 'example.com', version: 'v1', kind: 'Widget' }, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', labelz: 1 }, spec: { size: 1, sise: 2 } }), [
    'metadata.labelz',
    'spec.sise',
  ]);
  t.deepEqual(api.unknownFields(DEPLOYMENT, { spec: { replicass: 1 } }), ['spec.replicass']);
});
