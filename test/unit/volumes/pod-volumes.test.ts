import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../../pkg/api/types.js';
import { PodVolumes } from '../../../kubelet/volumes/pod-volumes.js';
import { VolumeError, type ObjectSource } from '../../../kubelet/volumes/sources.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** ConfigMaps and Secrets held in a Map: the test data the volumes are made from. */
class MapObjectSource implements ObjectSource {
  readonly objects = new Map<string, KObject>();

  putConfigMap(namespace: string, name: string, data: Record<string, string>, binaryData?: Record<string, string>): void {
    const obj: KObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name }, data };
    if (binaryData) obj.binaryData = binaryData;
    this.objects.set(`ConfigMap/${namespace}/${name}`, obj);
  }

  /** values given in clear, stored base64 as the API does */
  putSecret(namespace: string, name: string, values: Record<string, string>): void {
    const data = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.objects.set(`Secret/${namespace}/${name}`, { apiVersion: 'v1', kind: 'Secret', metadata: { namespace, name }, data });
  }

  delete(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): void {
    this.objects.delete(`${kind}/${namespace}/${name}`);
  }

  async configMap(namespace: string, name: string): Promise<KObject | undefined> {
    return this.objects.get(`ConfigMap/${namespace}/${name}`);
  }

  async secret(namespace: string, name: string): Promise<KObject | undefined> {
    return this.objects.get(`Secret/${namespace}/${name}`);
  }
}

function setup(t: { teardown(fn: () => void): void }) {
  const root = mkdtempSync(join(tmpdir(), 'skiff-vol-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const podDir = join(root, 'pods', 'uid-1');
  const sources = new MapObjectSource();
  const volumes = new PodVolumes({ podDir, sources, nodeName: 'node-a', hostIP: '10.0.0.1', secretsInMemory: false, allocatable: { cpu: '4', memory: '8Gi' } });
  return { root, podDir, sources, volumes, vdir: (plugin: string, name: string) => join(podDir, 'volumes', `kubernetes.io~${plugin}`, name) };
}

function pod(volumes: Json[], containers: Json[] = [{ name: 'app', image: 'busybox' }], extra: Json = {}): KObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'ns1', uid: 'uid-1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'say "hi"' } },
    spec: { containers, volumes, ...extra },
  };
}

const read = (p: string) => readFileSync(p, 'utf8');
const mode = (p: string) => statSync(p).mode & 0o7777;

test('emptyDir: a world-writable directory under the kubelet plugin dir', async (t) => {
  const { volumes, vdir } = setup(t);
  await volumes.setUp(pod([{ name: 'scratch', emptyDir: {} }]));
  const dir = vdir('empty-dir', 'scratch');
  t.true(statSync(dir).isDirectory());
  if (process.getuid?.() !== 0) t.is(mode(dir), 0o777);
});

test('configMap: all keys with defaultMode 0644, binaryData decoded', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { 'app.conf': 'port=80\n', other: 'x' }, { 'bin.dat': Buffer.from([0, 1, 2]).toString('base64') });
  await volumes.setUp(pod([{ name: 'config', configMap: { name: 'cfg' } }]));
  const dir = vdir('configmap', 'config');
  t.is(read(join(dir, 'app.conf')), 'port=80\n');
  t.is(read(join(dir, 'other')), 'x');
  t.deepEqual([...readFileSync(join(dir, 'bin.dat'))], [0, 1, 2]);
  t.is(mode(join(dir, 'app.conf')), 0o644);
  t.is(readlinkSync(join(dir, 'app.conf')), '..data/app.conf');
});

test('configMap items: key→path with per-item mode and defaultMode', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A', b: 'B', c: 'C' });
  await volumes.setUp(pod([{ name: 'config', configMap: { name: 'cfg', defaultMode: 0o440, items: [{ key: 'a', path: 'nested/dir/a.txt', mode: 0o600 }, { key: 'b', path: 'b.txt' }] } }]));
  const dir = vdir('configmap', 'config');
  t.is(read(join(dir, 'nested/dir/a.txt')), 'A');
  t.is(mode(join(dir, 'nested/dir/a.txt')), 0o600);
  t.is(read(join(dir, 'b.txt')), 'B');
  t.is(mode(join(dir, 'b.txt')), 0o440);
  t.false(existsSync(join(dir, 'c')));
});

test('configMap: missing object and missing item key are errors unless optional', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  const missing = await t.throwsAsync(volumes.setUp(pod([{ name: 'config', configMap: { name: 'nope' } }])), { instanceOf: VolumeError });
  t.is(missing.message, 'configmap "nope" not found');
  t.is(missing.reason, 'FailedMount');
  t.is(missing.volume, 'config');
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  await t.throwsAsync(volumes.setUp(pod([{ name: 'config', configMap: { name: 'cfg', items: [{ key: 'zz', path: 'zz' }] } }])), {
    message: 'configmap references non-existent config key: zz',
  });
  await volumes.setUp(pod([
    { name: 'opt', configMap: { name: 'nope', optional: true } },
    { name: 'optkey', configMap: { name: 'cfg', optional: true, items: [{ key: 'zz', path: 'zz' }, { key: 'a', path: 'a' }] } },
  ]));
  t.true(statSync(vdir('configmap', 'opt')).isDirectory());
  t.is(read(join(vdir('configmap', 'optkey'), 'a')), 'A');
  t.false(existsSync(join(vdir('configmap', 'optkey'), 'zz')));
});

test('configMap items with a path escaping the volume are refused', async (t) => {
  const { volumes, sources } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  const err = await t.throwsAsync(volumes.setUp(pod([{ name: 'config', configMap: { name: 'cfg', items: [{ key: 'a', path: '../../escape' }] } }])), { instanceOf: VolumeError });
  t.regex(err.message, /\.\./);
});

test('secret: base64 data decoded, items and modes, not-found message', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putSecret('ns1', 'creds', { username: 'admin', password: 's3cr3t' });
  await volumes.setUp(pod([
    { name: 'all', secret: { secretName: 'creds' } },
    { name: 'some', secret: { secretName: 'creds', defaultMode: 0o400, items: [{ key: 'password', path: 'pw' }] } },
  ]));
  t.is(read(join(vdir('secret', 'all'), 'username')), 'admin');
  t.is(mode(join(vdir('secret', 'all'), 'password')), 0o644);
  t.is(read(join(vdir('secret', 'some'), 'pw')), 's3cr3t');
  t.is(mode(join(vdir('secret', 'some'), 'pw')), 0o400);
  const err = await t.throwsAsync(volumes.setUp(pod([{ name: 's', secret: { secretName: 'gone' } }])), { instanceOf: VolumeError });
  t.is(err.message, 'secret "gone" not found');
  await t.throwsAsync(volumes.setUp(pod([{ name: 's', secret: { secretName: 'creds', items: [{ key: 'nokey', path: 'x' }] } }])), {
    message: 'references non-existent secret key: nokey',
  });
  await volumes.setUp(pod([{ name: 's2', secret: { secretName: 'gone', optional: true } }]));
  t.true(statSync(vdir('secret', 's2')).isDirectory());
});

test('downwardAPI: metadata fields, labels/annotations format and resourceFieldRef with divisor', async (t) => {
  const { volumes, vdir } = setup(t);
  const containers = [{ name: 'app', resources: { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '100m' } } }, { name: 'side' }];
  await volumes.setUp(pod([{
    name: 'info',
    downwardAPI: {
      items: [
        { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
        { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
        { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' }, mode: 0o600 },
        { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } },
        { path: 'cpu_limit_m', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' } },
        { path: 'cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
        { path: 'mem_limit_mi', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
        { path: 'side_mem_limit', resourceFieldRef: { containerName: 'side', resource: 'limits.memory' } },
      ],
    },
  }], containers));
  const dir = vdir('downward-api', 'info');
  t.is(read(join(dir, 'name')), 'web-1');
  t.is(read(join(dir, 'namespace')), 'ns1');
  t.is(read(join(dir, 'uid')), 'uid-1');
  t.is(read(join(dir, 'labels')), 'app="web"\ntier="front"');
  t.is(read(join(dir, 'annotations')), 'note="say \\"hi\\""');
  t.is(mode(join(dir, 'annotations')), 0o600);
  t.is(read(join(dir, 'tier')), 'front');
  t.is(read(join(dir, 'cpu_limit_m')), '250');
  t.is(read(join(dir, 'cpu_limit')), '1');
  t.is(read(join(dir, 'mem_limit_mi')), '64');
  // no limit: the node's allocatable
  t.is(read(join(dir, 'side_mem_limit')), String(8 * 1024 ** 3));
});

test('downwardAPI: an unsupported field is a VolumeError', async (t) => {
  const { volumes } = setup(t);
  await t.throwsAsync(volumes.setUp(pod([{ name: 'info', downwardAPI: { items: [{ path: 'x', fieldRef: { fieldPath: 'spec.nodeName' } }] } }])), {
    instanceOf: VolumeError, message: /unsupported fieldPath: spec.nodeName/,
  });
});

test('projected: configMap, secret and downwardAPI sources in one directory; serviceAccountToken is refused', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  sources.putSecret('ns1', 'sec', { token: 'T' });
  await volumes.setUp(pod([{
    name: 'all-in-one',
    projected: {
      defaultMode: 0o440,
      sources: [
        { configMap: { name: 'cfg', items: [{ key: 'a', path: 'config/a' }] } },
        { secret: { name: 'sec', items: [{ key: 'token', path: 'secret/token', mode: 0o400 }] } },
        { downwardAPI: { items: [{ path: 'podname', fieldRef: { fieldPath: 'metadata.name' } }] } },
        { configMap: { name: 'absent', optional: true } },
      ],
    },
  }]));
  const dir = vdir('projected', 'all-in-one');
  t.is(read(join(dir, 'config/a')), 'A');
  t.is(mode(join(dir, 'config/a')), 0o440);
  t.is(read(join(dir, 'secret/token')), 'T');
  t.is(mode(join(dir, 'secret/token')), 0o400);
  t.is(read(join(dir, 'podname')), 'web-1');
  const err = await t.throwsAsync(volumes.setUp(pod([{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }])), { instanceOf: VolumeError });
  t.regex(err.message, /serviceAccountToken .*not supported/);
});

test('unsupported volume kinds are VolumeErrors', async (t) => {
  const { volumes } = setup(t);
  await t.throwsAsync(volumes.setUp(pod([{ name: 'data', persistentVolumeClaim: { claimName: 'c' } }])), {
    instanceOf: VolumeError, message: 'persistentVolumeClaim volumes are not supported by this node agent',
  });
});

test('hostPath: type checks and creation as kubelet does', async (t) => {
  const { root, volumes } = setup(t);
  const dir = join(root, 'host-dir');
  const file = join(root, 'host-file');
  mkdirSync(dir);
  writeFileSync(file, 'x');
  await volumes.setUp(pod([
    { name: 'a', hostPath: { path: dir, type: 'Directory' } },
    { name: 'b', hostPath: { path: file, type: 'File' } },
    { name: 'c', hostPath: { path: join(root, 'made/deep'), type: 'DirectoryOrCreate' } },
    { name: 'd', hostPath: { path: join(root, 'made-file'), type: 'FileOrCreate' } },
    { name: 'e', hostPath: { path: join(root, 'anything') } },
    { name: 'f', hostPath: { path: '/dev/null', type: 'CharDevice' } },
  ]));
  t.true(statSync(join(root, 'made/deep')).isDirectory());
  t.true(statSync(join(root, 'made-file')).isFile());
  t.false(existsSync(join(root, 'anything')));
  const cases: [Json, string][] = [
    [{ path: file, type: 'Directory' }, `hostPath type check failed: ${file} is not a directory`],
    [{ path: join(root, 'missing'), type: 'Directory' }, `hostPath type check failed: ${join(root, 'missing')} is not a directory`],
    [{ path: dir, type: 'File' }, `hostPath type check failed: ${dir} is not a file`],
    [{ path: file, type: 'DirectoryOrCreate' }, `hostPath type check failed: ${file} is not a directory`],
    [{ path: file, type: 'Socket' }, `hostPath type check failed: ${file} is not a socket file`],
    [{ path: file, type: 'CharDevice' }, `hostPath type check failed: ${file} is not a character device`],
    [{ path: file, type: 'BlockDevice' }, `hostPath type check failed: ${file} is not a block device`],
    [{ path: file, type: 'Bogus' }, 'Bogus is an invalid volume type'],
  ];
  for (const [hostPath, message] of cases) {
    const err = await t.throwsAsync(volumes.setUp(pod([{ name: 'h', hostPath }])), { instanceOf: VolumeError });
    t.is(err.message, message);
  }
});

test('setUp is idempotent: a second call (agent restart) keeps the same data directory', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  const p = pod([{ name: 'config', configMap: { name: 'cfg' } }, { name: 'scratch', emptyDir: {} }]);
  await volumes.setUp(p);
  writeFileSync(join(vdir('empty-dir', 'scratch'), 'kept'), 'still here');
  const before = readlinkSync(join(vdir('configmap', 'config'), '..data'));
  await volumes.setUp(p);
  t.is(readlinkSync(join(vdir('configmap', 'config'), '..data')), before);
  t.is(read(join(vdir('empty-dir', 'scratch'), 'kept')), 'still here');
});

test('refresh rewrites changed sources atomically and reports whether anything changed', async (t) => {
  const { volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'one' });
  sources.putSecret('ns1', 'sec', { s: 'first' });
  const p = pod([{ name: 'config', configMap: { name: 'cfg' } }, { name: 'sec', secret: { secretName: 'sec' } }, { name: 'scratch', emptyDir: {} }]);
  await volumes.setUp(p);
  t.false(await volumes.refresh(p));
  sources.putConfigMap('ns1', 'cfg', { a: 'two', b: 'new' });
  t.true(await volumes.refresh(p));
  t.is(read(join(vdir('configmap', 'config'), 'a')), 'two');
  t.is(read(join(vdir('configmap', 'config'), 'b')), 'new');
  t.is(read(join(vdir('secret', 'sec'), 's')), 'first');
  t.false(await volumes.refresh(p));
  // a source that vanished is an error, and the last good content stays
  sources.delete('Secret', 'ns1', 'sec');
  await t.throwsAsync(volumes.refresh(p), { message: 'secret "sec" not found' });
  t.is(read(join(vdir('secret', 'sec'), 's')), 'first');
});

test('mountsFor: bind mounts with readOnly rules, subPath and propagation', async (t) => {
  const { root, volumes, sources, vdir } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { 'app.conf': 'x' });
  mkdirSync(join(root, 'host'));
  const container = {
    name: 'app',
    volumeMounts: [
      { name: 'scratch', mountPath: '/scratch' },
      { name: 'scratch', mountPath: '/logs', subPath: 'logs/app' },
      { name: 'config', mountPath: '/etc/app' },
      { name: 'config', mountPath: '/etc/app.conf', subPath: 'app.conf' },
      { name: 'host', mountPath: '/host', readOnly: true, mountPropagation: 'HostToContainer' },
    ],
  };
  const p = pod([{ name: 'scratch', emptyDir: {} }, { name: 'config', configMap: { name: 'cfg' } }, { name: 'host', hostPath: { path: join(root, 'host') } }], [container]);
  await volumes.setUp(p);
  const mounts = volumes.mountsFor(p, container);
  t.is(mounts.length, 5);
  t.deepEqual(mounts[0], { destination: '/scratch', source: vdir('empty-dir', 'scratch'), readOnly: false });
  t.is(mounts[1].source, join(vdir('empty-dir', 'scratch'), 'logs/app'));
  t.true(statSync(mounts[1].source).isDirectory());
  t.deepEqual(mounts[2], { destination: '/etc/app', source: vdir('configmap', 'config'), readOnly: true });
  // a subPath of an atomic-writer volume resolves to the file in the current data dir
  t.true(mounts[3].readOnly);
  t.is(read(mounts[3].source), 'x');
  t.true(mounts[3].source.includes('/..'));
  t.deepEqual(mounts[4], { destination: '/host', source: join(root, 'host'), readOnly: true, propagation: 'HostToContainer' });
});

test('mountsFor: subPathExpr expands with the container env', async (t) => {
  const { volumes, vdir } = setup(t);
  const container = { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/data', subPathExpr: '$(POD_NAME)/$(SUFFIX)' }] };
  const p = pod([{ name: 'scratch', emptyDir: {} }], [container]);
  await volumes.setUp(p);
  const [m] = volumes.mountsFor(p, container, [{ name: 'POD_NAME', value: 'web-1' }, { name: 'SUFFIX', value: 'x-$(POD_NAME)' }]);
  t.is(m.source, join(vdir('empty-dir', 'scratch'), 'web-1/x-web-1'));
});

test('mountsFor errors: unknown volume, escaping subPath, symlink out of the volume, Bidirectional unprivileged', async (t) => {
  const { volumes, vdir } = setup(t);
  const p = pod([{ name: 'scratch', emptyDir: {} }]);
  await volumes.setUp(p);
  t.throws(() => volumes.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }), {
    instanceOf: VolumeError, message: 'cannot find volume "nope" to mount into container "app"',
  });
  t.throws(() => volumes.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/x', subPath: '../../etc' }] }), { instanceOf: VolumeError });
  t.throws(() => volumes.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/x', subPath: '/etc' }] }), { instanceOf: VolumeError });
  symlinkSync('/etc', join(vdir('empty-dir', 'scratch'), 'evil'));
  t.throws(() => volumes.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/x', subPath: 'evil' }] }), {
    instanceOf: VolumeError, message: /outside the volume/,
  });
  t.throws(() => volumes.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/x', mountPropagation: 'Bidirectional' }] }), {
    instanceOf: VolumeError, message: /only to privileged containers/,
  });
  const ok = volumes.mountsFor(p, { name: 'app', securityContext: { privileged: true }, volumeMounts: [{ name: 'scratch', mountPath: '/x', mountPropagation: 'Bidirectional' }] });
  t.is(ok[0].propagation, 'Bidirectional');
});

test('tearDown removes the volumes directory and is idempotent', async (t) => {
  const { podDir, volumes, sources } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  await volumes.setUp(pod([{ name: 'config', configMap: { name: 'cfg' } }, { name: 'scratch', emptyDir: {} }]));
  t.true(existsSync(join(podDir, 'volumes')));
  await volumes.tearDown();
  t.false(existsSync(join(podDir, 'volumes')));
  await volumes.tearDown();
  // a periodic refresh after tear-down must not bring anything back
  t.false(await volumes.refresh(pod([{ name: 'config', configMap: { name: 'cfg' } }])));
  t.false(existsSync(join(podDir, 'volumes')));
});

test('refresh racing tearDown: they run one after the other', async (t) => {
  const { podDir, volumes, sources } = setup(t);
  sources.putConfigMap('ns1', 'cfg', { a: 'A' });
  const p = pod([{ name: 'config', configMap: { name: 'cfg' } }]);
  await volumes.setUp(p);
  sources.putConfigMap('ns1', 'cfg', { a: 'B' });
  const [changed] = await Promise.all([volumes.refresh(p), volumes.tearDown()]);
  t.true(changed);
  t.false(existsSync(join(podDir, 'volumes')));
});
