// `skiff reset` against a real node: a Deployment with a hostPort and a Service run, the server
// stops (its containers keep running, as kubelet's do), and reset leaves no conmon, namespace,
// link, nftables table, hostPort rule, mount or cgroup of the node behind. Reset is refused while
// the server runs and when not root; the kept data dir starts again as the same cluster; --purge
// deletes the data dir. Needs root and the packages realNodeMissing() lists.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { skiffBin } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { systemTool } from '../../kubelet/network/cni.js';
import { cgroupDirs, readCgroupLayout } from '../../kubelet/runtime/oci/cgroups.js';
import { podCgroupParent } from '../../kubelet/runtime/oci/spec.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function reset(args: string[], opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [skiffBin, 'reset', ...args], { timeout: 120_000, ...opts }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** conmon processes naming a path in dir. */
function conmonsOf(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'conmon') continue;
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${dir}/`)) out.push(Number(p));
    } catch {
      /* ended */
    }
  }
  return out;
}

function netnsWith(prefix: string): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(prefix)) : [];
}

function linkExists(name: string): boolean {
  return spawnSync(systemTool('ip'), ['link', 'show', 'dev', name], { stdio: 'ignore' }).status === 0;
}

function tablesNaming(bridge: string): string[] {
  const out = spawnSync(systemTool('nft'), ['list', 'tables'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(bridge));
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(`${dir}/`));
}

function hostPortRules(port: number): string[] {
  const out = spawnSync(systemTool('iptables'), ['-w', '5', '-t', 'nat', '-S'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(`--dport ${port} `) || l.endsWith(`--dport ${port}`));
}

function podCgroups(uids: string[]): string[] {
  const layout = readCgroupLayout();
  return uids.flatMap((uid) => cgroupDirs(layout, podCgroupParent(uid))).filter((d) => existsSync(d));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

if (missing) {
  test.skip(`skiff reset (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    c = await startRealCluster();
  });
  test.after.always(async (t) => {
    // Whatever the test got to: the helper resets the node (through the same module) and deletes the dir.
    const left = c ? await c.stop() : [];
    t.log(left.length ? `cleanup had to force: ${left.join('; ')}` : 'nothing left for the cleanup');
  });

  test.serial('reset is refused when not root', async (t) => {
    const r = await reset(['--data-dir', c!.server.dataDir, '--bridge', c!.bridge, '--netns-prefix', `${c!.bridge}-`], { uid: 65534, gid: 65534 });
    t.is(r.code, 1, r.stdout + r.stderr);
    t.regex(r.stderr.trim(), /^skiff: reset: must run as root/);
    t.is(r.stderr.trim().split('\n').length, 1);
  });

  test.serial('reset refuses a dir that is not a node data dir, touching nothing', async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const stray = mkdtempSync(join(tmpdir(), 'skiff-not-a-node-'));
    try {
      const r = await reset(['--data-dir', stray, '--bridge', c!.bridge, '--netns-prefix', `${c!.bridge}-`]);
      t.not(r.code, 0, r.stdout + r.stderr);
      t.regex(r.stderr.trim(), /is not the data dir of a skiff node/);
      t.is(r.stdout, '');
    } finally {
      rmSync(stray, { recursive: true, force: true });
    }
  });

  test.serial('a node with a hostPort Deployment and a Service: reset refused while the server runs, then removes everything', async (t) => {
    const cl = c!;
    const dataDir = cl.server.dataDir;
    const prefix = `${cl.bridge}-`;
    const hostPort = 20000 + Math.floor(Math.random() * 10000);
    await cl.k(['apply', '-f', '-'], {
      input: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080, hostPort: ${hostPort}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: 2
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec:
      containers:
      - name: sleep
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`,
    });
    await cl.k(['rollout', 'status', 'deployment/web', 'deployment/idle', '--timeout=120s'], { timeoutMs: 130_000 });
    const pods = await waitFor('3 pods running', 60_000, async () => {
      const items = (JSON.parse(await cl.k(['get', 'pods', '-o', 'json'])) as Json).items as Json[];
      return items.length === 3 && items.every((p) => p.status?.phase === 'Running') ? items : undefined;
    });
    const uids = pods.map((p) => p.metadata.uid as string);
    await waitFor('the Service in the node table', 30_000, async () => tablesNaming(cl.bridge).some((l) => l.includes(`skiff-svc-${cl.bridge}`)));
    t.true(hostPortRules(hostPort).length > 0, 'the hostPort has its DNAT rule');
    t.is(netnsWith(prefix).length, 3);
    t.is(conmonsOf(dataDir).length, 3);

    const refused = await reset(['--data-dir', dataDir, '--bridge', cl.bridge, '--netns-prefix', prefix]);
    t.is(refused.code, 1, refused.stdout + refused.stderr);
    t.regex(refused.stderr.trim(), new RegExp(`^skiff: reset: ${escapeRe(dataDir)} is in use by process \\d+`));
    t.is(refused.stderr.trim().split('\n').length, 1);
    t.is(refused.stdout, '');
    t.is(netnsWith(prefix).length, 3, 'a refused reset touches nothing');

    await cl.server.stop();
    t.is(conmonsOf(dataDir).length, 3, 'the containers outlive the server');

    const r = await reset(['--data-dir', dataDir, '--bridge', cl.bridge, '--netns-prefix', prefix, '--grace-period', '1s']);
    t.log(r.stdout);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.is((r.stdout.match(/^removed pod /gm) ?? []).length, 3);
    t.regex(r.stdout, new RegExp(`^removed link ${escapeRe(cl.bridge)}$`, 'm'));
    t.deepEqual(conmonsOf(dataDir), []);
    t.deepEqual(netnsWith(prefix), []);
    t.false(linkExists(cl.bridge));
    t.deepEqual(tablesNaming(cl.bridge), []);
    t.deepEqual(hostPortRules(hostPort), []);
    t.deepEqual(mountsUnder(dataDir), []);
    t.deepEqual(podCgroups(uids), []);
    t.deepEqual(readdirSync(`${dataDir}/runtime/state`), []);
    t.true(existsSync(`${dataDir}/kubeconfig`), 'without --purge the API data and certificates stay');

    const again = await reset(['--data-dir', dataDir, '--bridge', cl.bridge, '--netns-prefix', prefix]);
    t.is(again.code, 0, again.stdout + again.stderr);
    t.regex(again.stdout, /nothing of the node was left/);

    // The kept data dir is the same cluster: the server starts again and its node runs the pods anew.
    await cl.server.restart();
    const netnsOf = (uid: string) => prefix + uid.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12);
    try {
      await waitFor('3 pods running again, each in a new sandbox', 90_000, async () => {
        const items = (JSON.parse(await cl.k(['get', 'pods', '-o', 'json'])) as Json).items as Json[];
        const running = items.filter((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.every((s: Json) => s.state?.running));
        const uids = running.map((p) => p.metadata.uid as string);
        return uids.length === 3 && uids.every((u) => netnsWith(prefix).includes(netnsOf(u))) ? uids : undefined;
      });
    } catch (e) {
      t.log(`netns ${netnsWith(prefix).join(' ')}; conmons ${conmonsOf(dataDir).join(' ')}`);
      t.log((await cl.server.kubectl(['get', 'pods', '-o', 'wide'])).stdout);
      t.log(cl.server.output().slice(-4000));
      throw e;
    }
    await cl.server.stop();

    const purged = await reset(['--data-dir', dataDir, '--bridge', cl.bridge, '--netns-prefix', prefix, '--purge', '--grace-period', '1s']);
    t.is(purged.code, 0, purged.stdout + purged.stderr);
    // Right after the restart the controllers may still be replacing pods: every pod reset found is
    // one of the node's, whichever they were when the server stopped.
    t.true((purged.stdout.match(/^removed pod /gm) ?? []).length >= 1, purged.stdout);
    t.regex(purged.stdout, new RegExp(`^removed data-dir ${escapeRe(dataDir)}$`, 'm'));
    t.false(existsSync(dataDir));
    t.deepEqual(conmonsOf(dataDir), []);
    t.deepEqual(netnsWith(prefix), []);
    t.false(linkExists(cl.bridge));
    t.deepEqual(tablesNaming(cl.bridge), []);
    t.deepEqual(mountsUnder(dataDir), []);
  });
}
