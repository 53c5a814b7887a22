// Pulls from real registries: Debian's docker-registry (distribution v2) on loopback, filled with
// skopeo from the hack/ busybox layout. Covers tag and digest pulls, OCI and Docker manifests, a
// multi-platform index, a missing tag, blob reuse, shared concurrent pulls, abort, the CLI, a
// Basic-auth registry (htpasswd, bcrypt made by perl's crypt) and a Bearer-token registry whose
// token service runs in this test. Needs root (the store unpacks layers with their owners),
// docker-registry, skopeo, busybox-static, perl and openssl.
import test from 'ava';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  credentialsFromPullSecrets,
  ensureImage,
  hostPlatform,
  ImageNeverPullError,
  ImageStore,
  imagePullReason,
  ManifestUnknownError,
  pullImage,
  RegistryUnauthorizedError,
  type PullProgress,
} from '../../kubelet/images/index.js';
import type { KObject } from '../../pkg/api/types.js';
import { waitFor } from '../helpers/wait.js';
import { repoRoot, sha256, tar } from '../unit/images/helpers.js';
import { freePort } from '../helpers/registry.js';

const run = promisify(execFile);

function which(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (the image store unpacks layers with their owners)';
  if (!which('docker-registry')) return 'docker-registry is not installed (apt-get install -y docker-registry)';
  if (!which('skopeo')) return 'skopeo is not installed (apt-get install -y skopeo)';
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  if (!which('perl')) return 'perl is missing (needed for bcrypt htpasswd entries)';
  if (!which('openssl')) return 'openssl is missing (apt-get install -y openssl; signs the test token service)';
  return undefined;
}

interface Registry {
  proc: ChildProcess;
  host: string;
  log: string;
}

const USER = 'skiffuser';
const PASS = `pw-${randomBytes(6).toString('hex')}`;
const WRONG = `wrong-${randomBytes(6).toString('hex')}`;

let tmp = '';
const registries: Registry[] = [];
const servers: http.Server[] = [];
let open: Registry;
let basic: Registry;
let bearer: Registry;
let layout = '';
let busyboxManifest = '';
let busyboxLayer = '';
let indexDigest = '';
const tokenRequests: Array<{ user?: string; scope?: string }> = [];

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

async function startRegistry(name: string, authYaml = ''): Promise<Registry> {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\n${authYaml}`,
  );
  const log = join(dir, 'registry.log');
  const fd = openSync(log, 'w');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const reg = { proc, host, log };
  registries.push(reg);
  await waitFor(`registry ${name} on ${host}`, 15_000, async () => {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
    const st = await status(`http://${host}/v2/`);
    return st === 200 || st === 401;
  });
  return reg;
}

async function skopeoCopy(src: string, dest: string, extra: string[] = []): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...extra, src, dest]);
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** a token service for distribution's `auth: token`: RS256 JWTs carrying the signing cert in x5c */
async function startTokenService(dir: string): Promise<{ realm: string; certPath: string }> {
  const key = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certPath, '-days', '2', '-subj', '/CN=skiff-test-token'], { stdio: 'ignore' });
  const keyPem = readFileSync(key, 'utf8');
  const der = new X509Certificate(readFileSync(certPath)).raw.toString('base64');
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scope = u.searchParams.get('scope') ?? undefined;
    const authz = req.headers.authorization;
    let user: string | undefined;
    if (authz?.startsWith('Basic ')) {
      const [n, ...p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (n !== USER || p.join(':') !== PASS) {
        tokenRequests.push({ user: n, scope });
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        return;
      }
      user = n;
    }
    tokenRequests.push({ user, scope });
    // Anonymous callers get a token without access, as public registries do for private repos.
    const access = user && scope ? [{ type: 'repository', name: scope.split(':')[1], actions: scope.split(':')[2]!.split(',') }] : [];
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der] }));
    const claims = b64url(JSON.stringify({ iss: 'skiff-test', sub: user ?? '', aud: 'skiff-registry', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const sig = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(keyPem);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${head}.${claims}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { realm: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`, certPath };
}

/** busybox plus a small image for another platform, under one OCI index named "multi" */
function buildMultiPlatformLayout(dir: string): string {
  const out = join(dir, 'multi-oci');
  cpSync(layout, out, { recursive: true });
  const put = (b: Buffer) => {
    const d = sha256(b);
    writeFileSync(join(out, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const host = hostPlatform();
  const otherArch = host.architecture === 's390x' ? 'ppc64le' : 's390x';
  const layerTar = tar({ name: 'hello', data: 'other platform\n' });
  const layer = put(gzipSync(layerTar));
  const config = put(Buffer.from(JSON.stringify({ architecture: otherArch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] } })));
  const otherManifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }] })));
  const bbSize = readFileSync(join(out, 'blobs', 'sha256', busyboxManifest.slice(7))).length;
  const index = put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      // The other platform first, so picking the first entry would be wrong.
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...otherManifest, platform: { os: 'linux', architecture: otherArch } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: busyboxManifest, size: bbSize, platform: { os: 'linux', architecture: host.architecture } },
    ],
  })));
  indexDigest = index.digest;
  writeFileSync(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
  return out;
}

function dockerConfigSecret(name: string, host: string, user: string, pass: string): KObject {
  const cfg = { auths: { [host]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } } };
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(JSON.stringify(cfg)).toString('base64') } };
}

async function newStore(tag: string): Promise<ImageStore> {
  return ImageStore.open(mkdtempSync(join(tmp, `store-${tag}-`)));
}

function countGets(reg: Registry, path: string): number {
  return readFileSync(reg.log, 'utf8').split('\n').filter((l) => l.includes(`"GET ${path} `)).length;
}

const missing = missingPrerequisite();

if (missing) {
  console.log(`image pull e2e tests skipped: ${missing}`);
  test.skip(`image pull e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    tmp = mkdtempSync('/tmp/skiff-e2e-pull-');
    layout = join(tmp, 'busybox-oci');
    const out = execFileSync(join(repoRoot, 'hack', 'build-busybox-image.sh'), [layout, 'latest'], { encoding: 'utf8' });
    busyboxManifest = /manifest=(sha256:[a-f0-9]{64})/.exec(out)![1]!;
    busyboxLayer = /layer=(sha256:[a-f0-9]{64})/.exec(out)![1]!;

    open = await startRegistry('open');
    await skopeoCopy(`oci:${layout}:latest`, `docker://${open.host}/test/busybox:1`);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${open.host}/test/shared:1`);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${open.host}/test/busybox-docker:1`, ['--format', 'v2s2']);
    await skopeoCopy(`oci:${buildMultiPlatformLayout(tmp)}:multi`, `docker://${open.host}/test/multi:1`, ['--all']);

    const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], "\\$2b\\$05\\$" . $ARGV[1])', PASS, 'skiffpulltestsaltsaltu'], { encoding: 'utf8' });
    if (!hash.startsWith('$2b$')) throw new Error(`perl's crypt made no bcrypt hash (got "${hash.slice(0, 4)}...")`);
    writeFileSync(join(tmp, 'htpasswd'), `${USER}:${hash}\n`);
    basic = await startRegistry('basic', `auth:\n  htpasswd:\n    realm: skiff-test\n    path: ${join(tmp, 'htpasswd')}\n`);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${basic.host}/private/busybox:1`, ['--dest-creds', `${USER}:${PASS}`]);

    const ts = await startTokenService(tmp);
    bearer = await startRegistry('bearer', `auth:\n  token:\n    realm: ${ts.realm}\n    service: skiff-registry\n    issuer: skiff-test\n    rootcertbundle: ${ts.certPath}\n`);
    await skopeoCopy(`oci:${layout}:latest`, `docker://${bearer.host}/private/busybox:1`, ['--dest-creds', `${USER}:${PASS}`]);
  });

  test.after.always(async () => {
    for (const s of servers) s.close();
    for (const r of registries) {
      if (r.proc.exitCode === null) {
        const gone = new Promise((res) => r.proc.once('exit', res));
        r.proc.kill('SIGTERM');
        await gone;
      }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('pull by tag, again (nothing downloaded), and by digest', async (t) => {
    const store = await newStore('tag');
    const events: PullProgress[] = [];
    const ref = `${open.host}/test/busybox:1`;
    const img = await pullImage(store, ref, { onProgress: (p) => events.push(p) });
    t.is(img.manifestDigest, busyboxManifest);
    t.deepEqual(img.names, [ref]);
    t.deepEqual(img.repoDigests, [`${open.host}/test/busybox@${busyboxManifest}`]);
    t.deepEqual(img.config.Cmd, ['sh']);
    t.true(existsSync(join(store.snapshotPath(img.layers[0]!.diffID), 'bin', 'busybox')));
    t.deepEqual(events.map((e) => e.phase).filter((p, i, a) => a.indexOf(p) === i), ['resolving', 'downloading', 'storing', 'done']);
    const last = events.at(-1)!;
    t.is(last.layersDownloaded, 1);
    t.is(last.blobsDownloaded, 2);
    t.is(last.bytesDownloaded, img.layers[0]!.size);

    const again: PullProgress[] = [];
    const img2 = await pullImage(store, ref, { onProgress: (p) => again.push(p) });
    t.is(img2.manifestDigest, img.manifestDigest);
    t.is(again.at(-1)!.layersSkipped, 1);
    t.is(again.at(-1)!.blobsDownloaded, 0);
    t.is(again.at(-1)!.bytesDownloaded, 0);

    const byDigest = await pullImage(store, `${open.host}/test/busybox@${busyboxManifest}`);
    t.is(byDigest.id, img.id);
    t.deepEqual(byDigest.names, [ref], 'a digest pull adds no tag');
    t.is((await store.resolve(`${open.host}/test/busybox@${busyboxManifest}`)).id, img.id);
    t.is((await store.list()).length, 1);
    t.deepEqual(readdirSync(join(store.root, 'pulls')), [], 'no staging dir is left');
  });

  test('a Docker schema 2 manifest', async (t) => {
    const store = await newStore('docker');
    const img = await pullImage(store, `${open.host}/test/busybox-docker:1`);
    t.not(img.manifestDigest, busyboxManifest, 'skopeo converted the manifest');
    t.is(img.layers[0]!.digest, busyboxLayer);
    t.is(img.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    const manifest = JSON.parse((await store.readBlob(img.manifestDigest)).toString()) as { mediaType: string };
    t.is(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  });

  test('a multi-platform index: the host platform is chosen and the index digest resolves', async (t) => {
    const store = await newStore('multi');
    const ref = `${open.host}/test/multi:1`;
    const img = await pullImage(store, ref);
    t.is(img.manifestDigest, busyboxManifest);
    t.is(img.architecture, 'amd64');
    t.deepEqual(img.repoDigests, [`${open.host}/test/multi@${indexDigest}`]);
    t.is((await store.resolve(`${open.host}/test/multi@${indexDigest}`)).manifestDigest, busyboxManifest);
    // By index digest too, with nothing left to download.
    const events: PullProgress[] = [];
    const byIndex = await pullImage(store, `${open.host}/test/multi@${indexDigest}`, { onProgress: (p) => events.push(p) });
    t.is(byIndex.manifestDigest, busyboxManifest);
    t.is(events.at(-1)!.blobsDownloaded, 0);
  });

  test('a missing tag or repository is a clear ErrImagePull; pull policies', async (t) => {
    const store = await newStore('missing');
    const e = await t.throwsAsync(pullImage(store, `${open.host}/test/busybox:nope`), { instanceOf: ManifestUnknownError });
    t.is(e!.message, `manifest unknown: ${open.host}/test/busybox:nope`);
    t.is(imagePullReason(e), 'ErrImagePull');
    await t.throwsAsync(pullImage(store, `${open.host}/test/nothing:1`), { message: `manifest unknown: ${open.host}/test/nothing:1` });

    const ref = `${open.host}/test/busybox:1`;
    const never = await t.throwsAsync(ensureImage(store, ref, 'Never'), { instanceOf: ImageNeverPullError });
    t.is(never!.message, `Container image "${ref}" is not present with pull policy of Never`);
    t.is(imagePullReason(never), 'ErrImageNeverPull');
    const pulled = await ensureImage(store, ref, 'IfNotPresent');
    t.is(pulled.manifestDigest, busyboxManifest);
    t.is((await ensureImage(store, ref, 'Never')).id, pulled.id);
    const events: PullProgress[] = [];
    await ensureImage(store, ref, 'IfNotPresent', { onProgress: (p) => events.push(p) });
    t.is(events.length, 0, 'IfNotPresent does not ask the registry for an image it has');
    await ensureImage(store, ref, 'Always', { onProgress: (p) => events.push(p) });
    t.is(events.at(-1)!.phase, 'done');
    t.is(events.at(-1)!.blobsDownloaded, 0);
  });

  test('concurrent pulls of one reference share one download', async (t) => {
    const store = await newStore('shared');
    const ref = `${open.host}/test/shared:1`;
    const seenA: PullProgress[] = [];
    const seenB: PullProgress[] = [];
    const [a, b] = await Promise.all([pullImage(store, ref, { onProgress: (p) => seenA.push(p) }), pullImage(store, ref, { onProgress: (p) => seenB.push(p) })]);
    t.is(a.manifestDigest, b.manifestDigest);
    t.is(seenA.at(-1)!.phase, 'done');
    t.is(seenB.at(-1)!.phase, 'done');
    const path = `/v2/test/shared/blobs/${busyboxLayer}`;
    await waitFor('the access log line', 5000, async () => countGets(open, path) >= 1);
    t.is(countGets(open, path), 1);
  });

  test('an aborted pull rejects and leaves no staging files', async (t) => {
    const store = await newStore('abort');
    const ac = new AbortController();
    const p = pullImage(store, `${open.host}/test/busybox:1`, { signal: ac.signal, onProgress: (e) => e.phase === 'downloading' && ac.abort() });
    await t.throwsAsync(p, { name: 'AbortError' });
    await waitFor('the staging dir to go', 5000, async () => readdirSync(join(store.root, 'pulls')).length === 0);
    t.is((await store.list()).length, 0);
  });

  test('the CLI: skiff images pull', async (t) => {
    const dataDir = mkdtempSync(join(tmp, 'cli-'));
    const ref = `${open.host}/test/busybox:1`;
    const { stdout } = await run(process.execPath, [join(repoRoot, 'bin', 'skiff.js'), 'images', 'pull', '--data-dir', dataDir, '-q', ref]);
    t.regex(stdout, new RegExp(`pulled ${ref.replace(/[.]/g, '\\.')} \\([0-9a-f]{12}, ${busyboxManifest}\\)`));
    t.true(stdout.includes(`Digest: ${open.host}/test/busybox@${busyboxManifest}`));
    const bad = await t.throwsAsync(run(process.execPath, [join(repoRoot, 'bin', 'skiff.js'), 'images', 'pull', '--data-dir', dataDir, `${basic.host}/private/busybox:1`, '--creds', `${USER}:${WRONG}`]));
    const stderr = (bad as unknown as { stderr: string }).stderr;
    t.true(stderr.includes('unauthorized'), stderr);
    t.false(stderr.includes(WRONG), 'the password is not printed');
  });

  for (const kind of ['basic', 'bearer'] as const) {
    test(`a registry with ${kind} auth: anonymous and wrong credentials fail clearly, pull secrets work`, async (t) => {
      const reg = kind === 'basic' ? basic : bearer;
      const ref = `${reg.host}/private/busybox:1`;
      const store = await newStore(kind);
      const anon = await t.throwsAsync(pullImage(store, ref), { instanceOf: RegistryUnauthorizedError });
      t.regex(anon!.message, /^unauthorized: /);
      t.true(anon!.message.includes(`${reg.host}/private/busybox`), anon!.message);
      t.is(imagePullReason(anon), 'ErrImagePull');

      const wrong = credentialsFromPullSecrets([dockerConfigSecret('wrong', reg.host, USER, WRONG)]);
      const bad = await t.throwsAsync(pullImage(store, ref, { auth: wrong }), { instanceOf: RegistryUnauthorizedError });
      t.regex(bad!.message, /^unauthorized: /);
      t.false(bad!.message.includes(WRONG) || (bad!.stack ?? '').includes(WRONG), 'no password in errors');

      // Like kubelet, each matching secret is tried: the wrong one first, then the right one.
      const secrets = [dockerConfigSecret('wrong', reg.host, USER, WRONG), dockerConfigSecret('right', `https://${reg.host}`, USER, PASS)];
      const img = await pullImage(store, ref, { auth: credentialsFromPullSecrets(secrets) });
      t.is(img.manifestDigest, busyboxManifest);
      t.deepEqual(img.names, [ref]);
      if (kind === 'bearer') {
        t.true(tokenRequests.some((r) => r.user === USER && r.scope === 'repository:private/busybox:pull'), JSON.stringify(tokenRequests));
        t.true(tokenRequests.some((r) => r.user === undefined), 'an anonymous token was asked for');
      }
    });
  }
}
