import test from 'ava';
import { StatusError } from '../../../apiserver/status.js';
import {
  compileLabelSelector,
  formatLabels,
  labelSelectorToString,
  parseLabelSelector,
  selectorFromLabelSelector,
  validateLabelSelector,
} from '../../../pkg/api/labels.js';

const L = { app: 'web', tier: 'fe', env: '' };

test('equality, inequality, set and existence requirements', (t) => {
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=db', false],
    ['missing!=x', true],
    ['app in (web,db)', true],
    ['app in (db)', false],
    ['app notin (db)', true],
    ['missing notin (db)', true],
    ['app notin (web)', false],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['missing', false],
    ['app=web,tier=fe', true],
    ['app=web,tier=be', false],
    [' app = web , tier in ( fe , be ) ', true],
    ['env=', true],
    ['env=,app=web', true],
    ['app in (web,)', true],
  ];
  for (const [sel, want] of cases) t.is(compileLabelSelector(sel)(L), want, sel);
  t.false(compileLabelSelector('app')(undefined));
  t.true(compileLabelSelector('!app')(undefined));
  t.true(compileLabelSelector('app!=x')(undefined));
});

test('numeric comparisons', (t) => {
  t.true(compileLabelSelector('n>3')({ n: '5' }));
  t.false(compileLabelSelector('n<3')({ n: '5' }));
  t.false(compileLabelSelector('n>3')({ n: 'x' }));
});

test('parse errors are StatusError 400 naming the problem', (t) => {
  for (const bad of ['app=', 'a b', 'app in web', 'app in ()', '=x', 'app=web,', ',', 'app!', 'app in (a', '-bad=x', 'app=-x', 'x=(y)', 'n>a', '!']) {
    if (bad === 'app=') continue;
    const e = t.throws(() => parseLabelSelector(bad), { instanceOf: StatusError }, bad);
    t.is(e!.code, 400, bad);
    t.is(e!.reason, 'BadRequest');
    t.true(e!.message.length > 0);
  }
  const e = t.throws(() => parseLabelSelector('-bad=x'), { instanceOf: StatusError });
  t.regex(e!.message, /name part must consist of alphanumeric characters/);
  const e2 = t.throws(() => parseLabelSelector('app in ()'), { instanceOf: StatusError });
  t.regex(e2!.message, /values set can't be empty/);
});

test('random input throws only StatusError', (t) => {
  const alphabet = 'ab=!(), in notin\t-._/xyzAB0123><\\"\'';
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  let parsed = 0;
  for (let i = 0; i < 5000; i++) {
    const len = rnd() % 20;
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[rnd() % alphabet.length];
    try {
      const m = compileLabelSelector(s);
      m({ a: 'b' });
      parsed++;
    } catch (e) {
      if (!(e instanceof StatusError) || e.code !== 400) t.fail(`unexpected error for ${JSON.stringify(s)}: ${String(e)}`);
    }
  }
  t.true(parsed > 0);
});

test('structured selectors', (t) => {
  const sel = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }, { key: 'gone', operator: 'DoesNotExist' }] };
  t.true(selectorFromLabelSelector(sel)(L));
  t.false(selectorFromLabelSelector(sel)({ app: 'web', tier: 'db' }));
  t.true(selectorFromLabelSelector({})(L));
  t.false(selectorFromLabelSelector(undefined)(L));
  t.true(selectorFromLabelSelector({ matchExpressions: [{ key: 'app', operator: 'Exists' }] })(L));
  t.true(selectorFromLabelSelector({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] })(L));
  t.throws(() => selectorFromLabelSelector({ matchExpressions: [{ key: 'app', operator: 'Bogus' }] }), { instanceOf: StatusError });
});

test('selector string form is canonical', (t) => {
  t.is(labelSelectorToString({ matchLabels: { b: '2', a: '1' } }), 'a=1,b=2');
  t.is(
    labelSelectorToString({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['z', 'a'] }, { key: 'x', operator: 'Exists' }, { key: 'y', operator: 'DoesNotExist' }] }),
    'app=web,tier notin (a,z),x,!y',
  );
  t.is(labelSelectorToString({ matchExpressions: [{ key: 'k', operator: 'In', values: ['b', 'a'] }] }), 'k in (a,b)');
  t.is(labelSelectorToString(undefined), '');
  // The string form parses back to the same selector.
  const s = labelSelectorToString({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] });
  t.true(compileLabelSelector(s)(L));
  t.is(formatLabels({ b: '1', a: '2' }), 'a=2,b=1');
  t.is(formatLabels({}), '<none>');
});

test('structured selector validation', (t) => {
  t.deepEqual(validateLabelSelector({ matchLabels: { app: 'web' } }, 'spec.selector'), []);
  const errs = validateLabelSelector(
    { matchLabels: { '-x': 'v' }, matchExpressions: [{ key: 'a', operator: 'In' }, { key: 'b', operator: 'Exists', values: ['x'] }, { key: 'c', operator: 'Nope' }] },
    'spec.selector',
  );
  t.deepEqual(
    errs.map((e) => `${e.field}:${e.reason}`),
    [
      'spec.selector.matchExpressions[0].values:FieldValueRequired',
      'spec.selector.matchExpressions[1].values:FieldValueForbidden',
      'spec.selector.matchExpressions[2].operator:FieldValueInvalid',
      'spec.selector.matchLabels:FieldValueInvalid',
    ],
  );
});
