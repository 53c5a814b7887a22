// A container's root filesystem: an overlayfs whose lower layers are the image's snapshots (read
// only, shared) and whose upper and work dirs are the container's own, so a new container costs
// a few kilobytes of disk (runtime-notes §1 measured 12 KB for upper+work on ext4).
// Layout of containerDir: upper/, work/, rootfs/ (the mount point).
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ImageRecord, ImageStore } from './store.js';

export interface MountedRootfs {
  /** the merged tree to give the OCI runtime as root.path */
  rootfs: string;
  upper: string;
  work: string;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    execFile(cmd, args, (err, _o, stderr) => (err ? rej(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`)) : res()));
  });
}

/** mount points under path (or path itself) as /proc/self/mountinfo lists them, deepest first */
export async function mountsUnder(path: string): Promise<string[]> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const p = resolve(path);
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map(unescape)
    .filter((m) => m === p || m.startsWith(p + '/'))
    .sort((a, b) => b.length - a.length);
}

// The kernel takes mount options up to one page; every lowerdir path counts.
const MAX_MOUNT_DATA = 4095;

/**
 * Mounts the image's root filesystem for one container. The image's snapshots must exist (they
 * do for every image in the store). Idempotent: an already mounted rootfs is returned as is.
 */
export async function mountRootfs(store: ImageStore, image: ImageRecord, containerDir: string): Promise<MountedRootfs> {
  const dir = resolve(containerDir);
  // overlayfs splits lowerdir on ":" and options on ","; a path with either cannot be mounted.
  if (/[:,\\]/.test(dir)) throw new Error(`container dir "${dir}" contains ":", "," or "\\", which overlayfs options cannot carry`);
  const m: MountedRootfs = { rootfs: join(dir, 'rootfs'), upper: join(dir, 'upper'), work: join(dir, 'work') };
  if ((await mountsUnder(m.rootfs)).includes(m.rootfs)) return m;
  // overlayfs lists lowerdirs top-most first; images list layers bottom first.
  const lowers = image.layers.map((l) => store.snapshotPath(l.diffID)).reverse();
  for (const l of lowers) {
    if (!(await fsp.stat(l).then((s) => s.isDirectory(), () => false))) throw new Error(`image ${image.manifestDigest}: snapshot ${l} is missing (re-import the image)`);
  }
  if (!lowers.length) {
    // An image without layers: an empty read-only base.
    const empty = join(store.root, 'snapshots', 'empty');
    await fsp.mkdir(empty, { recursive: true, mode: 0o755 });
    lowers.push(empty);
  }
  // The shared init layer on top: the mount points the runtime binds the pod's files onto exist
  // already, so creating them does not copy /etc up into every container's upper dir.
  lowers.unshift(await initLayer(store));
  for (const d of [m.upper, m.work, m.rootfs]) await fsp.mkdir(d, { recursive: true, mode: 0o755 });
  const data = `lowerdir=${lowers.join(':')},upperdir=${m.upper},workdir=${m.work}`;
  if (data.length > MAX_MOUNT_DATA) throw new Error(`image has too many layers (${lowers.length}) for one overlay mount's option string (${data.length} > ${MAX_MOUNT_DATA} bytes)`);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', data, m.rootfs]);
  return m;
}

/** Empty files and dirs every container gets bind mounts or special filesystems on (docker's "init layer"). */
async function initLayer(store: ImageStore): Promise<string> {
  const dir = join(store.root, 'snapshots', 'init');
  if (await fsp.stat(join(dir, 'etc', 'resolv.conf')).then(() => true, () => false)) return dir;
  const tmp = `${dir}.${process.pid}.tmp`;
  await fsp.rm(tmp, { recursive: true, force: true });
  for (const d of ['etc', 'proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue']) await fsp.mkdir(join(tmp, d), { recursive: true, mode: 0o755 });
  for (const f of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf']) await fsp.writeFile(join(tmp, f), '', { mode: 0o644 });
  await fsp.rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
    // Another process made it first.
    await fsp.rm(tmp, { recursive: true, force: true });
    if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
  });
  return dir;
}

/**
 * Unmounts the container's rootfs (and anything mounted below it) and, with remove, deletes the
 * container's upper, work and mount-point dirs. Safe to call when nothing is mounted.
 */
export async function unmountRootfs(containerDir: string, opts: { remove?: boolean } = {}): Promise<void> {
  const dir = resolve(containerDir);
  const rootfs = join(dir, 'rootfs');
  for (const mp of await mountsUnder(rootfs)) await run('umount', [mp]);
  if ((await mountsUnder(rootfs)).length) throw new Error(`${rootfs} is still mounted`);
  if (opts.remove) for (const d of ['rootfs', 'upper', 'work']) await fsp.rm(join(dir, d), { recursive: true, force: true });
}
