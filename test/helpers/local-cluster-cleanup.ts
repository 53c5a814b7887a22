// Forced removal of whatever a local cluster left after its agents and server stopped: containers,
// conmons, stray processes, pod and host network namespaces, cgroups, mounts, links and root
// nftables tables. Expected teardown (host namespaces, veths, the bridge) is silent; anything that
// should already have gone with a clean shutdown is listed in the result.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemTool } from '../../kubelet/network/cni.js';
import { NETNS_DIR } from '../../kubelet/network/netns.js';
import { cgroupDirs, readCgroupLayout, removeCgroupTree } from '../../kubelet/runtime/oci/cgroups.js';
import { podCgroupParent } from '../../kubelet/runtime/oci/spec.js';
import { findClusterProcesses, netnsInode, signal, waitGone } from './local-cluster-procs.js';
import { linkExists, linksMatching, tagPatterns } from './local-cluster-net.js';

export interface CleanupTarget {
  dir: string;
  tag: string;
  bridge: string;
  hosts: { name: string; veth: string; dataDir: string }[];
}

function tool(name: string): string | undefined {
  try {
    return systemTool(name);
  } catch {
    return undefined;
  }
}

const run = (cmd: string, args: string[]) => spawnSync(systemTool(cmd), args, { encoding: 'utf8' });

function dirsIn(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function namespaces(re: RegExp): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => re.test(n)) : [];
}

export async function forceCleanup(t: CleanupTarget): Promise<string[]> {
  const left: string[] = [];
  // Containers first, through the runtime: killing conmon alone would orphan them.
  const runtimes = ['crun', 'runc'].map(tool).filter((b): b is string => !!b);
  for (const h of t.hosts) {
    const stateRoot = join(h.dataDir, 'runtime', 'state');
    for (const id of dirsIn(stateRoot)) {
      left.push(`container left on ${h.name}: ${id}`);
      for (const rt of runtimes) spawnSync(rt, [`--root=${stateRoot}`, 'delete', '--force', id], { stdio: 'ignore' });
    }
  }
  // Then every process that still belongs to the cluster: conmons, a stray agent, or anything
  // running inside a host's or a pod's namespace.
  const inodes = new Map<number, string>();
  const patterns = tagPatterns(t.tag);
  const podNamespaces = namespaces(patterns.podNetns);
  for (const ns of [...namespaces(patterns.netns), ...podNamespaces]) {
    const ino = netnsInode(join(NETNS_DIR, ns));
    if (ino !== undefined) inodes.set(ino, ns);
  }
  const procs = findClusterProcesses(t.dir, inodes);
  for (const p of procs) {
    left.push(`process left: ${p.comm} (pid ${p.pid}, ${p.why})`);
    signal(p.pid, 'SIGKILL');
  }
  for (const p of procs) await waitGone(p.pid, 5000);

  for (const ns of podNamespaces) {
    left.push(`pod netns left: ${ns}`);
    run('ip', ['netns', 'delete', ns]);
  }
  // Pod cgroups crun/runc leave when their pods were not deleted through the agent.
  const layout = readCgroupLayout();
  for (const h of t.hosts) {
    for (const uid of dirsIn(join(h.dataDir, 'pods'))) {
      const parent = podCgroupParent(uid);
      if (cgroupDirs(layout, parent).some((d) => existsSync(d))) {
        left.push(`cgroup left: ${parent}`);
        for (const d of removeCgroupTree(layout, parent)) left.push(`cgroup still busy: ${d}`);
      }
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === t.dir || m.startsWith(`${t.dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    left.push(`mount left: ${m}`);
    run('umount', ['-l', m]);
  }

  // The expected teardown: each veth pair goes with its root side (deleting it explicitly does not
  // wait for the kernel's asynchronous namespace cleanup), then the namespaces and the bridge.
  for (const h of t.hosts) if (linkExists(h.veth)) run('ip', ['link', 'delete', h.veth]);
  for (const ns of namespaces(patterns.netns)) {
    const r = run('ip', ['netns', 'delete', ns]);
    if (r.status !== 0) left.push(`cannot delete netns ${ns}: ${r.stderr.trim()}`);
  }
  if (linkExists(t.bridge)) run('ip', ['link', 'delete', t.bridge]);
  // Links of ours that should have been gone by now (a host beyond the state file, say).
  for (const l of [...linksMatching(patterns.veth), ...linksMatching(patterns.bridge)]) {
    left.push(`link left: ${l}`);
    run('ip', ['link', 'delete', l]);
  }
  // Nothing of the cluster writes nftables rules in the root namespace (each agent's NAT table
  // lives in its host's namespace); a table named after the cluster would be a leak.
  const nft = tool('nft');
  if (nft) {
    const ours = new RegExp(`(skul|skh|skp)${t.tag}(?![a-z0-9])|(skul|skh|skp)${t.tag}[-vh]\\d`);
    const tables = spawnSync(nft, ['list', 'tables'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of tables.split('\n')) {
      const [, family, name] = line.trim().split(/\s+/);
      if (family && name && ours.test(name)) {
        left.push(`nft table left: ${family} ${name}`);
        spawnSync(nft, ['delete', 'table', family, name]);
      }
    }
  }
  return left;
}
