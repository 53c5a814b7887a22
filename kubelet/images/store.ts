// The node's image store (DESIGN §6). Layout under its root:
//   blobs/sha256/<hex>      manifests, configs and layers exactly as received, verified on entry
//   snapshots/<diffhex>/    one layer unpacked, in overlayfs form (whiteouts as 0/0 char devices,
//                           opaque dirs by xattr), so it depends only on its own diff ID and is
//                           shared by every image and container that has that layer
//   images.json             image records by manifest digest, and tags (canonical ref → digest)
//   leases/<holder>.json    one per container using an image; an image with a lease is not removed
//   tmp/                    partial blobs and snapshots, renamed into place when complete
//   pulls/<pid>-<rand>/     blobs a registry pull is downloading (pull.ts); not cleared by open(),
//                           which another process may call while a pull runs
// Leases live on disk because `skiff images rm` runs in another process than the agent.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { digestHex, DigestMismatchError, openLayer, sha256 } from './digest.js';
import { withStoreLock } from './lock.js';
import { familiarName, isDigest, normalizeReference, parseReference, repository } from './reference.js';
import { unpackTar, type UnpackStats } from './unpack.js';
import { mountsUnder } from './rootfs.js';

/** temp entries under snapshots/ older than this are crash leftovers */
const STALE_TEMP_MS = 3_600_000;

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

const LAYER_TYPES = new Set<string>([MT.ociLayer, MT.ociLayerGzip, MT.ociLayerZstd, MT.dockerLayerGzip, MT.dockerForeignGzip, 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip']);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** The part of an image config a runtime needs (OCI image-spec "config" object). */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface LayerRecord {
  digest: string;
  mediaType: string;
  size: number;
  diffID: string;
}

export interface ImageRecord {
  /** config digest, what `docker images` shows as IMAGE ID */
  id: string;
  manifestDigest: string;
  /** canonical references that point at this image */
  names: string[];
  /** "repo@sha256:..." references a registry knows it by (an index digest for multi-platform images) */
  repoDigests?: string[];
  os: string;
  architecture: string;
  config: ImageRuntimeConfig;
  layers: LayerRecord[];
  /** compressed bytes of manifest, config and layers */
  size: number;
  created?: string;
  importedAt: string;
  lastUsed?: string;
}

interface Db {
  version: 1;
  images: Record<string, Omit<ImageRecord, 'names'>>;
  tags: Record<string, string>;
  /** "repo@digest" → manifest digest, written by registry pulls; absent in stores made before pulls */
  repoDigests?: Record<string, string>;
}

export interface Lease {
  holder: string;
  manifestDigest: string;
  ref: string;
  since: string;
}

export class ImageNotFoundError extends Error {}
export class ImageInUseError extends Error {}

/** Where an import finds the blobs of one image. */
export interface BlobSource {
  /** a local file holding the blob, or undefined if the source has none */
  path(digest: string): string | undefined;
  /** blobs the source holds in memory (synthesised manifests) */
  bytes?(digest: string): Buffer | undefined;
}

export interface ImportProgress {
  layersUnpacked: number;
  layersReused: number;
  unpack: UnpackStats[];
}

const HOLDER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

export function hostPlatform(): { os: string; architecture: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', ia32: '386' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

export class ImageStore {
  readonly root: string;
  private readonly lockPath: string;

  private constructor(root: string) {
    this.root = root;
    this.lockPath = join(root, 'lock');
  }

  static async open(root: string): Promise<ImageStore> {
    for (const d of ['blobs/sha256', 'snapshots', 'leases', 'tmp']) await fsp.mkdir(join(root, d), { recursive: true, mode: 0o700 });
    const s = new ImageStore(root);
    // Leftovers of an import that died half-way; nothing refers to them.
    await withStoreLock(s.lockPath, async () => {
      for (const e of await fsp.readdir(join(root, 'tmp'))) await fsp.rm(join(root, 'tmp', e), { recursive: true, force: true });
    });
    return s;
  }

  blobPath(digest: string): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * Name of the image's init layer under snapshots/ (kubelet/images/rootfs.ts): one per layer
   * chain, since where its mount points go depends on the image's own symlinks.
   */
  initLayerName(image: Pick<ImageRecord, 'layers'>): string {
    return `init-${createHash('sha256').update(image.layers.map((l) => l.diffID).join(',')).digest('hex').slice(0, 16)}`;
  }

  snapshotPath(diffID: string): string {
    return join(this.root, 'snapshots', digestHex(diffID));
  }

  private async readDb(): Promise<Db> {
    try {
      const db = JSON.parse(await fsp.readFile(join(this.root, 'images.json'), 'utf8')) as Db;
      if (db.version !== 1) throw new Error(`${this.root}/images.json: unknown version ${String(db.version)}`);
      return db;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {}, tags: {} };
      throw e;
    }
  }

  private async writeDb(db: Db): Promise<void> {
    // Removal paths only drop images and tags; repo digests of a deleted image go with it here.
    if (db.repoDigests) for (const [k, d] of Object.entries(db.repoDigests)) if (!db.images[d]) delete db.repoDigests[k];
    const tmp = join(this.root, 'tmp', `images.json.${randomBytes(6).toString('hex')}`);
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(db, null, 1));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, join(this.root, 'images.json'));
  }

  private tmpName(prefix: string): string {
    return join(this.root, 'tmp', `${prefix}-${randomBytes(8).toString('hex')}`);
  }

  private static record(db: Db, manifestDigest: string): ImageRecord {
    const r = db.images[manifestDigest]!;
    const names = Object.entries(db.tags).filter(([, d]) => d === manifestDigest).map(([n]) => n).sort();
    const repoDigests = Object.entries(db.repoDigests ?? {}).filter(([, d]) => d === manifestDigest).map(([n]) => n).sort();
    return repoDigests.length ? { ...r, names, repoDigests } : { ...r, names };
  }

  // ---- blobs ----

  async hasBlob(digest: string): Promise<boolean> {
    return fsp.access(this.blobPath(digest)).then(() => true, () => false);
  }

  /** copies a file into the store if missing, verifying digest (and size when known) */
  async putBlobFile(digest: string, src: string, size?: number): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const tmp = this.tmpName('blob');
    const h = createHash('sha256');
    let n = 0;
    try {
      await pipeline(
        createReadStream(src),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const c of source) {
            h.update(c);
            n += c.length;
            yield c;
          }
        },
        createWriteStream(tmp, { mode: 0o644 }),
      );
      const got = 'sha256:' + h.digest('hex');
      if (got !== digest) throw new DigestMismatchError(`blob ${digest} from ${src} has digest ${got}`);
      if (size !== undefined && n !== size) throw new DigestMismatchError(`blob ${digest} from ${src} is ${n} bytes, descriptor says ${size}`);
      await fsp.rename(tmp, this.blobPath(digest));
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  async putBlobBytes(digest: string, data: Buffer): Promise<void> {
    if (sha256(data) !== digest) throw new DigestMismatchError(`blob ${digest} does not match its content (${sha256(data)})`);
    if (await this.hasBlob(digest)) return;
    const tmp = this.tmpName('blob');
    await fsp.writeFile(tmp, data, { mode: 0o644 });
    await fsp.rename(tmp, this.blobPath(digest));
  }

  async readBlob(digest: string): Promise<Buffer> {
    const b = await fsp.readFile(this.blobPath(digest));
    // Cheap for manifests and configs, and catches a blob damaged on disk before we trust it.
    if (sha256(b) !== digest) throw new DigestMismatchError(`stored blob ${digest} is corrupt`);
    return b;
  }

  // ---- snapshots ----

  async hasSnapshot(diffID: string): Promise<boolean> {
    return fsp.access(this.snapshotPath(diffID)).then(() => true, () => false);
  }

  /** unpacks a layer blob into its snapshot unless one exists; verifies the diff ID */
  async ensureSnapshot(layer: LayerRecord): Promise<UnpackStats | undefined> {
    if (await this.hasSnapshot(layer.diffID)) return undefined;
    const tmp = this.tmpName('snap');
    await fsp.mkdir(tmp, { mode: 0o755 });
    try {
      const { stream, diffID } = await openLayer(this.blobPath(layer.digest));
      const stats = await unpackTar(stream, tmp, { overlayWhiteouts: true, preserveOwnership: true });
      if (diffID() !== layer.diffID) throw new DigestMismatchError(`layer ${layer.digest}: uncompressed digest ${diffID()} differs from the config's diff ID ${layer.diffID}`);
      await fsp.rename(tmp, this.snapshotPath(layer.diffID));
      return stats;
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  // ---- import ----

  /**
   * Brings one image (its manifest digest, from src) into the store and points names at it.
   * Everything is verified: manifest and config digests, layer digests and sizes, diff IDs.
   */
  private async ingest(manifestDigest: string, src: BlobSource, names: string[], repoDigests: string[] = []): Promise<{ image: ImageRecord; progress: ImportProgress }> {
    const fetch = async (d: Descriptor | { digest: string; size?: number }): Promise<void> => {
      const mem = src.bytes?.(d.digest);
      if (mem) return this.putBlobBytes(d.digest, mem);
      if (await this.hasBlob(d.digest)) return;
      const p = src.path(d.digest);
      if (!p) throw new Error(`blob ${d.digest} is missing from the source`);
      await this.putBlobFile(d.digest, p, d.size);
    };
    await fetch({ digest: manifestDigest });
    const manifest = JSON.parse((await this.readBlob(manifestDigest)).toString('utf8')) as { schemaVersion?: number; mediaType?: string; config?: Descriptor; layers?: Descriptor[] };
    if (manifest.schemaVersion !== 2 || !manifest.config || !Array.isArray(manifest.layers)) throw new Error(`${manifestDigest} is not an image manifest (schemaVersion 2 with config and layers)`);
    if (manifest.mediaType && manifest.mediaType !== MT.ociManifest && manifest.mediaType !== MT.dockerManifest) throw new Error(`${manifestDigest}: unsupported manifest type ${manifest.mediaType}`);
    await fetch(manifest.config);
    const config = JSON.parse((await this.readBlob(manifest.config.digest)).toString('utf8')) as {
      os?: string; architecture?: string; created?: string; config?: ImageRuntimeConfig; rootfs?: { type?: string; diff_ids?: string[] };
    };
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== manifest.layers.length) throw new Error(`${manifestDigest}: ${manifest.layers.length} layers but the config lists ${diffIDs.length} diff IDs`);
    const layers: LayerRecord[] = [];
    const progress: ImportProgress = { layersUnpacked: 0, layersReused: 0, unpack: [] };
    for (let i = 0; i < manifest.layers.length; i++) {
      const d = manifest.layers[i]!;
      if (!LAYER_TYPES.has(d.mediaType)) throw new Error(`${manifestDigest}: unsupported layer type ${d.mediaType}`);
      digestHex(diffIDs[i]!);
      const rec: LayerRecord = { digest: d.digest, mediaType: d.mediaType, size: d.size, diffID: diffIDs[i]! };
      if (await this.hasSnapshot(rec.diffID)) {
        // The layer is already unpacked; keep its blob only if the source has it at hand.
        progress.layersReused++;
        if (!(await this.hasBlob(rec.digest)) && (src.path(rec.digest) || src.bytes?.(rec.digest))) await fetch(d);
      } else {
        await fetch(d);
        const st = await this.ensureSnapshot(rec);
        if (st) progress.unpack.push(st);
        progress.layersUnpacked++;
      }
      layers.push(rec);
    }
    const db = await this.readDb();
    const size = manifest.layers.reduce((a, l) => a + l.size, manifest.config.size) + (await fsp.stat(this.blobPath(manifestDigest))).size;
    db.images[manifestDigest] = {
      id: manifest.config.digest,
      manifestDigest,
      os: config.os ?? 'linux',
      architecture: config.architecture ?? 'amd64',
      config: config.config ?? {},
      layers,
      size,
      created: config.created,
      importedAt: db.images[manifestDigest]?.importedAt ?? new Date().toISOString(),
      lastUsed: db.images[manifestDigest]?.lastUsed,
    };
    for (const n of names) db.tags[n] = manifestDigest;
    if (repoDigests.length) {
      db.repoDigests ??= {};
      for (const n of repoDigests) db.repoDigests[n] = manifestDigest;
    }
    await this.writeDb(db);
    return { image: ImageStore.record(db, manifestDigest), progress };
  }

  /** for importers: runs fn under the store lock (imports, removal and GC never overlap) */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    return withStoreLock(this.lockPath, fn);
  }

  /** import entry point used by the format readers; call inside locked() */
  importManifest(manifestDigest: string, src: BlobSource, names: string[], repoDigests: string[] = []): Promise<{ image: ImageRecord; progress: ImportProgress }> {
    const rd = repoDigests.map((x) => {
      const r = parseReference(x);
      if (!r.digest) throw new Error(`repo digest "${x}" has no digest`);
      return `${repository(r)}@${r.digest}`;
    });
    return this.ingest(manifestDigest, src, names.map(normalizeReference), rd);
  }

  // ---- queries ----

  async list(): Promise<ImageRecord[]> {
    const db = await this.readDb();
    return Object.keys(db.images).map((d) => ImageStore.record(db, d)).sort((a, b) => (a.names[0] ?? '~' + a.id).localeCompare(b.names[0] ?? '~' + b.id));
  }

  /**
   * Finds an image by reference ("busybox", "host:5000/x:1", "x@sha256:..."), by manifest or
   * config digest, or by an unambiguous image ID prefix (at least 4 hex digits).
   */
  async resolve(ref: string): Promise<ImageRecord> {
    const db = await this.readDb();
    const d = ImageStore.find(db, ref);
    if (!d) throw new ImageNotFoundError(`image "${ref}" not found in the store`);
    return ImageStore.record(db, d);
  }

  /** resolves without throwing */
  async lookup(ref: string): Promise<ImageRecord | undefined> {
    return this.resolve(ref).catch((e) => {
      if (e instanceof ImageNotFoundError) return undefined;
      throw e;
    });
  }

  private static find(db: Db, ref: string): string | undefined {
    return ImageStore.match(db, ref)?.digest;
  }

  /** how ref names an image: by one of its tags, or by an identity (digest, ID) */
  private static match(db: Db, ref: string): { digest: string; tag?: string } | undefined {
    const s = ref.trim();
    if (isDigest(s)) {
      if (db.images[s]) return { digest: s };
      const byId = Object.values(db.images).find((i) => i.id === s);
      return byId && { digest: byId.manifestDigest };
    }
    if (/^[a-f0-9]{4,64}$/.test(s)) {
      const hits = Object.values(db.images).filter((i) => digestHex(i.id).startsWith(s));
      if (hits.length === 1) return { digest: hits[0]!.manifestDigest };
      if (hits.length > 1) throw new Error(`image ID prefix "${s}" is ambiguous (${hits.length} images)`);
      // A bare hex string may also be a repository name; fall through.
    }
    const r = parseReference(s);
    if (r.digest) {
      if (db.images[r.digest]) return { digest: r.digest };
      const viaRepo = db.repoDigests?.[`${repository(r)}@${r.digest}`];
      return viaRepo && db.images[viaRepo] ? { digest: viaRepo } : undefined;
    }
    const tag = `${repository(r)}:${r.tag}`;
    return db.tags[tag] ? { digest: db.tags[tag]!, tag } : undefined;
  }

  // ---- use and removal ----

  private leasePath(holder: string): string {
    if (!HOLDER_RE.test(holder)) throw new Error(`invalid lease holder "${holder}" (letters, digits, "_", ".", "-")`);
    return join(this.root, 'leases', `${holder}.json`);
  }

  async leases(): Promise<Lease[]> {
    const out: Lease[] = [];
    for (const f of await fsp.readdir(join(this.root, 'leases'))) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await fsp.readFile(join(this.root, 'leases', f), 'utf8')) as Lease);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return out;
  }

  /**
   * Marks the image as used by holder (a container ID) so it cannot be removed, and returns it.
   * Idempotent per holder: acquiring again moves the holder's lease to the new image.
   */
  async acquire(ref: string, holder: string): Promise<ImageRecord> {
    const path = this.leasePath(holder);
    return this.locked(async () => {
      const db = await this.readDb();
      const d = ImageStore.find(db, ref);
      if (!d) throw new ImageNotFoundError(`image "${ref}" not found in the store`);
      const lease: Lease = { holder, manifestDigest: d, ref, since: new Date().toISOString() };
      await fsp.writeFile(path, JSON.stringify(lease));
      db.images[d]!.lastUsed = lease.since;
      await this.writeDb(db);
      return ImageStore.record(db, d);
    });
  }

  /** drops holder's lease; releasing twice (or a holder that never acquired) is fine */
  async release(holder: string): Promise<void> {
    await fsp.rm(this.leasePath(holder), { force: true });
  }

  /** how many holders use the image */
  async refCount(ref: string): Promise<number> {
    const img = await this.resolve(ref);
    return (await this.leases()).filter((l) => l.manifestDigest === img.manifestDigest).length;
  }

  /**
   * Removes a reference. A tag only untags unless it was the image's last name; an ID or digest
   * removes the image and all its names. An image with leases is never deleted (ImageInUseError).
   * Blobs and snapshots nothing else uses are deleted with it. Returns what happened.
   */
  async remove(ref: string): Promise<{ untagged: string[]; deleted?: string }> {
    return this.locked(async () => {
      const db = await this.readDb();
      const m = ImageStore.match(db, ref);
      if (!m) throw new ImageNotFoundError(`image "${ref}" not found in the store`);
      const d = m.digest;
      const names = Object.keys(db.tags).filter((n) => db.tags[n] === d);
      const untag = m.tag ? [m.tag] : names;
      const deleting = untag.length >= names.length;
      if (deleting) {
        const users = (await this.leases()).filter((l) => l.manifestDigest === d);
        if (users.length) throw new ImageInUseError(`image "${ref}" is in use by ${users.length} container(s): ${users.map((u) => u.holder).slice(0, 5).join(', ')}`);
      }
      for (const n of untag) delete db.tags[n];
      if (deleting) delete db.images[d];
      await this.writeDb(db);
      if (deleting) await this.sweep(db);
      return { untagged: untag.map(familiarName), deleted: deleting ? d : undefined };
    });
  }

  /** deletes blobs and snapshots that no image record refers to; call with the lock held */
  private async sweep(db: Db): Promise<{ blobs: number; snapshots: number; bytes: number }> {
    const blobs = new Set<string>();
    const snaps = new Set<string>();
    for (const i of Object.values(db.images)) {
      snaps.add(this.initLayerName(i));
      blobs.add(digestHex(i.manifestDigest));
      blobs.add(digestHex(i.id));
      for (const l of i.layers) {
        blobs.add(digestHex(l.digest));
        snaps.add(digestHex(l.diffID));
      }
    }
    let nb = 0;
    let ns = 0;
    let bytes = 0;
    for (const f of await fsp.readdir(join(this.root, 'blobs', 'sha256'))) {
      if (blobs.has(f)) continue;
      const p = join(this.root, 'blobs', 'sha256', f);
      bytes += (await fsp.stat(p)).size;
      await fsp.rm(p, { force: true });
      nb++;
    }
    for (const f of await fsp.readdir(join(this.root, 'snapshots'))) {
      // empty is shared by every layerless image, init-* of live images are kept above
      // (kubelet/images/rootfs.ts), init is the one shared layer of older versions (containers
      // started by them may still run on it).
      if (snaps.has(f) || f === 'empty' || f === 'init') continue;
      // A build's temp dir or an image view goes once it is an hour old (a crash left it) and
      // nothing is mounted on it.
      if (f.startsWith('.')) {
        const p = join(this.root, 'snapshots', f);
        const st = await fsp.stat(p).catch(() => undefined);
        if (!st || Date.now() - st.mtimeMs < STALE_TEMP_MS || (await mountsUnder(p)).length > 0) continue;
      }
      await fsp.rm(join(this.root, 'snapshots', f), { recursive: true, force: true });
      ns++;
    }
    return { blobs: nb, snapshots: ns, bytes };
  }

  /**
   * Image garbage collection under disk pressure: deletes images no container uses, least
   * recently used first, until `bytesToFree` compressed bytes are gone (or nothing is left to
   * delete). Images in `keep` (references) stay. Returns the deleted manifest digests.
   */
  async collectGarbage(bytesToFree: number, keep: string[] = []): Promise<{ deleted: string[]; freedBytes: number }> {
    return this.locked(async () => {
      const db = await this.readDb();
      const used = new Set((await this.leases()).map((l) => l.manifestDigest));
      for (const k of keep) {
        const d = ImageStore.find(db, k);
        if (d) used.add(d);
      }
      const candidates = Object.values(db.images)
        .filter((i) => !used.has(i.manifestDigest))
        .sort((a, b) => (a.lastUsed ?? a.importedAt).localeCompare(b.lastUsed ?? b.importedAt));
      const deleted: string[] = [];
      let freed = 0;
      for (const c of candidates) {
        if (freed >= bytesToFree) break;
        delete db.images[c.manifestDigest];
        for (const [n, d] of Object.entries(db.tags)) if (d === c.manifestDigest) delete db.tags[n];
        deleted.push(c.manifestDigest);
        await this.writeDb(db);
        freed += (await this.sweep(db)).bytes;
      }
      return { deleted, freedBytes: freed };
    });
  }
}


