// Image garbage collection under disk pressure: the threshold maths, and a collection that frees
// unused images while a leased (in use) one stays, with DiskPressure reported while still over.
import test from 'ava';
import { join } from 'node:path';
import { ImageStore, importOciLayout } from '../../../kubelet/images/index.js';
import { bytesToFree, diskUsage, ImageGC } from '../../../kubelet/image-gc.js';
import { logger } from '../../../pkg/log/logger.js';
import { cleanup, isRoot, tar, tempDir, writeOciLayout } from './helpers.js';

const rootTest = isRoot ? test : test.skip;

test('bytesToFree: nothing under the high threshold; down to the low one above it', (t) => {
  const total = 1000;
  t.is(bytesToFree({ totalBytes: total, usedBytes: 849 }, 85, 80), 0);
  t.is(bytesToFree({ totalBytes: total, usedBytes: 850 }, 85, 80), 50);
  t.is(bytesToFree({ totalBytes: total, usedBytes: 990 }, 85, 80), 190);
  t.is(bytesToFree({ totalBytes: 0, usedBytes: 0 }, 85, 80), 0);
});

test('diskUsage reads the filesystem of a path', async (t) => {
  const dir = tempDir('du');
  t.teardown(() => cleanup(dir));
  const u = await diskUsage(dir);
  t.true(u.totalBytes > 0 && u.usedBytes > 0 && u.usedBytes <= u.totalBytes);
});

rootTest('over the threshold, unused images go and a leased one stays; DiskPressure while still over', async (t) => {
  const dir = tempDir('gc-pressure');
  t.teardown(() => cleanup(dir));
  const store = await ImageStore.open(join(dir, 'store'));
  for (const n of ['kept', 'old']) {
    writeOciLayout(join(dir, n), [tar({ name: `file-${n}`, data: n.repeat(4000) })], { refName: `${n}:1`, gzip: true });
    await importOciLayout(store, join(dir, n));
  }
  await store.acquire('kept:1', 'container-x');
  // Thresholds of 0 %: the disk is always "full", so everything unused is collected.
  const gc = new ImageGC({ store, highPercent: 0, lowPercent: 0, log: logger('test') });
  await gc.check();
  t.deepEqual((await store.list()).flatMap((i) => i.names), ['docker.io/library/kept:1']);
  t.true(gc.diskPressure, 'still over the threshold: the node reports DiskPressure');
  const calm = new ImageGC({ store, highPercent: 100, lowPercent: 99, log: logger('test') });
  await calm.check();
  t.false(calm.diskPressure);
  t.is((await store.list()).length, 1);
});
