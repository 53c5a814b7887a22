// Pure parts of the VXLAN overlay: derived names and addresses, which peers get entries, parsing
// iproute2's JSON, the batch lines a sync writes, device adoption checks, peers from Node objects.
import test from 'ava';
import {
  defaultDeviceName,
  desiredEntries,
  deviceMismatches,
  networkAddress,
  normalizeMac,
  parseFdb,
  parseNeighs,
  parseRoutes,
  planSync,
  podMtuFor,
  vtepMacFor,
  type OverlayPeer,
} from '../../../kubelet/network/overlay-plan.js';
import { peersFromNodes, VNI_ANNOTATION, VTEP_IP_ANNOTATION, VTEP_MAC_ANNOTATION } from '../../../kubelet/network/overlay.js';
import type { KObject } from '../../../pkg/api/types.js';

const self = { podCIDR: '10.42.1.0/24', vtepIP: '192.168.5.1', mac: '02:00:00:00:00:01' };
const peerB: OverlayPeer = { node: 'b', podCIDR: '10.42.2.0/24', vtepIP: '192.168.5.2', vtepMAC: '02:00:00:00:00:02' };
const peerC: OverlayPeer = { node: 'c', podCIDR: '10.42.3.0/24', vtepIP: '192.168.5.3', vtepMAC: '02:00:00:00:00:03' };

test('names, addresses and MTU', (t) => {
  t.is(defaultDeviceName(1), 'skiff.1');
  t.true(defaultDeviceName(16777215).length <= 15);
  t.is(networkAddress('10.42.3.0/24'), '10.42.3.0');
  t.is(networkAddress('10.42.3.77/24'), '10.42.3.0');
  t.is(podMtuFor(1500), 1450);
  t.is(podMtuFor(9000), 8950);
  t.throws(() => podMtuFor(600), { message: /no room/ });
  t.is(normalizeMac('02:AB:cd:00:11:22'), '02:ab:cd:00:11:22');
  t.throws(() => normalizeMac('01:00:5e:00:00:01'), { message: /multicast/ });
  t.throws(() => normalizeMac('02:00:00:00:00'), { message: /not a MAC/ });
});

test('the VTEP MAC is stable per VNI and address, unicast and locally administered', (t) => {
  const a = vtepMacFor(1, '192.168.5.1');
  t.is(a, vtepMacFor(1, '192.168.5.1'));
  t.not(a, vtepMacFor(2, '192.168.5.1'));
  t.not(a, vtepMacFor(1, '192.168.5.2'));
  const first = parseInt(a.slice(0, 2), 16);
  t.is(first & 1, 0);
  t.is(first & 2, 2);
  t.notThrows(() => normalizeMac(a));
});

test('desired entries: one route, neighbour and fdb entry per peer, flannel layout', (t) => {
  const { entries, skipped } = desiredEntries(self, [peerC, peerB]);
  t.deepEqual(skipped, []);
  t.deepEqual(entries, [
    { node: 'b', dst: '10.42.2.0/24', gw: '10.42.2.0', mac: '02:00:00:00:00:02', vtepIP: '192.168.5.2' },
    { node: 'c', dst: '10.42.3.0/24', gw: '10.42.3.0', mac: '02:00:00:00:00:03', vtepIP: '192.168.5.3' },
  ]);
});

test('desired entries skip self, malformed peers and conflicts, keeping the first by node name', (t) => {
  const { entries, skipped } = desiredEntries(self, [
    { node: 'x-self-cidr', podCIDR: '10.42.1.0/24', vtepIP: '192.168.5.9', vtepMAC: '02:00:00:00:00:09' },
    { node: 'x-self-ip', podCIDR: '10.42.9.0/24', vtepIP: '192.168.5.1', vtepMAC: '02:00:00:00:00:09' },
    { node: 'x-overlap-self', podCIDR: '10.42.0.0/16', vtepIP: '192.168.5.8', vtepMAC: '02:00:00:00:00:08' },
    { node: 'x-bad-mac', podCIDR: '10.42.7.0/24', vtepIP: '192.168.5.7', vtepMAC: 'nope' },
    { node: 'x-bad-cidr', podCIDR: '10.42.7.0', vtepIP: '192.168.5.7', vtepMAC: '02:00:00:00:00:07' },
    peerB,
    { node: 'z-same-cidr', podCIDR: '10.42.2.128/25', vtepIP: '192.168.5.6', vtepMAC: '02:00:00:00:00:06' },
    { node: 'z-same-mac', podCIDR: '10.42.6.0/24', vtepIP: '192.168.5.6', vtepMAC: '02:00:00:00:00:02' },
  ]);
  t.deepEqual(
    entries.map((e) => e.node),
    ['b'],
  );
  const why = Object.fromEntries(skipped.map((s) => [s.peer.node, s.reason]));
  t.is(why['x-self-cidr'], 'this node itself');
  t.is(why['x-self-ip'], 'this node itself');
  t.regex(why['x-overlap-self']!, /overlaps this node's 10\.42\.1\.0\/24/);
  t.regex(why['x-bad-mac']!, /not a MAC/);
  t.regex(why['x-bad-cidr']!, /not an IPv4 CIDR/);
  t.regex(why['z-same-cidr']!, /pod CIDR 10\.42\.2\.128\/25 \(overlaps 10\.42\.2\.0\/24\) already used by node b/);
  t.regex(why['z-same-mac']!, /VTEP MAC 02:00:00:00:00:02 already used by node b/);
});

// Shapes as iproute2 6.1 prints them for a vxlan device.
const ROUTES = '[{"dst":"10.42.2.0/24","gateway":"10.42.2.0","flags":["onlink"]},{"dst":"10.42.8.0/24","gateway":"10.42.8.0","flags":["onlink"]}]';
const NEIGHS = '[{"dst":"10.42.2.0","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]},{"dst":"10.42.8.0","lladdr":"02:00:00:00:00:08","state":["PERMANENT"]}]';
const FDB = '[{"mac":"02:00:00:00:00:02","dst":"192.168.5.2","flags":["self"],"state":"permanent"},{"mac":"02:00:00:00:00:08","dst":"192.168.5.8","flags":["self"],"state":"permanent"}]';

test('parsing iproute2 JSON', (t) => {
  t.deepEqual(parseRoutes(ROUTES)[0], { dst: '10.42.2.0/24', gateway: '10.42.2.0', onlink: true });
  t.deepEqual(parseRoutes('[{"type":"local","dst":"10.42.1.0","table":"local"},{"dst":"10.9.9.9","gateway":"10.9.9.1","flags":[]}]'), [
    { dst: '10.9.9.9/32', gateway: '10.9.9.1', onlink: false },
  ]);
  t.deepEqual(parseNeighs(NEIGHS)[0], { dst: '10.42.2.0', lladdr: '02:00:00:00:00:02', permanent: true });
  t.deepEqual(parseNeighs('[{"dst":"10.42.5.0","state":["FAILED"]}]'), [{ dst: '10.42.5.0', lladdr: undefined, permanent: false }]);
  t.deepEqual(parseFdb(FDB)[1], { mac: '02:00:00:00:00:08', dst: '192.168.5.8', permanent: true });
  t.deepEqual(parseRoutes(''), []);
});

test('sync plan: adds what is missing, removes peers no longer listed, leaves the rest alone', (t) => {
  const have = { routes: parseRoutes(ROUTES), neighs: parseNeighs(NEIGHS), fdb: parseFdb(FDB) };
  const { entries } = desiredEntries(self, [peerB, peerC]);
  const plan = planSync('skiff.1', entries, have);
  t.deepEqual(plan.bridge, ['fdb del 02:00:00:00:00:08 dev skiff.1 dst 192.168.5.8 self', 'fdb replace 02:00:00:00:00:03 dev skiff.1 dst 192.168.5.3 self permanent']);
  t.deepEqual(plan.ip, [
    'route del 10.42.8.0/24 dev skiff.1',
    'neigh del 10.42.8.0 dev skiff.1',
    'neigh replace 10.42.3.0 lladdr 02:00:00:00:00:03 dev skiff.1 nud permanent',
    'route replace 10.42.3.0/24 via 10.42.3.0 dev skiff.1 onlink',
  ]);
});

test('sync plan: nothing to write when the kernel already matches', (t) => {
  const { entries } = desiredEntries(self, [peerB]);
  const have = {
    routes: parseRoutes('[{"dst":"10.42.2.0/24","gateway":"10.42.2.0","flags":["onlink"]}]'),
    neighs: parseNeighs('[{"dst":"10.42.2.0","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]}]'),
    fdb: parseFdb('[{"mac":"02:00:00:00:00:02","dst":"192.168.5.2","flags":["self"],"state":"permanent"}]'),
  };
  t.deepEqual(planSync('skiff.1', entries, have), { bridge: [], ip: [] });
});

test('sync plan: a peer that moved (new VTEP address, new MAC) is rewritten, stale entries go', (t) => {
  const moved = { ...peerB, vtepIP: '192.168.5.22', vtepMAC: '02:00:00:00:00:22' };
  const { entries } = desiredEntries(self, [moved]);
  const have = {
    routes: parseRoutes('[{"dst":"10.42.2.0/24","gateway":"10.42.2.0","flags":["onlink"]}]'),
    neighs: parseNeighs('[{"dst":"10.42.2.0","lladdr":"02:00:00:00:00:02","state":["PERMANENT"]}]'),
    fdb: parseFdb('[{"mac":"02:00:00:00:00:02","dst":"192.168.5.2","state":"permanent"},{"mac":"00:00:00:00:00:00","dst":"192.168.5.99","state":"permanent"}]'),
  };
  const plan = planSync('skiff.1', entries, have);
  t.deepEqual(plan.bridge, [
    'fdb del 02:00:00:00:00:02 dev skiff.1 dst 192.168.5.2 self',
    'fdb del 00:00:00:00:00:00 dev skiff.1 dst 192.168.5.99 self',
    'fdb replace 02:00:00:00:00:22 dev skiff.1 dst 192.168.5.22 self permanent',
  ]);
  t.deepEqual(plan.ip, ['neigh replace 10.42.2.0 lladdr 02:00:00:00:00:22 dev skiff.1 nud permanent']);
});

test('sync plan: a route without onlink or a non-permanent neighbour is replaced', (t) => {
  const { entries } = desiredEntries(self, [peerB]);
  const have = {
    routes: parseRoutes('[{"dst":"10.42.2.0/24","gateway":"10.42.2.0","flags":[]}]'),
    neighs: parseNeighs('[{"dst":"10.42.2.0","lladdr":"02:00:00:00:00:02","state":["STALE"]}]'),
    fdb: parseFdb('[{"mac":"02:00:00:00:00:02","dst":"192.168.5.2","state":""}]'),
  };
  const plan = planSync('skiff.1', entries, have);
  t.deepEqual(plan.bridge, ['fdb replace 02:00:00:00:00:02 dev skiff.1 dst 192.168.5.2 self permanent']);
  t.deepEqual(plan.ip, ['neigh replace 10.42.2.0 lladdr 02:00:00:00:00:02 dev skiff.1 nud permanent', 'route replace 10.42.2.0/24 via 10.42.2.0 dev skiff.1 onlink']);
});

test('sync plan for many peers stays one line per change', (t) => {
  const peers: OverlayPeer[] = [];
  for (let i = 0; i < 2000; i++) {
    const hex = (i + 16).toString(16).padStart(4, '0');
    peers.push({ node: `n${i}`, podCIDR: `10.${100 + (i >> 8)}.${i & 255}.0/24`, vtepIP: `172.16.${i >> 8}.${i & 255}`, vtepMAC: `02:00:00:00:${hex.slice(0, 2)}:${hex.slice(2)}` });
  }
  const t0 = performance.now();
  const { entries, skipped } = desiredEntries(self, peers);
  const plan = planSync('skiff.1', entries, { routes: [], neighs: [], fdb: [] });
  const ms = performance.now() - t0;
  t.is(skipped.length, 0);
  t.is(plan.bridge.length, 2000);
  t.is(plan.ip.length, 4000);
  t.log(`2000 peers planned in ${ms.toFixed(1)} ms`);
});

test('device adoption: only a vxlan device with the same VNI, local address and port, learning off', (t) => {
  const want = { vni: 1, localIP: '192.168.5.1', port: 8472 };
  const link = (d: Record<string, unknown>, kind = 'vxlan') => JSON.stringify([{ ifname: 'skiff.1', linkinfo: { info_kind: kind, info_data: d } }]);
  const good = { id: 1, local: '192.168.5.1', port: 8472, learning: false, ttl: 0 };
  t.deepEqual(deviceMismatches(link(good), want), []);
  t.deepEqual(deviceMismatches(link({ ...good, id: 2 }), want), ['VNI 2 instead of 1']);
  t.deepEqual(deviceMismatches(link({ ...good, local: '192.168.5.9' }), want), ['local 192.168.5.9 instead of 192.168.5.1']);
  t.deepEqual(deviceMismatches(link({ ...good, port: 4789 }), want), ['port 4789 instead of 8472']);
  t.deepEqual(deviceMismatches(link({ ...good, learning: true }), want), ['learning is on']);
  t.deepEqual(deviceMismatches(link({ ...good, group: '239.1.1.1' }), want), ['it has a default remote (239.1.1.1)']);
  t.deepEqual(deviceMismatches(link({}, 'bridge'), want), ['it is a bridge device, not vxlan']);
  t.deepEqual(deviceMismatches(JSON.stringify([{ ifname: 'skiff.1' }]), want), ['it is a plain device, not vxlan']);
});

function node(name: string, podCIDR: string | undefined, ann: Record<string, string>): KObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, annotations: ann }, spec: podCIDR ? { podCIDR } : {} };
}

test('peersFromNodes: pod CIDR plus annotations, self and incomplete nodes left out', (t) => {
  const ann = (ip: string, mac: string, vni = '1') => ({ [VTEP_IP_ANNOTATION]: ip, [VTEP_MAC_ANNOTATION]: mac, [VNI_ANNOTATION]: vni });
  const nodes = [
    node('self', '10.42.1.0/24', ann('192.168.5.1', '02:00:00:00:00:01')),
    node('c', '10.42.3.0/24', ann('192.168.5.3', '02:00:00:00:00:03')),
    node('b', '10.42.2.0/24', ann('192.168.5.2', '02:00:00:00:00:02')),
    node('no-cidr', undefined, ann('192.168.5.4', '02:00:00:00:00:04')),
    node('no-ann', '10.42.5.0/24', {}),
    node('half-ann', '10.42.6.0/24', { [VTEP_IP_ANNOTATION]: '192.168.5.6' }),
    node('bad-mac', '10.42.7.0/24', ann('192.168.5.7', 'zz')),
    node('other-vni', '10.42.8.0/24', ann('192.168.5.8', '02:00:00:00:00:08', '7')),
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'dual', annotations: ann('192.168.5.9', '02:00:00:00:00:09') }, spec: { podCIDRs: ['fd00::/64', '10.42.9.0/24'] } },
  ];
  t.deepEqual(
    peersFromNodes(nodes, 'self', { vni: 1 }),
    [
      { node: 'b', podCIDR: '10.42.2.0/24', vtepIP: '192.168.5.2', vtepMAC: '02:00:00:00:00:02' },
      { node: 'c', podCIDR: '10.42.3.0/24', vtepIP: '192.168.5.3', vtepMAC: '02:00:00:00:00:03' },
      { node: 'dual', podCIDR: '10.42.9.0/24', vtepIP: '192.168.5.9', vtepMAC: '02:00:00:00:00:09' },
    ],
  );
  t.is(peersFromNodes(nodes, 'self').length, 4, 'without a VNI filter the other VNI is a peer too');
});

test('desired entries: a larger block after a smaller one inside it is a conflict too', (t) => {
  const { entries, skipped } = desiredEntries(self, [
    { node: 'a', podCIDR: '10.43.4.128/25', vtepIP: '192.168.5.10', vtepMAC: '02:00:00:00:00:10' },
    { node: 'b', podCIDR: '10.43.4.0/23', vtepIP: '192.168.5.11', vtepMAC: '02:00:00:00:00:11' },
    { node: 'c', podCIDR: '10.43.6.0/24', vtepIP: '192.168.5.12', vtepMAC: '02:00:00:00:00:12' },
    { node: 'd', podCIDR: '10.43.0.0/16', vtepIP: '192.168.5.13', vtepMAC: '02:00:00:00:00:13' },
  ]);
  t.deepEqual(
    entries.map((e) => e.node),
    ['a', 'c'],
  );
  t.deepEqual(
    skipped.map((s) => `${s.peer.node}: ${s.reason}`),
    ['b: pod CIDR 10.43.4.0/23 (overlaps 10.43.4.128/25) already used by node a', 'd: pod CIDR 10.43.0.0/16 (overlaps 10.43.4.128/25) already used by node a'],
  );
});
