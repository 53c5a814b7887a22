// Import of images from files: OCI image layout directories (what skopeo, umoci, buildah and
// hack/build-busybox-image.sh write) and `docker save` archives (manifest.json + config + layer
// tars; Docker 25+ writes an OCI layout inside the same tar, which the manifest.json path covers).
import { promises as fsp } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream';
import { detectCompression, digestHex, sha256, sha256File } from './digest.js';
import { parseReference, formatReference } from './reference.js';
import { hostPlatform, MT, type Descriptor, type ImageRecord, type ImageStore, type ImportProgress } from './store.js';
import { unpackTar } from './unpack.js';

export interface ImportResult {
  images: ImageRecord[];
  progress: ImportProgress;
}

export interface ImportOptions {
  /**
   * A reference for the imported image: names an image the source leaves unnamed, or gives the
   * repository for a bare tag ("latest") in an OCI layout's ref.name annotation.
   */
  name?: string;
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

function addProgress(into: ImportProgress, p: ImportProgress): void {
  into.layersUnpacked += p.layersUnpacked;
  into.layersReused += p.layersReused;
  into.unpack.push(...p.unpack);
}

async function readJson<T>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${what}: ${path} does not exist`);
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what}: ${path} is not valid JSON`);
  }
}

/** the name an index entry gives its image, made absolute with opts.name for bare tags */
function nameFor(d: Descriptor, opts: ImportOptions, single: boolean): string[] {
  const full = d.annotations?.[CONTAINERD_NAME];
  if (full) return [full];
  const ref = d.annotations?.[REF_NAME];
  if (ref && (ref.includes('/') || ref.includes(':') || ref.includes('@'))) return [ref];
  if (ref) {
    if (opts.name) {
      const r = parseReference(opts.name);
      return [formatReference({ domain: r.domain, path: r.path, tag: ref })];
    }
    // A bare word may be a tag ("latest") or a short name ("busybox"); Docker reads it as a name.
    return [ref];
  }
  return single && opts.name ? [opts.name] : [];
}

/** picks the manifest for this host out of an index / manifest list */
function choosePlatform(list: Descriptor[], where: string): Descriptor {
  const want = hostPlatform();
  const hit = list.find((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture);
  if (!hit) {
    const have = list.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ');
    throw new Error(`${where}: no image for ${want.os}/${want.architecture} (has ${have || 'none'})`);
  }
  return hit;
}

/** Imports every image listed in an OCI layout's index.json. */
export async function importOciLayout(store: ImageStore, dir: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const root = resolve(dir);
  const layout = await readJson<{ imageLayoutVersion?: string }>(join(root, 'oci-layout'), 'OCI layout');
  if (!layout.imageLayoutVersion?.startsWith('1.')) throw new Error(`${root}: unsupported imageLayoutVersion ${String(layout.imageLayoutVersion)}`);
  const index = await readJson<{ manifests?: Descriptor[] }>(join(root, 'index.json'), 'OCI layout');
  const entries = index.manifests ?? [];
  if (!entries.length) throw new Error(`${root}/index.json lists no images`);
  const src = {
    path: (digest: string) => {
      const [alg] = digest.split(':');
      return join(root, 'blobs', alg!, digestHex(digest));
    },
  };
  const progress: ImportProgress = { layersUnpacked: 0, layersReused: 0, unpack: [] };
  const images: ImageRecord[] = [];
  await store.locked(async () => {
    for (const e of entries) {
      let manifest = e;
      if (e.mediaType === MT.ociIndex || e.mediaType === MT.dockerList) {
        const nested = JSON.parse((await fsp.readFile(src.path(e.digest))).toString('utf8')) as { manifests?: Descriptor[] };
        if (sha256(await fsp.readFile(src.path(e.digest))) !== e.digest) throw new Error(`${root}: index blob ${e.digest} is corrupt`);
        manifest = { ...choosePlatform(nested.manifests ?? [], `${root} ${e.digest}`), annotations: e.annotations };
      } else if (e.mediaType !== MT.ociManifest && e.mediaType !== MT.dockerManifest) {
        throw new Error(`${root}/index.json: unsupported media type ${e.mediaType}`);
      } else if (e.platform && entries.length > 1 && (e.platform.os !== hostPlatform().os || e.platform.architecture !== hostPlatform().architecture)) {
        continue; // a multi-platform layout written flat: skip the other platforms
      }
      const r = await store.importManifest(manifest.digest, src, nameFor(e, opts, entries.length === 1));
      addProgress(progress, r.progress);
      images.push(r.image);
    }
  });
  if (!images.length) throw new Error(`${root}: no image for ${hostPlatform().os}/${hostPlatform().architecture}`);
  return { images, progress };
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** resolves a path named inside the archive, refusing anything that leaves the staging dir */
async function inside(stage: string, rel: string): Promise<string> {
  const p = await fsp.realpath(join(stage, rel)).catch(() => {
    throw new Error(`docker archive: ${rel} is listed in manifest.json but missing`);
  });
  if (!p.startsWith(stage + sep)) throw new Error(`docker archive: ${rel} points outside the archive`);
  return p;
}

/**
 * Imports a `docker save` archive (plain or gzip-compressed tar). The archive is unpacked into
 * the store's tmp dir (files only, no ownership), then each image is stored the OCI way: its
 * config as a blob, its layer tars as blobs, and a synthesised OCI manifest tying them together.
 */
export async function importDockerArchive(store: ImageStore, tarPath: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const path = resolve(tarPath);
  await fsp.access(path).catch(() => {
    throw new Error(`${path} does not exist`);
  });
  // Under the lock from the start: opening a store clears tmp/, where the archive is staged.
  return store.locked(async () => {
    const stage = join(store.root, 'tmp', `archive-${Date.now()}-${process.pid}`);
    await fsp.mkdir(stage, { mode: 0o700 });
    try {
      const raw = createReadStream(path);
      const stream = (await detectCompression(path)) === 'gzip' ? pipeline(raw, createGunzip(), () => undefined) : raw;
      await unpackTar(stream as AsyncIterable<Buffer>, stage, { overlayWhiteouts: false, preserveOwnership: false });
      const stageReal = await fsp.realpath(stage);
      const list = await readJson<DockerManifestEntry[]>(join(stageReal, 'manifest.json'), 'docker archive');
      if (!Array.isArray(list) || !list.length) throw new Error(`${path}: manifest.json lists no images`);
      const progress: ImportProgress = { layersUnpacked: 0, layersReused: 0, unpack: [] };
      const images: ImageRecord[] = [];
      for (const entry of list) {
        if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw new Error(`${path}: manifest.json entry without Config/Layers`);
        const configPath = await inside(stageReal, entry.Config);
        const configBytes = await fsp.readFile(configPath);
        const configDigest = sha256(configBytes);
        const files = new Map<string, string>();
        const layers: Descriptor[] = [];
        for (const l of entry.Layers) {
          const lp = await inside(stageReal, l);
          const { digest, size } = await sha256File(lp);
          const comp = await detectCompression(lp);
          if (comp === 'zstd') throw new Error(`${path}: layer ${l} is zstd-compressed; not supported`);
          layers.push({ mediaType: comp === 'gzip' ? MT.ociLayerGzip : MT.ociLayer, digest, size });
          files.set(digest, lp);
        }
        const manifest = Buffer.from(JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length },
          layers,
        }));
        const manifestDigest = sha256(manifest);
        const mem = new Map([[manifestDigest, manifest], [configDigest, configBytes]]);
        const names = entry.RepoTags?.length ? entry.RepoTags : list.length === 1 && opts.name ? [opts.name] : [];
        const r = await store.importManifest(manifestDigest, { path: (d) => files.get(d), bytes: (d) => mem.get(d) }, names);
        addProgress(progress, r.progress);
        images.push(r.image);
      }
      return { images, progress };
    } finally {
      await fsp.rm(stage, { recursive: true, force: true });
    }
  });
}

/** `skiff images import PATH`: a directory is an OCI layout, a file a docker archive */
export async function importPath(store: ImageStore, path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const st = await fsp.stat(path).catch(() => {
    throw new Error(`${path} does not exist`);
  });
  return st.isDirectory() ? importOciLayout(store, path, opts) : importDockerArchive(store, path, opts);
}
