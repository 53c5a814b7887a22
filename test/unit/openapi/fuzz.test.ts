// Thousands of random and randomly damaged objects and schemas: the checks must return answers,
// never throw, whatever a client sends.
import test from 'ava';
import {
  applyDefaults,
  pruneBuiltin,
  pruneUnknown,
  typeMismatches,
  unknownFields,
  unknownFieldsBySchema,
  validateCrdSchema,
  validateCustomResource,
} from '../../../apiserver/openapi/index.js';
import { SERVED_KINDS } from '../../../apiserver/openapi/k8s-facts.js';
import { builtinFixtures, crd } from './fixtures.js';

/** mulberry32: a small seeded generator so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'spec', 'metadata', 'status', 'template', 'containers', 'name', 'image', 'ports', 'containerPort', 'env', 'value', 'replicas', 'selector',
  'matchLabels', 'labels', 'items', 'type', 'properties', 'additionalProperties', 'required', 'enum', 'minimum', 'maximum', 'pattern',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource', 'nullable', 'anyOf', 'oneOf',
  'allOf', 'not', 'format', 'default', 'maxItems', 'uniqueItems', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'volumes',
  'resources', 'limits', '__proto__', 'constructor', 'toString', '', 'a.b', '[0]',
];
const STRINGS = ['', 'a', 'object', 'array', 'string', 'integer', 'number', 'boolean', 'int32', 'date-time', '(', '^a+$', 'map', 'set', '1Gi'];

function randomValue(r: () => number, depth: number): unknown {
  const x = r();
  if (depth <= 0 || x < 0.35) {
    const y = r();
    if (y < 0.2) return STRINGS[Math.floor(r() * STRINGS.length)];
    if (y < 0.35) return Math.floor(r() * 200) - 100;
    if (y < 0.45) return r() * 10;
    if (y < 0.55) return r() < 0.5;
    if (y < 0.65) return null;
    if (y < 0.7) return [Infinity, NaN, -0, 2 ** 60][Math.floor(r() * 4)];
    return STRINGS[Math.floor(r() * STRINGS.length)] + String(Math.floor(r() * 10));
  }
  if (x < 0.55) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  const o: Record<string, unknown> = {};
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const k = KEYS[Math.floor(r() * KEYS.length)];
    Object.defineProperty(o, k, { value: randomValue(r, depth - 1), enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** Replaces a few random nodes of a realistic object with random values. */
function damage(r: () => number, v: unknown, depth = 0): unknown {
  if (r() < 0.08) return randomValue(r, 3);
  if (Array.isArray(v)) return v.map((x) => damage(r, x, depth + 1));
  if (typeof v === 'object' && v !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (r() > 0.05) o[k] = damage(r, x, depth + 1);
    if (r() < 0.1) o[KEYS[Math.floor(r() * KEYS.length)]] = randomValue(r, 2);
    return o;
  }
  return v;
}

const kinds = SERVED_KINDS.filter((k) => !k.namingOnly);

test('built-in checks never throw on random or damaged objects', (t) => {
  const r = rng(12345);
  const fixtures = Object.values(builtinFixtures);
  let findings = 0;
  for (let i = 0; i < 3000; i++) {
    const useFixture = i % 2 === 0;
    const f = fixtures[i % fixtures.length];
    const k = useFixture ? f : kinds[i % kinds.length];
    const obj = useFixture ? damage(r, f.obj) : randomValue(r, 6);
    try {
      findings += unknownFields(k, obj).length + typeMismatches(k, obj).length;
      const copy = JSON.parse(JSON.stringify(obj ?? null)) as unknown;
      pruneBuiltin(k, copy);
      t.deepEqual(unknownFields(k, copy), [], 'nothing unknown is left after pruning');
    } catch (err) {
      t.fail(`seed 12345 iteration ${i} (${k.kind}): ${(err as Error).stack}`);
      return;
    }
  }
  t.true(findings > 0);
});

test('custom resource checks never throw on random schemas and objects', (t) => {
  const r = rng(777);
  const realSchema = crd.spec.versions[0].schema.openAPIV3Schema;
  for (let i = 0; i < 3000; i++) {
    const schema = (i % 3 === 0 ? damage(r, realSchema) : randomValue(r, 5)) as object;
    const obj = i % 2 === 0 ? damage(r, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 2, color: 'red', items: ['a'] } }) : randomValue(r, 5);
    try {
      validateCrdSchema(schema);
      validateCustomResource(schema, obj);
      unknownFieldsBySchema(schema, obj);
      const copy = JSON.parse(JSON.stringify(obj ?? null)) as unknown;
      applyDefaults(schema, copy);
      pruneUnknown(schema, copy);
      t.deepEqual(unknownFieldsBySchema(schema, copy), [], 'nothing unknown is left after pruning');
    } catch (err) {
      t.fail(`seed 777 iteration ${i}: ${(err as Error).stack}\nschema ${JSON.stringify(schema)}\nobj ${JSON.stringify(obj)}`);
      return;
    }
  }
  t.pass();
});
