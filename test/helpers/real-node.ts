// A one-node cluster running real containers for end-to-end tests: `skiff server` with its agent
// (conmon + crun/runc, CNI bridge), the busybox image imported into its store, and names (bridge,
// pod range, data dir) unique to the test file so files can run side by side. `stop()` deletes
// every pod, stops the server and removes the node's network, then reports anything left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, skiffBin, repoRoot, type TestServer } from './server.js';
import { waitFor } from './wait.js';
import { findExecutable } from '../../kubelet/runtime/oci/oci-binary.js';
import { systemTool } from '../../kubelet/network/cni.js';

export interface RealCluster {
  server: TestServer;
  bridge: string;
  nodeName: string;
  /** kubectl that throws on a non-zero exit, returning stdout */
  k(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<string>;
  stop(): Promise<string[]>;
}

/** Why real-container tests cannot run here, or undefined when they can. */
export function realNodeMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const [bin, pkg] of [['conmon', 'conmon'], ['ip', 'iproute2'], ['nft', 'nftables'], ['iptables', 'iptables'], ['tar', 'tar']] as const) {
    if (!findExecutable(bin)) return `${bin} is not installed (apt-get install -y ${pkg})`;
  }
  if (!findExecutable('crun') && !findExecutable('runc')) return 'neither crun nor runc is installed (apt-get install -y crun runc)';
  if (!existsSync('/usr/lib/cni/bridge')) return 'the CNI plugins are not installed (apt-get install -y containernetworking-plugins)';
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

/** A /16 for the cluster's pods that no route of this machine covers. */
function freePodRange(): string {
  const routes = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let i = 0; i < 50; i++) {
    const second = 150 + Math.floor(Math.random() * 100);
    if (!routes.includes(`10.${second}.`)) return `10.${second}.0.0/16`;
  }
  throw new Error('no free 10.x.0.0/16 for the pod network');
}

export async function startRealCluster(opts: { args?: string[] } = {}): Promise<RealCluster> {
  const tag = randomBytes(3).toString('hex');
  const bridge = `skt${tag}`;
  const nodeName = `e2e-${tag}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'skiff-e2e-'));
  // The busybox image the examples use, built from busybox-static and imported into the store.
  const layout = join(dataDir, 'busybox-oci');
  let server: TestServer;
  try {
    execFileSync('sh', [join(repoRoot, 'hack', 'build-busybox-image.sh'), layout, 'busybox:latest'], { stdio: 'pipe' });
    const imp = spawnSync(process.execPath, [skiffBin, 'images', 'import', '--data-dir', dataDir, layout], { encoding: 'utf8' });
    if (imp.status !== 0) throw new Error(`importing busybox failed: ${imp.stderr}`);
    server = await startServer({
      dataDir,
      agent: true,
      args: ['--node-name', nodeName, '--kubelet-port', '0', '--bridge', bridge, '--cluster-cidr', freePodRange(), '--restart-backoff', '1s', '--node-ip', '127.0.0.1', '--overlay=false', ...(opts.args ?? [])],
    });
  } catch (e) {
    // A node that never came up leaves nothing behind either.
    cleanupNode(dataDir, bridge);
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const k = async (args: string[], kopts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) => {
    const r = await server.kubectl(args, kopts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  await waitFor('the node to be Ready with a pod CIDR', 30_000, async () => {
    const out = await k(['get', 'node', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.podCIDR}']);
    return /^True \d/.test(out);
  });
  return {
    server,
    bridge,
    nodeName,
    k,
    async stop() {
      const left: string[] = [];
      if (server.proc.exitCode === null && server.proc.signalCode === null) {
        // Workloads and pods first, so the agent stops their containers and releases their network.
        await server.kubectl(['delete', 'deployments,replicasets,daemonsets,statefulsets,jobs,cronjobs', '--all', '-A', '--wait=false']);
        await server.kubectl(['delete', 'pods', '--all', '-A', '--grace-period=1', '--wait=false']);
        await waitFor('every pod to be gone', 60_000, async () => (await k(['get', 'pods', '-A', '-o', 'name'])).trim() === '').catch((e) => left.push(String(e)));
      }
      await server.stop().catch((e) => left.push(String(e)));
      left.push(...cleanupNode(dataDir, bridge));
      rmSync(dataDir, { recursive: true, force: true });
      return left;
    },
  };
}

/** Removes the node's bridge, NAT table and anything else under dataDir; lists what had to be forced. */
export function cleanupNode(dataDir: string, bridge: string): string[] {
  const left: string[] = [];
  const conmons = spawnSync('pgrep', ['-f', `conmon .*${dataDir}`], { encoding: 'utf8' }).stdout.trim();
  if (conmons) {
    left.push(`conmon still running: ${conmons.replace(/\n/g, ' ')}`);
    for (const pid of conmons.split('\n')) spawnSync('kill', ['-9', pid]);
  }
  // Containers a failed test left: the runtime deletes them (killing conmon alone would orphan them).
  const stateRoot = join(dataDir, 'runtime', 'state');
  for (const id of existsSync(stateRoot) ? readdirSync(stateRoot) : []) {
    left.push(`container left: ${id}`);
    for (const rt of ['crun', 'runc']) if (findExecutable(rt)) spawnSync(rt, [`--root=${stateRoot}`, 'delete', '--force', id]);
  }
  // Pod network namespaces and cgroups of pods the agent did not get to release.
  const netRecords = join(dataDir, 'network', 'pods');
  for (const f of existsSync(netRecords) ? readdirSync(netRecords) : []) {
    try {
      const rec = JSON.parse(readFileSync(join(netRecords, f), 'utf8')) as { uid?: string; netnsPath?: string };
      if (rec.netnsPath && existsSync(rec.netnsPath)) {
        left.push(`netns left: ${rec.netnsPath}`);
        spawnSync(systemTool('ip'), ['netns', 'del', rec.netnsPath.split('/').pop()!]);
      }
    } catch {
      /* a half-written record */
    }
  }
  const podsDir = join(dataDir, 'pods');
  for (const uid of existsSync(podsDir) ? readdirSync(podsDir) : []) {
    for (const ctl of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', ctl, 'skiff', `pod${uid}`);
      if (existsSync(dir)) spawnSync('find', [dir, '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(dataDir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    left.push(`mount left: ${m}`);
    spawnSync('umount', ['-l', m]);
  }
  // By absolute path: under npx, node_modules/.bin comes first on PATH and has an unrelated `nft`.
  const ip = systemTool('ip');
  const nft = systemTool('nft');
  if (spawnSync(ip, ['link', 'show', bridge]).status === 0) spawnSync(ip, ['link', 'del', bridge]);
  // The agent's NAT, Services and isolation tables stay after it stops (as kube-proxy's do).
  const tables = spawnSync(nft, ['list', 'tables'], { encoding: 'utf8' }).stdout;
  for (const line of tables.split('\n')) if (line.includes(bridge)) spawnSync(nft, ['delete', ...line.trim().split(/\s+/)]);
  return left;
}
