// Pod volumes against the real kernel: a memory-backed emptyDir is a tmpfs of the asked size,
// secrets live on tmpfs, tearDown unmounts before removing, hostPath types see real sockets and
// devices. Needs root (mount/umount).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { PodVolumes } from '../../kubelet/volumes/pod-volumes.js';
import { mountsUnder, readMountInfo, unmount } from '../../kubelet/volumes/mounts.js';
import { VolumeError, type ObjectSource } from '../../kubelet/volumes/sources.js';

const notRoot = process.getuid?.() !== 0;

const sources: ObjectSource = {
  async configMap() {
    return undefined;
  },
  async secret(namespace, name) {
    return name === 'creds' ? { kind: 'Secret', metadata: { namespace, name }, data: { token: Buffer.from('t0k3n').toString('base64') } } : undefined;
  },
};

function pod(volumes: unknown[], extra: Record<string, unknown> = {}): KObject {
  return { kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'e2e' }, spec: { containers: [{ name: 'app' }], volumes, ...extra } };
}

function setup(t: { teardown(fn: () => void | Promise<void>): void }) {
  const root = mkdtempSync(join(tmpdir(), 'skiff-e2e-vol-'));
  const volumes = new PodVolumes({ podDir: join(root, 'pod'), sources, nodeName: 'n', hostIP: '127.0.0.1' });
  // unmount whatever a failed test left before removing, so no host mount is recursed into
  t.teardown(async () => {
    for (const mp of await mountsUnder(root)) await unmount(mp);
    rmSync(root, { recursive: true, force: true });
  });
  return { root, volumes, vdir: (plugin: string, name: string) => join(root, 'pod', 'volumes', `kubernetes.io~${plugin}`, name) };
}

if (notRoot) {
  console.log('volume e2e tests skipped: not root');
  test.skip('volume e2e (skipped: not root)', (t) => t.pass());
} else {
  test('memory emptyDir is a tmpfs with sizeLimit; setUp twice mounts once; tearDown unmounts and removes', async (t) => {
    const { root, volumes, vdir } = setup(t);
    const p = pod([{ name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '2Mi' } }, { name: 'disk', emptyDir: {} }]);
    await volumes.setUp(p);
    await volumes.setUp(p);
    const dir = vdir('empty-dir', 'cache');
    const entries = (await readMountInfo()).filter((m) => m.mountPoint === dir);
    t.is(entries.length, 1);
    t.is(entries[0].fsType, 'tmpfs');
    const fs = statfsSync(dir);
    t.is(fs.blocks * fs.bsize, 2 * 1024 * 1024);
    t.is(statSync(dir).mode & 0o777, 0o777);
    writeFileSync(join(dir, 'f'), 'in memory');
    t.deepEqual(await mountsUnder(join(root, 'pod')), [dir]);
    await volumes.tearDown();
    t.deepEqual(await mountsUnder(root), []);
    t.throws(() => statSync(join(root, 'pod', 'volumes')));
    await volumes.tearDown();
  });

  test('memory emptyDir without sizeLimit takes the pod memory limit when every container has one', async (t) => {
    const { volumes, vdir } = setup(t);
    await volumes.setUp(pod([{ name: 'cache', emptyDir: { medium: 'Memory' } }], {
      containers: [{ name: 'a', resources: { limits: { memory: '3Mi' } } }, { name: 'b', resources: { limits: { memory: '1Mi' } } }],
    }));
    const fs = statfsSync(vdir('empty-dir', 'cache'));
    t.is(fs.blocks * fs.bsize, 4 * 1024 * 1024);
    await volumes.tearDown();
  });

  test('secret volumes are on tmpfs; tearDown unmounts them', async (t) => {
    const { root, volumes, vdir } = setup(t);
    await volumes.setUp(pod([{ name: 's', secret: { secretName: 'creds' } }]));
    const dir = vdir('secret', 's');
    t.is((await readMountInfo()).find((m) => m.mountPoint === dir)?.fsType, 'tmpfs');
    t.is(readFileSync(join(dir, 'token'), 'utf8'), 't0k3n');
    await volumes.tearDown();
    t.deepEqual(await mountsUnder(root), []);
  });

  test('fsGroup: emptyDir and secret files are group-owned', async (t) => {
    const { volumes, vdir } = setup(t);
    await volumes.setUp(pod([{ name: 'e', emptyDir: {} }, { name: 's', secret: { secretName: 'creds', defaultMode: 0o400 } }], { securityContext: { fsGroup: 2345 } }));
    const e = statSync(vdir('empty-dir', 'e'));
    t.is(e.gid, 2345);
    t.is(e.mode & 0o7777, 0o2777);
    const f = statSync(join(vdir('secret', 's'), 'token'));
    t.is(f.gid, 2345);
    t.is(f.mode & 0o777, 0o440);
    await volumes.tearDown();
  });

  test('hostPath types against a real socket and devices', async (t) => {
    const { root, volumes } = setup(t);
    const sock = join(root, 'app.sock');
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const ok = [
      { name: 'sock', hostPath: { path: sock, type: 'Socket' } },
      { name: 'null', hostPath: { path: '/dev/null', type: 'CharDevice' } },
    ];
    await volumes.setUp(pod(ok));
    await t.throwsAsync(volumes.setUp(pod([{ name: 'x', hostPath: { path: '/dev/null', type: 'Socket' } }])), {
      instanceOf: VolumeError, message: 'hostPath type check failed: /dev/null is not a socket file',
    });
    await t.throwsAsync(volumes.setUp(pod([{ name: 'x', hostPath: { path: sock, type: 'BlockDevice' } }])), {
      instanceOf: VolumeError, message: `hostPath type check failed: ${sock} is not a block device`,
    });
    await t.throwsAsync(volumes.setUp(pod([{ name: 'x', hostPath: { path: '/dev/null', type: 'File' } }])), {
      message: 'hostPath type check failed: /dev/null is not a file',
    });
    const block = ['/dev/loop0', '/dev/sda', '/dev/vda', '/dev/nvme0n1'].find((d) => {
      try {
        return statSync(d).isBlockDevice();
      } catch {
        return false;
      }
    });
    if (block) await volumes.setUp(pod([{ name: 'b', hostPath: { path: block, type: 'BlockDevice' } }]));
    else t.log('no block device found to check BlockDevice against');
    await volumes.tearDown();
  });
}
