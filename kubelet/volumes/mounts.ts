// Mount points owned by pod volumes (tmpfs for memory-backed emptyDirs and for secrets), found
// through /proc/self/mountinfo so that tear-down unmounts exactly what is there, even after an
// agent restart that forgot what it had mounted.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { VolumeError } from './sources.js';

const run = promisify(execFile);

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

export async function readMountInfo(path = '/proc/self/mountinfo'): Promise<MountEntry[]> {
  const text = await readFile(path, 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (fields.length < 5 || sep < 0) continue;
    out.push({ mountPoint: unescapeMountPath(fields[4]), fsType: fields[sep + 1] ?? '' });
  }
  return out;
}

export async function isMountPoint(dir: string): Promise<boolean> {
  return (await readMountInfo()).some((m) => m.mountPoint === dir);
}

/** Mount points at or below dir, deepest first (the order they must be unmounted in). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const points = new Set((await readMountInfo()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(prefix)));
  return [...points].sort((a, b) => b.length - a.length);
}

function commandError(e: unknown): string {
  const err = e as { stderr?: string; message: string };
  return (err.stderr ?? '').trim() || err.message;
}

export async function mountTmpfs(dir: string, opts: { sizeBytes?: number; mode?: number }, volume?: string): Promise<void> {
  const options = [];
  if (opts.sizeBytes !== undefined) options.push(`size=${opts.sizeBytes}`);
  options.push(`mode=${(opts.mode ?? 0o777).toString(8).padStart(4, '0')}`);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', options.join(','), 'tmpfs', dir]);
  } catch (e) {
    throw new VolumeError(`mount of tmpfs on ${dir} failed: ${commandError(e)}`, volume === undefined ? {} : { volume });
  }
}

export async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir]);
  } catch (e) {
    // a mount another process still holds busy is detached lazily rather than left behind
    try {
      await run('umount', ['-l', dir]);
    } catch {
      throw new VolumeError(`unmount of ${dir} failed: ${commandError(e)}`, { reason: 'FailedUnMount' });
    }
  }
}
