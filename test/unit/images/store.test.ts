import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ImageStore, ImageInUseError, ImageNotFoundError, importOciLayout, importDockerArchive, importPath, DigestMismatchError } from '../../../kubelet/images/index.js';
import { buildBusybox, cleanup, isRoot, ROOT_SKIP_NOTE, sha256, tar, tempDir, writeOciLayout } from './helpers.js';

const rootTest = isRoot ? test : test.skip;
if (!isRoot) console.log(`image store tests: ${ROOT_SKIP_NOTE}`);

interface Fixture {
  dir: string;
  layout: string;
  index: { manifests: Array<{ digest: string }> };
}

function fixture(tag: string): Fixture {
  const dir = tempDir(tag);
  const layout = buildBusybox(dir);
  return { dir, layout, index: JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) };
}

rootTest('import the hack/ busybox OCI layout; names resolve the Docker way', async (t) => {
  const f = fixture('oci');
  t.teardown(() => cleanup(f.dir));
  const store = await ImageStore.open(join(f.dir, 'store'));
  const r = await importOciLayout(store, f.layout);
  t.is(r.images.length, 1);
  const img = r.images[0]!;
  const manifest = f.index.manifests[0]!.digest;
  t.is(img.manifestDigest, manifest);
  t.deepEqual(img.names, ['docker.io/library/busybox:latest']);
  t.deepEqual(img.config.Cmd, ['sh']);
  t.true(img.config.Env!.some((e) => e.startsWith('PATH=')));
  t.is(r.progress.layersUnpacked, 1);
  const snap = store.snapshotPath(img.layers[0]!.diffID);
  t.true(existsSync(join(snap, 'bin/busybox')));
  t.true(existsSync(join(snap, 'bin/sh')));
  for (const ref of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox', `busybox@${manifest}`, manifest, img.id, img.id.slice(7, 19)]) {
    t.is((await store.resolve(ref)).manifestDigest, manifest, ref);
  }
  await t.throwsAsync(store.resolve('busybox:other'), { instanceOf: ImageNotFoundError });
  await t.throwsAsync(store.resolve('localhost:5000/busybox'), { instanceOf: ImageNotFoundError });
  // Importing again reuses the snapshot: each layer is unpacked once.
  const again = await importPath(store, f.layout);
  t.is(again.progress.layersUnpacked, 0);
  t.is(again.progress.layersReused, 1);
  t.is((await store.list()).length, 1);
});

rootTest('docker save archive: imported, layer shared with the OCI import of the same image', async (t) => {
  const f = fixture('docker');
  t.teardown(() => cleanup(f.dir));
  const store = await ImageStore.open(join(f.dir, 'store'));
  const oci = (await importOciLayout(store, f.layout)).images[0]!;
  // Assemble `docker save` output by hand: manifest.json, <config>.json, <id>/layer.tar.
  const layerTar = gunzipSync(readFileSync(store.blobPath(oci.layers[0]!.digest)));
  const config = readFileSync(store.blobPath(oci.id));
  const cfgName = `${oci.id.slice(7)}.json`;
  const layerDir = 'a'.repeat(64);
  const archive = tar(
    { name: `${layerDir}/`, type: '5' },
    { name: `${layerDir}/layer.tar`, data: layerTar },
    { name: cfgName, data: config },
    { name: 'manifest.json', data: JSON.stringify([{ Config: cfgName, RepoTags: ['example.com/tools/bb:1.0'], Layers: [`${layerDir}/layer.tar`] }]) },
  );
  const tarPath = join(f.dir, 'bb.tar');
  writeFileSync(tarPath, archive);
  const r = await importDockerArchive(store, tarPath);
  const img = r.images[0]!;
  t.deepEqual(img.names, ['example.com/tools/bb:1.0']);
  t.is(img.id, oci.id, 'same config, same image ID');
  t.is(img.layers[0]!.diffID, oci.layers[0]!.diffID);
  t.is(img.layers[0]!.digest, sha256(layerTar), 'uncompressed layer stored as is');
  t.is(r.progress.layersReused, 1);
  t.is((await store.resolve('example.com/tools/bb:1.0')).manifestDigest, img.manifestDigest);
  t.is(readdirSync(join(store.root, 'snapshots')).length, 1);
  t.deepEqual(readdirSync(join(store.root, 'tmp')), [], 'staging removed');

  // A docker archive on a fresh store unpacks from the uncompressed layer.
  const fresh = await ImageStore.open(join(f.dir, 'store2'));
  const r2 = await importPath(fresh, tarPath);
  t.is(r2.progress.layersUnpacked, 1);
  t.true(existsSync(join(fresh.snapshotPath(img.layers[0]!.diffID), 'bin/busybox')));
});

rootTest('leases count references; an image in use cannot be removed; removal frees blobs and snapshots', async (t) => {
  const f = fixture('ref');
  t.teardown(() => cleanup(f.dir));
  const store = await ImageStore.open(join(f.dir, 'store'));
  const img = (await importOciLayout(store, f.layout)).images[0]!;
  await store.acquire('busybox', 'ctr-1');
  await store.acquire('busybox:latest', 'ctr-2');
  await store.acquire('busybox', 'ctr-2'); // idempotent per holder
  t.is(await store.refCount('busybox'), 2);
  await t.throwsAsync(store.remove('busybox'), { instanceOf: ImageInUseError, message: /ctr-1/ });
  await t.throwsAsync(store.remove(img.id), { instanceOf: ImageInUseError });
  await store.release('ctr-1');
  await store.release('ctr-1');
  t.is(await store.refCount('busybox'), 1);
  await t.throwsAsync(store.remove('busybox'), { instanceOf: ImageInUseError });
  await store.release('ctr-2');
  t.is(await store.refCount('busybox'), 0);
  await t.throwsAsync(store.acquire('nothere', 'ctr-3'), { instanceOf: ImageNotFoundError });
  await t.throwsAsync(store.acquire('busybox', '../evil'), { message: /invalid lease holder/ });

  // A second name only untags; the last name deletes the image and what only it used.
  writeOciLayout(join(f.dir, 'unused'), [tar({ name: 'x', data: 'x' })], { refName: 'other:1' });
  await importOciLayout(store, join(f.dir, 'unused'));
  const idx = JSON.parse(readFileSync(join(f.layout, 'index.json'), 'utf8'));
  idx.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'mirror.local/bb:2';
  writeFileSync(join(f.layout, 'index.json'), JSON.stringify(idx));
  await importOciLayout(store, f.layout);
  t.deepEqual((await store.resolve('busybox')).names, ['docker.io/library/busybox:latest', 'mirror.local/bb:2']);
  const r1 = await store.remove('mirror.local/bb:2');
  t.deepEqual(r1, { untagged: ['mirror.local/bb:2'], deleted: undefined });
  t.true(existsSync(store.snapshotPath(img.layers[0]!.diffID)));
  const r2 = await store.remove('busybox');
  t.is(r2.deleted, img.manifestDigest);
  t.false(existsSync(store.snapshotPath(img.layers[0]!.diffID)));
  t.false(existsSync(store.blobPath(img.layers[0]!.digest)));
  t.false(existsSync(store.blobPath(img.manifestDigest)));
  t.deepEqual((await store.list()).map((i) => i.names), [['docker.io/library/other:1']]);
});

rootTest('garbage collection deletes unused images, least recently used first', async (t) => {
  const dir = tempDir('gc');
  t.teardown(() => cleanup(dir));
  const store = await ImageStore.open(join(dir, 'store'));
  for (const n of ['a', 'b', 'c']) {
    writeOciLayout(join(dir, n), [tar({ name: `file-${n}`, data: n.repeat(5000) })], { refName: `${n}:1`, gzip: true });
    await importOciLayout(store, join(dir, n));
  }
  await store.acquire('b:1', 'uses-b');
  await store.acquire('a:1', 'uses-a');
  await store.release('uses-a'); // a was used more recently than c
  const r = await store.collectGarbage(1);
  t.is(r.deleted.length, 1);
  t.true(r.freedBytes > 0);
  t.deepEqual((await store.list()).flatMap((i) => i.names).sort(), ['docker.io/library/a:1', 'docker.io/library/b:1']);
  const all = await store.collectGarbage(Number.MAX_SAFE_INTEGER, ['a:1']);
  t.is(all.deleted.length, 0, 'b is in use, a is kept');
});

rootTest('corrupt blobs and wrong diff IDs are refused and leave nothing behind', async (t) => {
  const dir = tempDir('bad');
  t.teardown(() => cleanup(dir));
  const store = await ImageStore.open(join(dir, 'store'));
  const layer = tar({ name: 'f', data: 'content' });
  writeOciLayout(join(dir, 'wrongdiff'), [layer], { refName: 'bad:diff', diffIDs: [sha256('not the layer')] });
  await t.throwsAsync(importOciLayout(store, join(dir, 'wrongdiff')), { instanceOf: DigestMismatchError, message: /diff ID/ });
  t.deepEqual(readdirSync(join(store.root, 'snapshots')), []);
  t.deepEqual(readdirSync(join(store.root, 'tmp')), []);

  const other = tar({ name: 'g', data: 'other content' });
  writeOciLayout(join(dir, 'corrupt'), [other], { refName: 'bad:blob' });
  const blob = join(dir, 'corrupt', 'blobs', 'sha256', sha256(other).slice(7));
  writeFileSync(blob, Buffer.concat([other.subarray(0, 100), Buffer.from('X'), other.subarray(101)]));
  await t.throwsAsync(importOciLayout(store, join(dir, 'corrupt')), { instanceOf: DigestMismatchError });
  t.deepEqual(await store.list(), []);
  await t.throwsAsync(importPath(store, join(dir, 'missing')), { message: /does not exist/ });
});
