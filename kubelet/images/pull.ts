// Pulling an image from a registry into the store, and the kubelet's pull policies on top.
// Blobs are downloaded (verified) into a staging dir outside tmp/ — opening a store from another
// process clears tmp/ — then handed to the store's import path under its lock, so a pulled image
// is checked and unpacked exactly like an imported one.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { digestHex } from './digest.js';
import { formatReference, parseReference, ReferenceError, repository, type ImageReference } from './reference.js';
import {
  isIndex,
  normalizeRegistryHost,
  registryMatches,
  RegistryClient,
  RegistryError,
  RegistryUnauthorizedError,
  selectPlatformManifest,
  type Manifest,
  type RegistryAuth,
} from './registry.js';
import { ImageNotFoundError, type Descriptor, type ImageRecord, type ImageStore } from './store.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface PullProgress {
  ref: string;
  phase: 'resolving' | 'downloading' | 'storing' | 'done';
  /** the platform manifest being pulled, once known */
  manifestDigest?: string;
  layers: number;
  /** layers the store already had (blob or unpacked snapshot), not downloaded */
  layersSkipped: number;
  layersDownloaded: number;
  /** blobs fetched from the registry (config and layers) */
  blobsDownloaded: number;
  bytesDownloaded: number;
  /** compressed bytes of the layers to download */
  bytesTotal: number;
}

export interface PullOptions {
  /** credentials, e.g. from credentialsFromPullSecrets(); those matching the registry are tried in order */
  auth?: RegistryAuth[];
  /** registries that may be reached over plain HTTP (loopback ones always may) */
  insecureRegistries?: string[];
  onProgress?: (p: PullProgress) => void;
  signal?: AbortSignal;
  /** a registry request with no bytes moving for this long fails (default 60 s) */
  idleTimeoutMs?: number;
}

/** kubelet's ErrImageNeverPull: the policy forbids pulling and the image is not here */
export class ImageNeverPullError extends ImageNotFoundError {
  readonly reason = 'ErrImageNeverPull';
}

/** the waiting reason kubelet shows for a failed ensureImage() */
export function imagePullReason(e: unknown): 'ErrImageNeverPull' | 'InvalidImageName' | 'ErrImagePull' {
  if (e instanceof ImageNeverPullError) return 'ErrImageNeverPull';
  if (e instanceof ReferenceError) return 'InvalidImageName';
  return 'ErrImagePull';
}

/** kubelet's default when a container gives no imagePullPolicy */
export function defaultPullPolicy(ref: string): PullPolicy {
  const r = parseReference(ref);
  return !r.digest && r.tag === 'latest' ? 'Always' : 'IfNotPresent';
}

const LAYER_CONCURRENCY = 3;

interface Inflight {
  promise: Promise<ImageRecord>;
  controller: AbortController;
  users: number;
  listeners: Set<(p: PullProgress) => void>;
}

const inflight = new Map<string, Inflight>();

function abortError(): Error {
  const e = new Error('image pull aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * Pulls ref into the store and names it: by tag for a tag reference, and always by its repo
 * digest ("repo@sha256:<manifest or index digest>"). Blobs and unpacked layers the store has are
 * not downloaded again. Concurrent pulls of the same reference share one download; each caller's
 * signal only detaches that caller, and the shared pull stops when every caller has gone.
 */
export function pullImage(store: ImageStore, ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
  let r: ImageReference;
  try {
    r = parseReference(ref);
  } catch (e) {
    return Promise.reject(e);
  }
  if (opts.signal?.aborted) return Promise.reject(abortError());
  const key = `${store.root}\0${formatReference(r)}`;
  let entry = inflight.get(key);
  if (!entry) {
    const controller = new AbortController();
    const listeners = new Set<(p: PullProgress) => void>();
    const e: Inflight = { controller, listeners, users: 0, promise: Promise.resolve() as unknown as Promise<ImageRecord> };
    // Started on the next tick so the first caller's progress listener is attached before the first report.
    e.promise = Promise.resolve().then(() => doPull(store, r, { ...opts, signal: controller.signal, onProgress: (p) => listeners.forEach((l) => l(p)) })).finally(() => {
      if (inflight.get(key) === e) inflight.delete(key);
    });
    // Every caller may have detached; the shared promise must not become an unhandled rejection.
    e.promise.catch(() => undefined);
    inflight.set(key, e);
    entry = e;
  }
  return attach(entry, opts);
}

function attach(e: Inflight, opts: PullOptions): Promise<ImageRecord> {
  const signal = opts.signal;
  if (signal?.aborted) return Promise.reject(abortError());
  e.users++;
  if (opts.onProgress) e.listeners.add(opts.onProgress);
  return new Promise<ImageRecord>((resolve, reject) => {
    let done = false;
    const detach = () => {
      if (done) return;
      done = true;
      e.users--;
      if (opts.onProgress) e.listeners.delete(opts.onProgress);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      if (done) return;
      detach();
      if (e.users === 0) e.controller.abort();
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    e.promise.then(
      (v) => {
        if (done) return;
        detach();
        resolve(v);
      },
      (err: unknown) => {
        if (done) return;
        detach();
        reject(err);
      },
    );
  });
}

/** removes staging dirs of pulls whose process is gone */
async function sweepStaging(dir: string): Promise<void> {
  for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
    const pid = Number(e.split('-')[0]);
    if (pid === process.pid) continue;
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!pid || !alive) await fsp.rm(join(dir, e), { recursive: true, force: true });
  }
}

async function firstManifest(r: ImageReference, display: string, opts: PullOptions): Promise<{ client: RegistryClient; top: Manifest }> {
  const matching = (opts.auth ?? []).filter((a) => registryMatches(a.registry, r.domain));
  const candidates: Array<RegistryAuth | undefined> = matching.length ? matching : [undefined];
  for (let i = 0; ; i++) {
    const client = new RegistryClient(r.domain, r.path, { auth: candidates[i], insecureRegistries: opts.insecureRegistries, signal: opts.signal, idleTimeoutMs: opts.idleTimeoutMs });
    try {
      return { client, top: await client.getManifest(r.digest ?? r.tag!, display) };
    } catch (e) {
      // Like kubelet: with several matching pull secrets, the next one gets its turn.
      if (e instanceof RegistryUnauthorizedError && i < candidates.length - 1) continue;
      throw e;
    }
  }
}

async function doPull(store: ImageStore, r: ImageReference, opts: PullOptions): Promise<ImageRecord> {
  const display = formatReference(r);
  const progress: PullProgress = { ref: display, phase: 'resolving', layers: 0, layersSkipped: 0, layersDownloaded: 0, blobsDownloaded: 0, bytesDownloaded: 0, bytesTotal: 0 };
  const report = () => opts.onProgress?.({ ...progress });
  report();
  const { client, top } = await firstManifest(r, display, opts);
  let manifest = top;
  if (isIndex(top)) {
    const d = selectPlatformManifest(top.json.manifests ?? [], display);
    manifest = await client.getManifest(d.digest, `${repository(r)}@${d.digest}`);
    if (isIndex(manifest)) throw new RegistryError(`${display}: the index points at another index (${d.digest}); nested indexes are not supported`);
  }
  const cfg = manifest.json.config;
  const layers = manifest.json.layers;
  if (manifest.json.schemaVersion !== 2 || !cfg || !Array.isArray(layers)) throw new RegistryError(`${display}: manifest ${manifest.digest} has no config and layers`);
  progress.manifestDigest = manifest.digest;
  progress.layers = layers.length;

  const stagingRoot = join(store.root, 'pulls');
  await fsp.mkdir(stagingRoot, { recursive: true, mode: 0o700 });
  await sweepStaging(stagingRoot);
  const stage = join(stagingRoot, `${process.pid}-${randomBytes(6).toString('hex')}`);
  await fsp.mkdir(stage, { mode: 0o700 });
  try {
    const mem = new Map<string, Buffer>([[manifest.digest, manifest.bytes]]);
    const staged = new Map<string, string>();
    progress.phase = 'downloading';
    let configBytes: Buffer;
    if (await store.hasBlob(cfg.digest)) configBytes = await store.readBlob(cfg.digest);
    else {
      const p = join(stage, digestHex(cfg.digest));
      await client.downloadBlob(cfg, p);
      configBytes = await fsp.readFile(p);
      progress.blobsDownloaded++;
    }
    // Held in memory either way: an `images rm` between here and the import may delete the stored copy.
    mem.set(cfg.digest, configBytes);
    let diffIDs: unknown[] = [];
    try {
      const c = JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown[] } };
      diffIDs = Array.isArray(c.rootfs?.diff_ids) ? c.rootfs.diff_ids : [];
    } catch {
      throw new RegistryError(`${display}: image config ${cfg.digest} is not JSON`);
    }
    const todo: Descriptor[] = [];
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!;
      digestHex(l.digest);
      const diffID = diffIDs[i];
      if ((await store.hasBlob(l.digest)) || (typeof diffID === 'string' && /^sha256:[a-f0-9]{64}$/.test(diffID) && (await store.hasSnapshot(diffID)))) progress.layersSkipped++;
      else if (!todo.some((t) => t.digest === l.digest)) {
        todo.push(l);
        progress.bytesTotal += l.size;
      }
    }
    report();
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const l = todo[next++]!;
        const p = join(stage, digestHex(l.digest));
        await client.downloadBlob(l, p, (n) => {
          progress.bytesDownloaded += n;
        });
        staged.set(l.digest, p);
        progress.layersDownloaded++;
        progress.blobsDownloaded++;
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(LAYER_CONCURRENCY, todo.length) }, worker));
    opts.signal?.throwIfAborted();
    progress.phase = 'storing';
    report();
    const names = r.digest ? [] : [`${repository(r)}:${r.tag}`];
    const repoDigests = [`${repository(r)}@${top.digest}`];
    const { image } = await store.locked(() => store.importManifest(manifest.digest, { path: (d) => staged.get(d), bytes: (d) => mem.get(d) }, names, repoDigests));
    progress.phase = 'done';
    report();
    return image;
  } finally {
    await fsp.rm(stage, { recursive: true, force: true });
  }
}

/**
 * The image for a container under its pull policy: Never uses only what the store has,
 * IfNotPresent pulls when missing, Always asks the registry every time (blobs the store has are
 * still not downloaded again).
 */
export async function ensureImage(store: ImageStore, ref: string, policy: PullPolicy, opts: PullOptions = {}): Promise<ImageRecord> {
  if (policy === 'Never' || policy === 'IfNotPresent') {
    const have = await store.lookup(ref);
    if (have) return have;
    if (policy === 'Never') throw new ImageNeverPullError(`Container image "${ref}" is not present with pull policy of Never`);
  } else if (policy !== 'Always') throw new Error(`unknown image pull policy "${String(policy)}" (Always, IfNotPresent or Never)`);
  return pullImage(store, ref, opts);
}

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

function decodeSecretData(s: KObject, key: string): string | undefined {
  const data = s['data'] as Record<string, string> | undefined;
  const v = data?.[key];
  if (typeof v === 'string') return Buffer.from(v, 'base64').toString('utf8');
  // stringData only exists before the API server folds it into data; accept it for callers that build secrets by hand.
  const sd = (s['stringData'] as Record<string, string> | undefined)?.[key];
  return typeof sd === 'string' ? sd : undefined;
}

/**
 * Registry credentials from imagePullSecrets: kubernetes.io/dockerconfigjson
 * ({"auths": {host: {auth | username/password}}}) and the older kubernetes.io/dockercfg
 * ({host: {...}}). Secrets of other types are ignored, as kubelet does; a malformed one is
 * reported through onWarning (never with its contents) and skipped.
 */
export function credentialsFromPullSecrets(secrets: KObject[], onWarning?: (msg: string) => void): RegistryAuth[] {
  const out: RegistryAuth[] = [];
  for (const s of secrets) {
    const name = `${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? '?'}`;
    const type = s['type'];
    let key: string;
    if (type === 'kubernetes.io/dockerconfigjson') key = '.dockerconfigjson';
    else if (type === 'kubernetes.io/dockercfg') key = '.dockercfg';
    else continue;
    const raw = decodeSecretData(s, key);
    if (raw === undefined) {
      onWarning?.(`secret ${name}: type ${String(type)} but no ${key} key`);
      continue;
    }
    let auths: Record<string, DockerAuthEntry>;
    try {
      const j = JSON.parse(raw) as Record<string, unknown>;
      auths = (key === '.dockerconfigjson' ? j['auths'] : j) as Record<string, DockerAuthEntry>;
      if (!auths || typeof auths !== 'object' || Array.isArray(auths)) throw new Error('no auths');
    } catch {
      onWarning?.(`secret ${name}: ${key} is not a valid docker config`);
      continue;
    }
    for (const [host, e] of Object.entries(auths)) {
      if (!e || typeof e !== 'object') continue;
      let username = typeof e.username === 'string' ? e.username : '';
      let password = typeof e.password === 'string' ? e.password : '';
      if (typeof e.auth === 'string' && e.auth) {
        const dec = Buffer.from(e.auth, 'base64').toString('utf8');
        const colon = dec.indexOf(':');
        if (colon < 0) {
          onWarning?.(`secret ${name}: the auth entry for ${normalizeRegistryHost(host)} is not base64 of user:password`);
          continue;
        }
        username = dec.slice(0, colon);
        password = dec.slice(colon + 1);
      }
      if (!username && !password) continue;
      out.push({ registry: normalizeRegistryHost(host), username, password });
    }
  }
  return out;
}
