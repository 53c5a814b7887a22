import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore, importOciLayout, mountRootfs, unmountRootfs } from '../../../kubelet/images/index.js';
import { resolveInRoot } from '../../../kubelet/images/rootfs.js';
import { buildBusybox, cleanup, isRoot, mountedUnder, ROOT_SKIP_NOTE, tar, tempDir, writeOciLayout } from './helpers.js';

const rootTest = isRoot ? test.serial : test.skip;
if (!isRoot) console.log(`overlay rootfs tests: ${ROOT_SKIP_NOTE}`);

const dirs: string[] = [];
function dir(tag: string): string {
  const d = tempDir(tag);
  dirs.push(d);
  return d;
}

// Whatever a failing test left mounted must not outlive the run.
test.after.always(() => {
  for (const d of dirs) {
    for (const m of mountedUnder(d)) execFileSync('umount', ['-l', m]);
    cleanup(d);
  }
});

rootTest('whiteouts and opaque dirs hide lower layers in the mounted rootfs', async (t) => {
  const d = dir('wh');
  const lower = tar(
    { name: 'd/', type: '5' },
    { name: 'd/a', data: 'a' },
    { name: 'd/b', data: 'b' },
    { name: 'f', data: 'f' },
    { name: 'o/', type: '5' },
    { name: 'o/x', data: 'x' },
    { name: 'o/sub/deep', data: 'deep' },
    { name: 'r/', type: '5' },
    { name: 'r/old', data: 'old' },
    { name: 'keep', data: 'keep' },
  );
  const upper = tar(
    { name: '.wh.f', data: '' },
    { name: 'd/.wh.a', data: '' },
    { name: 'o/.wh..wh..opq', data: '' },
    { name: 'o/y', data: 'y' },
    // Whited out and re-created in the same layer: the new dir must not show the old contents.
    { name: '.wh.r', data: '' },
    { name: 'r/', type: '5' },
    { name: 'r/new', data: 'new' },
    { name: '.wh.never-existed', data: '' },
  );
  writeOciLayout(join(d, 'oci'), [lower, upper], { refName: 'wh:test', gzip: true });
  const store = await ImageStore.open(join(d, 'store'));
  const img = (await importOciLayout(store, join(d, 'oci'))).images[0]!;
  const snap = store.snapshotPath(img.layers[1]!.diffID);
  const wh = lstatSync(join(snap, 'f'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.true(lstatSync(join(snap, 'd/a')).isCharacterDevice());
  t.false(existsSync(join(snap, '.wh.f')));
  t.is(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(snap, 'o')], { encoding: 'utf8' }), 'y');
  t.is(execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(snap, 'r')], { encoding: 'utf8' }), 'y');

  const m = await mountRootfs(store, img, join(d, 'ctr'));
  t.false(existsSync(join(m.rootfs, 'f')));
  t.deepEqual(readdirSync(join(m.rootfs, 'd')), ['b']);
  t.deepEqual(readdirSync(join(m.rootfs, 'o')), ['y']);
  t.deepEqual(readdirSync(join(m.rootfs, 'r')), ['new']);
  t.false(existsSync(join(m.rootfs, 'never-existed')));
  t.is(readFileSync(join(m.rootfs, 'keep'), 'utf8'), 'keep');
  await unmountRootfs(join(d, 'ctr'), { remove: true });
  t.deepEqual(mountedUnder(d), []);
});

rootTest('busybox rootfs: runs, costs at most 12 KB of upper+work, writes stay in the container', async (t) => {
  const d = dir('rootfs');
  const layout = buildBusybox(d);
  const store = await ImageStore.open(join(d, 'store'));
  const img = (await importOciLayout(store, layout)).images[0]!;
  const c1 = join(d, 'containers', 'c1');
  const c2 = join(d, 'containers', 'c2');
  const m1 = await mountRootfs(store, img, c1);
  const m2 = await mountRootfs(store, img, c2);
  t.is((await mountRootfs(store, img, c1)).rootfs, m1.rootfs, 'mounting again is a no-op');
  t.deepEqual(mountedUnder(join(d, 'containers')).sort(), [m1.rootfs, m2.rootfs]);

  const du = Number(execFileSync('du', ['-sk', m1.upper, m1.work], { encoding: 'utf8' }).split('\n').filter(Boolean).reduce((a, l) => a + Number(l.split('\t')[0]), 0));
  t.log(`new container upper+work: ${du} KB`);
  t.true(du <= 12, `upper+work = ${du} KB`);

  t.is(execFileSync('chroot', [m1.rootfs, '/bin/sh', '-c', 'echo hi from $(busybox | head -1 | cut -d" " -f1)'], { encoding: 'utf8' }), 'hi from BusyBox\n');
  writeFileSync(join(m1.rootfs, 'etc/only-c1'), 'x');
  t.true(existsSync(join(m1.upper, 'etc/only-c1')));
  t.false(existsSync(join(m2.rootfs, 'etc/only-c1')), 'containers share the snapshot, not their writes');
  t.false(existsSync(join(store.snapshotPath(img.layers[0]!.diffID), 'etc/only-c1')));

  await unmountRootfs(c1, { remove: true });
  await unmountRootfs(c2);
  await unmountRootfs(c2, { remove: true }); // nothing mounted any more: fine
  t.deepEqual(mountedUnder(d), []);
  t.false(existsSync(c1 + '/upper'));
  await t.throwsAsync(mountRootfs(store, img, join(d, 'bad:dir')), { message: /overlayfs options/ });
});

test('resolveInRoot follows symlinks inside the root, like a chroot', async (t) => {
  const d = dir('resolve');
  const { mkdirSync, symlinkSync } = await import('node:fs');
  mkdirSync(join(d, 'run'), { recursive: true });
  mkdirSync(join(d, 'var'), { recursive: true });
  symlinkSync('/run', join(d, 'var/run'));
  symlinkSync('../../../../etc', join(d, 'up'));
  symlinkSync('loop', join(d, 'loop'));
  writeFileSync(join(d, 'file'), 'x');
  t.is(await resolveInRoot(d, 'var/run/secrets/kubernetes.io/serviceaccount'), 'run/secrets/kubernetes.io/serviceaccount');
  t.is(await resolveInRoot(d, 'missing/a/b'), 'missing/a/b');
  t.is(await resolveInRoot(d, 'up/x'), 'etc/x', '.. stops at the root');
  t.is(await resolveInRoot(d, 'loop/x'), undefined, 'a link loop');
  t.is(await resolveInRoot(d, 'file/x'), undefined, 'a file in the way');
});

rootTest('the init layer puts the service account mount point where the image links it, keeping the link; a new container stays at 12 KB', async (t) => {
  const d = dir('initlayer');
  const layer = tar(
    { name: 'bin/', type: '5' },
    // group-writable and owned by a group of its own, as images for arbitrary user ids do it
    { name: 'run/', type: '5', mode: 0o2775, gid: 1234 },
    { name: 'var/', type: '5' },
    { name: 'var/run', type: '2', linkname: '/run' },
  );
  writeOciLayout(join(d, 'oci'), [layer], { refName: 'links:test', gzip: true });
  const store = await ImageStore.open(join(d, 'store'));
  const img = (await importOciLayout(store, join(d, 'oci'))).images[0]!;
  // Two containers of a new image at once: the init layer is built once and both get it.
  const [m, m2] = await Promise.all([mountRootfs(store, img, join(d, 'containers', 'c')), mountRootfs(store, img, join(d, 'containers', 'c2'))]);
  t.true(lstatSync(join(m2.rootfs, 'run/secrets/kubernetes.io/serviceaccount')).isDirectory());
  await unmountRootfs(join(d, 'containers', 'c2'), { remove: true });
  t.true(lstatSync(join(m.rootfs, 'var/run')).isSymbolicLink(), '/var/run is still the image\'s link');
  const run = lstatSync(join(m.rootfs, 'run'));
  t.is(run.mode & 0o7777, 0o2775, "/run keeps the image's mode");
  t.is(run.gid, 1234, "/run keeps the image's group");
  t.true(lstatSync(join(m.rootfs, 'run/secrets/kubernetes.io/serviceaccount')).isDirectory());
  const du = Number(execFileSync('du', ['-sk', m.upper, m.work], { encoding: 'utf8' }).split('\n').filter(Boolean).reduce((a, l) => a + Number(l.split('\t')[0]), 0));
  t.true(du <= 12, `upper+work = ${du} KB`);
  t.deepEqual(readdirSync(join(d, 'store', 'snapshots')).filter((f) => f.startsWith('.')), [], 'no temp dir of the build is left');
  await unmountRootfs(join(d, 'containers', 'c'), { remove: true });
});
