// Issue 5's acceptance on a 3-host cluster in network namespaces (test/helpers/local-cluster.ts):
// pods on every host reach each other over the VXLAN overlay; a ClusterIP Service balances over
// backends on three hosts, by name through the cluster DNS, and follows scaling within a second
// or so; a NodePort answers on every host's underlay address; a killed host's pods leave the
// Service and their replacements serve it; a host cut off the underlay heals without restarts;
// teardown leaves nothing. Needs root (see localClusterMissing()).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemTool } from '../../kubelet/network/cni.js';
import { localClusterMissing, startLocalCluster, type LocalCluster } from '../helpers/local-cluster.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = localClusterMissing();
let lc: LocalCluster | undefined;

async function k(args: string[], input?: string): Promise<string> {
  const r = await lc!.kubectl(args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function pods(selector: string): Promise<Json[]> {
  return (JSON.parse(await k(['get', 'pods', '-l', selector, '-o', 'json'])) as Json).items as Json[];
}

const web = (replicas: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints: []
      containers:
      - name: httpd
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

const isReady = (p: Json): boolean => p.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True') === true;

/** What a failed overlay check needs to be understood: each host's links, routes, neighbours, fdb, and its agent's log tail. */
async function overlayState(hosts: { name: string; netns: string }[]): Promise<string> {
  const out: string[] = [];
  const run = (args: string[]): string => {
    try {
      return execFileSync(systemTool(args[0]!), args.slice(1), { encoding: 'utf8', timeout: 10_000 });
    } catch (e) {
      return `(${args.join(' ')}: ${(e as Error).message})`;
    }
  };
  for (const h of hosts) {
    out.push(`--- ${h.name} (${h.netns})`);
    out.push(run(['ip', '-n', h.netns, '-br', 'link']), run(['ip', '-n', h.netns, 'route']), run(['ip', '-n', h.netns, 'neigh']));
    out.push(run(['bridge', '-n', h.netns, 'fdb', 'show']));
    const log = join(lc!.dir, `${h.name}.log`);
    out.push(existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-40).join('\n') : `(no ${log})`);
  }
  out.push('--- pods', await k(['get', 'pods', '-o', 'wide']).catch((e: Error) => e.message));
  return out.join('\n');
}

/** Answers of n requests from the client pod to url, one wget per line. */
async function ask(url: string, n: number): Promise<string[]> {
  const script = `i=0; while [ $i -lt ${n} ]; do timeout 5 wget -qO- ${url} || echo FAIL; i=$((i+1)); done`;
  return (await k(['exec', 'client', '--', 'sh', '-c', script])).trim().split('\n');
}

if (missing) {
  test.skip(`multi-host networking (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    lc = await startLocalCluster({ hosts: 3 });
  });
  test.after.always(async (t) => {
    const left = lc ? await lc.down() : [];
    t.deepEqual(left, [], 'teardown leaves nothing behind');
  });

  test.serial('three hosts, three subnets; every pod reaches every other over the overlay', async (t) => {
    await k(['apply', '-f', '-'], web(3));
    const ps = await waitFor('3 ready web pods on 3 hosts', 120_000, async () => {
      const list = await pods('app=web');
      const ready = list.filter(isReady);
      return ready.length === 3 && new Set(ready.map((p) => p.spec.nodeName)).size === 3 ? ready : undefined;
    });
    const wide = await k(['get', 'pods', '-o', 'wide', '-l', 'app=web']);
    for (const h of lc!.hosts) t.regex(wide, new RegExp(h.name));
    const cidrs = (await k(['get', 'nodes', '-o', 'jsonpath={.items[*].spec.podCIDR}'])).trim().split(' ');
    t.is(new Set(cidrs).size, 3);
    for (const from of ps) {
      for (const to of ps) {
        if (from === to) continue;
        const got = await k(['exec', from.metadata.name, '--', 'timeout', '5', 'wget', '-qO-', `http://${to.status.podIP}:8080/`]);
        t.is(got.trim(), to.metadata.name, `${from.spec.nodeName} -> ${to.spec.nodeName}`);
      }
    }
  });

  test.serial('two Networks are isolated from each other both ways; a pod on both reaches both', async (t) => {
    const [h1, h2, h3] = [lc!.hosts[0]!, lc!.hosts[1]!, lc!.hosts[2]!];
    const netPod = (name: string, nets: string, host: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, annotations: {networking.skiff.dev/networks: "${nets}"}}
spec:
  terminationGracePeriodSeconds: 0
  nodeSelector: {kubernetes.io/hostname: ${host}}
  containers:
  - name: httpd
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
`;
    await k(['apply', '-f', '-'], `
apiVersion: networking.skiff.dev/v1alpha1
kind: Network
metadata: {name: frontend}
spec: {driver: overlay}
---
apiVersion: networking.skiff.dev/v1alpha1
kind: Network
metadata: {name: backend}
spec: {driver: overlay}
---${netPod('fe', 'frontend', h1.name)}---${netPod('be', 'backend', h2.name)}---${netPod('both', 'frontend,backend', h3.name)}`);
    const byName = await waitFor('the three network pods running', 120_000, async () => {
      const list = (JSON.parse(await k(['get', 'pods', '-o', 'json'])) as Json).items as Json[];
      const m = new Map(list.filter((p) => ['fe', 'be', 'both'].includes(p.metadata.name) && p.status.phase === 'Running').map((p) => [p.metadata.name as string, p]));
      return m.size === 3 ? m : undefined;
    });
    const fe = byName.get('fe')!;
    const be = byName.get('be')!;
    const both = byName.get('both')!;
    t.is(both.status.podIPs.length, 2, 'a pod on two networks lists both addresses');
    const [bothFront, bothBack] = both.status.podIPs.map((x: Json) => x.ip as string);
    const get = (from: string, ip: string) => lc!.kubectl(['exec', from, '--', 'timeout', '5', 'wget', '-qO-', `http://${ip}:8080/`], { timeoutMs: 30_000 });
    t.not((await get('fe', be.status.podIP)).code, 0, 'frontend -> backend is cut');
    t.not((await get('be', fe.status.podIP)).code, 0, 'backend -> frontend is cut');
    t.is((await get('both', fe.status.podIP)).stdout.trim(), 'fe');
    t.is((await get('both', be.status.podIP)).stdout.trim(), 'be');
    t.is((await get('fe', bothFront)).stdout.trim(), 'both', 'frontend pods reach each other across hosts');
    t.is((await get('be', bothBack)).stdout.trim(), 'both');
    const table = await k(['get', 'networks']);
    t.regex(table, /NAME\s+DRIVER\s+SUBNET\s+SCOPE\s+PODS/);
    t.regex(table, /frontend\s+overlay\s+\d+\.\d+\.\d+\.\d+\/\d+\s+global/);
    await k(['delete', 'pod', 'fe', 'be', 'both', '--grace-period=0']);
  });

  test.serial('a ClusterIP Service by name answers from all three backends, follows scaling, and a NodePort answers on every host', async (t) => {
    await k(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 0
  nodeSelector: {kubernetes.io/hostname: ${lc!.hosts[0]!.name}}
  containers: [{name: c, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
`);
    await waitFor('client running', 60_000, async () => (await pods('!app')).find((p) => p.metadata.name === 'client')?.status.phase === 'Running');
    const answers = await ask('http://web.default.svc.cluster.local/', 30);
    const names = new Set((await pods('app=web')).map((p) => p.metadata.name as string));
    t.deepEqual([...new Set(answers)].sort(), [...names].sort(), answers.join(','));
    // The short name through the search path.
    t.true(names.has((await ask('http://web/', 1))[0]!));

    await k(['scale', 'deployment/web', '--replicas=1']);
    const t0 = Date.now();
    const left = await waitFor('one backend left', 30_000, async () => {
      const ps = (await pods('app=web')).filter((p) => !p.metadata.deletionTimestamp);
      return ps.length === 1 ? ps[0]!.metadata.name : undefined;
    });
    const settled = await waitFor('only the remaining backend answers', 30_000, async () => {
      const a = await ask('http://web/', 6);
      return a.every((x) => x === left) ? Date.now() : undefined;
    }, 50);
    t.log(`scale to 1: answers settled ${settled - t0} ms after the scale command`);
    await k(['scale', 'deployment/web', '--replicas=3']);
    await waitFor('three backends answer again', 60_000, async () => new Set(await ask('http://web/', 20)).size === 3);

    const nodePort = (JSON.parse(await k(['get', 'svc', 'web', '-o', 'json'])) as Json).spec.ports[0].nodePort as number;
    for (const h of lc!.hosts) {
      // From the root namespace, which sits on the underlay like an outside client.
      const out = execFileSync('curl', ['-s', '-m', '5', `http://${h.ip}:${nodePort}/`], { encoding: 'utf8' }).trim();
      t.true(names.has(out) || (await pods('app=web')).some((p) => p.metadata.name === out), `NodePort on ${h.name} answered ${out}`);
    }
  });

  test.serial('a host cut off the underlay and healed: the overlay heals without restarting agents', async (t) => {
    const h = lc!.hosts[1]!;
    const pidBefore = h.pid();
    // A live backend: right after the scaling above, pods scaled away may still be listed (terminating,
    // their containers gone), and one of those would never answer again.
    const target = await waitFor(`a ready web pod on ${h.name} answering`, 60_000, async () => {
      const p = (await pods('app=web')).find((x) => x.spec.nodeName === h.name && !x.metadata.deletionTimestamp && isReady(x));
      return p && (await ask(`http://${p.status.podIP}:8080/`, 1))[0] === p.metadata.name ? p : undefined;
    });
    const url = `http://${target.status.podIP}:8080/`;
    await lc!.cut(h.name);
    t.deepEqual(await ask(url, 1), ['FAIL'], 'the cut host is unreachable');
    await lc!.heal(h.name);
    const healed = Date.now();
    try {
      await waitFor('traffic to the healed host again', 60_000, async () => (await ask(url, 1))[0] === target.metadata.name);
      t.log(`traffic again ${Date.now() - healed} ms after the link came back`);
    } catch (e) {
      t.log(await overlayState([lc!.hosts[0]!, h]));
      throw e;
    }
    t.is(h.pid(), pidBefore, 'the agent was not restarted');
  });

  test.serial('a killed host: its pods leave the Service, replacements on the other hosts serve it', async (t) => {
    const victim = lc!.hosts[2]!;
    await lc!.kill(victim.name);
    const gone = (await pods('app=web')).filter((p) => p.spec.nodeName === victim.name).map((p) => p.status.podIP as string);
    await waitFor('the killed host out of the endpoints', 90_000, async () => {
      const ep = JSON.parse(await k(['get', 'endpoints', 'web', '-o', 'json'])) as Json;
      const ips = (ep.subsets ?? []).flatMap((s: Json) => (s.addresses ?? []).map((a: Json) => a.ip as string));
      return ips.length > 0 && !ips.some((ip: string) => gone.includes(ip));
    });
    await waitFor('three answering backends on the two live hosts', 120_000, async () => {
      const a = await ask('http://web/', 20);
      return !a.includes('FAIL') && new Set(a).size === 3;
    });
    const live = (await pods('app=web')).filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp);
    t.true(live.filter((p) => p.spec.nodeName !== victim.name).length >= 3);
    await lc!.start(victim.name);
  });
}
