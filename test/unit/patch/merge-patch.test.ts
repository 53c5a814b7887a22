import test from 'ava';
import { applyMergePatch, createMergePatch } from '../../../apiserver/patch/merge-patch.js';
import { StatusError } from '../../../apiserver/status.js';

test('RFC 7386 examples', (t) => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [doc, patch, want] of cases) t.deepEqual(applyMergePatch(doc, patch), want, JSON.stringify([doc, patch]));
});

test('does not mutate its inputs', (t) => {
  const doc = { spec: { a: { b: 1 } } };
  const patch = { spec: { a: { c: 2 } } };
  const out = applyMergePatch(doc, patch) as { spec: { a: Record<string, number> } };
  out.spec.a.c = 3;
  t.deepEqual(doc, { spec: { a: { b: 1 } } });
  t.deepEqual(patch, { spec: { a: { c: 2 } } });
});

test('a non-object patch is a 400', (t) => {
  for (const p of [[], 'x', 1, null]) {
    const e = t.throws(() => applyMergePatch({}, p));
    t.true(e instanceof StatusError && e.code === 400);
  }
});

test('createMergePatch round-trips', (t) => {
  const a = { metadata: { labels: { x: '1', y: '2' } }, spec: { replicas: 1, list: [1, 2], gone: true } };
  const b = { metadata: { labels: { x: '1', z: '3' } }, spec: { replicas: 2, list: [1, 2] }, status: { ok: true } };
  const p = createMergePatch(a, b);
  t.deepEqual(p, { metadata: { labels: { y: null, z: '3' } }, spec: { replicas: 2, gone: null }, status: { ok: true } });
  t.deepEqual(applyMergePatch(a, p), b);
  t.deepEqual(createMergePatch(b, b), {});
});
