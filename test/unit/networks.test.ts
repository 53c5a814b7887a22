// Networks without a cluster: the pod annotation, bridge names, the address maths (overlap,
// allocation, node slices) and the status plan with its Ready verdicts; and the shipped CRD file.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import {
  NETWORKS_ANNOTATION,
  NetworksAnnotationError,
  bridgeName,
  nodeSlice,
  parseNetworksAnnotation,
  podNetworks,
  scopeOf,
  type Network,
} from '../../pkg/api/networks.js';
import { allocateSubnet, allocateVni, assignNodeSlices, canonicalCidr, cidrWithin, cidrsOverlap } from '../../controllers/network/ipam.js';
import { cniConfigProblem, planNetwork, type PlanInput } from '../../controllers/network/plan.js';
import { NETWORK_CRD } from '../../apiserver/bootstrap-crds.js';
import { validateCustomResource, applyDefaults } from '../../apiserver/openapi/crd-validation.js';
import { repoRoot } from '../helpers/server.js';

test('parseNetworksAnnotation trims, drops repeats and keeps order', (t) => {
  t.deepEqual(parseNetworksAnnotation(' frontend , backend,frontend'), ['frontend', 'backend']);
  t.deepEqual(parseNetworksAnnotation(''), []);
  t.deepEqual(parseNetworksAnnotation('  '), []);
  t.deepEqual(parseNetworksAnnotation('a.b'), ['a.b']);
});

test('parseNetworksAnnotation names the bad entry', (t) => {
  const e = t.throws(() => parseNetworksAnnotation('frontend,Back_End'), { instanceOf: NetworksAnnotationError });
  t.regex(e!.message, /invalid network name "Back_End"/);
  t.regex(e!.message, new RegExp(NETWORKS_ANNOTATION));
  t.throws(() => parseNetworksAnnotation('a,,b'), { message: /empty network name/ });
  t.throws(() => parseNetworksAnnotation('a,'), { message: /empty network name/ });
  t.throws(() => parseNetworksAnnotation('x'.repeat(254)), { message: /253/ });
});

test('podNetworks: the networks of the annotation in order, else the default one; none for hostNetwork pods', (t) => {
  const pod = (annotations?: Record<string, string>, hostNetwork?: boolean) => ({ metadata: { name: 'p', annotations }, spec: { hostNetwork } });
  t.deepEqual(podNetworks(pod()), ['default']);
  t.deepEqual(podNetworks(pod({ [NETWORKS_ANNOTATION]: 'a,b' })), ['a', 'b']);
  t.deepEqual(podNetworks(pod({ [NETWORKS_ANNOTATION]: 'a,default' })), ['a', 'default']);
  t.deepEqual(podNetworks(pod(undefined, true)), []);
  t.deepEqual(podNetworks(pod({ [NETWORKS_ANNOTATION]: 'a' }, true)), []);
});

test('bridge names fit in 15 characters and do not collide', (t) => {
  t.is(bridgeName('frontend'), 'skn-frontend');
  t.is(bridgeName('default'), 'skiff0');
  const long = ['frontend-blue', 'frontend-green', 'a.b.c.d.e.f.g', 'x'.repeat(253)];
  const names = long.map(bridgeName);
  for (const n of names) t.true(n.length <= 15 && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(n), n);
  t.is(new Set(names).size, names.length);
  t.is(bridgeName('frontend-blue'), bridgeName('frontend-blue'));
  t.regex(bridgeName('frontend-blue'), /^skn-front_[0-9a-f]{5}$/);
});

test('nodeSlice and scopeOf', (t) => {
  const net: Network = { metadata: { name: 'n' }, status: { nodes: [{ name: 'a', subnet: '10.240.0.0/24' }] } };
  t.deepEqual(nodeSlice(net, 'a'), { name: 'a', subnet: '10.240.0.0/24' });
  t.is(nodeSlice(net, 'b'), undefined);
  t.is(scopeOf({}), 'global');
  t.is(scopeOf({ driver: 'bridge' }), 'local');
  t.is(scopeOf({ driver: 'cni', cni: { type: 'macvlan' } }), 'local');
  t.is(scopeOf({ driver: 'cni', cni: { type: 'flannel', scope: 'global' } }), 'global');
});

test('CIDR overlap and containment', (t) => {
  t.true(cidrsOverlap('10.0.0.0/8', '10.42.0.0/16'));
  t.true(cidrsOverlap('10.42.1.0/24', '10.42.0.0/16'));
  t.false(cidrsOverlap('10.42.0.0/16', '10.43.0.0/16'));
  t.false(cidrsOverlap('10.240.0.0/16', '10.239.255.0/24'));
  t.true(cidrWithin('10.240.3.0/24', '10.240.0.0/16'));
  t.false(cidrWithin('10.240.0.0/16', '10.240.3.0/24'));
  t.is(canonicalCidr('10.1.2.3/16'), '10.1.0.0/16');
});

test('allocateSubnet skips every taken range', (t) => {
  t.is(allocateSubnet('10.240.0.0/12', 16, []), '10.240.0.0/16');
  t.is(allocateSubnet('10.240.0.0/12', 16, ['10.240.0.0/16', '10.241.5.0/24']), '10.242.0.0/16');
  t.is(allocateSubnet('10.240.0.0/12', 16, ['10.240.0.0/13']), '10.248.0.0/16');
  t.is(allocateSubnet('10.240.0.0/15', 16, ['10.240.0.0/16', '10.241.0.0/16']), undefined);
  t.throws(() => allocateSubnet('10.240.0.0/16', 12, []), { message: /does not fit/ });
});

test('allocateVni starts at 4096 and skips taken ids', (t) => {
  t.is(allocateVni(new Set([1])), 4096);
  t.is(allocateVni(new Set([1, 4096, 4097, 4099])), 4098);
});

test('node slices are stable: kept, freed when a node goes, lowest free for new nodes', (t) => {
  const first = assignNodeSlices('10.240.0.0/16', 24, ['b', 'a', 'c']);
  t.deepEqual(first.slices, [
    { name: 'a', subnet: '10.240.0.0/24' },
    { name: 'b', subnet: '10.240.1.0/24' },
    { name: 'c', subnet: '10.240.2.0/24' },
  ]);
  // a goes, d comes: b and c keep theirs, d takes a's freed slice.
  const second = assignNodeSlices('10.240.0.0/16', 24, ['b', 'c', 'd'], first.slices);
  t.deepEqual(second.slices, [
    { name: 'b', subnet: '10.240.1.0/24' },
    { name: 'c', subnet: '10.240.2.0/24' },
    { name: 'd', subnet: '10.240.0.0/24' },
  ]);
  // a slice that no longer fits (wrong size, outside, duplicated) is replaced
  const third = assignNodeSlices('10.240.0.0/16', 24, ['b', 'c', 'd'], [
    { name: 'b', subnet: '10.240.1.0/25' },
    { name: 'c', subnet: '10.9.0.0/24' },
    { name: 'd', subnet: '10.240.7.0/24' },
    { name: 'd', subnet: '10.240.8.0/24' },
  ]);
  t.deepEqual(third.slices, [
    { name: 'b', subnet: '10.240.0.0/24' },
    { name: 'c', subnet: '10.240.1.0/24' },
    { name: 'd', subnet: '10.240.7.0/24' },
  ]);
  const full = assignNodeSlices('10.240.0.0/23', 24, ['a', 'b', 'c']);
  t.deepEqual(full.unplaced, ['c']);
  t.is(full.slices.length, 2);
});

function input(network: Network, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    network: { ...network, metadata: { generation: 1, creationTimestamp: '2024-01-01T00:00:00Z', ...network.metadata } },
    others: [],
    nodes: [
      { name: 'n1', podCIDR: '10.42.0.0/24' },
      { name: 'n2', podCIDR: '10.42.1.0/24' },
    ],
    pods: 3,
    clusterCidr: '10.42.0.0/16',
    serviceCidr: '10.43.0.0/16',
    networkCidr: '10.240.0.0/12',
    ...extra,
  };
}

test('plan: the default network uses the cluster CIDR, VNI 1 and the nodes\' pod CIDRs', (t) => {
  const p = planNetwork(input({ metadata: { name: 'default' }, spec: { driver: 'overlay', subnet: '10.42.0.0/16', vni: 1 } }, { nodes: [{ name: 'n2', podCIDR: '10.42.1.0/24' }, { name: 'n1', podCIDR: '10.42.0.0/24' }, { name: 'n3' }] }));
  t.is(p.ready.status, 'True');
  t.regex(p.ready.message, /1 waiting for a pod CIDR/);
  t.deepEqual(p.status, {
    observedGeneration: 1,
    scope: 'global',
    pods: 3,
    subnet: '10.42.0.0/16',
    vni: 1,
    nodes: [
      { name: 'n1', subnet: '10.42.0.0/24', bridge: 'skiff0' },
      { name: 'n2', subnet: '10.42.1.0/24', bridge: 'skiff0' },
    ],
  });
});

test('plan: an overlay without a subnet gets a free /16, a VNI from 4096 and a slice per node', (t) => {
  const p = planNetwork(input({ metadata: { name: 'frontend' }, spec: { driver: 'overlay' } }, { others: [{ name: 'backend', subnet: '10.240.0.0/16', vni: 4096, older: true }] }));
  t.is(p.ready.status, 'True');
  t.is(p.status.subnet, '10.241.0.0/16');
  t.is(p.status.vni, 4097);
  t.deepEqual(p.status.nodes, [
    { name: 'n1', subnet: '10.241.0.0/24', bridge: 'skn-frontend' },
    { name: 'n2', subnet: '10.241.1.0/24', bridge: 'skn-frontend' },
  ]);
});

test('plan: an allocated subnet and VNI are kept', (t) => {
  const p = planNetwork(input({ metadata: { name: 'x' }, spec: {}, status: { subnet: '10.247.0.0/16', vni: 5000, nodes: [{ name: 'n2', subnet: '10.247.9.0/24' }] } }));
  t.is(p.status.subnet, '10.247.0.0/16');
  t.is(p.status.vni, 5000);
  t.deepEqual(p.status.nodes?.find((n) => n.name === 'n2')?.subnet, '10.247.9.0/24');
});

test('plan: a bridge network is local, has no VNI; a cni network has no bridge', (t) => {
  const b = planNetwork(input({ metadata: { name: 'lan' }, spec: { driver: 'bridge', subnet: '192.168.50.0/24', nodeSubnetPrefix: 26 } }));
  t.is(b.ready.status, 'True', b.ready.message);
  t.is(b.status.scope, 'local');
  t.is(b.status.vni, undefined);
  t.deepEqual(b.status.nodes, [
    { name: 'n1', subnet: '192.168.50.0/26', bridge: 'skn-lan' },
    { name: 'n2', subnet: '192.168.50.64/26', bridge: 'skn-lan' },
  ]);
  const c = planNetwork(input({ metadata: { name: 'mv' }, spec: { driver: 'cni', cni: { cniVersion: '1.0.0', type: 'macvlan', master: 'eth0' } } }));
  t.is(c.ready.status, 'True', c.ready.message);
  t.is(c.status.nodes?.[0]?.bridge, undefined);
});

test('plan: conflicts and invalid specs give Ready False with a reason', (t) => {
  const verdict = (n: Network, extra: Partial<PlanInput> = {}) => planNetwork(input(n, extra));
  let p = verdict({ metadata: { name: 'x' }, spec: { subnet: '10.42.128.0/17' } });
  t.like(p.ready, { status: 'False', reason: 'SubnetConflict' });
  t.regex(p.ready.message, /cluster CIDR 10\.42\.0\.0\/16/);
  t.is(p.status.subnet, undefined);
  t.is(p.status.scope, 'global');
  t.is(p.status.pods, 3);
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.43.0.0/24' } }).ready, { reason: 'SubnetConflict' });
  p = verdict({ metadata: { name: 'x' }, spec: { subnet: '10.240.0.0/20' } }, { others: [{ name: 'frontend', subnet: '10.240.0.0/16', older: false }] });
  t.like(p.ready, { reason: 'SubnetConflict' });
  t.regex(p.ready.message, /Network frontend/);
  // an older network that asked for a range but holds nothing yet still wins it
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.50.0.0/16' } }, { others: [{ name: 'o', wantsSubnet: '10.50.0.0/24', older: true }] }).ready, { reason: 'SubnetConflict' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.50.0.0/16' } }, { others: [{ name: 'o', wantsSubnet: '10.50.0.0/24', older: false }] }).ready, { status: 'True' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.50.1.0/16' } }).ready, { reason: 'InvalidSubnet' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.50.0.0/25' } }).ready, { reason: 'InvalidSubnet' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { vni: 1 } }).ready, { reason: 'VNIConflict' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { vni: 7000 } }, { others: [{ name: 'o', vni: 7000, older: false }] }).ready, { reason: 'VNIConflict' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { driver: 'bridge', vni: 7000 } }).ready, { reason: 'InvalidSpec' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { driver: 'cni' } }).ready, { reason: 'InvalidCNIConfig' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { driver: 'bridge', cni: { type: 'x' } } }).ready, { reason: 'InvalidSpec' });
  t.like(verdict({ metadata: { name: 'x' }, spec: { subnet: '10.50.0.0/23' } }, { nodes: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }).ready, { reason: 'NodeSubnetsExhausted' });
  t.like(verdict({ metadata: { name: 'x' }, spec: {} }, { networkCidr: '10.240.0.0/16', others: [{ name: 'o', subnet: '10.240.0.0/16', older: true }] }).ready, { reason: 'SubnetExhausted' });
  t.like(verdict({ metadata: { name: 'default' }, spec: { subnet: '10.0.0.0/16' } }).ready, { reason: 'InvalidSpec' });
});

test('cniConfigProblem accepts a plugin or a conflist and explains the rest', (t) => {
  t.is(cniConfigProblem({ type: 'macvlan' }), undefined);
  t.is(cniConfigProblem({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'bridge' }, { type: 'portmap' }] }), undefined);
  t.regex(cniConfigProblem(undefined)!, /required when spec.driver is cni/);
  t.regex(cniConfigProblem({ name: 'x' })!, /spec\.cni\.type is required/);
  t.regex(cniConfigProblem({ plugins: [] })!, /non-empty/);
  t.regex(cniConfigProblem({ plugins: [{ name: 'p' }] })!, /plugins\[0\]\.type/);
  t.regex(cniConfigProblem({ type: 'x', scope: 'world' })!, /scope/);
});

test('the CRD schema defaults the driver and rejects bad values with their field path', (t) => {
  const schema = (NETWORK_CRD.spec as any).versions[0].schema.openAPIV3Schema;
  const obj: any = { apiVersion: 'networking.skiff.dev/v1alpha1', kind: 'Network', metadata: { name: 'n' } };
  applyDefaults(schema, obj);
  t.deepEqual(obj.spec, { driver: 'overlay', nodeSubnetPrefix: 24 });
  t.deepEqual(validateCustomResource(schema, obj), []);
  const errs = validateCustomResource(schema, { ...obj, spec: { driver: 'vlan', subnet: '10.1.0.0/33', vni: 0, cni: { anything: { goes: 1 } } } });
  t.deepEqual(errs.map((e) => e.field).sort(), ['spec.driver', 'spec.subnet', 'spec.vni']);
});

test('manifests/crds/network.yaml is the definition the server installs', (t) => {
  const file = yaml.load(readFileSync(join(repoRoot, 'manifests', 'crds', 'network.yaml'), 'utf8'));
  t.deepEqual(file, JSON.parse(JSON.stringify(NETWORK_CRD)));
});
