import test from 'ava';
import { RCode, RRType, type ResourceRecord } from '../../../kubelet/dns/message.js';
import { ClusterZone, reverseName, type ZoneAnswer } from '../../../kubelet/dns/records.js';
import { clusterFixtures, endpoints, service } from './fixtures.js';

function zone(): ClusterZone {
  const z = new ClusterZone('cluster.local', 5);
  const f = clusterFixtures();
  z.update(f.services, f.endpoints);
  return z;
}

function ask(z: ClusterZone, name: string, type: number = RRType.A): ZoneAnswer {
  const r = z.lookup({ name, type, class: 1 });
  if (r.kind !== 'answer') throw new Error(`${name} was forwarded`);
  return r;
}

function addresses(rrs: ResourceRecord[]): string[] {
  return rrs.map((r) => (r.data.kind === 'address' ? r.data.address : '?')).sort();
}

function isNegative(t: { is(a: unknown, b: unknown): void; true(v: boolean): void }, a: ZoneAnswer, rcode: number): void {
  t.is(a.rcode, rcode);
  t.is(a.answers.length, 0);
  t.is(a.authorities.length, 1);
  t.is(a.authorities[0]!.type, RRType.SOA);
  t.is(a.authorities[0]!.name, 'cluster.local');
  t.true(a.authorities[0]!.data.kind === 'soa' && a.authorities[0]!.data.minimum === 5);
}

test('a ClusterIP service answers its cluster IP', (t) => {
  const a = ask(zone(), 'web.default.svc.cluster.local');
  t.is(a.rcode, RCode.NOERROR);
  t.deepEqual(addresses(a.answers), ['10.96.0.10']);
  t.is(a.answers[0]!.ttl, 5);
});

test('matching ignores case and the answer keeps the question spelling', (t) => {
  const a = ask(zone(), 'WEB.Default.SVC.Cluster.Local.');
  t.deepEqual(addresses(a.answers), ['10.96.0.10']);
  t.is(a.answers[0]!.name, 'WEB.Default.SVC.Cluster.Local.');
});

test('another type on a known name is NODATA with the SOA', (t) => {
  isNegative(t, ask(zone(), 'web.default.svc.cluster.local', RRType.AAAA), RCode.NOERROR);
  isNegative(t, ask(zone(), 'web.default.svc.cluster.local', RRType.TXT), RCode.NOERROR);
});

test('a dual-stack service answers A and AAAA', (t) => {
  t.deepEqual(addresses(ask(zone(), 'dual.default.svc.cluster.local').answers), ['10.96.0.11']);
  t.deepEqual(addresses(ask(zone(), 'dual.default.svc.cluster.local', RRType.AAAA).answers), ['fd00::11']);
});

test('a headless service answers every ready endpoint address', (t) => {
  t.deepEqual(addresses(ask(zone(), 'db.data.svc.cluster.local').answers), ['10.244.2.3', '10.244.2.4', '10.244.2.9']);
});

test('endpoint hostnames have their own records; not-ready ones do not', (t) => {
  const z = zone();
  t.deepEqual(addresses(ask(z, 'db-0.db.data.svc.cluster.local').answers), ['10.244.2.3']);
  t.deepEqual(addresses(ask(z, 'db-1.db.data.svc.cluster.local').answers), ['10.244.2.4']);
  // without a hostname the endpoint is named after its dashed address, as CoreDNS does
  t.deepEqual(addresses(ask(z, '10-244-2-9.db.data.svc.cluster.local').answers), ['10.244.2.9']);
  isNegative(t, ask(z, 'db-2.db.data.svc.cluster.local'), RCode.NXDOMAIN);
});

test('a headless service without ready endpoints does not exist (as in CoreDNS)', (t) => {
  isNegative(t, ask(zone(), 'empty.data.svc.cluster.local'), RCode.NXDOMAIN);
});

test('SRV of a named port of a ClusterIP service points at the service', (t) => {
  const a = ask(zone(), '_http._tcp.web.default.svc.cluster.local', RRType.SRV);
  t.is(a.answers.length, 1);
  t.like(a.answers[0]!.data, { kind: 'srv', port: 80, target: 'web.default.svc.cluster.local' });
  t.deepEqual(a.additionals.map((r) => [r.name, r.data.kind === 'address' && r.data.address]), [['web.default.svc.cluster.local', '10.96.0.10']]);
  t.like(ask(zone(), '_dns._udp.web.default.svc.cluster.local', RRType.SRV).answers[0]!.data, { port: 53 });
  isNegative(t, ask(zone(), '_dns._tcp.web.default.svc.cluster.local', RRType.SRV), RCode.NXDOMAIN);
  // an empty non-terminal exists
  isNegative(t, ask(zone(), '_tcp.web.default.svc.cluster.local', RRType.SRV), RCode.NOERROR);
});

test('SRV of a headless service lists each endpoint with its port', (t) => {
  const a = ask(zone(), '_PG._TCP.db.data.svc.cluster.local', RRType.SRV);
  const targets = a.answers.map((r) => (r.data.kind === 'srv' ? `${r.data.target}:${r.data.port}` : '?')).sort();
  t.deepEqual(targets, ['10-244-2-9.db.data.svc.cluster.local:5432', 'db-0.db.data.svc.cluster.local:5432', 'db-1.db.data.svc.cluster.local:5432']);
  t.is(a.answers[0]!.name, '_PG._TCP.db.data.svc.cluster.local');
  t.deepEqual(addresses(a.additionals), ['10.244.2.3', '10.244.2.4', '10.244.2.9']);
});

test('SRV on the service name itself lists all ports', (t) => {
  const a = ask(zone(), 'web.default.svc.cluster.local', RRType.SRV);
  t.deepEqual(a.answers.map((r) => (r.data.kind === 'srv' ? r.data.port : 0)).sort(), [53, 80]);
});

test('an ExternalName service is a CNAME, whatever the type asked', (t) => {
  const z = zone();
  for (const type of [RRType.A, RRType.AAAA, RRType.CNAME]) {
    const q = { name: 'ext.default.svc.cluster.local', type, class: 1 };
    const a = ask(z, q.name, type);
    t.is(a.answers.length, 1);
    t.is(a.answers[0]!.type, RRType.CNAME);
    t.like(a.answers[0]!.data, { kind: 'name', name: 'example.org' });
    t.is(ClusterZone.cnameTarget(q, a), type === RRType.CNAME ? undefined : 'example.org');
  }
});

test('pod names of the form a-b-c-d.ns.pod answer their address', (t) => {
  const z = zone();
  t.deepEqual(addresses(ask(z, '10-244-1-5.default.pod.cluster.local').answers), ['10.244.1.5']);
  t.deepEqual(addresses(ask(z, 'fd00--5.default.pod.cluster.local', RRType.AAAA).answers), ['fd00::5']);
  isNegative(t, ask(z, '10-244-1-5.default.pod.cluster.local', RRType.AAAA), RCode.NOERROR);
  isNegative(t, ask(z, 'not-an-ip.default.pod.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, '10-244-1-300.default.pod.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, 'default.pod.cluster.local'), RCode.NOERROR);
  isNegative(t, ask(z, 'a.10-244-1-5.default.pod.cluster.local'), RCode.NXDOMAIN);
});

test('unknown names in the domain are NXDOMAIN; the structure above services is NODATA', (t) => {
  const z = zone();
  isNegative(t, ask(z, 'nope.default.svc.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, 'web.nope.svc.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, 'nope.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, 'a.b.web.default.svc.cluster.local'), RCode.NXDOMAIN);
  isNegative(t, ask(z, 'default.svc.cluster.local'), RCode.NOERROR);
  isNegative(t, ask(z, 'svc.cluster.local'), RCode.NOERROR);
  isNegative(t, ask(z, 'cluster.local'), RCode.NOERROR);
});

test('the zone apex answers its SOA', (t) => {
  const a = ask(zone(), 'Cluster.Local', RRType.SOA);
  t.is(a.answers.length, 1);
  t.is(a.answers[0]!.name, 'Cluster.Local');
  t.like(a.answers[0]!.data, { kind: 'soa', mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', minimum: 5 });
});

test('names outside the domain are forwarded', (t) => {
  const z = zone();
  t.deepEqual(z.lookup({ name: 'example.org', type: RRType.A, class: 1 }), { kind: 'forward' });
  t.deepEqual(z.lookup({ name: 'cluster.local.example.org', type: RRType.A, class: 1 }), { kind: 'forward' });
  t.deepEqual(z.lookup({ name: 'xcluster.local', type: RRType.A, class: 1 }), { kind: 'forward' });
});

test('PTR answers for service cluster IPs and endpoint addresses; unknown ones are forwarded', (t) => {
  const z = zone();
  const ptr = (ip: string): string[] => {
    const r = z.lookup({ name: reverseName(ip)!, type: RRType.PTR, class: 1 });
    return r.kind === 'answer' ? r.answers.map((x) => (x.data.kind === 'name' ? x.data.name : '?')) : ['forward'];
  };
  t.deepEqual(ptr('10.96.0.10'), ['web.default.svc.cluster.local']);
  t.deepEqual(ptr('10.244.2.3'), ['db-0.db.data.svc.cluster.local']);
  t.deepEqual(ptr('10.244.1.5'), ['10-244-1-5.web.default.svc.cluster.local']);
  t.deepEqual(ptr('fd00::11'), ['dual.default.svc.cluster.local']);
  t.deepEqual(ptr('192.0.2.1'), ['forward']);
  t.is(reverseName('fd00::11'), '1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa');
});

test('update replaces the whole record set', (t) => {
  const z = zone();
  z.update([service('other', 'only', { clusterIP: '10.96.5.5', ports: [{ port: 1 }] })], [endpoints('other', 'only', [])]);
  isNegative(t, ask(z, 'web.default.svc.cluster.local'), RCode.NXDOMAIN);
  t.deepEqual(addresses(ask(z, 'only.other.svc.cluster.local').answers), ['10.96.5.5']);
  t.deepEqual(z.lookup({ name: reverseName('10.96.0.10')!, type: RRType.PTR, class: 1 }), { kind: 'forward' });
});

test('another cluster domain is honoured', (t) => {
  const z = new ClusterZone('Corp.Example', 30);
  z.update([service('default', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] })], []);
  const a = z.lookup({ name: 'web.default.svc.corp.example', type: RRType.A, class: 1 });
  t.true(a.kind === 'answer' && a.answers[0]!.ttl === 30);
  t.deepEqual(z.lookup({ name: 'web.default.svc.cluster.local', type: RRType.A, class: 1 }), { kind: 'forward' });
});

test('ANY returns every record of the name', (t) => {
  const a = ask(zone(), 'dual.default.svc.cluster.local', RRType.ANY);
  t.deepEqual(a.answers.map((r) => r.type).sort((x, y) => x - y), [RRType.A, RRType.AAAA, RRType.SRV]);
});
