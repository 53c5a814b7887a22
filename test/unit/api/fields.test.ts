import test from 'ava';
import { StatusError } from '../../../apiserver/status.js';
import { compileFieldSelector, fieldSelectorToString, parseFieldSelector } from '../../../pkg/api/fields.js';

test('parses terms with all three operators', (t) => {
  t.deepEqual(parseFieldSelector('metadata.name=a,spec.nodeName!=n1,status.phase==Running'), [
    { field: 'metadata.name', operator: '=', value: 'a' },
    { field: 'spec.nodeName', operator: '!=', value: 'n1' },
    { field: 'status.phase', operator: '=', value: 'Running' },
  ]);
  t.deepEqual(parseFieldSelector(''), []);
  t.deepEqual(parseFieldSelector('spec.nodeName='), [{ field: 'spec.nodeName', operator: '=', value: '' }]);
});

test('escaped values', (t) => {
  t.deepEqual(parseFieldSelector('a=x\\,y\\=z\\\\,b=1'), [
    { field: 'a', operator: '=', value: 'x,y=z\\' },
    { field: 'b', operator: '=', value: '1' },
  ]);
  const reqs = parseFieldSelector('a=x\\,y');
  t.is(fieldSelectorToString(reqs), 'a=x\\,y');
  t.throws(() => parseFieldSelector('a=\\q'), { instanceOf: StatusError });
});

test('malformed selectors are 400', (t) => {
  for (const bad of ['abc', '=x', 'a=b,c']) {
    const e = t.throws(() => parseFieldSelector(bad), { instanceOf: StatusError }, bad);
    t.is(e!.code, 400);
  }
});

test('matching and unknown fields', (t) => {
  const m = compileFieldSelector('spec.nodeName=,status.phase!=Failed', ['spec.nodeName', 'status.phase']);
  t.true(m({ 'spec.nodeName': undefined, 'status.phase': 'Pending' }));
  t.false(m({ 'spec.nodeName': 'n1', 'status.phase': 'Pending' }));
  t.false(m({ 'spec.nodeName': '', 'status.phase': 'Failed' }));
  const e = t.throws(() => compileFieldSelector('foo=bar', []), { instanceOf: StatusError });
  t.is(e!.code, 400);
  t.is(e!.message, '"foo" is not a known field selector: only "metadata.name", "metadata.namespace"');
  t.true(compileFieldSelector('metadata.name=x', [])({ 'metadata.name': 'x' }));
});
