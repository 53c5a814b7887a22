import test from 'ava';
import { pruneUnknown, unknownFieldsBySchema, validateCrdSchema } from '../../../apiserver/openapi/index.js';
import { crd } from './fixtures.js';

const schema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      properties: {
        size: { type: 'integer' },
        items: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
        labels: { type: 'object', additionalProperties: { type: 'object', properties: { v: { type: 'string' } } } },
        free: { type: 'object', additionalProperties: true },
        raw: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { known: { type: 'object', properties: { a: { type: 'string' } } } } },
        empty: { type: 'object' },
        template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } },
      },
    },
    status: { type: 'object', properties: { ready: { type: 'boolean' } } },
  },
};

const good = () => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name: 'w', labels: { a: 'b' }, annotations: {}, finalizers: ['x'] },
  spec: {
    size: 1,
    items: [{ name: 'a' }],
    labels: { k: { v: 'x' } },
    free: { anything: { goes: [1] } },
    raw: { whatever: 1, known: { a: 'x' } },
    empty: {},
    template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { n: 1 } },
  },
  status: { ready: true },
});

test('known fields are kept and not reported', (t) => {
  const o = good();
  t.deepEqual(unknownFieldsBySchema(schema, o), []);
  t.deepEqual(pruneUnknown(schema, o), []);
  t.deepEqual(o, good());
});

test('unknown fields at every level are reported in Kubernetes path form and pruned', (t) => {
  const o: any = good();
  o.spec.sise = 2;
  o.spec.items[0].nmae = 'x';
  o.spec.labels.k.w = 1;
  o.spec.empty.x = 1;
  o.spec.template.spec.m = 1;
  o.spec.template.metadata.labelz = {};
  o.spec.template.extra = 1;
  o.metadata.labelz = {};
  o.top = 1;
  const expected = [
    'metadata.labelz',
    'spec.items[0].nmae',
    'spec.labels.k.w',
    'spec.empty.x',
    'spec.template.metadata.labelz',
    'spec.template.spec.m',
    'spec.template.extra',
    'spec.sise',
    'top',
  ];
  t.deepEqual(unknownFieldsBySchema(schema, o), expected);
  t.deepEqual(pruneUnknown(schema, o), expected);
  t.deepEqual(o, good());
});

test('preserve-unknown-fields keeps unknown fields but known properties below it still prune', (t) => {
  const o: any = good();
  o.spec.raw.more = { deep: true };
  o.spec.raw.known.b = 2;
  t.deepEqual(pruneUnknown(schema, o), ['spec.raw.known.b']);
  t.deepEqual(o.spec.raw, { whatever: 1, more: { deep: true }, known: { a: 'x' } });
  const open = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  t.deepEqual(unknownFieldsBySchema(open, { metadata: { name: 'a' }, spec: { x: 1 } }), []);
});

test('values of the wrong type are left for validation, not pruned', (t) => {
  const o: any = good();
  o.spec.items = 'x';
  o.spec.labels = [1];
  o.spec.size = { a: 1 };
  t.deepEqual(pruneUnknown(schema, o), []);
});

test('validateCrdSchema accepts a structural schema', (t) => {
  t.deepEqual(validateCrdSchema(crd.spec.versions[0].schema.openAPIV3Schema), []);
  t.deepEqual(validateCrdSchema(schema), []);
});

test('validateCrdSchema rejects obviously non-structural schemas', (t) => {
  const lines = (s: unknown, path?: string) => validateCrdSchema(s, path).map((e) => `${e.field}: ${e.message}`);
  t.deepEqual(lines({ properties: {} }, 'spec.versions[0].schema.openAPIV3Schema'), [
    'spec.versions[0].schema.openAPIV3Schema.type: Required value: must not be empty at the root',
  ]);
  t.deepEqual(lines({ type: 'string' }, 's'), ['s.type: Invalid value: "string": must be object at the root']);
  t.deepEqual(lines('x', 's'), ['s: Required value: must be an object schema']);
  t.deepEqual(lines({ type: 'object', properties: { spec: { properties: { a: { type: 'strin' } } } } }, 's'), [
    's.properties[spec].type: Required value: must not be empty for specified object fields',
    's.properties[spec].properties[a].type: Unsupported value: "strin": supported values: "array", "boolean", "integer", "number", "object", "string"',
  ]);
  t.deepEqual(lines({ type: 'object', properties: { l: { type: 'array' } } }, 's'), ['s.properties[l].items: Required value: must be specified']);
  t.deepEqual(lines({ type: 'object', properties: { m: { type: 'object', properties: {}, additionalProperties: { type: 'string' } } } }, 's'), [
    's.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive',
  ]);
  t.deepEqual(lines({ type: 'object', properties: { p: { type: 'string', pattern: '(' } } }, 's'), ['s.properties[p].pattern: Invalid value: "(": must be a valid regular expression']);
  t.deepEqual(lines({ type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } }, 's'), [
    's.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified',
  ]);
  t.deepEqual(lines({ type: 'object', properties: { r: { $ref: '#/x' } } }, 's'), [
    's.properties[r].type: Required value: must not be empty for specified object fields',
    's.properties[r].$ref: Forbidden: $ref is not supported',
  ]);
  t.deepEqual(lines({ type: 'object', properties: { l: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'map' } } }, 's'), [
    's.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map',
  ]);
  t.deepEqual(lines({ type: 'object', properties: { i: { 'x-kubernetes-int-or-string': true }, a: { 'x-kubernetes-preserve-unknown-fields': true } } }, 's'), []);
  t.deepEqual(lines({ type: 'object', properties: { o: { type: 'string', anyOf: [{ pattern: '^a' }] } } }, 's'), [], 'value validations in anyOf need no type');
});
