// Pure parts of the pod network: CNI configs, address checks, nft ruleset, portmap clean-up plans,
// netns names, and the CNI execution protocol against small fake plugins (no root needed).
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniError, invokeCni, parseCniFailure, pluginAvailable } from '../../../kubelet/network/cni.js';
import { buildNatRuleset, natTableName, planPortmapCleanup, splitRuleLine } from '../../../kubelet/network/nat.js';
import { netnsNameFor } from '../../../kubelet/network/netns.js';
import {
  bridgeConfig,
  checkBridgeName,
  checkHostPorts,
  checkPodIp,
  gatewayFor,
  loopbackConfig,
  portmapConfig,
} from '../../../kubelet/network/pod-network.js';

test('gateway is the first host address of the pod CIDR', (t) => {
  t.is(gatewayFor('10.244.3.0/24'), '10.244.3.1');
  t.is(gatewayFor('10.244.3.77/24'), '10.244.3.1');
  t.is(gatewayFor('10.1.0.0/16'), '10.1.0.1');
  t.throws(() => gatewayFor('10.0.0.0/31'), { message: /too small/ });
});

test('pod IPs: inside the CIDR, never network, gateway or broadcast', (t) => {
  t.notThrows(() => checkPodIp('10.244.3.0/24', '10.244.3.2'));
  t.notThrows(() => checkPodIp('10.244.3.0/24', '10.244.3.254'));
  t.throws(() => checkPodIp('10.244.3.0/24', '10.244.3.0'), { message: /network address/ });
  t.throws(() => checkPodIp('10.244.3.0/24', '10.244.3.1'), { message: /gateway/ });
  t.throws(() => checkPodIp('10.244.3.0/24', '10.244.3.255'), { message: /broadcast/ });
  t.throws(() => checkPodIp('10.244.3.0/24', '10.244.4.2'), { message: /outside/ });
  t.throws(() => checkPodIp('10.244.3.0/24', '10.244.3.300'), { message: /not an IPv4/ });
});

test('bridge config: static IPAM with the given address, no plugin masquerade, hairpin', (t) => {
  const c = bridgeConfig({ bridge: 'skiff0', podCIDR: '10.244.3.0/24', ip: '10.244.3.7', mtu: 1400 });
  t.like(c, {
    cniVersion: '1.0.0',
    type: 'bridge',
    bridge: 'skiff0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    mtu: 1400,
  });
  t.deepEqual(c.ipam, {
    type: 'static',
    addresses: [{ address: '10.244.3.7/24', gateway: '10.244.3.1' }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.244.3.1' }],
  });
  const del = bridgeConfig({ bridge: 'skiff0', podCIDR: '10.244.3.0/24' });
  t.deepEqual((del.ipam as { addresses: unknown[] }).addresses, []);
  t.false('mtu' in del);
  t.is(loopbackConfig().type, 'loopback');
});

test('portmap config: lower-case protocols, hostIP only when set, prevResult passed through', (t) => {
  const prev = { cniVersion: '1.0.0', ips: [{ address: '10.244.3.7/24', interface: 2 }] };
  const c = portmapConfig({
    bridge: 'skiff0',
    hostPorts: [
      { hostPort: 8080, containerPort: 80, protocol: 'TCP' },
      { hostPort: 5353, containerPort: 53, protocol: 'UDP', hostIP: '127.0.0.1' },
    ],
    prevResult: prev,
  });
  t.like(c, { type: 'portmap', name: 'skiff-skiff0', capabilities: { portMappings: true }, snat: true });
  t.deepEqual(c.runtimeConfig, {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
  });
  t.is(c.prevResult, prev);
});

test('hostPort and bridge name validation', (t) => {
  t.notThrows(() => checkHostPorts([{ hostPort: 80, containerPort: 8080, protocol: 'TCP' }, { hostPort: 80, containerPort: 8080, protocol: 'UDP' }]));
  t.throws(() => checkHostPorts([{ hostPort: 0, containerPort: 80, protocol: 'TCP' }]), { message: /hostPort 0/ });
  t.throws(() => checkHostPorts([{ hostPort: 80, containerPort: 70000, protocol: 'TCP' }]), { message: /containerPort/ });
  t.throws(() => checkHostPorts([{ hostPort: 80, containerPort: 80, protocol: 'tcp' as 'TCP' }]), { message: /protocol/ });
  t.throws(
    () =>
      checkHostPorts([
        { hostPort: 80, containerPort: 80, protocol: 'TCP' },
        { hostPort: 80, containerPort: 81, protocol: 'TCP' },
      ]),
    { message: /mapped twice/ },
  );
  t.notThrows(() => checkBridgeName('skiff0'));
  t.throws(() => checkBridgeName('a-bridge-name-too-long'), { message: /invalid bridge/ });
  t.throws(() => checkBridgeName('br 0'));
});

test('netns names: prefix plus 12 alphanumerics of the uid', (t) => {
  t.is(netnsNameFor('skiff-', '0f3c2a9e-1b2d-4c5e-8f90-123456789abc'), 'skiff-0f3c2a9e1b2d');
  t.is(netnsNameFor('sk1-', 'ABC'), 'sk1-abc');
  t.throws(() => netnsNameFor('skiff-', '---'), { message: /no letters or digits/ });
  t.throws(() => netnsNameFor('bad/prefix-', 'abc'), { message: /invalid network namespace name/ });
});

test('nft ruleset replaces the table atomically and masquerades only leaving the cluster range', (t) => {
  const table = natTableName('skiff0');
  t.is(table, 'skiff-nat-skiff0');
  const r = buildNatRuleset(table, '10.244.3.0/24', '10.244.0.0/16');
  const lines = r.split('\n');
  t.is(lines[0], 'table ip skiff-nat-skiff0 {}');
  t.is(lines[1], 'delete table ip skiff-nat-skiff0');
  t.true(r.includes('type nat hook postrouting priority srcnat; policy accept;'));
  t.true(r.includes('ip saddr 10.244.3.0/24 ip daddr != 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade'));
});

test('splitting iptables -S lines keeps quoted comments whole', (t) => {
  t.deepEqual(splitRuleLine('-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ'), [
    '-A',
    'POSTROUTING',
    '-m',
    'comment',
    '--comment',
    'CNI portfwd requiring masquerade',
    '-j',
    'CNI-HOSTPORT-MASQ',
  ]);
  t.deepEqual(splitRuleLine('-A X -m comment --comment "dnat name: \\"n\\" id: \\"i\\"" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'dnat name: "n" id: "i"', '-j', 'Y']);
});

const LEFTOVERS = `-P PREROUTING ACCEPT
-P POSTROUTING ACCEPT
-N CNI-HOSTPORT-DNAT
-N CNI-HOSTPORT-MASQ
-N CNI-HOSTPORT-SETMARK
-N OTHER
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.9.0.0/16 -j OTHER
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
`;

test('portmap clean-up removes the jumps and the shared chains when nobody uses them', (t) => {
  const plan = planPortmapCleanup(LEFTOVERS);
  t.is(plan.inUseBy, undefined);
  t.deepEqual(plan.deleteRules, [
    ['-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'],
    ['-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT'],
    ['-D', 'POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ'],
  ]);
  t.deepEqual(plan.deleteChains, ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']);
});

test('portmap clean-up leaves everything while another pod maps a port', (t) => {
  const used = `${LEFTOVERS}-N CNI-DN-0123456789abcdef
-A CNI-HOSTPORT-DNAT -p tcp -m multiport --dports 80 -j CNI-DN-0123456789abcdef
`;
  const plan = planPortmapCleanup(used);
  t.regex(plan.inUseBy ?? '', /CNI-DN-0123456789abcdef/);
  t.deepEqual(plan.deleteRules, []);
  t.deepEqual(plan.deleteChains, []);
  t.deepEqual(planPortmapCleanup('-P PREROUTING ACCEPT\n'), { deleteRules: [], deleteChains: [], inUseBy: undefined });
});

test('CNI failures: the plugin error object, or the raw output when it is not one', (t) => {
  const e = parseCniFailure('bridge', 'ADD', 1, null, '{"code":11,"msg":"failed to create bridge","details":"file exists"}', '');
  t.true(e instanceof CniError);
  t.is(e.code, 11);
  t.is(e.msg, 'failed to create bridge');
  t.is(e.details, 'file exists');
  t.regex(e.message, /CNI bridge ADD failed \(code 11\): failed to create bridge \(file exists\)/);
  const raw = parseCniFailure('static', 'ADD', 2, null, 'panic: boom', 'goroutine 1');
  t.is(raw.code, 999);
  t.regex(raw.message, /exit code 2: panic: boom \/ goroutine 1/);
  t.regex(parseCniFailure('x', 'DEL', null, 'SIGKILL', '', '').message, /killed by SIGKILL/);
});

function fakePlugins(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  // echoes its environment and stdin back as a result, so the test sees what the plugin got
  script(
    'echoer',
    `conf=$(cat); printf '{"cniVersion":"1.0.0","env":"%s %s %s %s %s","conf":%s}' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" "$conf"`,
  );
  script('failer', `cat >/dev/null; echo '{"code":7,"msg":"invalid network config","details":"no bridge"}'; exit 1`);
  script('hanger', 'exec sleep 30');
  script('garbage', 'cat >/dev/null; echo not-json');
  return dir;
}

const base = { containerId: 'pod-1', netns: '/run/netns/x', ifName: 'eth0' };

test('invokeCni passes the parameters in the environment and the config on stdin', async (t) => {
  const binDir = fakePlugins(t);
  t.true(pluginAvailable(binDir, 'echoer'));
  t.false(pluginAvailable(binDir, 'nope'));
  const r = (await invokeCni({ ...base, command: 'ADD', binDir, config: { type: 'echoer', name: 'n', x: 1 } })) as unknown as {
    env: string;
    conf: unknown;
  };
  t.is(r.env, `ADD pod-1 /run/netns/x eth0 ${binDir}`);
  t.deepEqual(r.conf, { type: 'echoer', name: 'n', x: 1 });
  t.is(await invokeCni({ ...base, command: 'DEL', binDir, config: { type: 'echoer' } }), undefined);
});

test('invokeCni turns plugin errors, bad output, timeouts and missing plugins into CniError', async (t) => {
  const binDir = fakePlugins(t);
  const e = await t.throwsAsync(invokeCni({ ...base, command: 'ADD', binDir, config: { type: 'failer' } }), { instanceOf: CniError });
  t.is(e?.code, 7);
  t.is(e?.details, 'no bridge');
  await t.throwsAsync(invokeCni({ ...base, command: 'ADD', binDir, config: { type: 'garbage' } }), { message: /not JSON/ });
  await t.throwsAsync(invokeCni({ ...base, command: 'ADD', binDir, config: { type: 'hanger' }, timeoutMs: 200 }), { message: /timed out after 200 ms/ });
  await t.throwsAsync(invokeCni({ ...base, command: 'ADD', binDir, config: { type: 'nope' } }), { message: /cannot run/ });
  await t.throwsAsync(invokeCni({ ...base, command: 'ADD', binDir, config: { type: '../escape' } }), { message: /invalid CNI plugin type/ });
});
