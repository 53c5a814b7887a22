// Extra Networks on simulated nodes (network namespaces on one underlay bridge, see
// test/perf/overlay-net.ts): pods with an eth0 on a default bridge the test builds, plus the
// interfaces NodeNetworks attaches. Networks: frontend (overlay, spans both nodes), backend
// (bridge, local), secret (bridge, internal), tiny (a /30 slice), and a few that cannot be joined.
// Isolation both ways, same-network and cross-node reachability, no egress from an internal
// network, records surviving a restart, detach, removal of a network, and nothing left behind.
// Needs root, iproute2, nftables, procps (sysctl) and busybox-static.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { runTool, systemTool } from '../../kubelet/network/cni.js';
import { hostVethName } from '../../kubelet/network/networks-plan.js';
import { NodeNetworks, type Attachment } from '../../kubelet/network/networks-node.js';
import { SimHosts, type SimHost } from '../perf/overlay-net.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const cmd of ['ip', 'bridge', 'sysctl', 'nft']) {
    try {
      systemTool(cmd);
    } catch {
      return `${cmd} is not installed`;
    }
  }
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

function ip(netns: string, args: string[]): string {
  return execFileSync(systemTool('ip'), ['-n', netns, ...args], { encoding: 'utf8' });
}

function ipJson<T>(netns: string, args: string[]): T {
  return JSON.parse(ip(netns, ['-j', ...args]) || '[]') as T;
}

function links(netns: string): string[] {
  return ipJson<{ ifname: string }[]>(netns, ['link', 'show']).map((l) => l.ifname);
}

function ping(fromNetns: string, to: string): boolean {
  try {
    execFileSync(systemTool('ip'), ['netns', 'exec', fromNetns, '/bin/busybox', 'ping', '-c1', '-W1', to], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Up to three tries: the first packet to a new neighbour may be lost while ARP resolves. */
function reaches(fromNetns: string, to: string): boolean {
  for (let i = 0; i < 3; i++) if (ping(fromNetns, to)) return true;
  return false;
}

function tableExists(netns: string, table: string): boolean {
  try {
    execFileSync(systemTool('ip'), ['netns', 'exec', netns, systemTool('nft'), 'list', 'table', 'ip', table], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const ready = [{ type: 'Ready', status: 'True', reason: 'Ready' }];

function net(name: string, spec: Record<string, unknown>, status: Record<string, unknown>): KObject {
  return { apiVersion: 'networking.skiff.dev/v1alpha1', kind: 'Network', metadata: { name }, spec, status: { scope: 'local', conditions: ready, ...status } };
}

interface Pod {
  uid: string;
  name: string;
  netns: string;
  path: string;
  eth0: string;
}

const missing = missingPrerequisite();

if (missing) {
  console.log(`networks-node e2e tests skipped: ${missing}`);
  test.skip(`networks-node e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  const tag = randomBytes(3).toString('hex');
  let sim: SimHosts | undefined;
  let H0: SimHost, H1: SimHost;
  const podNetns: string[] = [];
  const stateDirs: string[] = [];
  const agents: NodeNetworks[] = [];
  let nn0: NodeNetworks, nn1: NodeNetworks;
  let networks: KObject[];
  let nodes: KObject[];
  let podCount = 0;
  const pods: Record<string, Pod> = {};
  const att: Record<string, Attachment[]> = {};

  /** a pod netns with eth0 on the host's default bridge dflt0 (as PodNetwork would give it) */
  async function makePod(h: SimHost, name: string): Promise<Pod> {
    const k = ++podCount;
    const netns = `sknn${tag}-p${k}`;
    await runTool('ip', ['netns', 'add', netns]);
    podNetns.push(netns);
    const eth0 = `10.42.${h.index + 1}.${10 + k}`;
    ip(h.netns, ['link', 'add', `vd${k}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    ip(h.netns, ['link', 'set', `vd${k}`, 'master', 'dflt0', 'up']);
    ip(netns, ['addr', 'add', `${eth0}/24`, 'dev', 'eth0']);
    ip(netns, ['link', 'set', 'eth0', 'up']);
    ip(netns, ['link', 'set', 'lo', 'up']);
    ip(netns, ['route', 'add', 'default', 'via', `10.42.${h.index + 1}.1`]);
    const pod = { uid: `uid-${tag}-${k}`, name, netns, path: `/run/netns/${netns}`, eth0 };
    pods[name] = pod;
    return pod;
  }

  async function attach(agent: NodeNetworks, name: string, nets: string[]): Promise<Attachment[]> {
    const p = pods[name]!;
    const a = await agent.attach({ uid: p.uid, namespace: 'default', name }, p.path, nets);
    att[name] = a;
    return a;
  }

  const addr = (pod: string, network: string) => att[pod]!.find((a) => a.network === network)!.ip;

  test.after.always(async () => {
    for (const a of agents) await a.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    for (const ns of podNetns) await runTool('ip', ['netns', 'delete', ns]).catch(() => undefined);
    if (sim) await sim.destroy().catch((e: Error) => console.error(`cleanup: ${e.message}`));
    for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
  });

  test.serial('two nodes: bridges, the overlay device and the isolation table', async (t) => {
    sim = await SimHosts.create({ hosts: 2, prefix: `sknn${tag}-` });
    [H0, H1] = sim.hosts as [SimHost, SimHost];
    for (const h of sim.hosts) {
      ip(h.netns, ['link', 'add', 'dflt0', 'type', 'bridge']);
      ip(h.netns, ['addr', 'add', `10.42.${h.index + 1}.1/24`, 'dev', 'dflt0']);
      ip(h.netns, ['link', 'set', 'dflt0', 'up']);
      await runTool('ip', ['netns', 'exec', h.netns, systemTool('sysctl'), '-qw', 'net.ipv4.ip_forward=1']);
    }
    nodes = sim.hosts.map((h) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: `n${h.index}`, annotations: { 'networking.skiff.dev/vtep-ip': h.underlayIP } } }));
    const slices = (second: number, bridge: string, prefix = 24) => [
      { name: 'n0', subnet: `10.${second}.0.0/${prefix}`, bridge },
      { name: 'n1', subnet: `10.${second}.1.0/${prefix}`, bridge },
    ];
    networks = [
      net('default', {}, { scope: 'global', subnet: '10.42.0.0/16', vni: 1, nodes: [] }),
      net('frontend', { driver: 'overlay' }, { scope: 'global', subnet: '10.100.0.0/16', vni: 4096, nodes: slices(100, 'skn-frontend') }),
      net('backend', { driver: 'bridge' }, { subnet: '10.101.0.0/16', nodes: slices(101, 'skn-backend') }),
      net('secret', { driver: 'bridge', internal: true }, { subnet: '10.102.0.0/16', nodes: slices(102, 'skn-secret') }),
      net('tiny', { driver: 'bridge', nodeSubnetPrefix: 30 }, { subnet: '10.105.0.0/16', nodes: slices(105, 'skn-tiny', 30) }),
      net('elsewhere', { driver: 'bridge' }, { subnet: '10.106.0.0/16', nodes: [{ name: 'n1', subnet: '10.106.1.0/24', bridge: 'skn-elsewhere' }] }),
      net('pending', { driver: 'bridge' }, { conditions: [{ type: 'Ready', status: 'False', reason: 'SubnetConflict', message: 'overlaps Network x' }] }),
      net('plugin', { driver: 'cni', cni: { type: 'macvlan' } }, { subnet: '10.107.0.0/16', nodes: [{ name: 'n0', subnet: '10.107.0.0/24' }] }),
    ];
    for (const h of sim.hosts) {
      const dir = mkdtempSync(join(tmpdir(), `skiff-nn-${h.index}-`));
      stateDirs.push(dir);
      agents.push(new NodeNetworks({ nodeName: `n${h.index}`, nodeIP: h.underlayIP, stateDir: dir, netns: h.netns }));
    }
    [nn0, nn1] = agents as [NodeNetworks, NodeNetworks];
    // concurrent calls merge into one pass
    await Promise.all([nn0.sync(networks, nodes), nn0.sync(networks, nodes), nn0.sync(networks, nodes), nn1.sync(networks, nodes)]);

    const l0 = links(H0.netns);
    for (const dev of ['skn-frontend', 'skn-backend', 'skn-secret', 'skn-tiny', 'skv4096']) t.true(l0.includes(dev), `${dev} on n0`);
    t.false(l0.includes('skn-elsewhere'), 'no slice on n0: no bridge');
    const [br] = ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>(H0.netns, ['-4', 'addr', 'show', 'dev', 'skn-frontend']);
    t.deepEqual(br!.addr_info.map((a) => `${a.local}/${a.prefixlen}`), ['10.100.0.1/24']);
    const [vx] = ipJson<{ mtu: number; linkinfo: { info_data: { id: number; local: string } } }[]>(H0.netns, ['-d', 'link', 'show', 'dev', 'skv4096']);
    t.is(vx!.linkinfo.info_data.id, 4096);
    t.is(vx!.linkinfo.info_data.local, H0.underlayIP);
    t.is(vx!.mtu, 1450);
    const routes = ipJson<{ dst: string; gateway: string }[]>(H0.netns, ['-4', 'route', 'show', 'dev', 'skv4096']);
    t.deepEqual(routes.map((r) => `${r.dst} via ${r.gateway}`), ['10.100.1.0/24 via 10.100.1.0']);
    t.true(tableExists(H0.netns, 'skiff-isolation'));
  });

  test.serial('attach: an interface per network in order, addresses from the slice, a route to the subnet (not a default route)', async (t) => {
    for (const [name, nets] of [
      ['A', ['frontend']],
      ['B', ['backend']],
      ['C', ['default', 'frontend', 'backend']],
      ['D', ['frontend']],
      ['E', ['secret']],
    ] as const) {
      await makePod(H0, name);
      await attach(nn0, name, [...nets]);
    }
    await makePod(H1, 'F');
    await attach(nn1, 'F', ['frontend']);
    await makePod(H1, 'G');
    await attach(nn1, 'G', ['backend']);

    t.deepEqual(att.A, [{ network: 'frontend', interface: 'net1', ip: '10.100.0.2', prefix: 24 }]);
    t.deepEqual(att.C, [
      { network: 'frontend', interface: 'net1', ip: '10.100.0.3', prefix: 24 },
      { network: 'backend', interface: 'net2', ip: '10.101.0.3', prefix: 24 },
    ]);
    t.deepEqual(att.F, [{ network: 'frontend', interface: 'net1', ip: '10.100.1.2', prefix: 24 }]);
    const routes = ipJson<{ dst: string; gateway?: string; dev: string }[]>(pods.C!.netns, ['-4', 'route', 'show']).map((r) => `${r.dst} ${r.gateway ?? '-'} ${r.dev}`);
    t.true(routes.includes('default 10.42.1.1 eth0'), routes.join('; '));
    t.true(routes.includes('10.100.0.0/16 10.100.0.1 net1'), routes.join('; '));
    t.true(routes.includes('10.101.0.0/16 10.101.0.1 net2'), routes.join('; '));
    t.is(routes.filter((r) => r.startsWith('default')).length, 1);
    const [host] = ipJson<{ master: string; mtu: number }[]>(H0.netns, ['link', 'show', 'dev', hostVethName(pods.A!.uid, 'frontend')]);
    t.is(host!.master, 'skn-frontend');
    t.is(host!.mtu, 1450, 'overlay networks carry the VXLAN MTU');

    // idempotent: the same again, nothing re-created
    const before = ipJson<{ ifindex: number }[]>(pods.C!.netns, ['link', 'show', 'dev', 'net1'])[0]!.ifindex;
    t.deepEqual(await nn0.attach({ uid: pods.C!.uid, namespace: 'default', name: 'C' }, pods.C!.path, ['frontend', 'backend']), att.C);
    t.is(ipJson<{ ifindex: number }[]>(pods.C!.netns, ['link', 'show', 'dev', 'net1'])[0]!.ifindex, before);
  });

  test.serial('pods on the same network reach each other; a pod on two networks reaches both', (t) => {
    t.true(reaches(pods.A!.netns, addr('D', 'frontend')), 'A → D (frontend)');
    t.true(reaches(pods.D!.netns, addr('A', 'frontend')), 'D → A (frontend)');
    t.true(reaches(pods.C!.netns, addr('A', 'frontend')), 'C → A (frontend)');
    t.true(reaches(pods.C!.netns, addr('B', 'backend')), 'C → B (backend)');
    t.true(reaches(pods.B!.netns, addr('C', 'backend')), 'B → C (backend)');
    t.true(reaches(pods.A!.netns, addr('C', 'frontend')), 'A → C (frontend)');
  });

  test.serial('pods on different networks cannot reach each other, in either direction', async (t) => {
    t.false(ping(pods.A!.netns, addr('B', 'backend')), 'frontend A → backend B');
    t.false(ping(pods.B!.netns, addr('A', 'frontend')), 'backend B → frontend A');
    t.false(ping(pods.E!.netns, addr('A', 'frontend')), 'secret E → frontend A');
    t.false(ping(pods.A!.netns, addr('C', 'backend')), "frontend A → C's backend address");
    // even when a pod routes the other network through its own network's gateway
    ip(pods.A!.netns, ['route', 'add', '10.101.0.0/16', 'via', '10.100.0.1', 'dev', 'net1']);
    t.false(ping(pods.A!.netns, addr('B', 'backend')), 'frontend A → backend B via the frontend gateway');
    ip(pods.A!.netns, ['route', 'del', '10.101.0.0/16']);
    // the rules are what stops it: without the table the node routes between the bridges
    await runTool('ip', ['netns', 'exec', H0.netns, systemTool('nft'), 'delete', 'table', 'ip', 'skiff-isolation']);
    t.true(reaches(pods.A!.netns, addr('B', 'backend')), 'without isolation rules, A → B goes through the node');
    await nn0.sync(networks, nodes);
    t.false(ping(pods.A!.netns, addr('B', 'backend')), 'a sync puts the table back');
  });

  test.serial('overlay networks span nodes; bridge networks stay on theirs', (t) => {
    t.true(reaches(pods.A!.netns, addr('F', 'frontend')), 'A (n0) → F (n1) over skv4096');
    t.true(reaches(pods.F!.netns, addr('C', 'frontend')), 'F (n1) → C (n0)');
    t.false(ping(pods.B!.netns, addr('G', 'backend')), 'backend is local: B (n0) cannot reach G (n1)');
  });

  test.serial('an internal network has no egress; others leave masqueraded', async (t) => {
    const peer = H1.underlayIP;
    ip(pods.A!.netns, ['route', 'add', `${peer}/32`, 'via', '10.100.0.1', 'dev', 'net1']);
    ip(pods.E!.netns, ['route', 'add', `${peer}/32`, 'via', '10.102.0.1', 'dev', 'net1']);
    // the peer could answer the internal subnet directly: only the rules stop the traffic
    ip(H1.netns, ['route', 'add', '10.102.0.0/24', 'via', H0.underlayIP]);
    t.true(reaches(pods.A!.netns, peer), 'frontend pod → underlay peer through its network');
    t.false(ping(pods.E!.netns, peer), 'internal pod → underlay peer');
    await runTool('ip', ['netns', 'exec', H0.netns, systemTool('nft'), 'delete', 'table', 'ip', 'skiff-isolation']);
    t.true(reaches(pods.E!.netns, peer), 'without the rules the internal pod would get out');
    await nn0.sync(networks, nodes);
    t.false(ping(pods.E!.netns, peer), 'a sync closes it again');
    ip(H1.netns, ['route', 'del', '10.102.0.0/24']);
    ip(pods.A!.netns, ['route', 'del', `${peer}/32`]);
  });

  test.serial('clear errors for networks a pod cannot join', async (t) => {
    const p = await makePod(H0, 'X');
    const tryAttach = (nets: string[]) => nn0.attach({ uid: p.uid, namespace: 'default', name: 'X' }, p.path, nets);
    await t.throwsAsync(tryAttach(['nope']), { message: /unknown network "nope"/ });
    await t.throwsAsync(tryAttach(['elsewhere']), { message: /Network elsewhere has no slice for node n0 yet/ });
    await t.throwsAsync(tryAttach(['pending']), { message: /Network pending is not Ready \(SubnetConflict: overlaps Network x\)/ });
    await t.throwsAsync(tryAttach(['plugin']), { message: /^Network plugin: CNI macvlan ADD failed/ });
    await t.throwsAsync(nn0.attach({ uid: 'ghost', namespace: 'default', name: 'ghost' }, `/run/netns/sknn${tag}-none`, ['frontend']), { message: /does not exist/ });
    t.deepEqual(await tryAttach(['tiny']), [{ network: 'tiny', interface: 'net1', ip: '10.105.0.2', prefix: 30 }]);
    const q = await makePod(H0, 'Y');
    await t.throwsAsync(nn0.attach({ uid: q.uid, namespace: 'default', name: 'Y' }, q.path, ['frontend', 'tiny']), { message: /Network tiny: address space .* exhausted/ });
    t.deepEqual(nn0.attachments(q.uid), [], 'nothing half-attached is kept');
    t.false(links(q.netns).includes('net1'));
  });

  test.serial('a restarted agent finds the same attachments and keeps them', async (t) => {
    const again = new NodeNetworks({ nodeName: 'n0', nodeIP: H0.underlayIP, stateDir: stateDirs[0]!, netns: H0.netns });
    agents[0] = again;
    t.deepEqual(again.attachments(pods.C!.uid), att.C);
    t.deepEqual(again.attachments(pods.A!.uid), att.A);
    const before = ipJson<{ ifindex: number }[]>(pods.A!.netns, ['link', 'show', 'dev', 'net1'])[0]!.ifindex;
    await again.sync(networks, nodes);
    t.deepEqual(await again.attach({ uid: pods.A!.uid, namespace: 'default', name: 'A' }, pods.A!.path, ['frontend']), att.A);
    t.is(ipJson<{ ifindex: number }[]>(pods.A!.netns, ['link', 'show', 'dev', 'net1'])[0]!.ifindex, before, 'not re-created');
    // a new pod does not get an address a recorded one holds
    await makePod(H0, 'Z');
    t.deepEqual(await attach(again, 'Z', ['frontend']), [{ network: 'frontend', interface: 'net1', ip: '10.100.0.5', prefix: 24 }]);
    t.true(reaches(pods.Z!.netns, addr('F', 'frontend')));
    nn0 = again;
  });

  test.serial('detach removes the interfaces and frees the addresses; fine when the netns is gone', async (t) => {
    const dAddr = addr('D', 'frontend');
    await nn0.detach(pods.D!.uid);
    t.false(links(H0.netns).includes(hostVethName(pods.D!.uid, 'frontend')));
    t.false(links(pods.D!.netns).includes('net1'));
    t.deepEqual(nn0.attachments(pods.D!.uid), []);
    await nn0.detach(pods.D!.uid);
    await makePod(H0, 'W');
    t.is((await attach(nn0, 'W', ['frontend']))[0]!.ip, dAddr, "W gets D's freed address");

    await runTool('ip', ['netns', 'delete', pods.W!.netns]);
    await nn0.detach(pods.W!.uid);
    t.deepEqual(nn0.attachments(pods.W!.uid), []);
  });

  test.serial('a network gone from the list loses its bridge; other networks stay', async (t) => {
    await nn0.detach(pods.X!.uid);
    await nn0.sync(networks.filter((n) => n.metadata.name !== 'tiny'), nodes);
    t.false(links(H0.netns).includes('skn-tiny'));
    t.true(links(H0.netns).includes('skn-frontend'));
    await t.throwsAsync(nn0.attach({ uid: pods.X!.uid, namespace: 'default', name: 'X' }, pods.X!.path, ['tiny']), { message: /unknown network "tiny"/ });
  });

  test.serial('destroy leaves nothing behind', async (t) => {
    for (const [i, a] of agents.entries()) {
      await a.destroy();
      const h = sim!.hosts[i]!;
      t.deepEqual(links(h.netns).filter((l) => /^(skn-|skv|skx)/.test(l)), [], `n${i}`);
      t.false(tableExists(h.netns, 'skiff-isolation'));
      t.deepEqual(readdirSync(stateDirs[i]!), []);
    }
    t.false(links(pods.A!.netns).includes('net1'));
    t.true(links(pods.A!.netns).includes('eth0'), "eth0 is not NodeNetworks' to remove");
    agents.length = 0;
  });
}
