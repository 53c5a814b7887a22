// The pod network on a real host: two pods on a bridge of their own (CNI bridge + static IPAM +
// loopback + portmap), pod-to-pod and host-to-pod traffic, a TCP hostPort reaching a server inside
// a pod, the egress masquerade table, recovery by re-opening, idempotent tear-down, and a host left
// exactly as found. Needs root, the CNI reference plugins, iproute2, nftables, iptables and
// busybox-static (Debian: apt-get install -y containernetworking-plugins iproute2 nftables iptables busybox-static).
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pluginAvailable, systemTool } from '../../kubelet/network/cni.js';
import { natTableExists } from '../../kubelet/network/nat.js';
import { listNetns, netnsExists } from '../../kubelet/network/netns.js';
import { PodNetwork, type PodNetworkOptions, type PodNetworkStatus } from '../../kubelet/network/pod-network.js';
import { parseCidr } from '../../kubelet/network/pod-ips.js';
import { waitFor } from '../helpers/wait.js';

const CNI_BIN = '/usr/lib/cni';

function has(cmd: string): boolean {
  try {
    systemTool(cmd);
    return true;
  } catch {
    return false;
  }
}

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const plugins = ['bridge', 'loopback', 'static', 'portmap'].filter((p) => !pluginAvailable(CNI_BIN, p));
  if (plugins.length) return `CNI plugins missing in ${CNI_BIN}: ${plugins.join(', ')} (apt-get install -y containernetworking-plugins)`;
  for (const cmd of ['ip', 'nft', 'iptables', 'curl']) if (!has(cmd)) return `${cmd} is not installed`;
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

/** A /24 in 10.200-254.x.x that no route or address of this host touches. */
function freeSubnet(): string {
  const used: string[] = [];
  const routes = JSON.parse(execFileSync(systemTool('ip'), ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })) as { dst: string }[];
  for (const r of routes) {
    if (r.dst === 'default') continue;
    used.push(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  }
  const addrs = JSON.parse(execFileSync(systemTool('ip'), ['-j', '-4', 'addr'], { encoding: 'utf8' })) as { addr_info: { local: string; prefixlen: number }[] }[];
  for (const l of addrs) for (const a of l.addr_info) used.push(`${a.local}/${a.prefixlen}`);
  for (let i = 0; i < 200; i++) {
    const cidr = `10.${200 + Math.floor(Math.random() * 55)}.${Math.floor(Math.random() * 256)}.0/24`;
    if (!used.some((u) => overlaps(u, cidr))) return cidr;
  }
  throw new Error('no free /24 in 10.200.0.0-10.254.255.255');
}

function hostAddress(): string | undefined {
  try {
    const r = JSON.parse(execFileSync(systemTool('ip'), ['-j', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' })) as { prefsrc?: string }[];
    return r[0]?.prefsrc;
  } catch {
    return undefined;
  }
}

function defaultGateway(): string | undefined {
  const r = JSON.parse(execFileSync(systemTool('ip'), ['-j', '-4', 'route', 'show', 'default'], { encoding: 'utf8' })) as { gateway?: string }[];
  return r[0]?.gateway;
}

function httpGet(url: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
  });
}

function inNetns(ns: string, args: string[]): string {
  return execFileSync(systemTool('ip'), ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: 10_000 });
}

function ping(from: string | undefined, ip: string): boolean {
  try {
    const cmd = ['busybox', 'ping', '-c1', '-W2', ip];
    if (from) inNetns(from, cmd);
    else execFileSync('/bin/busybox', cmd.slice(1), { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function natRules(): string {
  return execFileSync(systemTool('iptables'), ['-w', '5', '-t', 'nat', '-S'], { encoding: 'utf8' }) + execFileSync(systemTool('iptables'), ['-w', '5', '-S'], { encoding: 'utf8' });
}

function hostVethsOn(bridge: string): string[] {
  const links = JSON.parse(execFileSync(systemTool('ip'), ['-j', 'link', 'show', 'master', bridge], { encoding: 'utf8' })) as { ifname: string }[];
  return links.map((l) => l.ifname);
}

const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);
const nsName = (s: PodNetworkStatus) => s.netnsPath.slice('/run/netns/'.length);

const missing = missingPrerequisite();

if (missing) {
  console.log(`pod network e2e tests skipped: ${missing}`);
  test.skip(`pod network e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  const rand = randomBytes(4).toString('hex');
  const bridge = `sk${rand.slice(0, 5)}`;
  const prefix = `skt${rand.slice(5, 8)}-`;
  const podCIDR = freeSubnet();
  const base = podCIDR.split('.').slice(0, 3).join('.');
  const stateDir = mkdtempSync(join(tmpdir(), 'skiff-e2e-podnet-'));
  const wwwDir = join(stateDir, 'www');
  const hostPort = 20000 + Math.floor(Math.random() * 20000);
  const opts: PodNetworkOptions = { stateDir: join(stateDir, 'network'), podCIDR, clusterCIDR: podCIDR, bridge, netnsPrefix: prefix };
  const podA = { uid: randomUUID(), namespace: 'e2e', name: 'pod-a' };
  const podB = { uid: randomUUID(), namespace: 'e2e', name: 'pod-b' };
  const ipA = `${base}.2`;
  const ipB = `${base}.3`;
  let net: PodNetwork | undefined;
  let destroyed = false;
  let stA: PodNetworkStatus | undefined;
  let stB: PodNetworkStatus | undefined;
  const veths: string[] = [];
  let server: ChildProcess | undefined;

  function stopServer(): Promise<void> {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null || s.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      s.once('exit', () => resolve());
      s.kill('SIGKILL');
    });
  }

  test.after.always(async () => {
    await stopServer();
    if (net && !destroyed) await net.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    rmSync(stateDir, { recursive: true, force: true });
  });

  test.serial('two pods set up concurrently on a new bridge', async (t) => {
    t.log(`bridge ${bridge}, netns prefix ${prefix}, pod CIDR ${podCIDR}, hostPort ${hostPort}`);
    net = await PodNetwork.open(opts);
    t.is(net.gateway, `${base}.1`);
    t.false(linkExists(bridge), 'the bridge is made by the first pod');
    [stA, stB] = await Promise.all([
      net.setUp(podA, ipA, [{ hostPort, containerPort: 8080, protocol: 'TCP' }]),
      net.setUp(podB, ipB),
    ]);
    t.like(stA, { uid: podA.uid, namespace: 'e2e', name: 'pod-a', ip: ipA });
    t.like(stB, { uid: podB.uid, ip: ipB });
    t.regex(stA.netnsPath, new RegExp(`^/run/netns/${prefix}[0-9a-f]{12}$`));
    t.true(netnsExists(nsName(stA)) && netnsExists(nsName(stB)));
    t.true(linkExists(bridge));
    veths.push(...hostVethsOn(bridge));
    t.is(veths.length, 2);

    const addr = JSON.parse(inNetns(nsName(stA), ['ip', '-j', '-4', 'addr', 'show'])) as { ifname: string; operstate: string; addr_info: { local: string; prefixlen: number }[] }[];
    const eth0 = addr.find((l) => l.ifname === 'eth0');
    t.deepEqual(eth0?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [`${ipA}/24`]);
    t.deepEqual(addr.find((l) => l.ifname === 'lo')?.addr_info.map((a) => a.local), ['127.0.0.1'], 'lo is up with its address');
    t.regex(inNetns(nsName(stA), ['ip', 'route', 'show', 'default']), new RegExp(`default via ${base.replace(/\./g, '\\.')}\\.1 dev eth0`));

    // set up again with the same address: found, not rebuilt
    const again = await Promise.all([1, 2].map(() => net!.setUp(podA, ipA, [{ hostPort, containerPort: 8080, protocol: 'TCP' }])));
    t.deepEqual(again, [stA, stA]);
    t.deepEqual(hostVethsOn(bridge).sort(), [...veths].sort());
    await t.throwsAsync(net.setUp({ uid: randomUUID(), namespace: 'e2e', name: 'pod-c' }, ipB), { message: /already used by pod e2e\/pod-b/ });
    await t.throwsAsync(net.setUp({ uid: randomUUID(), namespace: 'e2e', name: 'pod-c' }, `${base}.1`), { message: /gateway/ });
  });

  test.serial('pods reach each other and the host reaches the pods', async (t) => {
    t.truthy(stA && stB);
    await waitFor('pod A pings pod B', 10_000, async () => ping(nsName(stA!), ipB));
    await waitFor('pod B pings pod A', 10_000, async () => ping(nsName(stB!), ipA));
    await waitFor('host pings pod A', 10_000, async () => ping(undefined, ipA));
    await waitFor('pod B pings the gateway', 10_000, async () => ping(nsName(stB!), `${base}.1`));
    t.pass();
  });

  test.serial('a set-up failing half-way (portmap) is rolled back completely', async (t) => {
    // the real plugins, except a portmap that reports a CNI error
    const binDir = join(stateDir, 'cni-bin');
    mkdirSync(binDir);
    for (const p of ['bridge', 'loopback', 'static']) symlinkSync(join(CNI_BIN, p), join(binDir, p));
    writeFileSync(join(binDir, 'portmap'), '#!/bin/sh\ncat >/dev/null\necho \'{"code":100,"msg":"port busy","details":"test plugin"}\'\nexit 1\n', { mode: 0o755 });
    // "z" is no hex digit: no namespace of the main network (prefix + uid hex) starts like this one's.
    const failing = await PodNetwork.open({ ...opts, stateDir: join(stateDir, 'network-failing'), netnsPrefix: `${prefix}z`, cniBinDir: binDir });
    const podC = { uid: randomUUID(), namespace: 'e2e', name: 'pod-c' };
    await t.throwsAsync(failing.setUp(podC, `${base}.4`, [{ hostPort: hostPort + 1, containerPort: 80, protocol: 'TCP' }]), {
      message: /CNI portmap ADD failed \(code 100\): port busy \(test plugin\)/,
    });
    t.deepEqual(listNetns(`${prefix}z`), []);
    t.deepEqual(hostVethsOn(bridge).sort(), [...veths].sort(), 'its veth is gone again');
    t.deepEqual(await failing.list(), []);
    t.false(ping(undefined, `${base}.4`));
    // not destroyed: it shares the bridge and NAT table with the network under test
  });

  test.serial('a TCP hostPort reaches a server listening inside the pod', async (t) => {
    mkdirSync(wwwDir, { recursive: true });
    writeFileSync(join(wwwDir, 'index.html'), 'hello-from-pod-a\n');
    server = spawn(systemTool('ip'), ['netns', 'exec', nsName(stA!), 'busybox', 'httpd', '-f', '-p', '8080', '-h', wwwDir], { stdio: 'ignore' });
    const direct = await waitFor('the server in pod A answers on its pod IP', 10_000, () => httpGet(`http://${ipA}:8080/`));
    t.is(direct, 'hello-from-pod-a\n');
    t.is(await waitFor('hostPort on 127.0.0.1', 10_000, () => httpGet(`http://127.0.0.1:${hostPort}/`)), 'hello-from-pod-a\n');
    const hostIp = hostAddress();
    if (hostIp) {
      t.is(await waitFor(`hostPort on ${hostIp}`, 10_000, () => httpGet(`http://${hostIp}:${hostPort}/`)), 'hello-from-pod-a\n');
      // from another pod through the host's address (DNAT + portmap's masquerade)
      const fromB = await waitFor('hostPort from pod B', 10_000, async () =>
        inNetns(nsName(stB!), ['curl', '-s', '--max-time', '3', `http://${hostIp}:${hostPort}/`]),
      );
      t.is(fromB, 'hello-from-pod-a\n');
    } else {
      t.log('no host address with a default route: the hostPort was checked on 127.0.0.1 only');
    }
    t.regex(natRules(), new RegExp(`DNAT --to-destination ${ipA.replace(/\./g, '\\.')}:8080`));
  });

  test.serial('egress masquerade table and IP forwarding', async (t) => {
    const table = `skiff-nat-${bridge}`;
    t.true(await natTableExists(table));
    const listing = execFileSync(systemTool('nft'), ['list', 'table', 'ip', table], { encoding: 'utf8' });
    t.regex(listing, /type nat hook postrouting priority srcnat; policy accept;/);
    t.true(listing.includes(`ip saddr ${podCIDR} ip daddr != ${podCIDR}`), listing);
    t.regex(listing, /masquerade/);
    t.is(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
    // the bridge plugin was told not to masquerade: no CNI-* masquerade chain for our pods
    t.false(natRules().includes(`${ipA}/32`));
    // The host's gateway has no route back to the pod range: an answer proves the masquerade works.
    const gw = defaultGateway();
    if (gw && ping(undefined, gw)) {
      await waitFor(`pod B pings the host's gateway ${gw}`, 10_000, async () => ping(nsName(stB!), gw));
    } else {
      t.log('the host has no pingable default gateway: egress checked by the rule only');
    }
  });

  test.serial('a re-opened network lists the pods and keeps them running', async (t) => {
    const reopened = await PodNetwork.open(opts);
    net = reopened;
    const listed = (await reopened.list()).sort((a, b) => a.ip.localeCompare(b.ip));
    t.deepEqual(listed, [stA, stB]);
    t.deepEqual(await reopened.setUp(podB, ipB), stB);
    t.deepEqual(hostVethsOn(bridge).sort(), [...veths].sort(), 'nothing rebuilt');
    t.is(await httpGet(`http://127.0.0.1:${hostPort}/`), 'hello-from-pod-a\n');
  });

  test.serial('tearDown is idempotent and removes everything of the pod', async (t) => {
    await stopServer();
    const vethsBefore = hostVethsOn(bridge);
    await net!.tearDown(podA.uid);
    await net!.tearDown(podA.uid);
    t.false(existsSync(stA!.netnsPath));
    t.false(natRules().includes(ipA), 'no iptables rule mentions pod A');
    t.false(natRules().includes(podA.uid));
    const vethsAfter = hostVethsOn(bridge);
    t.is(vethsAfter.length, vethsBefore.length - 1);
    t.deepEqual(
      (await net!.list()).map((s) => s.uid),
      [podB.uid],
    );
    t.true(ping(undefined, ipB), 'pod B is untouched');
    await net!.tearDown(randomUUID()); // never set up: fine
  });

  test.serial('destroy leaves no netns, veth, bridge, nft table or iptables rule behind', async (t) => {
    const othersMapPorts = natRules().includes('-N CNI-DN-'); // pod B maps no port, pod A is gone
    await net!.destroy();
    destroyed = true;
    t.deepEqual(listNetns(prefix), []);
    for (const v of veths) t.false(linkExists(v), `veth ${v} is gone`);
    t.false(linkExists(bridge));
    t.false(await natTableExists(`skiff-nat-${bridge}`));
    const rules = natRules();
    for (const s of [ipA, ipB, podA.uid, podB.uid, bridge]) t.false(rules.includes(s), `no iptables rule mentions ${s}`);
    if (!othersMapPorts) t.false(rules.includes('CNI-HOSTPORT'), 'portmap\'s shared chains are gone (no other user)');
    await t.throwsAsync(net!.setUp(podA, ipA), { message: /destroyed/ });
    await net!.destroy(); // twice is fine
  });
}
