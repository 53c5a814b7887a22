import test from 'ava';
import { buildOpenApi, type CrdSchemaSource } from '../../../apiserver/openapi/index.js';
import { SERVED_KINDS } from '../../../apiserver/openapi/k8s-facts.js';
import { MODELS } from '../../../apiserver/openapi/models.js';
import { crd, servedResources } from './fixtures.js';

type Doc = { openapi: string; paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };

const widget: CrdSchemaSource = {
  group: 'example.com',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
  schema: crd.spec.versions[0].schema.openAPIV3Schema,
  subresources: ['status', 'scale'],
};

function parse(api: ReturnType<typeof buildOpenApi>, gv: string): Doc {
  const d = api.document(gv);
  if (!d) throw new Error(`no document ${gv}`);
  return JSON.parse(d.body) as Doc;
}

function patchOpsFor(doc: Doc, gvk: { group: string; version: string; kind: string }): any[] {
  const ops: any[] = [];
  for (const item of Object.values(doc.paths)) {
    const p = item.patch;
    const g = p?.['x-kubernetes-group-version-kind'];
    if (g && g.group === gvk.group && g.version === gvk.version && g.kind === gvk.kind) ops.push(p);
  }
  return ops;
}

test('root lists every group version with a hash that matches its document', (t) => {
  const api = buildOpenApi(servedResources(), [widget]);
  const root = api.root();
  for (const gv of ['api/v1', 'apis/apps/v1', 'apis/batch/v1', 'apis/rbac.authorization.k8s.io/v1', 'apis/example.com/v1', 'apis/autoscaling/v2']) {
    const entry = root.paths[gv];
    t.truthy(entry, gv);
    t.is(entry.serverRelativeURL, `/openapi/v3/${gv}?hash=${api.document(gv)!.hash}`);
  }
  t.is(api.document('apis/nope/v1'), undefined);
  t.is(api.root(), root, 'root is cached');
});

test('apps/v1 has a Deployment patch operation kubectl accepts as field-validating', (t) => {
  const doc = parse(buildOpenApi(servedResources(), []), 'apis/apps/v1');
  t.is(doc.openapi, '3.0.0');
  const item = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'];
  t.truthy(item);
  t.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: 'apps', version: 'v1', kind: 'Deployment' });
  const names = (item.patch.parameters as { name: string; in: string }[]).map((p) => p.name);
  for (const n of ['fieldValidation', 'dryRun', 'fieldManager', 'force']) t.true(names.includes(n), n);
  t.truthy(item.patch.requestBody.content['application/strategic-merge-patch+json']);
  t.truthy(item.get && item.put && item.delete);
  const coll = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments'];
  t.truthy(coll.get && coll.post && coll.delete);
  t.true((coll.post.parameters as { name: string }[]).some((p) => p.name === 'fieldValidation'));
  t.truthy(doc.paths['/apis/apps/v1/deployments'].get);
  const scale = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'];
  t.deepEqual(scale.patch['x-kubernetes-group-version-kind'], { group: 'autoscaling', version: 'v1', kind: 'Scale' });
  t.truthy(doc.components.schemas['io.k8s.api.autoscaling.v1.Scale']);
});

test('every served kind has a validating patch op and a top-level schema with its gvk', (t) => {
  const api = buildOpenApi(servedResources(), []);
  for (const k of SERVED_KINDS) {
    if (k.namingOnly || k.kind === 'Scale' || k.kind === 'Binding') continue;
    const gv = k.group ? `apis/${k.group}/${k.version}` : `api/${k.version}`;
    const doc = parse(api, gv);
    const ops = patchOpsFor(doc, k);
    t.true(ops.length > 0, `${k.kind} patch op`);
    t.true(ops.every((o) => o.parameters.some((p: { name: string }) => p.name === 'fieldValidation')), `${k.kind} fieldValidation`);
    const schemaName = MODELS[k.model].name;
    const schema = doc.components.schemas[schemaName];
    t.truthy(schema, schemaName);
    t.deepEqual(schema['x-kubernetes-group-version-kind'], [{ group: k.group, version: k.version, kind: k.kind }]);
    t.is(typeof schema.description, 'string');
    t.truthy(schema.properties.metadata, `${k.kind} metadata`);
  }
  const core = parse(api, 'api/v1');
  t.truthy(core.paths['/api/v1/namespaces/{namespace}/bindings'].post);
  t.truthy(core.paths['/api/v1/namespaces/{namespace}/pods/{name}/binding'].post);
  t.truthy(core.paths['/api/v1/namespaces/{namespace}/pods/{name}/log'].get);
  t.truthy(core.paths['/api/v1/nodes/{name}'].patch, 'cluster-scoped paths');
});

test('every $ref in every document resolves, refs are allOf-wrapped and schema names are unique', (t) => {
  const api = buildOpenApi(servedResources(), [widget]);
  const names = new Map<string, string>();
  for (const [model, facts] of Object.entries(MODELS)) {
    t.false(names.has(facts.name), `${facts.name} from ${model} and ${names.get(facts.name)}`);
    names.set(facts.name, model);
  }
  for (const gv of Object.keys(api.root().paths)) {
    const body = api.document(gv)!.body;
    const doc = JSON.parse(body) as Doc;
    for (const m of body.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) t.truthy(doc.components.schemas[m[1]], `${gv}: ${m[1]}`);
    const spec = doc.components.schemas['io.k8s.api.core.v1.PodSpec'];
    if (spec) t.deepEqual(spec.properties.nodeSelector, { type: 'object', additionalProperties: { type: 'string' } });
  }
});

test('schemas carry explain facts and strategic-merge markers', (t) => {
  const s = parse(buildOpenApi(servedResources(), []), 'apis/apps/v1').components.schemas;
  const podSpec = s['io.k8s.api.core.v1.PodSpec'];
  t.deepEqual(podSpec.required, ['containers']);
  t.deepEqual(podSpec.properties.containers.items, { allOf: [{ $ref: '#/components/schemas/io.k8s.api.core.v1.Container' }] });
  t.is(podSpec.properties.containers['x-kubernetes-patch-merge-key'], 'name');
  t.is(podSpec.properties.containers['x-kubernetes-patch-strategy'], 'merge');
  t.is(podSpec.properties.volumes['x-kubernetes-patch-strategy'], 'merge,retainKeys');
  t.deepEqual(podSpec.properties.restartPolicy.enum, ['Always', 'Never', 'OnFailure']);
  const container = s['io.k8s.api.core.v1.Container'];
  t.is(container.properties.ports['x-kubernetes-patch-merge-key'], 'containerPort');
  t.deepEqual(container.properties.ports['x-kubernetes-list-map-keys'], ['containerPort', 'protocol']);
  t.is(container.properties.env['x-kubernetes-patch-merge-key'], 'name');
  t.is(container.properties.volumeMounts['x-kubernetes-patch-merge-key'], 'mountPath');
  t.deepEqual(s['io.k8s.api.core.v1.ResourceRequirements'].properties.limits.additionalProperties, {
    allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity' }],
  });
  t.deepEqual(s['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].format, 'int-or-string');
  t.is(s['io.k8s.apimachinery.pkg.apis.meta.v1.Time'].format, 'date-time');
  t.deepEqual(s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.finalizers['x-kubernetes-list-type'], 'set');
  t.is(s['io.k8s.api.apps.v1.DeploymentSpec'].properties.replicas.format, 'int32');
  t.deepEqual(s['io.k8s.api.apps.v1.DeploymentSpec'].required, ['selector', 'template']);
});

test('custom resources: schema published with metadata, no strategic merge patch', (t) => {
  const api = buildOpenApi(servedResources(), [widget]);
  const doc = parse(api, 'apis/example.com/v1');
  const item = doc.paths['/apis/example.com/v1/namespaces/{namespace}/widgets/{name}'];
  t.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: 'example.com', version: 'v1', kind: 'Widget' });
  t.true(item.patch.parameters.some((p: { name: string }) => p.name === 'fieldValidation'));
  t.deepEqual(Object.keys(item.patch.requestBody.content).sort(), ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json']);
  const status = doc.paths['/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status'];
  t.false('application/strategic-merge-patch+json' in status.patch.requestBody.content);
  const schema = doc.components.schemas['com.example.v1.Widget'];
  t.deepEqual(schema['x-kubernetes-group-version-kind'], [{ group: 'example.com', version: 'v1', kind: 'Widget' }]);
  t.is(schema.properties.spec.properties.size.type, 'integer');
  t.deepEqual(schema.properties.metadata.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }]);
  t.truthy(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']);
  t.truthy(doc.components.schemas['com.example.v1.WidgetList']);
});

test('a CRD change changes only its own group version hash; rebuilding is cheap', (t) => {
  const resources = servedResources();
  const a = buildOpenApi(resources, [widget]).root();
  const changed = { ...widget, schema: { type: 'object', properties: { spec: { type: 'object', properties: { n: { type: 'string' } } } } } };
  const start = performance.now();
  const b = buildOpenApi(resources, [changed]).root();
  t.true(performance.now() - start < 500);
  t.not(a.paths['apis/example.com/v1'].serverRelativeURL, b.paths['apis/example.com/v1'].serverRelativeURL);
  t.is(a.paths['apis/apps/v1'].serverRelativeURL, b.paths['apis/apps/v1'].serverRelativeURL);
  const c = buildOpenApi(resources, []).root();
  t.false('apis/example.com/v1' in c.paths);
});

test('a served kind without a model is published as an open object', (t) => {
  const api = buildOpenApi(
    [{ group: 'networking.skiff.dev', version: 'v1alpha1', kind: 'Network', listKind: 'NetworkList', plural: 'networks', singular: 'network', namespaced: false, verbs: ['get', 'list', 'patch', 'create'] }],
    [],
  );
  const doc = parse(api, 'apis/networking.skiff.dev/v1alpha1');
  const schema = doc.components.schemas['dev.skiff.networking.v1alpha1.Network'];
  t.true(schema['x-kubernetes-preserve-unknown-fields']);
  t.truthy(doc.paths['/apis/networking.skiff.dev/v1alpha1/networks/{name}'].patch);
  t.deepEqual(api.unknownFields({ group: 'networking.skiff.dev', version: 'v1alpha1', kind: 'Network' }, { metadata: { name: 'n', labelz: {} }, spec: { any: 1 } }), [
    'metadata.labelz',
  ]);
});
