import test from 'ava';
import { readFileSync } from 'node:fs';
import { generate } from '../../../hack/gen-openapi-types.js';
import { MODELS } from '../../../apiserver/openapi/models.js';
import { SERVED_KINDS, QUANTITY_FIELDS } from '../../../apiserver/openapi/k8s-facts.js';

test('the committed types.generated.json matches what the generator derives from client-node', (t) => {
  const fresh = generate();
  t.deepEqual(fresh.models, MODELS, 'run: npx tsc -p . && node dist/hack/gen-openapi-types.js');
});

test('the generated file holds facts only, no prose', (t) => {
  const text = readFileSync(new URL('../../../apiserver/openapi/types.generated.json', import.meta.url), 'utf8');
  t.deepEqual(Object.keys(JSON.parse(text)), ['source', 'models']);
  for (const m of Object.values(MODELS)) {
    t.deepEqual(Object.keys(m).filter((k) => !['name', 'fields', 'required'].includes(k)), []);
    t.regex(m.name, /^[\w.-]+$/);
    for (const [field, type] of Object.entries(m.fields)) t.regex(type, /^(\[\]|map:)*(ref:\w+|string(:[\w-]+)?|integer:int(32|64)|number(:\w+)?|boolean|Quantity|IntOrString|Time|MicroTime|any)$/, field);
  }
});

test('every served kind and every quantity fact resolves to a model', (t) => {
  for (const k of SERVED_KINDS) t.truthy(MODELS[k.model], k.model);
  for (const q of QUANTITY_FIELDS) {
    const [model, field] = q.split('.');
    t.regex(MODELS[model].fields[field], /Quantity$/, q);
  }
  t.is(MODELS.V1Deployment.name, 'io.k8s.api.apps.v1.Deployment');
  t.is(MODELS.V1ObjectMeta.name, 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
  t.is(MODELS.V1PodTemplateSpec.name, 'io.k8s.api.core.v1.PodTemplateSpec');
  t.is(MODELS.CoreV1Event.name, 'io.k8s.api.core.v1.Event');
  t.is(MODELS.EventsV1Event.name, 'io.k8s.api.events.v1.Event');
  t.is(MODELS.V1CustomResourceDefinition.name, 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition');
  t.is(MODELS.RbacV1Subject.name, 'io.k8s.api.rbac.v1.Subject');
  t.is(MODELS.V1LabelSelector.name, 'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector');
});
