import test from 'ava';
import { PodAddressPool, cidrContains } from '../../../kubelet/network/pod-ips.js';
import { CidrSet } from '../../../controllers/nodeipam/cidr-set.js';

test('pod addresses are sequential, skip network and gateway, and are stable per owner', (t) => {
  const pool = new PodAddressPool('10.42.3.0/24');
  t.is(pool.allocate('a'), '10.42.3.2');
  t.is(pool.allocate('b'), '10.42.3.3');
  t.is(pool.allocate('a'), '10.42.3.2');
  pool.release('a');
  t.is(pool.allocate('c'), '10.42.3.4', 'a released address is not reused before wrapping');
  t.true(pool.reserve('10.42.3.9', 'd'));
  t.false(pool.reserve('10.42.3.9', 'e'));
  t.false(pool.reserve('10.42.4.9', 'e'));
  t.true(cidrContains('10.42.3.0/24', '10.42.3.255'));
  t.false(cidrContains('10.42.3.0/24', '10.42.4.0'));
});

test('a full pod CIDR says so', (t) => {
  const pool = new PodAddressPool('10.0.0.0/29'); // 8 addresses: .2 to .6 usable
  for (let i = 0; i < 5; i++) pool.allocate(`p${i}`);
  t.throws(() => pool.allocate('x'), { message: /no free address/ });
  pool.release('p2');
  t.is(pool.allocate('x'), '10.0.0.4');
});

test('cluster CIDR blocks are handed out once, rebuilt from what nodes hold', (t) => {
  const set = new CidrSet('10.42.0.0/16', 24);
  t.is(set.free, 256);
  t.true(set.occupy('10.42.0.0/24'));
  t.false(set.occupy('10.43.0.0/24'));
  t.is(set.allocate(), '10.42.1.0/24');
  t.is(set.allocate(), '10.42.2.0/24');
  set.release('10.42.1.0/24');
  t.is(set.allocate(), '10.42.3.0/24');
  const small = new CidrSet('10.0.0.0/23', 24);
  t.truthy(small.allocate());
  t.truthy(small.allocate());
  t.is(small.allocate(), undefined);
});
