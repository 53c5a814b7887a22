// The registry client's pieces that need no real registry: platform selection, challenges,
// insecure/credential host matching, pull secrets, pull policies, and blob downloads against a
// node:http stand-in (redirects to another host, corrupt and oversized blobs).
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { credentialsFromPullSecrets, defaultPullPolicy, ensureImage, ImageNeverPullError, imagePullReason, ImageStore, ReferenceError } from '../../../kubelet/images/index.js';
import { isInsecureRegistry, parseChallenge, RegistryClient, RegistryError, registryEndpoint, registryMatches, selectPlatformManifest } from '../../../kubelet/images/registry.js';
import { DigestMismatchError } from '../../../kubelet/images/digest.js';
import type { KObject } from '../../../pkg/api/types.js';
import { cleanup, sha256, tempDir } from './helpers.js';

const OCI_M = 'application/vnd.oci.image.manifest.v1+json';
const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

test('selectPlatformManifest picks the host platform, not the first entry', (t) => {
  const list = [
    { mediaType: OCI_M, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { mediaType: OCI_M, digest: d(2), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    { mediaType: OCI_M, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
    { mediaType: OCI_M, digest: d(4), size: 1, platform: { os: 'windows', architecture: 'amd64' } },
  ];
  t.is(selectPlatformManifest(list, 'x', { os: 'linux', architecture: 'amd64' }).digest, d(3));
  t.is(selectPlatformManifest(list, 'x', { os: 'linux', architecture: 'arm64' }).digest, d(1));
  const arm = [
    { mediaType: OCI_M, digest: d(5), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { mediaType: OCI_M, digest: d(6), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
  ];
  t.is(selectPlatformManifest(arm, 'x', { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d(6));
  t.is(selectPlatformManifest(arm, 'x', { os: 'linux', architecture: 'arm' }).digest, d(5));
  const e = t.throws(() => selectPlatformManifest(list, 'reg/x:1', { os: 'linux', architecture: 's390x' }), { instanceOf: RegistryError });
  t.is(e!.message, 'reg/x:1: no image for linux/s390x in the index (has linux/arm64/v8, linux/amd64, windows/amd64)');
  // A nested index is not an image for this platform.
  t.throws(() => selectPlatformManifest([{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: d(7), size: 1, platform: { os: 'linux', architecture: 'amd64' } }], 'x', { os: 'linux', architecture: 'amd64' }));
  // Docker manifest lists use the same shape.
  t.is(selectPlatformManifest([{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: d(8), size: 1, platform: { os: 'linux', architecture: 'amd64' } }], 'x', { os: 'linux', architecture: 'amd64' }).digest, d(8));
});

test('parseChallenge reads Bearer and Basic challenges, commas inside quotes included', (t) => {
  t.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' },
  });
  t.deepEqual(parseChallenge('Basic realm="skiff test"'), { scheme: 'basic', params: { realm: 'skiff test' } });
  t.deepEqual(parseChallenge('Bearer realm=https://x/token, error="insufficient_scope"'), { scheme: 'bearer', params: { realm: 'https://x/token', error: 'insufficient_scope' } });
  t.is(parseChallenge(''), undefined);
});

test('insecure registries, endpoints and credential matching', (t) => {
  t.true(isInsecureRegistry('localhost:5000'));
  t.true(isInsecureRegistry('127.0.0.1:5000'));
  t.true(isInsecureRegistry('[::1]:5000'));
  t.false(isInsecureRegistry('registry.example.com'));
  t.true(isInsecureRegistry('registry.example.com:5000', ['http://registry.example.com:5000/']));
  t.true(isInsecureRegistry('registry.example.com:5000', ['registry.example.com']));
  t.false(isInsecureRegistry('registry.example.com:5000', ['registry.example.com:6000']));
  t.false(isInsecureRegistry('other.example.com', ['registry.example.com']));
  t.is(registryEndpoint('docker.io'), 'registry-1.docker.io');
  t.is(registryEndpoint('quay.io'), 'quay.io');
  t.true(registryMatches('https://index.docker.io/v1/', 'docker.io'));
  t.true(registryMatches('Registry.Example.com:5000', 'registry.example.com:5000'));
  t.true(registryMatches('*.example.com', 'registry.example.com'));
  t.false(registryMatches('*.example.com', 'a.b.example.com'));
  t.false(registryMatches('example.com', 'registry.example.com'));
});

function secret(type: string, key: string, value: unknown, name = 's'): KObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns' }, type, data: { [key]: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64') } };
}

test('credentialsFromPullSecrets reads dockerconfigjson and dockercfg, ignores other types', (t) => {
  const warnings: string[] = [];
  const creds = credentialsFromPullSecrets(
    [
      secret('kubernetes.io/dockerconfigjson', '.dockerconfigjson', {
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('alice:pa:ss').toString('base64') },
          'registry.example.com:5000': { username: 'bob', password: 'b0b' },
          'token-only.example.com': { identitytoken: 'x' },
        },
      }),
      secret('kubernetes.io/dockercfg', '.dockercfg', { 'http://old.example.com/v1/': { auth: Buffer.from('carol:c').toString('base64'), email: 'c@example.com' } }),
      secret('Opaque', '.dockerconfigjson', { auths: { 'x.example.com': { username: 'no', password: 'no' } } }),
      secret('kubernetes.io/dockerconfigjson', '.dockerconfigjson', 'not json SECRET-CONTENT', 'broken'),
      secret('kubernetes.io/dockerconfigjson', '.dockerconfigjson', { auths: { 'y.example.com': { auth: Buffer.from('nocolon').toString('base64') } } }, 'nocolon'),
    ],
    (w) => warnings.push(w),
  );
  t.deepEqual(creds, [
    { registry: 'docker.io', username: 'alice', password: 'pa:ss' },
    { registry: 'registry.example.com:5000', username: 'bob', password: 'b0b' },
    { registry: 'old.example.com', username: 'carol', password: 'c' },
  ]);
  t.is(warnings.length, 2);
  t.true(warnings[0]!.includes('ns/broken'));
  t.false(warnings.join(' ').includes('SECRET-CONTENT'));
  t.true(warnings[1]!.includes('y.example.com') && warnings[1]!.includes('user:password'));
});

test('pull policies: defaults, Never without the image, failure reasons', async (t) => {
  t.is(defaultPullPolicy('busybox'), 'Always');
  t.is(defaultPullPolicy('busybox:latest'), 'Always');
  t.is(defaultPullPolicy('busybox:1.36'), 'IfNotPresent');
  t.is(defaultPullPolicy(`busybox@${d(1)}`), 'IfNotPresent');
  const dir = tempDir('policy');
  t.teardown(() => cleanup(dir));
  const store = await ImageStore.open(join(dir, 'store'));
  const e = await t.throwsAsync(ensureImage(store, 'example.com/app:1', 'Never'), { instanceOf: ImageNeverPullError });
  t.is(e!.message, 'Container image "example.com/app:1" is not present with pull policy of Never');
  t.is(imagePullReason(e), 'ErrImageNeverPull');
  const bad = await t.throwsAsync(ensureImage(store, 'Bad Name', 'IfNotPresent'), { instanceOf: ReferenceError });
  t.is(imagePullReason(bad), 'InvalidImageName');
  await t.throwsAsync(ensureImage(store, 'x:1', 'Sometimes' as never), { message: /unknown image pull policy/ });
});

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; host: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test('blobs: redirects are followed without credentials to other hosts; bad content is refused', async (t) => {
  const blob = Buffer.from('layer bytes '.repeat(1000));
  const digest = sha256(blob);
  const storageAuth: Array<string | undefined> = [];
  const storage = await listen((req, res) => {
    storageAuth.push(req.headers.authorization);
    if (req.url === '/blob') res.end(blob);
    else if (req.url === '/corrupt') res.end(Buffer.concat([blob.subarray(1), Buffer.from('X')]));
    else if (req.url === '/long') res.end(Buffer.concat([blob, blob]));
    else res.writeHead(404).end();
  });
  const registryAuth: Array<string | undefined> = [];
  const registry = await listen((req, res) => {
    registryAuth.push(req.headers.authorization);
    if (!req.headers.authorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="t"' }).end();
      return;
    }
    const where = req.url!.includes(digest) ? '/blob' : req.url!.includes(d(1)) ? '/corrupt' : '/long';
    if (req.url!.startsWith('/v2/r/blobs/')) res.writeHead(307, { location: `http://${storage.host}${where}` }).end();
    else if (req.url === '/v2/r/manifests/too-many') res.writeHead(429, { 'content-type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
    else res.writeHead(404).end();
  });
  const dir = tempDir('blobs');
  t.teardown(() => {
    storage.server.close();
    registry.server.close();
    cleanup(dir);
  });
  const client = new RegistryClient(registry.host, 'r', { auth: { registry: registry.host, username: 'u', password: 'p' } });
  const dest = join(dir, 'blob');
  let seen = 0;
  await client.downloadBlob({ mediaType: 'x', digest, size: blob.length }, dest, (n) => (seen += n));
  t.deepEqual(readFileSync(dest), blob);
  t.is(seen, blob.length);
  t.true(registryAuth.includes('Basic ' + Buffer.from('u:p').toString('base64')));
  t.deepEqual(storageAuth, [undefined], 'credentials stay with the registry host');

  const corrupt = join(dir, 'corrupt');
  await t.throwsAsync(client.downloadBlob({ mediaType: 'x', digest: d(1), size: blob.length }, corrupt), { instanceOf: DigestMismatchError });
  t.false(existsSync(corrupt));
  const long = join(dir, 'long');
  await t.throwsAsync(client.downloadBlob({ mediaType: 'x', digest: d(2), size: blob.length }, long), { instanceOf: DigestMismatchError, message: /more than/ });
  t.false(existsSync(long));
  const limited = await t.throwsAsync(client.getManifest('too-many', 'r:too-many'), { instanceOf: RegistryError });
  t.regex(limited!.message, /^toomanyrequests: /);
  t.false(limited!.message.includes(Buffer.from('u:p').toString('base64')));
});

test('a manifest that does not match the digest asked for is refused', async (t) => {
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_M, config: { mediaType: 'c', digest: d(1), size: 1 }, layers: [] });
  const reg = await listen((_req, res) => res.writeHead(200, { 'content-type': OCI_M }).end(body));
  t.teardown(() => reg.server.close());
  const client = new RegistryClient(reg.host, 'r');
  const ok = await client.getManifest('tag', 'r:tag');
  t.is(ok.digest, sha256(body));
  t.is(ok.mediaType, OCI_M);
  await t.throwsAsync(client.getManifest(d(3), `r@${d(3)}`), { instanceOf: DigestMismatchError });
});
