// Names and addresses of a local cluster's underlay (test/helpers/local-cluster-net.ts): within the
// kernel's 15-character interface names, and never one cluster's leftovers matched as another's.
import test from 'ava';
import { checkTag, planUnderlay, tagPatterns } from '../helpers/local-cluster-net.js';

test('a plan names the bridge, the hosts, their veths, addresses and pod namespace prefixes', (t) => {
  const p = planUnderlay('a1b2c3', 2, 123);
  t.is(p.bridge, 'skula1b2c3');
  t.is(p.gateway, '10.123.0.1');
  t.deepEqual(p.hosts[1], { name: 'h2', index: 2, netns: 'skha1b2c3-2', veth: 'skha1b2c3v2', ip: '10.123.0.12', podNetnsPrefix: 'skpa1b2c3h2-' });
});

test('interface names stay within 15 characters; host counts are bounded', (t) => {
  // the longest name with the most hosts
  const p = planUnderlay('abcdefgh', 200, 200);
  for (const n of [p.bridge, ...p.hosts.map((h) => h.veth)]) t.true(n.length <= 15, n);
  t.throws(() => planUnderlay('ab', 0, 200), { message: /hosts must be/ });
  t.throws(() => planUnderlay('ab', 201, 200), { message: /hosts must be/ });
});

test('cluster names are short lowercase alphanumerics', (t) => {
  t.notThrows(() => checkTag('x1'));
  for (const bad of ['', 'Ab', 'a-b', 'abcdefghi', 'a b']) t.throws(() => checkTag(bad), undefined, bad);
});

test("one cluster's patterns never match another cluster's names", (t) => {
  const ab = tagPatterns('ab');
  const other = planUnderlay('abv1', 3, 150);
  const other2 = planUnderlay('abh1', 3, 151);
  for (const n of [other.bridge, ...other.hosts.flatMap((h) => [h.veth, h.netns, `${h.podNetnsPrefix}0123456789ab`])]) {
    for (const re of Object.values(ab)) t.false(re.test(n), `${re} matches ${n}`);
  }
  for (const h of other2.hosts) t.false(ab.podNetns.test(`${h.podNetnsPrefix}0123456789ab`));
  const mine = planUnderlay('ab', 12, 152);
  for (const h of mine.hosts) {
    t.true(ab.veth.test(h.veth));
    t.true(ab.netns.test(h.netns));
    t.true(ab.podNetns.test(`${h.podNetnsPrefix}0123456789ab`));
  }
  t.true(ab.bridge.test(mine.bridge));
});
