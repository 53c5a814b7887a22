import test from 'ava';
import { applyDefaults, validateCustomResource } from '../../../apiserver/openapi/index.js';
import type { FieldError } from '../../../pkg/api/types.js';

const spec = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties: { spec: { type: 'object', properties, ...extra } },
});

function lines(errs: FieldError[]): string[] {
  return errs.map((e) => `${e.field}: ${e.message}`);
}

function check(schema: object, specValue: unknown): string[] {
  return lines(validateCustomResource(schema, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: specValue }));
}

test('type errors use Kubernetes wording for every type', (t) => {
  const s = spec({
    replicas: { type: 'integer' },
    ratio: { type: 'number' },
    name: { type: 'string' },
    on: { type: 'boolean' },
    list: { type: 'array', items: { type: 'string' } },
    obj: { type: 'object' },
  });
  t.deepEqual(check(s, { replicas: 'string', ratio: '1', name: 5, on: 'yes', list: {}, obj: [] }), [
    'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    'spec.ratio: Invalid value: "string": spec.ratio in body must be of type number: "string"',
    'spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer"',
    'spec.on: Invalid value: "string": spec.on in body must be of type boolean: "string"',
    'spec.list: Invalid value: "object": spec.list in body must be of type array: "object"',
    'spec.obj: Invalid value: "array": spec.obj in body must be of type object: "array"',
  ]);
  t.deepEqual(check(s, { replicas: 1.5 }), ['spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"']);
  t.deepEqual(check(s, { replicas: 2, ratio: 0.5, name: 'x', on: false, list: ['a'], obj: {} }), []);
  t.is(validateCustomResource(s, { spec: { replicas: 'x' } })[0].reason, 'FieldValueTypeInvalid');
});

test('required', (t) => {
  const s = spec({ size: { type: 'integer' } }, { required: ['size', 'color'] });
  t.deepEqual(check(s, {}), ['spec.size: Required value', 'spec.color: Required value']);
  t.deepEqual(check(s, { size: 1, color: 'x' }), []);
  const root = { type: 'object', required: ['spec'], properties: { spec: { type: 'object' } } };
  t.deepEqual(lines(validateCustomResource(root, { metadata: {} })), ['spec: Required value']);
});

test('enum', (t) => {
  const s = spec({ color: { type: 'string', enum: ['red', 'blue'] } });
  t.deepEqual(check(s, { color: 'pink' }), ['spec.color: Unsupported value: "pink": supported values: "red", "blue"']);
  t.deepEqual(check(s, { color: 'red' }), []);
  t.is(validateCustomResource(s, { spec: { color: 'x' } })[0].reason, 'FieldValueNotSupported');
});

test('minimum, maximum and their exclusive forms, multipleOf', (t) => {
  const s = spec({
    a: { type: 'integer', minimum: 1, maximum: 10 },
    b: { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1, exclusiveMaximum: true },
    c: { type: 'integer', multipleOf: 5 },
  });
  t.deepEqual(check(s, { a: 0, b: 0, c: 7 }), [
    'spec.a: Invalid value: 0: spec.a in body should be greater than or equal to 1',
    'spec.b: Invalid value: 0: spec.b in body should be greater than 0',
    'spec.c: Invalid value: 7: spec.c in body should be a multiple of 5',
  ]);
  t.deepEqual(check(s, { a: 11, b: 1 }), [
    'spec.a: Invalid value: 11: spec.a in body should be less than or equal to 10',
    'spec.b: Invalid value: 1: spec.b in body should be less than 1',
  ]);
  t.deepEqual(check(s, { a: 10, b: 0.5, c: 15 }), []);
});

test('minLength, maxLength, pattern', (t) => {
  const s = spec({ name: { type: 'string', minLength: 2, maxLength: 4, pattern: '^[a-z]+$' } });
  t.deepEqual(check(s, { name: 'a' }), ['spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long']);
  t.deepEqual(check(s, { name: 'abcde' }), ['spec.name: Too long: may not be more than 4 bytes']);
  t.deepEqual(check(s, { name: 'AB' }), ["spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"]);
  t.deepEqual(check(s, { name: 'abc' }), []);
  t.deepEqual(check(spec({ e: { type: 'string', maxLength: 2 } }), { e: 'éé' }), [], 'lengths count characters');
});

test('minItems, maxItems, uniqueItems, list types, items', (t) => {
  const s = spec({
    a: { type: 'array', minItems: 1, maxItems: 2, items: { type: 'integer' } },
    b: { type: 'array', uniqueItems: true, items: { type: 'string' } },
    c: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items: { type: 'object', properties: { name: { type: 'string' } } } },
  });
  t.deepEqual(check(s, { a: [] }), ['spec.a: Invalid value: []: spec.a in body should have at least 1 items']);
  t.deepEqual(check(s, { a: [1, 2, 3] }), ['spec.a: Too many: 3: must have at most 2 items']);
  t.deepEqual(check(s, { a: [1, 'x'] }), ['spec.a[1]: Invalid value: "string": spec.a[1] in body must be of type integer: "string"']);
  t.deepEqual(check(s, { b: ['x', 'y', 'x'] }), ['spec.b[2]: Duplicate value: "x"']);
  t.deepEqual(check(s, { c: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] }), ['spec.c[2]: Duplicate value: {"name":"a"}']);
  t.deepEqual(check(s, { a: [1], b: ['x'], c: [{ name: 'a' }] }), []);
});

test('additionalProperties as a schema, true and false; min/maxProperties', (t) => {
  const s = spec({
    labels: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 2 },
    free: { type: 'object', additionalProperties: true, minProperties: 1 },
  });
  t.deepEqual(check(s, { labels: { a: 'x', b: 1 } }), ['spec.labels.b: Invalid value: "integer": spec.labels.b in body must be of type string: "integer"']);
  t.deepEqual(check(s, { labels: { a: 'x', b: 'y', c: 'z' } }), ['spec.labels: Too many: 3: must have at most 2 properties']);
  t.deepEqual(check(s, { free: {} }), ['spec.free: Invalid value: {}: spec.free in body should have at least 1 properties']);
  t.deepEqual(check(s, { free: { x: [1, { y: 2 }] } }), []);
});

test('formats: int32, int64, date-time, date, uuid, ipv4, byte; unknown formats pass', (t) => {
  const s = spec({
    i: { type: 'integer', format: 'int32' },
    l: { type: 'integer', format: 'int64' },
    t: { type: 'string', format: 'date-time' },
    d: { type: 'string', format: 'date' },
    u: { type: 'string', format: 'uuid' },
    ip: { type: 'string', format: 'ipv4' },
    b: { type: 'string', format: 'byte' },
    x: { type: 'string', format: 'no-such-format' },
  });
  t.deepEqual(check(s, { i: 2 ** 31, t: 'yesterday', d: '2024-1-1', u: 'x', ip: '300.1.1.1', b: '!!', x: 'anything' }), [
    'spec.i: Invalid value: 2147483648: spec.i in body must be of type int32: "2147483648"',
    'spec.t: Invalid value: "yesterday": spec.t in body must be of type date-time: "yesterday"',
    'spec.d: Invalid value: "2024-1-1": spec.d in body must be of type date: "2024-1-1"',
    'spec.u: Invalid value: "x": spec.u in body must be of type uuid: "x"',
    'spec.ip: Invalid value: "300.1.1.1": spec.ip in body must be of type ipv4: "300.1.1.1"',
    'spec.b: Invalid value: "!!": spec.b in body must be of type byte: "!!"',
  ]);
  t.deepEqual(
    check(s, { i: -5, l: 2 ** 40, t: '2024-01-01T10:00:00Z', d: '2024-01-01', u: '123e4567-e89b-12d3-a456-426614174000', ip: '10.0.0.1', b: 'aGk=' }),
    [],
  );
});

test('nullable', (t) => {
  const s = spec({ a: { type: 'string', nullable: true }, b: { type: 'string' } });
  t.deepEqual(check(s, { a: null }), []);
  t.deepEqual(check(s, { b: null }), ['spec.b: Invalid value: "null": spec.b in body must be of type string: "null"']);
});

test('x-kubernetes-int-or-string, preserve-unknown-fields, embedded-resource', (t) => {
  const s = spec({
    port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
    raw: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    any: { 'x-kubernetes-preserve-unknown-fields': true },
    template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } } },
  });
  t.deepEqual(check(s, { port: 80, raw: { a: { b: 1 } }, any: [1, 'x'], template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { n: 1 } } }), []);
  t.deepEqual(check(s, { port: 'http' }), []);
  t.deepEqual(check(s, { port: true }), ['spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"']);
  t.deepEqual(check(s, { port: 1.5 }), ['spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"']);
  t.deepEqual(check(s, { template: { spec: { n: 'x' } } }), ['spec.template.spec.n: Invalid value: "string": spec.template.spec.n in body must be of type integer: "string"']);
});

test('allOf, anyOf, oneOf, not', (t) => {
  const s = spec({
    all: { type: 'integer', allOf: [{ minimum: 1 }, { maximum: 5 }] },
    any: { type: 'string', anyOf: [{ pattern: '^a' }, { pattern: '^b' }] },
    one: { type: 'object', oneOf: [{ required: ['x'] }, { required: ['y'] }] },
    not: { type: 'string', not: { enum: ['forbidden'] } },
  });
  t.deepEqual(check(s, { all: 3, any: 'bee', one: { x: 1 }, not: 'fine' }), []);
  t.deepEqual(check(s, { all: 9, any: 'cat', one: { x: 1, y: 2 }, not: 'forbidden' }), [
    'spec.all: Invalid value: 9: spec.all in body should be less than or equal to 5',
    'spec.any: Invalid value: "cat": spec.any in body must validate at least one schema (anyOf)',
    'spec.one: Invalid value: {"x":1,"y":2}: spec.one in body must validate one and only one schema (oneOf)',
    'spec.not: Invalid value: "forbidden": spec.not in body must not validate the schema (not)',
  ]);
  t.deepEqual(check(s, { one: {} }), ['spec.one: Invalid value: {}: spec.one in body must validate one and only one schema (oneOf)']);
});

test('the root and odd inputs', (t) => {
  t.deepEqual(lines(validateCustomResource({ type: 'object' }, 'x')), ['<root>: Invalid value: "string": <root> in body must be of type object: "string"'.replace('<root>:', ':')]);
  t.deepEqual(validateCustomResource({ type: 'object' }, { metadata: { name: 'x' }, anything: 1 }), []);
  t.deepEqual(validateCustomResource({}, { a: 1 }), []);
  const s = spec({ n: { type: 'string', pattern: '(' } });
  t.deepEqual(check(s, { n: 'x' }), [], 'an uncompilable pattern is left to validateCrdSchema');
});

test('applyDefaults fills absent fields, nested and in list items', (t) => {
  const s = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        default: {},
        properties: {
          size: { type: 'integer', default: 1 },
          tags: { type: 'array', default: ['a'], items: { type: 'string' } },
          ports: { type: 'array', items: { type: 'object', properties: { protocol: { type: 'string', default: 'TCP' } } } },
          nullable: { type: 'string', nullable: true, default: 'x' },
        },
      },
    },
  };
  const o: any = { metadata: {} };
  applyDefaults(s, o);
  t.deepEqual(o.spec, { size: 1, tags: ['a'], nullable: 'x' });
  const p: any = { spec: { size: 3, ports: [{}, { protocol: 'UDP' }], nullable: null } };
  applyDefaults(s, p);
  t.deepEqual(p.spec, { size: 3, tags: ['a'], ports: [{ protocol: 'TCP' }, { protocol: 'UDP' }], nullable: null });
  o.spec.tags.push('b');
  const q: any = {};
  applyDefaults(s, q);
  t.deepEqual(q.spec.tags, ['a'], 'defaults are copied, not shared');
});
