import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../../pkg/api/types.js';
import { writePodEtcFiles } from '../../../kubelet/volumes/etc-files.js';
import { parseResolvConf, podDnsConfig } from '../../../kubelet/volumes/dns.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-etc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hostResolvConf = join(dir, 'host-resolv.conf');
  writeFileSync(hostResolvConf, '# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example.\noptions edns0 ndots:2\n');
  const hostHostsFile = join(dir, 'host-hosts');
  writeFileSync(hostHostsFile, '127.0.0.1 localhost\n192.0.2.10 node-a\n');
  return { dir, hostResolvConf, hostHostsFile };
}

function pod(spec: Json = {}): KObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', uid: 'u1' }, spec: { containers: [{ name: 'app' }], ...spec } };
}

const read = (p: string) => readFileSync(p, 'utf8');

test('hosts, hostname and resolv.conf of a ClusterFirst pod', async (t) => {
  const { dir, hostResolvConf } = setup(t);
  const mounts = await writePodEtcFiles(dir, pod({ hostAliases: [{ ip: '192.0.2.1', hostnames: ['foo.local', 'bar.local'] }] }), '10.244.0.5', {
    clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf,
  });
  t.deepEqual(mounts, [
    { destination: '/etc/hosts', source: join(dir, 'etc-hosts') },
    { destination: '/etc/hostname', source: join(dir, 'etc-hostname') },
    { destination: '/etc/resolv.conf', source: join(dir, 'resolv.conf') },
  ]);
  t.is(read(join(dir, 'etc-hosts')), [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    '10.244.0.5\tweb-1',
    '',
    '# Entries added by HostAliases.',
    '192.0.2.1\tfoo.local\tbar.local',
    '',
  ].join('\n'));
  t.is(read(join(dir, 'etc-hostname')), 'web-1\n');
  // kubelet appends the host's search domains after the cluster ones
  t.is(read(join(dir, 'resolv.conf')), 'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n');
});

test('hostname and subdomain give the FQDN line', async (t) => {
  const { dir, hostResolvConf } = setup(t);
  await writePodEtcFiles(dir, pod({ hostname: 'db-0', subdomain: 'db' }), '10.244.0.7', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf });
  t.true(read(join(dir, 'etc-hosts')).includes('10.244.0.7\tdb-0.db.shop.svc.cluster.local\tdb-0\n'));
  t.is(read(join(dir, 'etc-hostname')), 'db-0\n');
});

test('without cluster DNS servers, and with dnsPolicy Default, the host resolver is used', async (t) => {
  const { dir, hostResolvConf } = setup(t);
  await writePodEtcFiles(dir, pod(), '10.244.0.5', { clusterDomain: 'cluster.local', hostResolvConf });
  const hostView = 'nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\noptions edns0 ndots:2\n';
  t.is(read(join(dir, 'resolv.conf')), hostView);
  await writePodEtcFiles(dir, pod({ dnsPolicy: 'Default' }), '10.244.0.5', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf });
  t.is(read(join(dir, 'resolv.conf')), hostView);
});

test('dnsPolicy None uses only dnsConfig; dnsConfig merges into ClusterFirst', async (t) => {
  const { dir, hostResolvConf } = setup(t);
  const dnsConfig = { nameservers: ['1.1.1.1'], searches: ['my.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] };
  await writePodEtcFiles(dir, pod({ dnsPolicy: 'None', dnsConfig }), '10.244.0.5', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf });
  t.is(read(join(dir, 'resolv.conf')), 'nameserver 1.1.1.1\nsearch my.example\noptions ndots:2 edns0\n');
  await writePodEtcFiles(dir, pod({ dnsConfig: { ...dnsConfig, nameservers: ['10.96.0.10', '1.1.1.1'] } }), '10.244.0.5', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf });
  t.is(read(join(dir, 'resolv.conf')), [
    'nameserver 10.96.0.10',
    'nameserver 1.1.1.1',
    'search shop.svc.cluster.local svc.cluster.local cluster.local corp.example my.example',
    'options ndots:2 edns0',
    '',
  ].join('\n'));
});

test('hostNetwork pods: host hosts file, no hostname mount, host DNS unless ClusterFirstWithHostNet', async (t) => {
  const { dir, hostResolvConf, hostHostsFile } = setup(t);
  const mounts = await writePodEtcFiles(dir, pod({ hostNetwork: true }), '192.0.2.10', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf, hostHostsFile });
  t.deepEqual(mounts.map((m) => m.destination), ['/etc/hosts', '/etc/resolv.conf']);
  t.is(read(join(dir, 'etc-hosts')), '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n192.0.2.10 node-a\n');
  t.regex(read(join(dir, 'resolv.conf')), /^nameserver 192\.0\.2\.53\n/);
  await writePodEtcFiles(dir, pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), '192.0.2.10', { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], hostResolvConf, hostHostsFile });
  t.regex(read(join(dir, 'resolv.conf')), /^nameserver 10\.96\.0\.10\n/);
});

test('an existing etc-hosts is kept (containers may have edited it); no pod IP means no hosts mount', async (t) => {
  const { dir, hostResolvConf } = setup(t);
  await writePodEtcFiles(dir, pod(), '10.244.0.5', { hostResolvConf });
  writeFileSync(join(dir, 'etc-hosts'), 'edited\n');
  await writePodEtcFiles(dir, pod(), '10.244.0.5', { hostResolvConf });
  t.is(read(join(dir, 'etc-hosts')), 'edited\n');
  const other = join(dir, 'other');
  mkdirSync(other);
  const mounts = await writePodEtcFiles(other, pod(), '', { hostResolvConf });
  t.deepEqual(mounts.map((m) => m.destination), ['/etc/hostname', '/etc/resolv.conf']);
});

test('resolv.conf limits: three nameservers, 32 search paths', (t) => {
  const host = parseResolvConf('');
  const cfg = podDnsConfig(pod({
    dnsPolicy: 'None',
    dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'], searches: Array.from({ length: 40 }, (_, i) => `s${i}.example`) },
  }), { host });
  t.deepEqual(cfg.servers, ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  t.is(cfg.searches.length, 32);
});
