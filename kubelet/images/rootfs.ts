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
  // The image's init layer on top: the mount points the runtime binds the pod's files onto exist
  // already, so creating them neither copies /etc up into every container's upper dir nor makes
  // directories there.
  lowers.unshift(await initLayer(store, image, lowers));
  for (const d of [m.upper, m.work, m.rootfs]) await fsp.mkdir(d, { recursive: true, mode: 0o755 });
  const data = `lowerdir=${lowers.join(':')},upperdir=${m.upper},workdir=${m.work}`;
  if (data.length > MAX_MOUNT_DATA) throw new Error(`image has too many layers (${lowers.length}) for one overlay mount's option string (${data.length} > ${MAX_MOUNT_DATA} bytes)`);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', data, m.rootfs]);
  return m;
}

const INIT_DIRS = ['etc', 'proc', 'sys', 'dev', 'dev/pts', 'dev/shm', 'dev/mqueue'];
const INIT_FILES = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf'];
/**
 * Mount points nearly every pod container gets whose place depends on the image: the service
 * account volume (Kubernetes' admission adds it to every pod). Made where the image's own symlinks
 * lead (/var/run is often a link to /run), never as a directory over one of them.
 */
const IMAGE_MOUNT_POINTS = ['var/run/secrets/kubernetes.io/serviceaccount'];

/**
 * The image's init layer (docker's idea, one per layer chain rather than per container): empty
 * files and dirs every container gets bind mounts or special filesystems on. Built once, into a
 * temp dir renamed into place, so a half-made one is never used.
 */
async function initLayer(store: ImageStore, image: ImageRecord, lowers: string[]): Promise<string> {
  const dir = join(store.root, 'snapshots', store.initLayerName(image));
  if (await fsp.stat(dir).then(() => true, () => false)) return dir;
  // Containers of one image starting together build it once.
  let building = initBuilds.get(dir);
  if (!building) {
    building = buildInitLayer(store, image, lowers, dir).finally(() => initBuilds.delete(dir));
    initBuilds.set(dir, building);
  }
  return building;
}

const initBuilds = new Map<string, Promise<string>>();

async function buildInitLayer(store: ImageStore, image: ImageRecord, lowers: string[], dir: string): Promise<string> {
  // A temp dir of its own (another process may build the same layer), renamed into place.
  const tmp = await fsp.mkdtemp(join(store.root, 'snapshots', `.${store.initLayerName(image)}-`));
  try {
    for (const d of INIT_DIRS) await fsp.mkdir(join(tmp, d), { recursive: true, mode: 0o755 });
    for (const f of INIT_FILES) await fsp.writeFile(join(tmp, f), '', { mode: 0o644 });
    for (const p of await imagePaths(store, lowers, IMAGE_MOUNT_POINTS)) {
      await fsp.mkdir(join(tmp, p.path), { recursive: true, mode: 0o755 });
      // The topmost copy of a directory decides its owner and mode in the merged tree: the ones
      // the image has keep theirs (a /run made group-writable for an arbitrary user stays so).
      for (const a of p.existing) {
        await fsp.chown(join(tmp, a.path), a.uid, a.gid);
        await fsp.chmod(join(tmp, a.path), a.mode & 0o7777);
      }
    }
    await fsp.rename(tmp, dir);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    // Another process made it first.
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (e as NodeJS.ErrnoException).code === 'EEXIST') return dir;
    throw e;
  }
  return dir;
}

/**
 * Where each path lies in the image once its symlinks are followed (inside the image's root), as
 * seen through a read-only overlay of its layers, with the owner and mode of the directories the
 * image has on the way; paths that cross a file are left out.
 */
async function imagePaths(store: ImageStore, lowers: string[], paths: string[]): Promise<ImagePath[]> {
  const view = await fsp.mkdtemp(join(store.root, 'snapshots', '.view-'));
  const spare = `${view}-empty`;
  try {
    await fsp.mkdir(spare);
    // A mount of lower dirs alone needs two of them.
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[...lowers, spare].join(':')}`, view]);
    try {
      const out: ImagePath[] = [];
      for (const p of paths) {
        const r = await resolveInRoot(view, p);
        if (r === undefined) continue;
        const existing: ImagePath['existing'] = [];
        const parts = r.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const sub = parts.slice(0, i).join('/');
          const st = await fsp.lstat(join(view, sub)).catch(() => undefined);
          if (!st) break;
          existing.push({ path: sub, uid: st.uid, gid: st.gid, mode: st.mode });
        }
        out.push({ path: r, existing });
      }
      return out;
    } finally {
      // A view still mounted must not be removed (it is read-only; rm would fail on it anyway).
      await run('umount', [view]).catch(() => run('umount', ['-l', view]));
    }
  } finally {
    await fsp.rm(view, { recursive: true, force: true });
    await fsp.rm(spare, { recursive: true, force: true });
  }
}

interface ImagePath {
  /** where the path lies in the image, symlinks followed */
  path: string;
  /** its leading directories the image has, with their owner and mode */
  existing: { path: string; uid: number; gid: number; mode: number }[];
}

/**
 * Follows rel's symlinks inside root, as a chroot would ("/" and ".." stop at root). Returns the
 * path without symlinks, relative to root (missing tail components included), or undefined when a
 * component is a file or the links loop.
 */
export async function resolveInRoot(root: string, rel: string): Promise<string | undefined> {
  let todo = rel.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const st = await fsp.lstat(join(root, ...done, c)).catch(() => undefined);
    if (!st || st.isDirectory()) {
      done.push(c);
      continue;
    }
    if (!st.isSymbolicLink() || ++links > 40) return undefined;
    const target = await fsp.readlink(join(root, ...done, c));
    if (target.startsWith('/')) done.length = 0;
    todo = [...target.split('/').filter((x) => x && x !== '.'), ...todo];
  }
  return done.join('/');
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
