import test from 'ava';
import { applyJsonPatch, parsePointer } from '../../../apiserver/patch/json-patch.js';
import { StatusError } from '../../../apiserver/status.js';

function fails(t: import('ava').ExecutionContext, fn: () => unknown, code: number, match?: RegExp): void {
  const e = t.throws(fn);
  t.true(e instanceof StatusError, `expected a StatusError, got ${String(e)}`);
  t.is((e as StatusError).code, code);
  if (match) t.regex(e!.message, match);
}

test('pointer escapes', (t) => {
  t.deepEqual(parsePointer(''), []);
  t.deepEqual(parsePointer('/a~1b/c~0d/~01'), ['a/b', 'c~d', '~1']);
  t.deepEqual(parsePointer('/'), ['']);
  t.throws(() => parsePointer('a'));
  t.throws(() => parsePointer('/a~2'));
});

test('add, remove, replace on maps and lists', (t) => {
  const doc = { metadata: { labels: { a: '1' } }, spec: { list: [1, 2, 3] } };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/metadata/labels/b', value: '2' },
    { op: 'add', path: '/metadata/annotations', value: { 'example.com/x': 'y' } },
    { op: 'add', path: '/spec/list/-', value: 4 },
    { op: 'add', path: '/spec/list/0', value: 0 },
    { op: 'remove', path: '/spec/list/1' },
    { op: 'replace', path: '/metadata/labels/a', value: 'one' },
  ]);
  t.deepEqual(out, { metadata: { labels: { a: 'one', b: '2' }, annotations: { 'example.com/x': 'y' } }, spec: { list: [0, 2, 3, 4] } });
  t.deepEqual(doc, { metadata: { labels: { a: '1' } }, spec: { list: [1, 2, 3] } }, 'input untouched');
});

test('escaped keys as kubectl sends them for annotations', (t) => {
  const out = applyJsonPatch({ metadata: { annotations: { 'a/b': 'x', 'c~d': 'y' } } }, [
    { op: 'replace', path: '/metadata/annotations/a~1b', value: 'z' },
    { op: 'remove', path: '/metadata/annotations/c~0d' },
  ]);
  t.deepEqual(out, { metadata: { annotations: { 'a/b': 'z' } } });
});

test('move and copy', (t) => {
  const out = applyJsonPatch({ a: { x: 1 }, b: [1, 2] }, [
    { op: 'copy', from: '/a', path: '/c' },
    { op: 'move', from: '/a/x', path: '/b/0' },
    { op: 'move', from: '/c', path: '/c' },
  ]);
  t.deepEqual(out, { a: {}, b: [1, 1, 2], c: { x: 1 } });
  fails(t, () => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]), 422, /children/);
  fails(t, () => applyJsonPatch({}, [{ op: 'copy', from: '/nope', path: '/x' }]), 422, /missing path/);
});

test('copied values are not shared', (t) => {
  const out = applyJsonPatch({ a: { x: 1 } }, [
    { op: 'copy', from: '/a', path: '/b' },
    { op: 'replace', path: '/b/x', value: 2 },
  ]);
  t.deepEqual(out, { a: { x: 1 }, b: { x: 2 } });
});

test('test op: pass and fail (422)', (t) => {
  const doc = { spec: { replicas: 3, tpl: { a: [1, { b: 2 }] } } };
  t.deepEqual(applyJsonPatch(doc, [{ op: 'test', path: '/spec/tpl', value: { a: [1, { b: 2 }] } }]), doc);
  fails(t, () => applyJsonPatch(doc, [{ op: 'test', path: '/spec/replicas', value: 2 }]), 422, /test operation failed.*\/spec\/replicas/);
  fails(t, () => applyJsonPatch(doc, [{ op: 'test', path: '/spec/nope', value: 2 }]), 422, /missing/);
});

test('whole-document add/replace', (t) => {
  t.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
  fails(t, () => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '' }]), 422);
});

test('malformed patches are 400', (t) => {
  fails(t, () => applyJsonPatch({}, { op: 'add' }), 400, /list of operations/);
  fails(t, () => applyJsonPatch({}, ['x']), 400);
  fails(t, () => applyJsonPatch({}, [{ op: 'frob', path: '/a' }]), 400, /unknown or missing "op"/);
  fails(t, () => applyJsonPatch({}, [{ op: 'add', value: 1 }]), 400, /path/);
  fails(t, () => applyJsonPatch({}, [{ op: 'add', path: '/a' }]), 400, /missing "value"/);
  fails(t, () => applyJsonPatch({}, [{ op: 'move', path: '/a' }]), 400, /from/);
  fails(t, () => applyJsonPatch({}, [{ op: 'add', path: 'a', value: 1 }]), 400, /pointer/);
});

test('paths that do not apply are 422', (t) => {
  fails(t, () => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/5', value: 1 }]), 422, /out of range/);
  fails(t, () => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/1' }]), 422, /out of range/);
  fails(t, () => applyJsonPatch({ a: [1] }, [{ op: 'remove', path: '/a/-' }]), 422);
  fails(t, () => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/01', value: 1 }]), 422);
  fails(t, () => applyJsonPatch({}, [{ op: 'remove', path: '/x' }]), 422, /missing path/);
  fails(t, () => applyJsonPatch({}, [{ op: 'replace', path: '/x', value: 1 }]), 422, /missing/);
  fails(t, () => applyJsonPatch({}, [{ op: 'add', path: '/x/y', value: 1 }]), 422, /missing path/);
  fails(t, () => applyJsonPatch({ a: 'str' }, [{ op: 'add', path: '/a/y', value: 1 }]), 422);
});

test('a failing op leaves the input untouched', (t) => {
  const doc = { a: 1 };
  t.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/b', value: 2 }, { op: 'test', path: '/a', value: 2 }]));
  t.deepEqual(doc, { a: 1 });
});

test('__proto__ is an ordinary key', (t) => {
  const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
  t.deepEqual(Object.keys(out), ['__proto__']);
  t.is(({} as Record<string, unknown>).polluted, undefined);
  t.is(Object.getPrototypeOf(out), Object.prototype);
  const e = t.throws(() => applyJsonPatch({}, [{ op: 'remove', path: '/constructor' }]));
  t.true(e instanceof StatusError);
});

test('more than 10000 operations is 413', (t) => {
  const ops = Array.from({ length: 10001 }, () => ({ op: 'test', path: '', value: {} }));
  fails(t, () => applyJsonPatch({}, ops), 413);
  t.deepEqual(applyJsonPatch({}, ops.slice(1)), {});
});
