// The pure half of the node's extra Networks: the plan from Network and Node objects, the isolation
// rules text, address allocation, interface names, and the on-disk records.
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../../pkg/api/types.js';
import { AttachmentStore } from '../../../kubelet/network/attachment-store.js';
import { buildIsolationRuleset, removeTableScript } from '../../../kubelet/network/isolation-rules.js';
import { allocateAddress, hostVethName, isPodAddressOf, planNodeNetworks, vxlanDeviceName } from '../../../kubelet/network/networks-plan.js';
import { vtepMacFor } from '../../../kubelet/network/overlay-plan.js';

const ready = [{ type: 'Ready', status: 'True', reason: 'Ready' }];

function network(name: string, spec: Record<string, unknown>, status: Record<string, unknown>): KObject {
  return { apiVersion: 'networking.skiff.dev/v1alpha1', kind: 'Network', metadata: { name }, spec, status: { conditions: ready, ...status } };
}

function node(name: string, vtep?: string): KObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: vtep ? { 'networking.skiff.dev/vtep-ip': vtep } : {} } };
}

const NETS = [
  network('default', {}, { subnet: '10.42.0.0/16', vni: 1, nodes: [{ name: 'a', subnet: '10.42.1.0/24', bridge: 'skiff0' }] }),
  network('frontend', { driver: 'overlay' }, {
    subnet: '10.100.0.0/16',
    vni: 4096,
    nodes: [
      { name: 'a', subnet: '10.100.0.0/24', bridge: 'skn-frontend' },
      { name: 'b', subnet: '10.100.1.0/24', bridge: 'skn-frontend' },
      { name: 'c', subnet: '10.100.2.0/24', bridge: 'skn-frontend' },
    ],
  }),
  network('backend', { driver: 'bridge' }, { subnet: '10.101.0.0/16', nodes: [{ name: 'a', subnet: '10.101.0.0/24', bridge: 'skn-backend' }] }),
  network('secret', { driver: 'bridge', internal: true }, { subnet: '10.102.0.0/16', nodes: [{ name: 'a', subnet: '10.102.0.0/24', bridge: 'skn-secret' }] }),
  network('elsewhere', { driver: 'bridge' }, { subnet: '10.103.0.0/16', nodes: [{ name: 'b', subnet: '10.103.0.0/24', bridge: 'skn-elsewhere' }] }),
  network('pending', { driver: 'bridge' }, { conditions: [{ type: 'Ready', status: 'False', reason: 'SubnetConflict', message: 'overlaps' }] }),
  network('plugin', { driver: 'cni', cni: { type: 'macvlan' } }, { subnet: '10.104.0.0/16', nodes: [{ name: 'a', subnet: '10.104.0.0/24' }] }),
];
const NODES = [node('a', '192.168.50.1'), node('b', '192.168.50.2'), node('c')];

test('plan: local networks with their bridge, gateway and VXLAN peers', (t) => {
  const plan = planNodeNetworks(NETS, NODES, 'a', '192.168.50.1');
  t.deepEqual(plan.local.map((n) => n.name).sort(), ['backend', 'frontend', 'secret']);
  const fe = plan.local.find((n) => n.name === 'frontend')!;
  t.is(fe.bridge, 'skn-frontend');
  t.is(fe.gateway, '10.100.0.1');
  t.is(fe.prefix, 24);
  t.is(fe.slice, '10.100.0.0/24');
  t.is(fe.subnet, '10.100.0.0/16');
  t.is(fe.vxlan?.device, 'skv4096');
  t.is(fe.vxlan?.vni, 4096);
  // c has no VTEP annotation: left out with a warning
  t.deepEqual(fe.vxlan?.peers, [{ node: 'b', podCIDR: '10.100.1.0/24', vtepIP: '192.168.50.2', vtepMAC: vtepMacFor(4096, '192.168.50.2') }]);
  t.true(plan.warnings.some((w) => w.includes('node c')));
  const be = plan.local.find((n) => n.name === 'backend')!;
  t.is(be.vxlan, undefined);
  t.true(plan.local.find((n) => n.name === 'secret')!.internal);
});

test('plan: why a network cannot be joined here', (t) => {
  const plan = planNodeNetworks(NETS, NODES, 'a', '192.168.50.1');
  t.regex(plan.unusable.get('elsewhere')!, /no slice for node a/);
  t.regex(plan.unusable.get('pending')!, /not Ready \(SubnetConflict: overlaps\)/);
  t.false(plan.unusable.has('plugin'), 'a Ready cni network can be joined');
  t.deepEqual(plan.cni.map((n) => n.name), ['plugin']);
  t.false(plan.unusable.has('frontend'));
  t.false(plan.local.some((n) => n.name === 'default'));
});

test('plan: a network that lost Ready keeps its devices but takes no new pods', (t) => {
  const nets = NETS.map((n) => (n.metadata.name === 'backend' ? { ...n, status: { ...(n.status as object), conditions: [{ type: 'Ready', status: 'False', reason: 'NodeSubnetsExhausted' }] } } : n));
  const plan = planNodeNetworks(nets, NODES, 'a', '192.168.50.1');
  t.true(plan.local.some((n) => n.name === 'backend'));
  t.regex(plan.unusable.get('backend')!, /not Ready/);
});

test('plan: isolation subnets, internal and masquerade flags; overlaps left out', (t) => {
  const extra = network('clash', { driver: 'bridge' }, { subnet: '10.100.128.0/17', nodes: [] });
  extra.metadata.creationTimestamp = '2030-01-01T00:00:00Z';
  const plan = planNodeNetworks([...NETS, extra], NODES, 'a', '192.168.50.1');
  const by = new Map(plan.isolation.map((s) => [s.network, s]));
  t.deepEqual(by.get('default'), { network: 'default', subnet: '10.42.0.0/16', internal: false, masquerade: false });
  t.deepEqual(by.get('frontend'), { network: 'frontend', subnet: '10.100.0.0/16', internal: false, masquerade: true });
  t.deepEqual(by.get('secret'), { network: 'secret', subnet: '10.102.0.0/16', internal: true, masquerade: false });
  t.false(by.get('plugin')!.masquerade);
  t.true(by.has('elsewhere'), 'networks without a slice here are still kept apart');
  t.false(by.has('clash'));
  t.true(plan.warnings.some((w) => w.includes('clash') && w.includes('overlaps')));
});

test('isolation ruleset text', (t) => {
  const text = buildIsolationRuleset('skiff-isolation', [
    { network: 'default', subnet: '10.42.0.0/16', internal: false, masquerade: false },
    { network: 'frontend', subnet: '10.100.0.0/16', internal: false, masquerade: true },
    { network: 'secret', subnet: '10.102.0.0/16', internal: true, masquerade: false },
  ]);
  t.is(
    text,
    [
      'table ip skiff-isolation {}',
      'delete table ip skiff-isolation',
      'table ip skiff-isolation {',
      '  set networks {',
      '    type ipv4_addr; flags interval;',
      '    elements = { 10.42.0.0/16, 10.100.0.0/16, 10.102.0.0/16 }',
      '  }',
      '  chain forward {',
      '    type filter hook forward priority filter - 10; policy accept;',
      '    ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 ip daddr @networks drop',
      '    ip saddr 10.100.0.0/16 ip daddr != 10.100.0.0/16 ip daddr @networks drop',
      '    ip saddr 10.102.0.0/16 ip daddr != 10.102.0.0/16 drop',
      '    ip daddr 10.102.0.0/16 ip saddr != 10.102.0.0/16 drop',
      '  }',
      '  chain postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      '    ip saddr 10.100.0.0/16 ip daddr != @networks ip daddr != 224.0.0.0/4 masquerade',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  t.is(removeTableScript('skiff-isolation'), 'table ip skiff-isolation {}\ndelete table ip skiff-isolation\n');
  t.throws(() => buildIsolationRuleset('bad name; flush ruleset', []), { message: /invalid nftables table name/ });
});

test('addresses: never network, gateway or broadcast; lowest free; exhaustion is an error', (t) => {
  t.is(allocateAddress('n', '10.1.0.0/24', new Set()), '10.1.0.2');
  t.is(allocateAddress('n', '10.1.0.0/24', new Set(['10.1.0.2', '10.1.0.4'])), '10.1.0.3');
  t.is(allocateAddress('n', '10.1.0.0/30', new Set()), '10.1.0.2');
  t.throws(() => allocateAddress('n', '10.1.0.0/30', new Set(['10.1.0.2'])), { message: /Network n: address space .* exhausted/ });
  const all = new Set<string>();
  for (let i = 2; i <= 253; i++) all.add(`10.1.0.${i}`);
  t.is(allocateAddress('n', '10.1.0.0/24', all), '10.1.0.254');
  t.true(isPodAddressOf('10.1.0.0/24', '10.1.0.254'));
  t.false(isPodAddressOf('10.1.0.0/24', '10.1.0.255'));
  t.false(isPodAddressOf('10.1.0.0/24', '10.1.0.1'));
  t.false(isPodAddressOf('10.1.0.0/24', '10.1.1.5'));
});

test('names: host veths fit 15 chars and are stable; VXLAN devices by VNI', (t) => {
  const a = hostVethName('0123-abcd', 'frontend');
  t.is(a.length, 15);
  t.is(a, hostVethName('0123-abcd', 'frontend'));
  t.not(a, hostVethName('0123-abcd', 'backend'));
  t.is(vxlanDeviceName(16_777_215), 'skv16777215');
});

test('attachment store survives a reopen and tracks used addresses', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-nn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const s = new AttachmentStore(dir);
  const att = { network: 'fe', interface: 'net1', ip: '10.1.0.2', prefix: 24, slice: '10.1.0.0/24', subnet: '10.1.0.0/16', gateway: '10.1.0.1', bridge: 'skn-fe', hostVeth: 'skx0' };
  s.putPod({ uid: 'u1', namespace: 'ns', name: 'p', netnsPath: '/run/netns/x', attachments: [att] });
  s.addDevice({ kind: 'bridge', name: 'skn-fe', network: 'fe' });
  const r = new AttachmentStore(dir);
  t.deepEqual(r.pod('u1')?.attachments, [att]);
  t.deepEqual([...r.usedAddresses('fe')], ['10.1.0.2']);
  t.deepEqual([...r.usedAddresses('fe', 'u1')], []);
  t.true(r.owns('bridge', 'skn-fe'));
  t.throws(() => r.removeAll());
  r.removePod('u1');
  r.removeDevice('bridge', 'skn-fe');
  r.removeAll();
  t.deepEqual(readdirSync(dir), []);
  t.throws(() => r.putPod({ uid: '../evil', namespace: '', name: '', netnsPath: '', attachments: [] }), { message: /invalid pod uid/ });
});
