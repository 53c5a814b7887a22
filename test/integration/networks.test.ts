// Networks against a real `skiff server` (its network controller inside), simulated nodes from
// `skiff simulate` and the real kubectl: the default overlay and its columns, allocated subnets
// and VNIs, conflicts, node slices, pod counts, pods naming a missing Network, schema errors.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, skiffBin, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { cidrsOverlap, cidrWithin } from '../../controllers/network/ipam.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PREFIX = 'netit-';
const CLUSTER_CIDR = '10.42.0.0/16';
let srv: TestServer;
let work: string;
let sim: ChildProcess | undefined;
const simLog: string[] = [];

async function json(args: string[]): Promise<Json> {
  const r = await srv.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}

async function apply(name: string, yaml: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = join(work, `${name}.yaml`);
  writeFileSync(p, yaml);
  return srv.kubectl(['apply', '-f', p]);
}

const network = (name: string, spec: string) => `apiVersion: networking.skiff.dev/v1alpha1\nkind: Network\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const ready = (n: Json): Json | undefined => (n.status?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready');
const simNodes = async () => ((await json(['get', 'nodes'])).items as Json[]).filter((n) => n.metadata.name.startsWith(PREFIX));

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'skiff-networks-'));
  srv = await startServer();
  sim = spawn(
    process.execPath,
    [skiffBin, 'simulate', '--nodes', '2', '--kubeconfig', srv.kubeconfig, '--name-prefix', PREFIX, '--heartbeat-interval', '1s', '--sim-start-delay', '50ms'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' } },
  );
  sim.stdout!.on('data', (d: Buffer) => simLog.push(d.toString()));
  sim.stderr!.on('data', (d: Buffer) => simLog.push(d.toString()));
  await waitFor('2 simulated nodes with pod CIDRs', 30_000, async () => {
    if (sim!.exitCode !== null) throw new Error(`simulator exited ${sim!.exitCode}: ${simLog.join('')}`);
    const nodes = await simNodes();
    return nodes.length === 2 && nodes.every((n) => n.spec.podCIDR);
  });
});

test.after.always(async () => {
  const p = sim;
  if (p && p.exitCode === null && p.signalCode === null) {
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await gone;
  }
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('kubectl get networks shows the default overlay with its columns and node slices', async (t) => {
  const out = await waitFor('the default network with its subnet', 20_000, async () => {
    const r = await srv.kubectl(['get', 'networks']);
    return r.code === 0 && /^default\s+overlay\s+10\.42\.0\.0\/16\s+global\s+\d+\s+\S+$/m.test(r.stdout) && r.stdout;
  });
  t.regex(out.split('\n')[0]!, /^NAME\s+DRIVER\s+SUBNET\s+SCOPE\s+PODS\s+AGE$/);
  // the short name and the skiff category reach it too
  t.regex((await srv.kubectl(['get', 'net', 'default'])).stdout, /^default\s+overlay/m);
  t.regex((await srv.kubectl(['get', 'skiff'])).stdout, /network\.networking\.skiff\.dev\/default/);

  const nodes = await simNodes();
  const def = await waitFor('default network slices for both nodes', 20_000, async () => {
    const n = await json(['get', 'network', 'default']);
    return (n.status?.nodes ?? []).filter((s: Json) => s.name.startsWith(PREFIX)).length === 2 && n;
  });
  t.is(def.status.vni, 1);
  t.is(ready(def)?.status, 'True');
  for (const node of nodes) {
    t.deepEqual(
      def.status.nodes.find((s: Json) => s.name === node.metadata.name),
      { name: node.metadata.name, subnet: node.spec.podCIDR, bridge: 'skiff0' },
    );
  }
});

test.serial('two Networks get non-overlapping subnets, unique VNIs and a slice per node', async (t) => {
  t.is((await apply('frontend', network('frontend', '  driver: overlay\n'))).code, 0);
  const r = await apply('backend', network('backend', '  driver: bridge\n  internal: true\n'));
  t.is(r.code, 0, r.stderr);
  const [fe, be] = await waitFor('both networks Ready with slices', 20_000, async () => {
    const fe = await json(['get', 'network', 'frontend']);
    const be = await json(['get', 'network', 'backend']);
    const done = (n: Json) => ready(n)?.status === 'True' && n.status.nodes?.length === 2;
    return done(fe) && done(be) && [fe, be];
  });
  t.is(fe.spec.driver, 'overlay');
  t.is(fe.status.scope, 'global');
  t.is(be.status.scope, 'local');
  t.true(be.spec.internal);
  t.false(cidrsOverlap(fe.status.subnet, be.status.subnet), `${fe.status.subnet} vs ${be.status.subnet}`);
  for (const s of [fe.status.subnet, be.status.subnet]) {
    t.true(cidrWithin(s, '10.240.0.0/12'), s);
    t.false(cidrsOverlap(s, CLUSTER_CIDR));
  }
  t.true(fe.status.vni >= 4096);
  t.is(be.status.vni, undefined, 'a bridge network has no VXLAN id');
  for (const n of [fe, be]) {
    const slices = n.status.nodes as Json[];
    t.is(new Set(slices.map((s) => s.subnet)).size, 2);
    for (const s of slices) t.true(cidrWithin(s.subnet, n.status.subnet) && s.subnet.endsWith('/24'), s.subnet);
  }
  t.is(fe.status.nodes[0].bridge, 'skn-frontend');
  t.is(be.status.nodes[0].bridge, 'skn-backend');

  // a third overlay gets yet another VNI
  t.is((await apply('extra', network('extra', '  vni: 9000\n'))).code, 0);
  const extra = await waitFor('extra Ready', 20_000, async () => {
    const n = await json(['get', 'network', 'extra']);
    return ready(n)?.status === 'True' && n;
  });
  t.is(extra.status.vni, 9000);
  t.not(extra.status.vni, fe.status.vni);
  t.false(cidrsOverlap(extra.status.subnet, fe.status.subnet) || cidrsOverlap(extra.status.subnet, be.status.subnet));

  const table = (await srv.kubectl(['get', 'networks'])).stdout;
  t.regex(table, new RegExp(`^frontend\\s+overlay\\s+${fe.status.subnet.replace(/\./g, '\\.')}\\s+global\\s+0\\s`, 'm'));
  t.regex(table, new RegExp(`^backend\\s+bridge\\s+${be.status.subnet.replace(/\./g, '\\.')}\\s+local\\s+0\\s`, 'm'));
});

test.serial('a Network whose subnet overlaps the cluster CIDR or another Network is Ready False SubnetConflict', async (t) => {
  const fe = await json(['get', 'network', 'frontend']);
  t.is((await apply('clash', network('clash', '  subnet: 10.42.8.0/24\n'))).code, 0);
  t.is((await apply('clash2', network('clash2', `  subnet: ${fe.status.subnet.replace(/\/16$/, '/20')}\n`))).code, 0);
  for (const [name, what] of [
    ['clash', /cluster CIDR/],
    ['clash2', /Network frontend/],
  ] as const) {
    const n = await waitFor(`${name} not Ready`, 20_000, async () => {
      const n = await json(['get', 'network', name]);
      return ready(n)?.status === 'False' && n;
    });
    t.is(ready(n)?.reason, 'SubnetConflict');
    t.regex(ready(n)?.message, what);
    t.is(n.status.subnet, undefined);
  }
  const ev = await waitFor('a SubnetConflict event', 20_000, async () => {
    const r = await srv.kubectl(['get', 'events', '-A', '--field-selector', 'reason=SubnetConflict']);
    return /clash/.test(r.stdout) && r.stdout;
  });
  t.regex(ev, /overlaps/);
  // once frontend goes, clash2's range is free
  t.is((await srv.kubectl(['delete', 'network', 'frontend'])).code, 0);
  await waitFor('clash2 Ready after frontend is deleted', 20_000, async () => ready(await json(['get', 'network', 'clash2']))?.status === 'True');
  t.pass();
});

test.serial('a cni Network without spec.cni is Ready False InvalidCNIConfig', async (t) => {
  t.is((await apply('plugin', network('plugin', '  driver: cni\n'))).code, 0);
  const n = await waitFor('plugin not Ready', 20_000, async () => {
    const n = await json(['get', 'network', 'plugin']);
    return ready(n)?.status === 'False' && n;
  });
  t.is(ready(n)?.reason, 'InvalidCNIConfig');
  t.is(n.status.scope, 'local');
  const fixed = network('plugin', '  driver: cni\n  cni:\n    cniVersion: 1.0.0\n    type: macvlan\n    master: eth0\n    scope: global\n');
  t.is((await apply('plugin', fixed)).code, 0);
  const ok = await waitFor('plugin Ready', 20_000, async () => {
    const n = await json(['get', 'network', 'plugin']);
    return ready(n)?.status === 'True' && n;
  });
  t.is(ok.status.scope, 'global');
  t.is(ok.spec.cni.master, 'eth0', 'the CNI config is kept as given');
});

test.serial('pods naming Networks are counted; a missing Network gives the pod a NetworkNotFound event', async (t) => {
  const pod = (name: string, nets?: string, hostNetwork = false) =>
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n${nets ? `  annotations:\n    networking.skiff.dev/networks: "${nets}"\n` : ''}spec:\n  terminationGracePeriodSeconds: 0\n${hostNetwork ? '  hostNetwork: true\n' : ''}  containers:\n  - name: c\n    image: busybox\n`;
  const docs = [pod('np-a', 'backend, extra'), pod('np-b', 'backend'), pod('np-c'), pod('np-host', 'backend', true), pod('np-lost', 'backend,nowhere')];
  t.is((await apply('pods', docs.join('---\n'))).code, 0);
  const counted = await waitFor('pod counts', 20_000, async () => {
    const be = await json(['get', 'network', 'backend']);
    const ex = await json(['get', 'network', 'extra']);
    return be.status?.pods === 3 && ex.status?.pods === 1 && { be, ex };
  });
  // np-host is on the host's network: its annotation puts it on no Network.
  t.is(counted.be.status.pods, 3);
  // the default network counts the pods that name no Network (or name it), off the host's network
  const all = (await json(['get', 'pods', '-A'])).items as Json[];
  const onDefault = (p: Json) => {
    const a = p.metadata.annotations?.['networking.skiff.dev/networks'];
    return a === undefined || a.split(',').map((x: string) => x.trim()).includes('default');
  };
  const expected = all.filter((p) => !p.spec.hostNetwork && onDefault(p) && !['Succeeded', 'Failed'].includes(p.status?.phase)).length;
  await waitFor(`default network counting ${expected} pods`, 20_000, async () => (await json(['get', 'network', 'default'])).status?.pods === expected);
  t.regex((await srv.kubectl(['get', 'networks', 'backend'])).stdout, /^backend\s+bridge\s+\S+\s+local\s+3\s/m);

  const ev = await waitFor('NetworkNotFound on np-lost', 20_000, async () => {
    const r = await json(['get', 'events', '--field-selector', 'involvedObject.name=np-lost,reason=NetworkNotFound']);
    return r.items.length > 0 && r.items[0];
  });
  t.is(ev.type, 'Warning');
  t.regex(ev.message, /Network nowhere does not exist/);
  const others = await json(['get', 'events', '--field-selector', 'reason=NetworkNotFound']);
  t.deepEqual([...new Set(others.items.map((e: Json) => e.involvedObject.name))], ['np-lost']);

  t.is((await srv.kubectl(['delete', 'pod', 'np-a', 'np-b', '--wait=true', '--timeout=60s'])).code, 0);
  await waitFor('counts drop after deletion', 20_000, async () => {
    const be = await json(['get', 'network', 'backend']);
    const ex = await json(['get', 'network', 'extra']);
    return be.status?.pods === 1 && (ex.status?.pods ?? 0) === 0;
  });
  t.is((await srv.kubectl(['delete', 'pod', 'np-c', 'np-host', 'np-lost', '--wait=true', '--timeout=60s'])).code, 0);
});

test.serial('a bad driver is rejected by the schema with its field path', async (t) => {
  const r = await apply('bad', network('bad', '  driver: vlan\n  vni: 0\n'));
  t.not(r.code, 0);
  t.regex(r.stderr, /spec\.driver: Unsupported value: "vlan": supported values: "bridge", "overlay", "cni"/);
  t.regex(r.stderr, /spec\.vni/);
  const notCidr = await apply('bad2', network('bad2', '  subnet: 10.0.0.0\n'));
  t.not(notCidr.code, 0);
  t.regex(notCidr.stderr, /spec\.subnet/);
});

test.serial('the default network comes back when deleted', async (t) => {
  const before = await json(['get', 'network', 'default']);
  t.is((await srv.kubectl(['delete', 'network', 'default'])).code, 0);
  const again = await waitFor('a new default network', 20_000, async () => {
    const n = await json(['get', 'network', 'default']).catch(() => undefined);
    return n && n.metadata.uid !== before.metadata.uid && ready(n)?.status === 'True' && n;
  });
  t.is(again.status.subnet, CLUSTER_CIDR);
  t.is(again.status.vni, 1);
});
