// The Services ruleset as text: what each kind of Service becomes, what is left out, stable order,
// and (as root) that nft itself accepts the script in check mode (`nft -c`, nothing applied).
import test from 'ava';
import { buildServiceRules, buildServiceRuleset, planServicePorts } from '../../../kubelet/network/service-rules.js';
import { runTool, systemTool } from '../../../kubelet/network/cni.js';
import type { KObject } from '../../../pkg/api/types.js';

const CIDR = '10.244.0.0/16';

function svc(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec, ...extra };
}

function eps(name: string, subsets: unknown[]): KObject {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: 'default' }, subsets };
}

function chainBody(text: string, prefix: string): string[] {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`  chain ${prefix}`));
  if (i < 0) return [];
  const out: string[] = [];
  for (let j = i + 1; j < lines.length && lines[j] !== '  }'; j++) out.push(lines[j]!.trim());
  return out;
}

function mapElements(text: string, map: string): string[] {
  const lines = text.split('\n');
  const i = lines.indexOf(`  map ${map} {`);
  const out: string[] = [];
  for (let j = i + 1; j < lines.length && lines[j] !== '  }'; j++) {
    const m = /^ {6}(.*),$/.exec(lines[j]!);
    if (m) out.push(m[1]!);
  }
  return out;
}

const web = svc('web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }, { name: 'metrics', port: 9090, targetPort: 9100 }] });
const webEps = eps('web', [
  {
    addresses: [{ ip: '10.244.1.7' }, { ip: '10.244.0.5' }],
    notReadyAddresses: [{ ip: '10.244.0.99' }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9100, protocol: 'TCP' }],
  },
  { addresses: [{ ip: '10.244.2.3' }], ports: [{ name: 'http', port: 8081, protocol: 'TCP' }] },
]);

test('ClusterIP: one map entry per port, random pick over ready endpoints, mark + DNAT in one rule', (t) => {
  const r = buildServiceRules('skiff-svc', [web], [webEps], { clusterCIDR: CIDR });
  const ips = mapElements(r.text, 'service-ips');
  t.is(ips.length, 2);
  t.regex(ips[0]!, /^10\.96\.0\.10 \. tcp \. 80 : goto svc-[0-9a-f]{8}-default\/web\/tcp\/80$/);
  t.regex(ips[1]!, /^10\.96\.0\.10 \. tcp \. 9090 : goto svc-[0-9a-f]{8}-default\/web\/tcp\/9090$/);
  t.deepEqual(chainBody(r.text, 'svc-'), [
    'meta mark set meta mark | 0x4000 meta l4proto tcp dnat ip to numgen random mod 3 map { 0 : 10.244.0.5 . 8080, 1 : 10.244.1.7 . 8080, 2 : 10.244.2.3 . 8081 }',
  ]);
  t.false(r.text.includes('10.244.0.99'), 'not-ready addresses never serve');
  t.false(r.text.includes('chain ep-'));
  t.true(r.text.includes('meta mark & 0x4000 == 0x4000 meta mark set meta mark ^ 0x4000 masquerade fully-random'));
  t.deepEqual(r.warnings, []);
});

test('named and numeric target ports resolve through the Endpoints port of the same name', (t) => {
  const ports = planServicePorts([web], [webEps]);
  t.deepEqual(
    ports.map((p) => [p.portName, p.port, p.endpoints.map((e) => `${e.ip}:${e.port}`)]),
    [
      ['http', 80, ['10.244.0.5:8080', '10.244.1.7:8080', '10.244.2.3:8081']],
      ['metrics', 9090, ['10.244.0.5:9100', '10.244.1.7:9100']],
    ],
  );
  const text = buildServiceRuleset('skiff-svc', [web], [webEps], { clusterCIDR: CIDR });
  t.regex(chainBody(text, 'svc-')[0]!, /mod 3/);
  t.true(text.includes('numgen random mod 2 map { 0 : 10.244.0.5 . 9100, 1 : 10.244.1.7 . 9100 }'));
});

test('an unnamed single port matches the unnamed Endpoints port; protocol must match too', (t) => {
  const s = svc('one', { clusterIP: '10.96.0.20', ports: [{ port: 53, protocol: 'UDP' }] });
  const e = eps('one', [{ addresses: [{ ip: '10.244.0.8' }], ports: [{ port: 5353, protocol: 'UDP' }, { port: 5354, protocol: 'TCP' }] }]);
  const r = buildServiceRules('skiff-svc', [s], [e], { clusterCIDR: CIDR });
  t.deepEqual(mapElements(r.text, 'service-ips').map((x) => x.split(' : ')[0]), ['10.96.0.20 . udp . 53']);
  // a single endpoint needs no pick
  t.deepEqual(chainBody(r.text, 'svc-'), ['meta mark set meta mark | 0x4000 meta l4proto udp dnat ip to 10.244.0.8:5353']);
});

test('ClientIP affinity hashes the client address with a fixed seed', (t) => {
  const s = svc('sticky', { clusterIP: '10.96.0.30', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, ports: [{ port: 80 }] });
  const e = eps('sticky', [{ addresses: [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }], ports: [{ port: 8080 }] }]);
  const a = buildServiceRuleset('skiff-svc', [s], [e], { clusterCIDR: CIDR });
  t.regex(chainBody(a, 'svc-')[0]!, /dnat ip to jhash ip saddr mod 2 seed 0x[0-9a-f]+ map \{ 0 : 10\.244\.0\.2 \. 8080, 1 : 10\.244\.0\.3 \. 8080 \}$/);
  t.false(a.includes('numgen'));
});

test('no ready endpoints (or no Endpoints object) rejects, ClusterIP and NodePort alike', (t) => {
  const s = svc('down', { type: 'NodePort', clusterIP: '10.96.0.40', ports: [{ port: 80, nodePort: 30040 }] });
  const noObj = svc('nosel', { clusterIP: '10.96.0.41', ports: [{ port: 80 }] });
  const e = eps('down', [{ notReadyAddresses: [{ ip: '10.244.0.4' }], ports: [{ port: 8080 }] }]);
  const r = buildServiceRules('skiff-svc', [s, noObj], [e], { clusterCIDR: CIDR });
  t.deepEqual(mapElements(r.text, 'service-ips'), []);
  t.deepEqual(mapElements(r.text, 'service-nodeports'), []);
  t.deepEqual(mapElements(r.text, 'no-endpoint-services'), ['10.96.0.40 . tcp . 80 : goto reject-service', '10.96.0.41 . tcp . 80 : goto reject-service']);
  t.deepEqual(mapElements(r.text, 'no-endpoint-nodeports'), ['tcp . 30040 : goto reject-service']);
  t.deepEqual(chainBody(r.text, 'reject-service'), ['meta l4proto tcp reject with tcp reset', 'reject']);
  t.deepEqual(chainBody(r.text, 'filter-prerouting'), ['type filter hook prerouting priority dstnat - 10; policy accept;', 'ct state new jump no-endpoints']);
  t.false(r.text.includes('  chain svc-'));
});

test('NodePort and LoadBalancer: node ports on every local address, externalIPs and LB ingress IPs as frontends', (t) => {
  const np = svc('np', { type: 'NodePort', clusterIP: '10.96.0.50', externalIPs: ['198.51.100.9', 'fd00::1'], ports: [{ port: 80, nodePort: 30080 }, { name: 'q', port: 81, protocol: 'UDP', nodePort: 30081 }] });
  const lb = svc('lb', { type: 'LoadBalancer', clusterIP: '10.96.0.51', ports: [{ port: 443, nodePort: 30443 }] }, { status: { loadBalancer: { ingress: [{ ip: '203.0.113.5' }, { hostname: 'lb.example' }] } } });
  const cip = svc('cip', { clusterIP: '10.96.0.52', ports: [{ port: 80, nodePort: 30099 }] });
  const e = (n: string) => eps(n, [{ addresses: [{ ip: '10.244.0.6' }], ports: [{ port: 8080 }, { name: 'q', port: 8081, protocol: 'UDP' }] }]);
  const r = buildServiceRules('skiff-svc', [np, lb, cip], [e('np'), e('lb'), e('cip')], { clusterCIDR: CIDR, nodeIPs: ['192.0.2.1'] });
  const nps = mapElements(r.text, 'service-nodeports').map((x) => x.replace(/goto svc-\w+-/, 'goto '));
  t.deepEqual(nps, ['tcp . 30443 : goto default/lb/tcp/443', 'tcp . 30080 : goto default/np/tcp/80', 'udp . 30081 : goto default/np/udp/81'], 'a ClusterIP service gets no node port');
  const ips = mapElements(r.text, 'service-ips').map((x) => x.split(' : ')[0]);
  t.deepEqual(ips, ['10.96.0.52 . tcp . 80', '10.96.0.51 . tcp . 443', '203.0.113.5 . tcp . 443', '10.96.0.50 . tcp . 80', '198.51.100.9 . tcp . 80', '10.96.0.50 . udp . 81', '198.51.100.9 . udp . 81']);
  t.deepEqual(chainBody(r.text, 'services'), [
    'ip daddr . meta l4proto . th dport vmap @service-ips',
    'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
  ]);
  t.true(r.text.includes('      192.0.2.1,'));
  // prerouting for traffic from outside, output for the node's own
  t.deepEqual(chainBody(r.text, 'nat-prerouting'), ['type nat hook prerouting priority dstnat; policy accept;', 'jump services']);
  t.deepEqual(chainBody(r.text, 'nat-output'), ['type nat hook output priority -100; policy accept;', 'jump services']);
});

test('headless, ExternalName, IPv6 and malformed services stay out; the bad ones are reported', (t) => {
  const list = [
    svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }),
    svc('ext', { type: 'ExternalName', externalName: 'example.com' }),
    svc('v6', { clusterIP: 'fd00::10', ports: [{ port: 80 }] }),
    svc('bad', { clusterIP: '10.96.0.300', ports: [{ port: 80 }] }),
    svc('badport', { clusterIP: '10.96.0.61', ports: [{ port: 0 }, { port: 80, protocol: 'ICMP' }] }),
    svc('pending', { ports: [{ port: 80 }] }),
  ];
  const r = buildServiceRules('skiff-svc', list, [eps('headless', [{ addresses: [{ ip: '10.244.0.3' }], ports: [{ port: 80 }] }])], { clusterCIDR: CIDR });
  t.deepEqual(r.ports, []);
  t.false(r.text.includes('10.244.0.3'));
  t.is(r.warnings.length, 3);
  t.true(r.warnings.some((w) => w.includes('default/bad') && w.includes('10.96.0.300')));
  t.true(r.warnings.some((w) => w.includes('ICMP')));
});

test('dual-stack: the IPv4 one of clusterIPs serves, IPv6 endpoints are skipped quietly', (t) => {
  const s = svc('ds', { clusterIP: 'fd00::20', clusterIPs: ['fd00::20', '10.96.0.70'], ports: [{ port: 80 }] });
  const e = eps('ds', [{ addresses: [{ ip: 'fd00:244::5' }, { ip: '10.244.0.5' }], ports: [{ port: 8080 }] }]);
  const r = buildServiceRules('skiff-svc', [s], [e], { clusterCIDR: CIDR });
  t.deepEqual(r.ports.map((p) => [p.frontends, p.endpoints]), [[['10.96.0.70'], [{ ip: '10.244.0.5', port: 8080 }]]]);
  t.deepEqual(r.warnings, []);
});

test('the same input in any order gives the same text; conflicting frontends are reported, first one wins', (t) => {
  const a = svc('a', { type: 'NodePort', clusterIP: '10.96.0.80', ports: [{ port: 80, nodePort: 30100 }] });
  const b = svc('b', { type: 'NodePort', clusterIP: '10.96.0.80', ports: [{ port: 80, nodePort: 30100 }] });
  const ea = eps('a', [{ addresses: [{ ip: '10.244.0.9' }, { ip: '10.244.0.10' }, { ip: '10.244.0.9' }], ports: [{ port: 1 }] }]);
  const eb = eps('b', [{ addresses: [{ ip: '10.244.0.11' }], ports: [{ port: 2 }] }]);
  const one = buildServiceRules('t', [a, b, web], [ea, eb, webEps], { clusterCIDR: CIDR });
  const two = buildServiceRules('t', [web, b, a], [webEps, eb, ea], { clusterCIDR: CIDR });
  t.is(one.text, two.text);
  t.deepEqual(one.warnings, two.warnings);
  t.is(one.warnings.length, 2);
  // endpoints sorted numerically (10.244.0.9 before 10.244.0.10), duplicates once
  t.true(one.text.includes('numgen random mod 2 map { 0 : 10.244.0.9 . 1, 1 : 10.244.0.10 . 1 }'));
  t.is(mapElements(one.text, 'service-nodeports').length, 1);
});

test('the script replaces the table atomically and counts its rules', (t) => {
  const r = buildServiceRules('skiff-svc-x', [web], [webEps], { clusterCIDR: CIDR });
  t.true(r.text.startsWith('table ip skiff-svc-x {}\ndelete table ip skiff-svc-x\ntable ip skiff-svc-x {\n'));
  // 13 fixed rules, one per service port
  t.is(r.rules, 13 + 2);
  t.throws(() => buildServiceRules('bad name', [], [], { clusterCIDR: CIDR }), { message: /invalid nftables table name/ });
  t.throws(() => buildServiceRules('t', [], [], { clusterCIDR: '10.244.0.0' }), { message: /not an IPv4 CIDR/ });
  t.throws(() => buildServiceRules('t', [], [], { clusterCIDR: CIDR, nodeIPs: ['fd00::1'] }), { message: /not an IPv4 address/ });
});

function canRunNft(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    systemTool('nft');
    return true;
  } catch {
    return false;
  }
}

const nftTest = canRunNft() ? test : test.skip;

nftTest('nft accepts the generated ruleset in check mode (root)', async (t) => {
  const services: KObject[] = [web];
  const endpoints: KObject[] = [webEps];
  services.push(svc('sticky', { clusterIP: '10.96.0.30', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] }));
  endpoints.push(eps('sticky', [{ addresses: [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }], ports: [{ port: 8080 }] }]));
  services.push(svc('np', { type: 'NodePort', clusterIP: '10.96.0.50', externalIPs: ['198.51.100.9'], ports: [{ port: 80, nodePort: 30080 }, { name: 'u', port: 53, protocol: 'UDP', nodePort: 30053 }, { name: 's', port: 90, protocol: 'SCTP', nodePort: 30090 }] }));
  endpoints.push(eps('np', [{ addresses: [{ ip: '10.244.0.6' }], ports: [{ port: 8080 }, { name: 'u', port: 5353, protocol: 'UDP' }, { name: 's', port: 9090, protocol: 'SCTP' }] }]));
  services.push(svc('down', { type: 'LoadBalancer', clusterIP: '10.96.0.40', ports: [{ port: 80, nodePort: 30040 }] }));
  services.push(svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }));
  const text = buildServiceRuleset(`skiff-svc-chk${process.pid}`, services, endpoints, { clusterCIDR: CIDR, nodeIPs: ['192.0.2.1'] });
  // check mode goes through the kernel's validation but commits nothing
  await t.notThrowsAsync(runTool('nft', ['-c', '-f', '-'], { input: text }));
  // and an empty cluster is a valid table too
  await t.notThrowsAsync(runTool('nft', ['-c', '-f', '-'], { input: buildServiceRuleset('skiff-svc-empty', [], [], { clusterCIDR: CIDR }) }));
  // a broken script is refused (the check is real)
  await t.throwsAsync(runTool('nft', ['-c', '-f', '-'], { input: text.replace('dnat ip to', 'dnat ip too') }));
});
