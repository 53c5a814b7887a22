// The pure parts of driver cni: the configuration list built from spec.cni, the per-plugin
// configuration, ADD in order with prevResult and DEL in reverse (through a fake runner), the
// address read from a result, the attachment record on disk, the node plan and the status the
// controller reports.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../../pkg/api/types.js';
import type { Network } from '../../../pkg/api/networks.js';
import { CniError, type CniInvocation, type CniResult } from '../../../kubelet/network/cni.js';
import { buildCniConfList, cniAdd, cniDel, missingPlugins, pluginConfig, podCniArgs, resultAddress, type CniRuntime } from '../../../kubelet/network/cni-network.js';
import { AttachmentStore, type PodRecord } from '../../../kubelet/network/attachment-store.js';
import { planNodeNetworks } from '../../../kubelet/network/networks-plan.js';
import { hostLocalSubnet, planNetwork, type PlanInput } from '../../../controllers/network/plan.js';

const rt: CniRuntime = { containerId: 'uid-1', netns: '/run/netns/p1', ifName: 'net1', binDir: '/opt/cni' };

test('a single plugin becomes a list of one; name is the Network, cniVersion defaults to 1.0.0, skiff fields dropped', (t) => {
  const list = buildCniConfList('lan', { type: 'macvlan', name: 'whatever', master: 'eth0', scope: 'global', ipam: { type: 'dhcp' } });
  t.deepEqual(list, { cniVersion: '1.0.0', name: 'lan', plugins: [{ cniVersion: '1.0.0', name: 'lan', type: 'macvlan', master: 'eth0', ipam: { type: 'dhcp' } }] });
});

test('a conflist keeps its version and plugin order; the spec object is not shared', (t) => {
  const spec = { cniVersion: '0.4.0', name: 'x', plugins: [{ type: 'bridge', bridge: 'br9', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } }, { type: 'portmap', capabilities: { portMappings: true } }] };
  const list = buildCniConfList('lan', spec);
  t.is(list.cniVersion, '0.4.0');
  t.is(list.name, 'lan');
  t.deepEqual(list.plugins.map((p) => p.type), ['bridge', 'portmap']);
  t.true(list.plugins.every((p) => p.name === 'lan' && p.cniVersion === '0.4.0'));
  (list.plugins[0]!.ipam as { subnet: string }).subnet = 'changed';
  t.is(spec.plugins[0]!.ipam!.subnet, '10.9.0.0/24');
});

test('configurations the controller refuses are refused here too, naming the Network', (t) => {
  t.throws(() => buildCniConfList('bad', { plugins: [] }), { message: /^Network bad: spec\.cni\.plugins must be a non-empty list/ });
  t.throws(() => buildCniConfList('bad', { type: '../../bin/sh' }), { message: /is not a plugin binary's name/ });
  t.throws(() => buildCniConfList('bad', { type: 'bridge', cniVersion: 1 }), { message: /cniVersion/ });
  t.throws(() => buildCniConfList('bad', undefined), { message: /spec\.cni is required/ });
});

test('pluginConfig adds prevResult when given', (t) => {
  const list = buildCniConfList('lan', { plugins: [{ type: 'a' }, { type: 'b', x: 1 }] });
  t.deepEqual(pluginConfig(list, 0), { cniVersion: '1.0.0', name: 'lan', type: 'a' });
  const prev: CniResult = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] };
  t.deepEqual(pluginConfig(list, 1, prev), { cniVersion: '1.0.0', name: 'lan', type: 'b', x: 1, prevResult: prev });
  t.throws(() => pluginConfig(list, 2), { message: /no plugin #2/ });
});

test('CNI_ARGS carry the pod the Kubernetes way, ignorable', (t) => {
  t.is(podCniArgs({ uid: 'u1', namespace: 'ns', name: 'p' }), 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=u1;K8S_POD_UID=u1');
});

test('resultAddress: the IPv4 address of the sandbox interface', (t) => {
  const r: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'br0', mac: 'aa' }, { name: 'veth1', mac: 'bb' }, { name: 'net1', mac: 'cc', sandbox: '/run/netns/p1' }],
    ips: [
      { interface: 2, address: 'fd00::5/64' },
      { interface: 0, address: '10.1.0.1/24' },
      { interface: 2, address: '10.1.0.5/24', gateway: '10.1.0.1' },
    ],
  };
  t.deepEqual(resultAddress(r, 'net1'), { ip: '10.1.0.5', prefix: 24 });
  t.is(resultAddress(r, 'net2'), undefined, 'another interface name: no match');
  t.deepEqual(resultAddress({ cniVersion: '1.0.0', ips: [{ address: '192.168.7.9/16' }] }, 'net1'), { ip: '192.168.7.9', prefix: 16 }, 'ipam results name no interface');
  t.deepEqual(resultAddress({ cniVersion: '0.2.0', ip4: { ip: '10.3.0.4/8' } }, 'net1'), { ip: '10.3.0.4', prefix: 8 });
  t.is(resultAddress({ cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64' }] }, 'net1'), undefined);
  t.is(resultAddress({ cniVersion: '1.0.0' }, 'net1'), undefined);
  t.is(resultAddress({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.999/24' }] }, 'net1'), undefined);
});

function fakeRunner(fail: Record<string, CniError | Error> = {}) {
  const calls: CniInvocation[] = [];
  const invoke = async (inv: CniInvocation): Promise<CniResult | undefined> => {
    calls.push(inv);
    const f = fail[`${inv.command} ${inv.config.type}`];
    if (f) throw f;
    if (inv.command === 'DEL') return undefined;
    const prev = inv.config.prevResult as CniResult | undefined;
    return { cniVersion: '1.0.0', ips: [...(prev?.ips ?? []), { address: `10.0.0.${calls.length}/24` }], seenBy: [...((prev?.seenBy as string[]) ?? []), inv.config.type] };
  };
  return { calls, invoke };
}

test('cniAdd runs each plugin in order with the previous result, and the CNI parameters', async (t) => {
  const list = buildCniConfList('lan', { plugins: [{ type: 'a' }, { type: 'b' }, { type: 'c' }] });
  const { calls, invoke } = fakeRunner();
  const r = await cniAdd(list, rt, invoke);
  t.deepEqual(r.seenBy, ['a', 'b', 'c']);
  t.deepEqual(calls.map((c) => [c.command, c.config.type, c.containerId, c.netns, c.ifName, c.binDir]), [
    ['ADD', 'a', 'uid-1', '/run/netns/p1', 'net1', '/opt/cni'],
    ['ADD', 'b', 'uid-1', '/run/netns/p1', 'net1', '/opt/cni'],
    ['ADD', 'c', 'uid-1', '/run/netns/p1', 'net1', '/opt/cni'],
  ]);
  t.is(calls[0]!.config.prevResult, undefined);
  t.deepEqual((calls[2]!.config.prevResult as CniResult).seenBy, ['a', 'b']);
});

test('cniAdd stops at the first failure and names the Network and the plugin error', async (t) => {
  const list = buildCniConfList('lan', { plugins: [{ type: 'a' }, { type: 'b' }, { type: 'c' }] });
  const { calls, invoke } = fakeRunner({ 'ADD b': new CniError('b', 'ADD', 11, 'failed to allocate', 'range full') });
  const e = await t.throwsAsync(cniAdd(list, rt, invoke));
  t.is(e!.message, 'Network lan: CNI b ADD failed (code 11): failed to allocate (range full)');
  t.is(calls.length, 2);
  const weird = fakeRunner({ 'ADD a': new Error('boom') });
  await t.throwsAsync(cniAdd(list, rt, weird.invoke), { message: 'Network lan: CNI plugin a ADD failed: boom' });
});

test('cniDel runs in reverse with the ADD result, goes on past failures, skips missing binaries and unknown containers', async (t) => {
  const list = buildCniConfList('lan', { plugins: [{ type: 'a' }, { type: 'b' }, { type: 'gone' }, { type: 'd' }] });
  const prev: CniResult = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] };
  const { calls, invoke } = fakeRunner({ 'DEL d': new CniError('d', 'DEL', 3, 'no such container'), 'DEL b': new CniError('b', 'DEL', 999, 'stuck') });
  const out = await cniDel(list, { ...rt, netns: '' }, prev, invoke, (_dir, type) => type !== 'gone');
  t.deepEqual(calls.map((c) => c.config.type), ['d', 'b', 'a']);
  t.true(calls.every((c) => c.command === 'DEL' && c.netns === '' && c.config.prevResult === prev));
  t.deepEqual(out.errors, ['CNI b DEL failed (code 999): stuck']);
  t.deepEqual(out.skipped, ['gone (not in /opt/cni)']);
  const noResult = fakeRunner();
  await cniDel(list, rt, undefined, noResult.invoke, () => true);
  t.true(noResult.calls.every((c) => !('prevResult' in c.config)));
});

test('missingPlugins lists each absent type once', (t) => {
  const list = buildCniConfList('lan', { plugins: [{ type: 'a' }, { type: 'x' }, { type: 'x' }] });
  t.deepEqual(missingPlugins(list, '/opt/cni', (_d, type) => type === 'a'), ['x']);
});

test('attachment store: cni records with their list and result survive a reopen; their addresses are not bridge addresses', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-store-'));
  try {
    const conf = buildCniConfList('lan', { type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } });
    const rec: PodRecord = {
      uid: 'u1',
      namespace: 'default',
      name: 'p',
      netnsPath: '/run/netns/x',
      attachments: [
        { network: 'back', interface: 'net1', ip: '10.101.0.2', prefix: 24, slice: '10.101.0.0/24', subnet: '10.101.0.0/16', gateway: '10.101.0.1', bridge: 'skn-back', hostVeth: 'skx0' },
        { kind: 'cni', network: 'lan', interface: 'net2', conf, containerId: 'u1', cniArgs: 'IgnoreUnknown=1', started: true, result: { cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/24' }] }, ip: '10.9.0.2', prefix: 24 },
      ],
    };
    new AttachmentStore(dir).putPod(rec);
    const again = new AttachmentStore(dir);
    t.deepEqual(again.pod('u1'), rec);
    t.deepEqual([...again.usedAddresses('back')], ['10.101.0.2']);
    t.deepEqual([...again.usedAddresses('lan')], []);
    writeFileSync(join(dir, 'pods', 'u2.json'), JSON.stringify({ ...rec, uid: 'u2', attachments: [{ kind: 'cni', network: 'lan', interface: 'net1', containerId: 'u2' }] }));
    t.throws(() => new AttachmentStore(dir), { message: /u2\.json is malformed/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ready = [{ type: 'Ready', status: 'True', reason: 'Ready' }];

function cniNetwork(name: string, cni: unknown, status: Record<string, unknown> = {}): KObject {
  return { apiVersion: 'networking.skiff.dev/v1alpha1', kind: 'Network', metadata: { name }, spec: { driver: 'cni', cni }, status: { conditions: ready, ...status } } as KObject;
}

test('node plan: Ready cni networks are joinable with their list; not Ready or broken ones say why; no masquerade', (t) => {
  const plan = planNodeNetworks(
    [
      cniNetwork('lan', { type: 'macvlan', master: 'eth0' }, { subnet: '192.168.5.0/24' }),
      cniNetwork('waiting', { type: 'macvlan' }, { conditions: [{ type: 'Ready', status: 'False', reason: 'SubnetConflict', message: 'overlaps' }] }),
      cniNetwork('broken', { plugins: 'nope' }),
    ],
    [],
    'n0',
    '192.0.2.1',
  );
  t.deepEqual(plan.cni.map((n) => n.name), ['lan']);
  t.is(plan.cni[0]!.conf.plugins[0]!.master, 'eth0');
  t.deepEqual(plan.local, []);
  t.regex(plan.unusable.get('waiting')!, /not Ready \(SubnetConflict: overlaps\)/);
  t.regex(plan.unusable.get('broken')!, /^Network broken: spec\.cni\.plugins must be/);
  t.deepEqual(plan.isolation, [{ network: 'lan', subnet: '192.168.5.0/24', internal: false, masquerade: false }]);
});

test('hostLocalSubnet: the one IPv4 range of a host-local IPAM, old or ranges form', (t) => {
  t.is(hostLocalSubnet({ type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } }), '10.9.0.0/24');
  t.is(hostLocalSubnet({ plugins: [{ type: 'bridge', ipam: { type: 'host-local', ranges: [[{ subnet: '10.9.1.0/24', rangeStart: '10.9.1.10' }], [{ subnet: 'fd00::/64' }]] } }, { type: 'portmap' }] }), '10.9.1.0/24');
  t.is(hostLocalSubnet({ type: 'bridge', ipam: { type: 'host-local', ranges: [[{ subnet: '10.9.1.0/24' }, { subnet: '10.9.2.0/24' }]] } }), undefined, 'two ranges: not one subnet');
  t.is(hostLocalSubnet({ type: 'bridge', ipam: { type: 'dhcp' } }), undefined);
  t.is(hostLocalSubnet({ type: 'macvlan' }), undefined);
  t.is(hostLocalSubnet({ type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.0.7/24' } }), '10.9.0.0/24');
});

function input(network: Network, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    network: { ...network, metadata: { generation: 1, creationTimestamp: '2024-01-01T00:00:00Z', ...network.metadata } },
    others: [],
    nodes: [{ name: 'n1', podCIDR: '10.42.0.0/24' }],
    pods: 2,
    clusterCidr: '10.42.0.0/16',
    serviceCidr: '10.43.0.0/16',
    networkCidr: '10.240.0.0/12',
    ...extra,
  };
}

test('controller: a cni network reports its IPAM range (or none), no slices, no VNI; a clash is not Ready', (t) => {
  const withRange = planNetwork(input({ metadata: { name: 'lan' }, spec: { driver: 'cni', cni: { type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } } } }));
  t.like(withRange.ready, { status: 'True', reason: 'Ready', message: 'CNI plugin bridge on 10.9.0.0/24' });
  t.deepEqual(withRange.status, { observedGeneration: 1, scope: 'local', pods: 2, subnet: '10.9.0.0/24' });
  const dhcp = planNetwork(input({ metadata: { name: 'mv' }, spec: { driver: 'cni', cni: { plugins: [{ type: 'macvlan', ipam: { type: 'dhcp' } }, { type: 'tuning' }] } } }));
  t.like(dhcp.ready, { status: 'True', message: 'CNI plugin macvlan + tuning' });
  t.is(dhcp.status.subnet, undefined);
  t.is(dhcp.status.nodes, undefined);
  const stated = planNetwork(input({ metadata: { name: 'mv' }, spec: { driver: 'cni', subnet: '192.168.8.0/24', cni: { type: 'macvlan', ipam: { type: 'dhcp' } } } }));
  t.is(stated.status.subnet, '192.168.8.0/24');
  const clash = planNetwork(input({ metadata: { name: 'lan' }, spec: { driver: 'cni', cni: { type: 'bridge', ipam: { type: 'host-local', subnet: '10.42.7.0/24' } } } }));
  t.like(clash.ready, { status: 'False', reason: 'SubnetConflict' });
  t.regex(clash.ready.message, /host-local IPAM range of spec\.cni 10\.42\.7\.0\/24 overlaps the cluster CIDR/);
  const other = planNetwork(input({ metadata: { name: 'lan' }, spec: { driver: 'cni', cni: { type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.0.0/24' } } } }, { others: [{ name: 'back', subnet: '10.9.0.0/16', older: true }] }));
  t.like(other.ready, { status: 'False', reason: 'SubnetConflict' });
});
