// Where a cgroup path lives on this host (cgroup v1, hybrid or v2) and the few files the runtime
// reads back: memory limit and OOM kills. The runtime binary creates the cgroups; skiff only reads
// them and removes the per-pod parents that crun and runc leave behind.
import { readFileSync, readdirSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupMode = 'v1' | 'hybrid' | 'v2';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 hierarchies: controller name (or name=systemd) → mount point */
  v1: Map<string, string>;
  /** the cgroup2 mount point, if any (/sys/fs/cgroup on v2, /sys/fs/cgroup/unified on hybrid) */
  unified?: string;
}

export function readCgroupLayout(mountsText = readFileSync('/proc/self/mounts', 'utf8')): CgroupLayout {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of mountsText.split('\n')) {
    const [, mountPoint, fsType, options] = line.split(' ');
    if (fsType === 'cgroup2') unified ??= mountPoint;
    else if (fsType === 'cgroup') {
      for (const opt of options.split(',')) {
        if (KNOWN_V1.has(opt) || opt.startsWith('name=')) v1.set(opt, mountPoint);
      }
    }
  }
  const mode: CgroupMode = v1.size === 0 ? 'v2' : unified ? 'hybrid' : 'v1';
  return { mode, v1, unified };
}

const KNOWN_V1 = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc']);

/** Controllers enabled in the cgroup2 hierarchy (hybrid: those no v1 hierarchy binds). */
export function unifiedControllers(layout: CgroupLayout): string[] {
  if (!layout.unified) return [];
  try {
    return readFileSync(join(layout.unified, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Every directory that represents cgroupsPath on this host, one per hierarchy. */
export function cgroupDirs(layout: CgroupLayout, cgroupsPath: string): string[] {
  const rel = cgroupsPath.replace(/^\/+/, '');
  const dirs = new Set<string>();
  for (const mp of layout.v1.values()) dirs.add(join(mp, rel));
  if (layout.unified) dirs.add(join(layout.unified, rel));
  return [...dirs];
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** memory.max (v2) or memory.limit_in_bytes (v1); undefined when there is no limit or no cgroup. */
export function readMemoryLimit(layout: CgroupLayout, cgroupsPath: string): number | undefined {
  const rel = cgroupsPath.replace(/^\/+/, '');
  const v1 = layout.v1.get('memory');
  const raw = v1
    ? readOrUndefined(join(v1, rel, 'memory.limit_in_bytes'))
    : layout.unified
      ? readOrUndefined(join(layout.unified, rel, 'memory.max'))
      : undefined;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === 'max') return undefined;
  const n = Number(text);
  // v1 reports "no limit" as a page-rounded LONG_MAX.
  return n >= 2 ** 62 ? undefined : n;
}

/** OOM kills recorded by the memory controller for this cgroup (0 when it cannot tell). */
export function oomKillCount(layout: CgroupLayout, cgroupsPath: string): number {
  const rel = cgroupsPath.replace(/^\/+/, '');
  const v1 = layout.v1.get('memory');
  const text = v1
    ? readOrUndefined(join(v1, rel, 'memory.oom_control'))
    : layout.unified
      ? readOrUndefined(join(layout.unified, rel, 'memory.events'))
      : undefined;
  const m = text && /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Removes cgroupsPath and everything under it in every hierarchy, deepest first. Only empty
 * cgroups can go; a cgroup that still has processes is left and reported.
 */
export function removeCgroupTree(layout: CgroupLayout, cgroupsPath: string): string[] {
  const left: string[] = [];
  for (const dir of cgroupDirs(layout, cgroupsPath)) removeDir(dir, left);
  return left;
}

function removeDir(dir: string, left: string[]): void {
  if (!existsSync(dir)) return;
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const child of entries) removeDir(join(dir, child), left);
  try {
    rmdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left.push(dir);
  }
}
