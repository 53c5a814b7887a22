// A one-node cluster running real containers for end-to-end tests: `skiff server` with its agent
// (conmon + crun/runc, CNI bridge), the busybox image imported into its store, and names (bridge,
// pod range, data dir) unique to the test file so files can run side by side. `stop()` deletes
// every pod, stops the server and removes the node's network, then reports anything left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, skiffBin, repoRoot, type TestServer } from './server.js';
import { waitFor } from './wait.js';
import { findExecutable } from '../../kubelet/runtime/oci/oci-binary.js';

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
      args: ['--node-name', nodeName, '--kubelet-port', '0', '--bridge', bridge, '--netns-prefix', `${bridge}-`, '--cluster-cidr', freePodRange(), '--restart-backoff', '1s', '--node-ip', '127.0.0.1', '--overlay=false', ...(opts.args ?? [])],
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

/**
 * Tears the node down with `skiff reset`'s module (kubelet/node-reset.ts), run in a child process
 * so this stays synchronous; lists what a node stopped properly should not have left: pods,
 * containers, conmons, namespaces, cgroups, mounts, and anything reset failed to remove. The
 * bridge and the tables are expected (the agent leaves them, as kube-proxy does).
 */
export function cleanupNode(dataDir: string, bridge: string, netnsPrefix = `${bridge}-`): string[] {
  const module = new URL('../../kubelet/node-reset.js', import.meta.url).href;
  const script = `
    const { resetNode } = await import(${JSON.stringify(module)});
    const report = await resetNode(JSON.parse(process.argv[1]));
    process.stdout.write(JSON.stringify(report));`;
  // --overlay=false nodes: a VXLAN device on this machine belongs to some other test.
  const opts = { dataDir, bridge, netnsPrefix, overlayDevice: null, graceMs: 1000 };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(opts)], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return [`reset of ${dataDir} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`];
  const report = JSON.parse(r.stdout) as { removed: { kind: string; name: string }[]; failed: string[]; left: { kind: string; name: string }[] };
  const forced = new Set(['pod', 'container', 'conmon', 'netns', 'cgroup', 'mount']);
  return [
    ...report.removed.filter((i) => forced.has(i.kind)).map((i) => `${i.kind} left: ${i.name}`),
    ...report.failed.map((f) => `reset failed: ${f}`),
    ...report.left.map((i) => `still there after reset: ${i.kind} ${i.name}`),
  ];
}
