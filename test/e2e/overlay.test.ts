// The VXLAN overlay on three simulated hosts (network namespaces on one underlay bridge, see
// test/perf/overlay-net.ts), each with a pod on a local bridge: pod-to-pod across hosts, the device
// as specified, peers removed and re-added, adoption by a restarted agent (and replacement of a
// device that does not match), an underlay cable pulled and put back, a sync with a thousand peers,
// TCP figures, and nothing left behind. Needs root, iproute2, procps (sysctl) and busybox-static.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemTool } from '../../kubelet/network/cni.js';
import { listNetns } from '../../kubelet/network/netns.js';
import { peersFromNodes, VNI_ANNOTATION, VTEP_IP_ANNOTATION, VTEP_MAC_ANNOTATION, VxlanOverlay, type OverlayPeer } from '../../kubelet/network/overlay.js';
import { measureLatency, measureThroughput, nodeObjects, SimHosts, type SimHost } from '../perf/overlay-net.js';
import { waitFor } from '../helpers/wait.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const cmd of ['ip', 'bridge', 'sysctl']) {
    try {
      systemTool(cmd);
    } catch {
      return `${cmd} is not installed`;
    }
  }
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

function ipJson<T>(netns: string, args: string[]): T {
  return JSON.parse(execFileSync(systemTool('ip'), ['-n', netns, '-j', ...args], { encoding: 'utf8' }) || '[]') as T;
}

function fdbOf(netns: string, dev: string): { mac: string; dst: string; state: string }[] {
  return JSON.parse(execFileSync(systemTool('bridge'), ['-n', netns, '-j', 'fdb', 'show', 'dev', dev], { encoding: 'utf8' }) || '[]') as { mac: string; dst: string; state: string }[];
}

/** routes, neighbours and fdb entries on the overlay device, as comparable strings */
function entriesOf(h: SimHost, dev: string): { routes: string[]; neighs: string[]; fdb: string[] } {
  const routes = ipJson<{ dst: string; gateway?: string; flags?: string[] }[]>(h.netns, ['-4', 'route', 'show', 'dev', dev]);
  const neighs = ipJson<{ dst: string; lladdr?: string; state?: string[] }[]>(h.netns, ['-4', 'neigh', 'show', 'dev', dev]);
  return {
    routes: routes.map((r) => `${r.dst} via ${r.gateway} ${(r.flags ?? []).join(',')}`).sort(),
    neighs: neighs.map((n) => `${n.dst} ${n.lladdr} ${(n.state ?? []).join(',')}`).sort(),
    fdb: fdbOf(h.netns, dev).map((f) => `${f.mac} ${f.dst} ${f.state}`).sort(),
  };
}

function ping(fromNetns: string, ip: string, waitS = 2): boolean {
  try {
    execFileSync(systemTool('ip'), ['netns', 'exec', fromNetns, '/bin/busybox', 'ping', '-c1', `-W${waitS}`, ip], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Pings every `intervalS` until stopped; resolves with (transmitted, received). */
function pingLoop(fromNetns: string, ip: string, count: number, intervalS: number): Promise<{ sent: number; received: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(systemTool('ip'), ['netns', 'exec', fromNetns, '/bin/busybox', 'ping', '-c', String(count), '-i', String(intervalS), '-W1', ip], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) packets received/.exec(out);
      if (!m) reject(new Error(`no ping summary: ${out}`));
      else resolve({ sent: Number(m[1]), received: Number(m[2]) });
    });
  });
}

const missing = missingPrerequisite();

if (missing) {
  console.log(`overlay e2e tests skipped: ${missing}`);
  test.skip(`overlay e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  let sim: SimHosts | undefined;
  const overlays: VxlanOverlay[] = [];
  let A: SimHost, B: SimHost, C: SimHost;
  const dev = 'skiff.1';
  const allPeers = (): OverlayPeer[] => peersFromNodes(nodeObjects(sim!, overlays), '');
  const peersFor = (h: SimHost, without: string[] = []) => allPeers().filter((p) => p.node !== h.netns && !without.includes(p.node));

  test.after.always(async () => {
    for (const o of overlays) await o.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    if (sim) await sim.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
  });

  test.serial('three hosts: the device as specified, published through the Node annotations', async (t) => {
    sim = await SimHosts.create({ hosts: 3 });
    [A, B, C] = sim.hosts as [SimHost, SimHost, SimHost];
    t.log(`netns prefix ${sim.prefix}, underlay ${sim.underlayCIDR}, pod CIDRs ${sim.hosts.map((h) => h.podCIDR).join(' ')}`);
    for (const h of sim.hosts) overlays.push(await VxlanOverlay.open({ localIP: h.underlayIP, podCIDR: h.podCIDR, netns: h.netns }));
    const oa = overlays[0]!;
    t.is(oa.device, dev);
    t.is(oa.podMTU, 1450, 'underlay 1500 − 50');
    t.true(oa.created);
    t.deepEqual(oa.annotations(), { [VTEP_IP_ANNOTATION]: A.underlayIP, [VTEP_MAC_ANNOTATION]: oa.mac, [VNI_ANNOTATION]: '1' });

    const [link] = ipJson<{ ifindex: number; mtu: number; address: string; flags: string[]; linkinfo: { info_kind: string; info_data: Record<string, unknown> } }[]>(A.netns, ['-d', 'link', 'show', 'dev', dev]);
    t.is(link!.mtu, 1450);
    t.is(link!.ifindex, oa.ifindex);
    t.is(link!.address, oa.mac);
    t.true(link!.flags.includes('UP'));
    t.is(link!.linkinfo.info_kind, 'vxlan');
    t.like(link!.linkinfo.info_data, { id: 1, local: A.underlayIP, port: 8472, learning: false });
    const [addr] = ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(A.netns, ['-4', 'addr', 'show', 'dev', dev]);
    t.deepEqual(addr!.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [`${A.podCIDR.split('/')[0]}/32`]);
    t.is(execFileSync(systemTool('ip'), ['netns', 'exec', A.netns, systemTool('sysctl'), '-n', 'net.ipv4.ip_forward'], { encoding: 'utf8' }).trim(), '1');

    // a smaller underlay MTU is read from the device holding localIP
    execFileSync(systemTool('ip'), ['-n', C.netns, 'link', 'set', 'eth0', 'mtu', '1400']);
    const small = await VxlanOverlay.open({ localIP: C.underlayIP, podCIDR: C.podCIDR, netns: C.netns, device: 'skiff.t', vni: 9 });
    t.is(small.podMTU, 1350);
    await small.destroy();
    execFileSync(systemTool('ip'), ['-n', C.netns, 'link', 'set', 'eth0', 'mtu', '1500']);
    await t.throwsAsync(VxlanOverlay.open({ localIP: '192.0.2.77', podCIDR: C.podCIDR, netns: C.netns, device: 'skiff.t', vni: 9 }), {
      message: /no device in netns .* holds the underlay address 192\.0\.2\.77/,
    });
  });

  test.serial('pods on every host reach each other over the overlay', async (t) => {
    for (const [i, h] of sim!.hosts.entries()) {
      await overlays[i]!.sync(peersFor(h));
      t.deepEqual(overlays[i]!.lastSync.skipped, []);
      await sim!.addPod(h, overlays[i]!.podMTU);
    }
    const oa = overlays[0]!;
    const ob = overlays[1]!;
    const oc = overlays[2]!;
    t.deepEqual(entriesOf(A, dev), {
      routes: [`${B.podCIDR} via ${B.podCIDR.split('/')[0]} onlink`, `${C.podCIDR} via ${C.podCIDR.split('/')[0]} onlink`].sort(),
      neighs: [`${B.podCIDR.split('/')[0]} ${ob.mac} PERMANENT`, `${C.podCIDR.split('/')[0]} ${oc.mac} PERMANENT`].sort(),
      fdb: [`${ob.mac} ${B.underlayIP} permanent`, `${oc.mac} ${C.underlayIP} permanent`].sort(),
    });
    for (const [from, to] of [
      [A, B],
      [A, C],
      [B, C],
      [C, A],
      [B, A],
    ] as const) {
      await waitFor(`pod on ${from.netns} pings pod on ${to.netns}`, 10_000, async () => ping(from.pod!.netns, to.pod!.ip));
    }
    // a packet of exactly the pod MTU crosses: encapsulated, it is exactly the underlay's MTU
    const big = execFileSync(systemTool('ip'), ['netns', 'exec', A.pod!.netns, '/bin/busybox', 'ping', '-c1', '-W2', '-s', String(oa.podMTU - 28), B.pod!.ip], { encoding: 'utf8' });
    t.regex(big, /1 packets received/);

    const again = entriesOf(A, dev);
    await oa.sync(peersFor(A));
    t.is(oa.lastSync.changes, 0, 'a sync with nothing new writes nothing');
    t.deepEqual(entriesOf(A, dev), again);
  });

  test.serial('a peer dropped from the list loses its path; listed again, it is back', async (t) => {
    const oa = overlays[0]!;
    await oa.sync(peersFor(A, [C.netns]));
    t.is(oa.lastSync.changes, 3);
    const e = entriesOf(A, dev);
    t.is(e.routes.length, 1);
    t.false(e.routes.some((r) => r.startsWith(C.podCIDR)));
    t.false(e.fdb.some((f) => f.includes(C.underlayIP)));
    t.is(e.neighs.length, 1);
    t.false(ping(A.pod!.netns, C.pod!.ip, 1), 'pod A can no longer reach pod C');
    t.true(ping(A.pod!.netns, B.pod!.ip), 'pod B is untouched');
    await oa.sync(peersFor(A));
    t.is(oa.lastSync.changes, 3);
    await waitFor('pod A pings pod C again', 10_000, async () => ping(A.pod!.netns, C.pod!.ip));
    // self and malformed peers are skipped, not fatal
    await oa.sync([...peersFor(A), { node: A.netns, podCIDR: A.podCIDR, vtepIP: A.underlayIP, vtepMAC: oa.mac }, { node: 'zz', podCIDR: 'bogus', vtepIP: '10.0.0.1', vtepMAC: '02:00:00:00:00:01' }]);
    t.deepEqual(
      oa.lastSync.skipped.map((s) => s.peer.node),
      [A.netns, 'zz'],
    );
    t.is(oa.lastSync.changes, 0);
  });

  test.serial('a restarted agent adopts the device without a blip; a device that does not match is replaced', async (t) => {
    const ob = overlays[1]!;
    const before = entriesOf(B, dev);
    // pings every 50 ms from pod A to pod B while B's agent "restarts"
    const pinging = pingLoop(A.pod!.netns, B.pod!.ip, 30, 0.05);
    const adopted = await VxlanOverlay.open({ localIP: B.underlayIP, podCIDR: B.podCIDR, netns: B.netns });
    overlays[1] = adopted;
    const loss = await pinging;
    t.false(adopted.created);
    t.is(adopted.ifindex, ob.ifindex, 'same device');
    t.is(adopted.mac, ob.mac);
    t.deepEqual(entriesOf(B, dev), before, 'routes, neighbours and fdb entries kept');
    t.is(loss.received, loss.sent, `no ping lost during adoption (${loss.received}/${loss.sent})`);

    // an MTU changed by hand is put right in place
    execFileSync(systemTool('ip'), ['-n', B.netns, 'link', 'set', 'dev', dev, 'mtu', '1300']);
    const fixed = await VxlanOverlay.open({ localIP: B.underlayIP, podCIDR: B.podCIDR, netns: B.netns });
    overlays[1] = fixed;
    t.false(fixed.created);
    t.is(fixed.ifindex, ob.ifindex);
    t.is(ipJson<{ mtu: number }[]>(B.netns, ['link', 'show', 'dev', dev])[0]!.mtu, 1450);

    // on C, something else holds the name: a learning vxlan with another VNI
    const oc = overlays[2]!;
    execFileSync(systemTool('ip'), ['-n', C.netns, 'link', 'delete', 'dev', dev]);
    execFileSync(systemTool('ip'), ['-n', C.netns, 'link', 'add', dev, 'type', 'vxlan', 'id', '77', 'local', C.underlayIP, 'dstport', '8472']);
    const foreign = ipJson<{ ifindex: number }[]>(C.netns, ['link', 'show', 'dev', dev])[0]!.ifindex;
    const replaced = await VxlanOverlay.open({ localIP: C.underlayIP, podCIDR: C.podCIDR, netns: C.netns });
    overlays[2] = replaced;
    t.true(replaced.created);
    t.not(replaced.ifindex, foreign);
    t.is(replaced.mac, oc.mac, 'the MAC is derived, so peers need no update');
    const [link] = ipJson<{ linkinfo: { info_data: Record<string, unknown> } }[]>(C.netns, ['-d', 'link', 'show', 'dev', dev]);
    t.like(link!.linkinfo.info_data, { id: 1, learning: false });
    await replaced.sync(peersFor(C));
    await waitFor('pod C pings pod A through the new device', 10_000, async () => ping(C.pod!.netns, A.pod!.ip));
    await waitFor('pod A pings pod C', 10_000, async () => ping(A.pod!.netns, C.pod!.ip));
  });

  test.serial('an underlay cable pulled breaks the path, put back it heals without touching the overlay', async (t) => {
    const ob = overlays[1]!;
    const before = entriesOf(B, dev);
    await sim!.cut(B);
    t.false(ping(A.pod!.netns, B.pod!.ip, 1), 'pod A cannot reach pod B');
    t.true(ping(A.pod!.netns, C.pod!.ip), 'pod C is still reachable');
    await sim!.heal(B);
    await waitFor('pod A pings pod B after the cable is back', 15_000, async () => ping(A.pod!.netns, B.pod!.ip));
    t.true(ping(B.pod!.netns, C.pod!.ip));
    t.is(ipJson<{ ifindex: number }[]>(B.netns, ['link', 'show', 'dev', dev])[0]!.ifindex, ob.ifindex);
    t.deepEqual(entriesOf(B, dev), before);
  });

  test.serial('a thousand peers are written in one batch and removed in one', async (t) => {
    const oa = overlays[0]!;
    const fake: OverlayPeer[] = [];
    for (let i = 0; i < 1000; i++) {
      const m = (0x100 + i).toString(16).padStart(4, '0');
      fake.push({ node: `fake-${i}`, podCIDR: `10.${100 + (i >> 8)}.${i & 255}.0/24`, vtepIP: `172.31.${(i >> 8) + 1}.${i & 255}`, vtepMAC: `02:fe:00:00:${m.slice(0, 2)}:${m.slice(2)}` });
    }
    let t0 = performance.now();
    await oa.sync([...peersFor(A), ...fake]);
    const addMs = performance.now() - t0;
    t.is(oa.lastSync.changes, 3000);
    const e = entriesOf(A, dev);
    t.is(e.routes.length, 1002);
    t.is(e.neighs.length, 1002);
    t.is(e.fdb.length, 1002);
    t0 = performance.now();
    await oa.sync([...peersFor(A), ...fake]);
    const noopMs = performance.now() - t0;
    t.is(oa.lastSync.changes, 0);
    t0 = performance.now();
    await oa.sync(peersFor(A));
    const delMs = performance.now() - t0;
    t.is(entriesOf(A, dev).routes.length, 2);
    t.true(ping(A.pod!.netns, B.pod!.ip));
    t.log(`1000 peers: add ${addMs.toFixed(0)} ms, unchanged ${noopMs.toFixed(0)} ms, remove ${delMs.toFixed(0)} ms`);
  });

  test.serial('TCP throughput and latency: pod → pod over the overlay next to host → host on the underlay', async (t) => {
    const under = await measureThroughput(A.netns, { netns: B.netns, ip: B.underlayIP });
    const over = await measureThroughput(A.pod!.netns, B.pod!);
    const underRtt = await measureLatency(A.netns, { netns: B.netns, ip: B.underlayIP });
    const overRtt = await measureLatency(A.pod!.netns, B.pod!);
    t.log(`host→host underlay: ${under.MBps.toFixed(0)} MB/s (${under.Gbps.toFixed(2)} Gbit/s), RTT median ${underRtt.medianUs.toFixed(1)} µs p99 ${underRtt.p99Us.toFixed(1)} µs`);
    t.log(`pod→pod overlay:    ${over.MBps.toFixed(0)} MB/s (${over.Gbps.toFixed(2)} Gbit/s), RTT median ${overRtt.medianUs.toFixed(1)} µs p99 ${overRtt.p99Us.toFixed(1)} µs`);
    t.true(over.MBps > 0 && under.MBps > 0);
    t.is(overRtt.rounds, 2000);
  });

  test.serial('destroy removes the devices; no namespace, link, route or fdb entry is left', async (t) => {
    const names = sim!.hosts.map((h) => h.netns);
    for (const [i, h] of sim!.hosts.entries()) {
      await overlays[i]!.destroy();
      t.deepEqual(ipJson<unknown[]>(h.netns, ['link', 'show', 'type', 'vxlan']), []);
      t.deepEqual(ipJson<unknown[]>(h.netns, ['-4', 'route', 'show', 'table', 'main']).filter((r) => JSON.stringify(r).includes(dev)), []);
      await overlays[i]!.destroy(); // twice is fine
    }
    await t.throwsAsync(overlays[0]!.sync([]), { message: /destroyed/ });
    overlays.length = 0;
    await sim!.destroy();
    t.deepEqual(listNetns(sim!.prefix), []);
    for (const n of names) t.false(existsSync(`/run/netns/${n}`));
    // nothing was ever created in this namespace
    t.false(execFileSync(systemTool('ip'), ['-j', 'link'], { encoding: 'utf8' }).includes(sim!.prefix));
  });
}
