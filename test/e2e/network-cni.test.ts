// Networks of driver cni, run by Debian's containernetworking-plugins (/usr/lib/cni). First on a
// simulated host (a network namespace) through NodeNetworks alone: a conflist (bridge with
// host-local IPAM + tuning) and a single ptp plugin give a pod net1 and net2, pods reach each other,
// a failing plugin is reported with its CNI error and leaves nothing behind, a restarted agent
// detaches from its records after the Network was deleted. Then on a real node (skiff server):
// the pod's status lists the address, another pod reaches it, `kubectl get networks` shows the
// IPAM range, a failing plugin shows on the pod, and deleting the pods frees the leases.
// Needs root, iproute2, nftables, busybox-static and containernetworking-plugins.
import test from 'ava';
import * as yaml from 'js-yaml';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { runTool, systemTool } from '../../kubelet/network/cni.js';
import { NodeNetworks, type Attachment } from '../../kubelet/network/networks-node.js';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';

const BIN = '/usr/lib/cni';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const cmd of ['ip', 'nft']) {
    try {
      systemTool(cmd);
    } catch {
      return `${cmd} is not installed`;
    }
  }
  for (const p of ['bridge', 'host-local', 'ptp', 'tuning']) {
    if (!existsSync(join(BIN, p))) return `the CNI plugin ${p} is missing in ${BIN} (apt-get install -y containernetworking-plugins)`;
  }
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

function ip(netns: string | undefined, args: string[]): string {
  return execFileSync(systemTool('ip'), netns ? ['-n', netns, ...args] : args, { encoding: 'utf8' });
}

function links(netns: string | undefined): string[] {
  return (JSON.parse(ip(netns, ['-j', 'link', 'show']) || '[]') as { ifname: string }[]).map((l) => l.ifname);
}

function addresses(netns: string, dev: string): string[] {
  const rows = JSON.parse(ip(netns, ['-j', '-4', 'addr', 'show', 'dev', dev]) || '[]') as { addr_info: { local: string; prefixlen: number }[] }[];
  return rows.flatMap((r) => r.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

/** Up to three tries: the first packet to a new neighbour may be lost while ARP resolves. */
function reaches(fromNetns: string, to: string): boolean {
  for (let i = 0; i < 3; i++) {
    try {
      execFileSync(systemTool('ip'), ['netns', 'exec', fromNetns, '/bin/busybox', 'ping', '-c1', '-W1', to], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      // again
    }
  }
  return false;
}

/** host-local's leases: one file per address under <dataDir>/<network name>/ */
function leases(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
}

const ready = [{ type: 'Ready', status: 'True', reason: 'Ready' }];

function cniNet(name: string, cni: Record<string, unknown>, subnet?: string): KObject {
  return { apiVersion: 'networking.skiff.dev/v1alpha1', kind: 'Network', metadata: { name }, spec: { driver: 'cni', cni }, status: { scope: 'local', conditions: ready, ...(subnet ? { subnet } : {}) } };
}

const missing = missingPrerequisite();

if (missing) {
  console.log(`network-cni e2e tests skipped: ${missing}`);
  test.skip(`network-cni e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  const tag = randomBytes(3).toString('hex');
  const hostNs = `skc${tag}-h`;
  const netnsNames: string[] = [];
  const dirs: string[] = [];
  const agents: NodeNetworks[] = [];
  let cluster: RealCluster | undefined;
  const rootBridges: string[] = [];

  const tmp = (what: string) => {
    const d = mkdtempSync(join(tmpdir(), `skiff-cni-${what}-`));
    dirs.push(d);
    return d;
  };

  async function podNs(k: string): Promise<{ uid: string; name: string; netns: string; path: string }> {
    const netns = `skc${tag}-${k}`;
    await runTool('ip', ['netns', 'add', netns]);
    netnsNames.push(netns);
    ip(netns, ['link', 'set', 'lo', 'up']);
    return { uid: `uid-${tag}-${k}`, name: k, netns, path: `/run/netns/${netns}` };
  }

  test.after.always(async () => {
    for (const a of agents) await a.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    if (cluster) {
      const left = await cluster.stop().catch((e: Error) => [e.message]);
      if (left.length) console.error(`cleanup: ${left.join('; ')}`);
    }
    for (const b of rootBridges) if (links(undefined).includes(b)) await runTool('ip', ['link', 'delete', 'dev', b]).catch(() => undefined);
    for (const ns of netnsNames) await runTool('ip', ['netns', 'delete', ns]).catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test.serial('simulated host: ADD per plugin in order, net1/net2 with IPAM addresses, DEL from the records after the Network is gone', async (t) => {
    await runTool('ip', ['netns', 'add', hostNs]);
    netnsNames.push(hostNs);
    ip(hostNs, ['link', 'set', 'lo', 'up']);
    const ipamDir = tmp('ipam');
    const state = tmp('state');
    const bridge = `skc${tag}b`;
    const lan = cniNet(
      'lan',
      {
        cniVersion: '1.0.0',
        plugins: [
          { type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: '10.77.1.0/24' }]] } },
          { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.accept_redirects': '0' } },
        ],
      },
      '10.77.1.0/24',
    );
    const p2p = cniNet('p2p', { type: 'ptp', ipam: { type: 'host-local', dataDir: ipamDir, subnet: '10.77.2.0/24' } }, '10.77.2.0/24');
    const badIpam = cniNet('badipam', { type: 'bridge', bridge: `skc${tag}x`, ipam: { type: 'host-local', dataDir: ipamDir } });
    const nosuch = cniNet('nosuch', { type: `nosuch-${tag}` });
    const networks = [lan, p2p, badIpam, nosuch];
    const nn = new NodeNetworks({ nodeName: 'n0', nodeIP: '192.0.2.1', stateDir: state, netns: hostNs, cniBinDir: BIN });
    agents.push(nn);
    await nn.sync(networks, []);

    const A = await podNs('a');
    const B = await podNs('b');
    const attA = await nn.attach({ uid: A.uid, namespace: 'default', name: 'a' }, A.path, ['lan', 'p2p']);
    t.deepEqual(attA, [
      { network: 'lan', interface: 'net1', ip: '10.77.1.2', prefix: 24 },
      { network: 'p2p', interface: 'net2', ip: '10.77.2.2', prefix: 24 },
    ]);
    t.deepEqual(addresses(A.netns, 'net1'), ['10.77.1.2/24']);
    t.deepEqual(addresses(A.netns, 'net2'), ['10.77.2.2/24']);
    t.true(links(hostNs).includes(bridge), 'the bridge plugin made its bridge in the host');
    const redirects = execFileSync(systemTool('ip'), ['netns', 'exec', A.netns, 'cat', '/proc/sys/net/ipv4/conf/net1/accept_redirects'], { encoding: 'utf8' });
    t.is(redirects.trim(), '0', 'tuning ran after bridge, on its result');
    const attB = await nn.attach({ uid: B.uid, namespace: 'default', name: 'b' }, B.path, ['lan']);
    t.is(attB[0]!.ip, '10.77.1.3');
    t.true(reaches(B.netns, '10.77.1.2'), 'b reaches a over the plugin-made bridge');
    t.true(reaches(A.netns, '10.77.2.1'), 'a reaches its ptp gateway on the host');
    t.deepEqual(leases(ipamDir, 'lan'), ['10.77.1.2', '10.77.1.3']);
    t.deepEqual(nn.attachments(A.uid), attA);
    // attaching again keeps what is there
    t.deepEqual(await nn.attach({ uid: A.uid, namespace: 'default', name: 'a' }, A.path, ['lan', 'p2p']), attA);
    t.deepEqual(leases(ipamDir, 'lan'), ['10.77.1.2', '10.77.1.3']);

    // failures: the plugin's own error, named after the network, and nothing half-made kept
    const C = await podNs('c');
    const err = await t.throwsAsync(nn.attach({ uid: C.uid, namespace: 'default', name: 'c' }, C.path, ['lan', 'badipam']));
    t.regex(err!.message, /^Network badipam: CNI bridge ADD failed \(code \d+\): .+/);
    t.deepEqual(nn.attachments(C.uid), []);
    t.deepEqual(links(C.netns), ['lo'], 'the lan interface made before the failure is gone again');
    t.deepEqual(leases(ipamDir, 'lan'), ['10.77.1.2', '10.77.1.3'], 'its lease too');
    await t.throwsAsync(nn.attach({ uid: C.uid, namespace: 'default', name: 'c' }, C.path, ['nosuch']), { message: `Network nosuch: CNI plugin nosuch-${tag} is not installed in ${BIN}` });
    const attC = await nn.attach({ uid: C.uid, namespace: 'default', name: 'c' }, C.path, ['lan']);
    // host-local hands out addresses round-robin: the one the failed attempt held is skipped
    const cIp = attC[0]!.ip;
    t.regex(cIp, /^10\.77\.1\.\d+$/, 'the agent keeps serving');
    t.deepEqual(leases(ipamDir, 'lan'), ['10.77.1.2', '10.77.1.3', cIp]);

    // a restarted agent adopts the records; the Network is then deleted, DEL still runs as ADD did
    const again = new NodeNetworks({ nodeName: 'n0', nodeIP: '192.0.2.1', stateDir: state, netns: hostNs, cniBinDir: BIN });
    agents[0] = again;
    t.deepEqual(again.attachments(A.uid), attA);
    await again.sync([p2p], []);
    await again.detach(A.uid);
    t.deepEqual(links(A.netns), ['lo']);
    t.deepEqual(leases(ipamDir, 'lan'), ['10.77.1.3', cIp]);
    t.deepEqual(leases(ipamDir, 'p2p'), []);
    t.deepEqual(again.attachments(A.uid), []);
    // the pod's namespace gone first (a node that lost it): DEL still frees the lease
    await runTool('ip', ['netns', 'delete', B.netns]);
    await again.detach(B.uid);
    t.deepEqual(leases(ipamDir, 'lan'), [cIp]);
    await again.detach(C.uid);
    t.deepEqual(leases(ipamDir, 'lan'), []);
    const hostVeths = (JSON.parse(ip(hostNs, ['-j', 'link', 'show', 'master', bridge]) || '[]') as unknown[]).length;
    t.is(hostVeths, 0, 'no veth of the bridge plugin is left');
    await again.destroy();
    agents.length = 0;
    t.deepEqual(readdirSync(state), [], 'no record left');
  });

  test.serial('real node: a cni Network through kubectl, the pod status, a failing plugin, leases freed on deletion', async (t) => {
    const why = realNodeMissing();
    if (why) {
      t.log(`skipped: ${why}`);
      t.pass();
      return;
    }
    cluster = await startRealCluster();
    const { k } = cluster;
    const ipamDir = tmp('ipam-node');
    const bridge = `skc${tag}r`;
    // the bridge plugin makes its bridge before IPAM runs: the failing network leaves one too
    rootBridges.push(bridge, `skc${tag}y`);
    const subnet = freeSubnet();
    const lanName = `cni-${tag}`;
    const badName = `cnibad-${tag}`;
    await k(['apply', '-f', '-'], {
      input: docs([
          {
            apiVersion: 'networking.skiff.dev/v1alpha1',
            kind: 'Network',
            metadata: { name: lanName },
            spec: { driver: 'cni', cni: { plugins: [{ type: 'bridge', bridge, isGateway: true, ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet }]] } }] } },
          },
          {
            apiVersion: 'networking.skiff.dev/v1alpha1',
            kind: 'Network',
            metadata: { name: badName },
            spec: { driver: 'cni', cni: { type: 'bridge', bridge: `skc${tag}y`, ipam: { type: 'host-local', dataDir: ipamDir } } },
          },
        ]),
    });
    await waitFor('both Networks Ready', 30_000, async () => {
      const out = await k(['get', 'networks', lanName, badName, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}']);
      return out.trim() === 'True True';
    });
    const table = await k(['get', 'networks', lanName, badName]);
    t.regex(table, new RegExp(`${lanName}\\s+cni\\s+${subnet.replace(/\./g, '\\.').replace('/', '\\/')}\\s+local`), table);
    t.regex(table, new RegExp(`${badName}\\s+cni\\s+(<none>\\s+)?local`), table);

    const pod = (name: string, nets: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, annotations: { 'networking.skiff.dev/networks': nets } },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
    });
    await k(['apply', '-f', '-'], { input: docs([pod('p1', `default,${lanName}`), pod('p2', lanName), pod('pbad', badName)]) });
    type Json = { metadata: { name: string }; status: { phase?: string; podIP?: string; podIPs?: { ip: string }[] } };
    const byName = await waitFor('p1 and p2 running', 90_000, async () => {
      const items = (JSON.parse(await k(['get', 'pods', '-o', 'json'])) as { items: Json[] }).items;
      const m = new Map(items.filter((p) => p.status.phase === 'Running').map((p) => [p.metadata.name, p]));
      return m.has('p1') && m.has('p2') ? m : undefined;
    });
    const prefix = subnet.split('.').slice(0, 3).join('.');
    const p1 = byName.get('p1')!;
    const p2 = byName.get('p2')!;
    t.is(p1.status.podIPs?.length, 2, 'default and the cni network');
    const p1Lan = p1.status.podIPs![1]!.ip;
    t.true(p1Lan.startsWith(`${prefix}.`), p1Lan);
    t.true(p2.status.podIP!.startsWith(`${prefix}.`), 'a pod only on the cni network has its address as podIP');
    t.regex(await k(['exec', 'p1', '--', 'ip', '-4', 'addr', 'show', 'dev', 'net1']), new RegExp(`inet ${p1Lan.replace(/\./g, '\\.')}/24`));
    const ping = await cluster.server.kubectl(['exec', 'p2', '--', 'ping', '-c1', '-W2', p1Lan], { timeoutMs: 30_000 });
    t.is(ping.code, 0, `p2 -> p1 over the cni network: ${ping.stdout}${ping.stderr}`);
    t.deepEqual(leases(ipamDir, lanName).sort(), [p1Lan, p2.status.podIP!].sort());

    const ev = await waitFor('the failing pod reports the plugin error', 60_000, async () => {
      const out = await k(['get', 'events', '--field-selector', 'involvedObject.name=pbad', '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
      return out.includes(`Network ${badName}: CNI bridge ADD failed`) && out;
    });
    t.regex(ev, /FailedCreatePodSandBox/);
    t.log(ev.trim());
    t.log(table.trim());

    await k(['delete', 'pod', 'p1', 'p2', 'pbad', '--grace-period=0']);
    await waitFor('the pods gone', 60_000, async () => (await k(['get', 'pods', '-o', 'name'])).trim() === '');
    await waitFor('the leases freed', 30_000, async () => leases(ipamDir, lanName).length === 0);
    t.deepEqual(leases(ipamDir, badName), []);
    t.pass();
  });
}

/** Objects as one YAML stream. */
function docs(items: unknown[]): string {
  return items.map((i) => yaml.dump(i)).join('---\n');
}

/** A /24 no route of this machine covers, for the plugin-made bridge in the root namespace. */
function freeSubnet(): string {
  const routes = execFileSync(systemTool('ip'), ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const second = 100 + Math.floor(Math.random() * 40);
    const third = Math.floor(Math.random() * 250);
    const s = `10.${second}.${third}.`;
    if (!routes.includes(s) && !routes.includes(`10.${second}.0.0/16`)) return `${s}0/24`;
  }
  throw new Error('no free 10.x.y.0/24 for the cni network');
}
