// Processes of a local cluster by pid, as kept in its state file: the pid alone is not trusted
// (pids are reused), so a process counts as ours only while its command line still names our data
// dir. Works for children of this process and for processes another invocation started.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/** The NUL-separated command line as one string with spaces, or undefined once the process is gone. */
export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

function isZombie(pid: number): boolean {
  try {
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** True while pid runs with `marker` in its command line. */
export function isOurs(pid: number | undefined, marker: string): pid is number {
  if (!pid) return false;
  const cl = cmdline(pid);
  return cl !== undefined && cl.includes(marker) && !isZombie(pid);
}

export function alive(pid: number): boolean {
  return cmdline(pid) !== undefined && !isZombie(pid);
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** SIGTERM, then SIGKILL after graceMs; resolves with 'gone' | 'killed' (needed SIGKILL). */
export async function stopProcess(pid: number, graceMs: number): Promise<'gone' | 'killed'> {
  signal(pid, 'SIGTERM');
  if (await waitGone(pid, graceMs)) return 'gone';
  signal(pid, 'SIGKILL');
  await waitGone(pid, 5000);
  return 'killed';
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function comm(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The inode of a pinned network namespace (what /proc/PID/ns/net links to), or undefined. */
export function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export interface FoundProcess {
  pid: number;
  comm: string;
  why: string;
}

/**
 * Processes of the cluster still alive: conmon/crun/runc/node whose command line names a path
 * under dir, and any process inside one of the given network namespaces (by inode). Never this
 * process or its parent (the CLI is run with the dir on its command line).
 */
export function findClusterProcesses(dir: string, netnsInodes: Map<number, string>): FoundProcess[] {
  const found: FoundProcess[] = [];
  const skip = new Set([process.pid, process.ppid]);
  const underDir = dir.endsWith('/') ? dir : `${dir}/`;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || skip.has(Number(p))) continue;
    const pid = Number(p);
    if (isZombie(pid)) continue;
    const name = comm(p);
    const cl = cmdline(pid);
    if (cl === undefined || cl === '') continue; // kernel threads have no command line
    if (['conmon', 'crun', 'runc', 'node', 'nsenter'].includes(name) && cl.includes(underDir)) {
      found.push({ pid, comm: name, why: `names ${dir}` });
      continue;
    }
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/ns/net`));
      const ns = m ? netnsInodes.get(Number(m[1])) : undefined;
      if (ns) found.push({ pid, comm: name, why: `in netns ${ns}` });
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return found;
}
