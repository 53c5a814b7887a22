// The multi-host cluster on one machine (test/helpers/local-cluster.ts, DESIGN §7): two hosts in
// their own network namespaces come up as two Ready nodes; a pod pinned to each runs and `kubectl
// exec` reaches it (the API server calls each host's node server over the underlay); a host cut
// off the underlay goes NotReady and comes back; a killed host's agent, started again, takes its
// container over; down() leaves nothing behind. Cross-host pod traffic is the overlay's test.
// Needs root (see localClusterMissing()).
import test from 'ava';
import { readdirSync, readFileSync, readlinkSync, statSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { localClusterMissing, startLocalCluster, type LocalCluster } from '../helpers/local-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { systemTool } from '../../kubelet/network/cni.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = localClusterMissing();
let lc: LocalCluster | undefined;
let downDone = false;

async function k(args: string[], input?: string): Promise<string> {
  const r = await lc!.kubectl(args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const getJson = async (args: string[]): Promise<Json> => JSON.parse(await k([...args, '-o', 'json'])) as Json;

async function ready(node: string): Promise<string | undefined> {
  const n = await getJson(['get', 'node', node]);
  return (n.status?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready')?.status;
}

// One pod pinned by nodeName, the other by the hostname label, as a user would.
const httpd = (name: string, pin: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: lc}}
spec:
  ${pin}
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "hostname > /tmp/name && exec httpd -f -p 8080 -h /tmp"]
`;

function containerOf(p: Json): { id: string; restarts: number; running: boolean } {
  const cs = p.status?.containerStatuses?.[0] ?? {};
  return { id: cs.containerID, restarts: cs.restartCount, running: !!cs.state?.running };
}

function netnsIno(path: string): number {
  return statSync(path).ino;
}

/** Everything of the cluster the kernel or the filesystem could still hold. */
function leftovers(tag: string, dir: string): string[] {
  const found: string[] = [];
  const ours = new RegExp(`^(skul|skh|skp)${tag}`);
  if (existsSync('/run/netns')) for (const n of readdirSync('/run/netns')) if (ours.test(n)) found.push(`netns ${n}`);
  for (const l of execFileSync(systemTool('ip'), ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(l)?.[1];
    if (name && ours.test(name)) found.push(`link ${name}`);
  }
  for (const line of execFileSync(systemTool('nft'), ['list', 'tables'], { encoding: 'utf8' }).split('\n')) if (line.includes(tag)) found.push(`nft ${line}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const m = line.split(' ')[4];
    if (m && m.startsWith(dir)) found.push(`mount ${m}`);
  }
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x) && Number(x) !== process.pid)) {
    try {
      const cl = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      if (cl.includes(`${dir}/`)) found.push(`process ${p}: ${cl.slice(0, 120)}`);
    } catch {
      /* gone */
    }
  }
  if (existsSync(dir)) found.push(`dir ${dir}`);
  return found;
}

if (missing) {
  test.skip(`local multi-host cluster (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    // Pods must not be evicted while a host is cut or dead here: this file tests the hosts, not failover.
    lc = await startLocalCluster({ hosts: 2, serverArgs: ['--default-unreachable-toleration', '300s'] });
  });
  test.after.always(async (t) => {
    if (lc && !downDone) t.deepEqual(await lc.down(), [], 'nothing had to be forced');
  });

  test.serial('two hosts come up as two Ready nodes with their own pod CIDRs and underlay addresses', async (t) => {
    const nodes = ((await getJson(['get', 'nodes'])).items as Json[]).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    t.deepEqual(nodes.map((n) => n.metadata.name), ['h1', 'h2']);
    const cidrs = nodes.map((n) => n.spec.podCIDR as string);
    t.truthy(cidrs[0] && cidrs[1]);
    t.not(cidrs[0], cidrs[1]);
    const ips = nodes.map((n) => (n.status.addresses as Json[]).find((a) => a.type === 'InternalIP')?.address);
    t.deepEqual(ips, lc!.hosts.map((h) => h.ip));
    t.not(ips[0], ips[1]);
    for (const n of nodes) t.is((n.status.conditions as Json[]).find((c) => c.type === 'Ready')?.status, 'True');
    // Each agent really runs inside its host's namespace.
    for (const h of lc!.hosts) {
      const pid = h.pid();
      t.truthy(pid, `${h.name}'s agent runs`);
      t.is(readlinkSync(`/proc/${pid}/ns/net`), `net:[${netnsIno(`/run/netns/${h.netns}`)}]`, `${h.name}'s agent is in ${h.netns}`);
    }
    t.true(lc!.serverURL.startsWith(`https://${lc!.hosts[0]!.ip.replace(/\.\d+$/, '.1')}:`));
  });

  test.serial('a pod pinned to each host runs, and kubectl exec reaches both hosts', async (t) => {
    await k(['apply', '-f', '-'], httpd('web1', 'nodeName: h1') + '---\n' + httpd('web2', 'nodeSelector: {kubernetes.io/hostname: h2}'));
    const pods = await waitFor('both pods running', 90_000, async () => {
      const ps = (await getJson(['get', 'pods', '-l', 'app=lc'])).items as Json[];
      return ps.length === 2 && ps.every((p) => containerOf(p).running && p.status.podIP) ? ps : undefined;
    }, 250);
    const nodes = (await getJson(['get', 'nodes'])).items as Json[];
    for (const p of pods) {
      const want = p.metadata.name === 'web1' ? 'h1' : 'h2';
      t.is(p.spec.nodeName, want);
      const cidr = nodes.find((n) => n.metadata.name === want)!.spec.podCIDR as string;
      t.true(p.status.podIP.startsWith(cidr.split('.').slice(0, 3).join('.') + '.'), `${p.status.podIP} is in ${cidr}`);
      t.is(p.status.hostIP, lc!.hosts.find((h) => h.name === want)!.ip);
      t.is((await k(['exec', p.metadata.name, '--', 'timeout', '10', 'wget', '-qO-', 'http://127.0.0.1:8080/name'])).trim(), p.metadata.name);
    }
  });

  test.serial('a host cut off the underlay goes NotReady, and Ready again once healed', async (t) => {
    const h2 = lc!.hosts.find((h) => h.name === 'h2')!;
    const pid = h2.pid();
    await lc!.cut('h2');
    try {
      await waitFor('h2 NotReady', 60_000, async () => (await ready('h2')) !== 'True', 250);
      t.is(await ready('h1'), 'True', 'the other host stays Ready');
      t.is(h2.pid(), pid, 'the agent kept running through the partition');
    } finally {
      await lc!.heal('h2');
    }
    await waitFor('h2 Ready again', 60_000, async () => (await ready('h2')) === 'True', 250);
    t.is((await k(['exec', 'web2', '--', 'cat', '/tmp/name'])).trim(), 'web2');
  });

  test.serial('a killed host, started again, takes its container over', async (t) => {
    const before = containerOf(await getJson(['get', 'pod', 'web1']));
    const h1 = lc!.hosts.find((h) => h.name === 'h1')!;
    await lc!.kill('h1');
    t.is(h1.pid(), undefined);
    await waitFor('h1 NotReady', 60_000, async () => (await ready('h1')) !== 'True', 250);
    // A dead machine's containers are left as they were: conmon still holds web1's.
    const cid = before.id.replace(/^[a-z]+:\/\//, '');
    t.notThrows(() => execFileSync('pgrep', ['-f', `conmon .*--cid ${cid}`]), 'the container outlives its agent');
    await lc!.start('h1');
    t.truthy(h1.pid());
    await waitFor('h1 Ready again', 60_000, async () => (await ready('h1')) === 'True', 250);
    const after = containerOf(await getJson(['get', 'pod', 'web1']));
    t.is(after.id, before.id, 'same container');
    t.is(after.restarts, 0);
    t.true(after.running);
    // The restarted agent must leave the pod's network namespace alone (the container stays in it).
    t.is((await k(['exec', 'web1', '--', 'timeout', '10', 'wget', '-qO-', 'http://127.0.0.1:8080/name'])).trim(), 'web1', 'the pod still serves in its own network namespace');
  });

  test.serial('down() removes every pod, process, namespace, link, table and mount', async (t) => {
    const tag = lc!.underlayBridge.replace(/^skul/, '');
    const dir = lc!.dir;
    downDone = true;
    t.deepEqual(await lc!.down(), []);
    t.deepEqual(leftovers(tag, dir), []);
  });
}
