// Which UDP conntrack entries a change of Services/Endpoints makes stale (a pure diff of two
// applied states), and the conntrack(8) command lines for them. The cleanup on a real data path is
// in test/e2e/service-proxy.test.ts.
import test from 'ava';
import {
  conntrackDeleteArgs,
  emptyUdpState,
  staleUdpEntries,
  udpServiceState,
  type ConntrackDeletion,
  type UdpServiceState,
} from '../../../kubelet/network/conntrack.js';
import { planServicePorts } from '../../../kubelet/network/service-rules.js';
import type { KObject } from '../../../pkg/api/types.js';

function svc(name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec };
}

function eps(name: string, ips: string[], ports: { name: string; port: number; protocol: string }[]): KObject {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' }, subsets: ips.length ? [{ addresses: ips.map((ip) => ({ ip })), ports }] : [] };
}

const DNS_PORTS = [
  { name: 'dns', port: 5353, protocol: 'UDP' },
  { name: 'dns-tcp', port: 5353, protocol: 'TCP' },
];

/** A DNS-like Service: UDP and TCP on 53, an externalIP, and a NodePort for UDP. */
function dns(extra: Record<string, unknown> = {}): KObject {
  return svc('dns', {
    type: 'NodePort',
    clusterIP: '10.96.0.10',
    externalIPs: ['192.0.2.50'],
    ports: [
      { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 30053 },
      { name: 'dns-tcp', port: 53, targetPort: 5353, protocol: 'TCP', nodePort: 30054 },
    ],
    ...extra,
  });
}

function state(services: KObject[], endpoints: KObject[]): UdpServiceState {
  return udpServiceState(planServicePorts(services, endpoints));
}

function lines(ds: ConntrackDeletion[]): string[] {
  return ds.map((d) => `${d.reason} ${conntrackDeleteArgs(d).join(' ')}`);
}

const A = '10.244.0.11';
const B = '10.244.0.12';
const C = '10.244.0.13';

test('only UDP frontends make up the state: ClusterIP, externalIPs and the NodePort', (t) => {
  const s = state([dns()], [eps('dns', [A, B], DNS_PORTS)]);
  t.deepEqual([...s.frontends.keys()], ['10.96.0.10:53', '192.0.2.50:53']);
  t.deepEqual([...s.nodePorts.keys()], [30053]);
  t.deepEqual(s.frontends.get('10.96.0.10:53')!.endpoints, [
    { ip: A, port: 5353 },
    { ip: B, port: 5353 },
  ]);
});

test('no change, no deletion; TCP endpoint changes are left alone', (t) => {
  const before = state([dns()], [eps('dns', [A, B], DNS_PORTS)]);
  t.deepEqual(staleUdpEntries(before, state([dns()], [eps('dns', [A, B], DNS_PORTS)])), []);
  const tcpOnly = svc('web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
  const webPorts = [{ name: 'http', port: 8080, protocol: 'TCP' }];
  t.deepEqual(staleUdpEntries(state([tcpOnly], [eps('web', [A, B], webPorts)]), state([tcpOnly], [eps('web', [B], webPorts)])), []);
  t.deepEqual(staleUdpEntries(state([tcpOnly], []), state([tcpOnly], [eps('web', [B], webPorts)])), []);
});

test('a removed UDP endpoint: entries to every frontend and the NodePort that it answers', (t) => {
  const before = state([dns()], [eps('dns', [A, B, C], DNS_PORTS)]);
  const after = state([dns()], [eps('dns', [A, C], DNS_PORTS)]);
  t.deepEqual(lines(staleUdpEntries(before, after)), [
    `endpoint-removed -D -f ipv4 -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src ${B} --reply-port-src 5353`,
    `endpoint-removed -D -f ipv4 -p udp --orig-dst 192.0.2.50 --orig-port-dst 53 --reply-src ${B} --reply-port-src 5353`,
    `endpoint-removed -D -f ipv4 -p udp --orig-port-dst 30053 --reply-src ${B} --reply-port-src 5353`,
  ]);
});

test('an endpoint that moved to another target port counts as removed; an added one deletes nothing', (t) => {
  const before = state([dns()], [eps('dns', [A], DNS_PORTS)]);
  const moved = state([dns()], [eps('dns', [A, B], [{ name: 'dns', port: 5400, protocol: 'UDP' }])]);
  t.deepEqual(
    staleUdpEntries(before, moved).map((d) => `${d.dst ?? '*'}:${d.port} ${d.endpoint!.ip}:${d.endpoint!.port}`),
    ['10.96.0.10:53 10.244.0.11:5353', '192.0.2.50:53 10.244.0.11:5353', '*:30053 10.244.0.11:5353'],
  );
  t.deepEqual(staleUdpEntries(before, state([dns()], [eps('dns', [A, B], DNS_PORTS)])), []);
});

test('the last endpoint leaving deletes the entries it answers (new datagrams are then rejected)', (t) => {
  const before = state([dns()], [eps('dns', [A], DNS_PORTS)]);
  const after = state([dns()], [eps('dns', [], DNS_PORTS)]);
  const ds = staleUdpEntries(before, after);
  t.deepEqual(ds.map((d) => d.reason), ['endpoint-removed', 'endpoint-removed', 'endpoint-removed']);
  t.true(ds.every((d) => d.endpoint?.ip === A));
});

test('endpoints appearing after none: every entry to the frontends and the NodePort', (t) => {
  const before = state([dns()], []);
  const after = state([dns()], [eps('dns', [B], DNS_PORTS)]);
  t.deepEqual(lines(staleUdpEntries(before, after)), [
    'endpoints-appeared -D -f ipv4 -p udp --orig-dst 10.96.0.10 --orig-port-dst 53',
    'endpoints-appeared -D -f ipv4 -p udp --orig-dst 192.0.2.50 --orig-port-dst 53',
    'endpoints-appeared -D -f ipv4 -p udp --orig-port-dst 30053',
  ]);
  // a Service that is new together with its endpoints is the same case (entries made before it existed)
  t.deepEqual(lines(staleUdpEntries(emptyUdpState(), after)), lines(staleUdpEntries(before, after)));
  // still without endpoints: nothing (new datagrams are rejected, nothing was translated)
  t.deepEqual(staleUdpEntries(emptyUdpState(), before), []);
});

test('a UDP service port that goes away with endpoints: every entry to it; without endpoints: nothing', (t) => {
  const withEps = state([dns()], [eps('dns', [A], DNS_PORTS)]);
  t.deepEqual(lines(staleUdpEntries(withEps, emptyUdpState())), [
    'service-port-removed -D -f ipv4 -p udp --orig-dst 10.96.0.10 --orig-port-dst 53',
    'service-port-removed -D -f ipv4 -p udp --orig-dst 192.0.2.50 --orig-port-dst 53',
    'service-port-removed -D -f ipv4 -p udp --orig-port-dst 30053',
  ]);
  t.deepEqual(staleUdpEntries(state([dns()], []), emptyUdpState()), []);
  // an externalIP dropped from the spec and the type changed to ClusterIP: that address and the NodePort go
  const narrowed = state([dns({ type: 'ClusterIP', externalIPs: [] })], [eps('dns', [A], DNS_PORTS)]);
  t.deepEqual(lines(staleUdpEntries(withEps, narrowed)), [
    'service-port-removed -D -f ipv4 -p udp --orig-dst 192.0.2.50 --orig-port-dst 53',
    'service-port-removed -D -f ipv4 -p udp --orig-port-dst 30053',
  ]);
});

test('a frontend claimed by two services belongs to the first, as in the ruleset', (t) => {
  const first = svc('a-first', { clusterIP: '10.96.0.30', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const second = svc('b-second', { clusterIP: '10.96.0.31', externalIPs: ['10.96.0.30'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const p = [{ name: 'dns', port: 53, protocol: 'UDP' }];
  const s = state([second, first], [eps('a-first', [A], p), eps('b-second', [B], p)]);
  t.deepEqual(s.frontends.get('10.96.0.30:53')!.endpoints, [{ ip: A, port: 53 }]);
  // the second service losing its endpoint touches only its own address
  const after = state([second, first], [eps('a-first', [A], p), eps('b-second', [], p)]);
  t.deepEqual(staleUdpEntries(s, after).map((d) => `${d.dst}:${d.port} ${d.endpoint?.ip}`), ['10.96.0.31:53 10.244.0.12']);
});

test('the same address and port over TCP and UDP are separate frontends', (t) => {
  const s = state([dns()], [eps('dns', [A], DNS_PORTS)]);
  t.is(s.frontends.size, 2);
  const noUdp = state([dns()], [eps('dns', [A], [DNS_PORTS[1]!])]);
  t.deepEqual(staleUdpEntries(s, noUdp).map((d) => d.reason), ['endpoint-removed', 'endpoint-removed', 'endpoint-removed']);
});
