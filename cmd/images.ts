// `skiff images import PATH | pull REF | list | rm REF...`: the node's image store (kubelet/images) from the
// command line, working on the same DIR/images the agent uses (the store locks across processes).
import { join, resolve } from 'node:path';
import { ImageStore, importPath, familiarName, pullImage, parseReference, type ImageRecord, type PullProgress, type RegistryAuth } from '../kubelet/images/index.js';
import { UsageError, type FlagSpec, type FlagValues } from './flags.js';

export const imagesFlags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: "the agent's data dir (the store is DIR/images)" },
  { name: 'name', type: 'string', help: 'import: a reference for an image the source leaves unnamed (or the repository for a bare tag)' },
  { name: 'quiet', short: 'q', type: 'boolean', default: false, help: 'list: print image IDs only; pull: no progress' },
  { name: 'insecure-registry', type: 'list', default: [], help: 'pull: a registry (host[:port]) that may be reached over plain HTTP; repeatable (loopback registries always may)' },
  { name: 'creds', type: 'string', help: 'pull: USER:PASSWORD for the registry of REF' },
];

const USAGE = 'images: give a subcommand: skiff images import PATH | list | rm REF... | pull REF';

function humanSize(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i ? v.toFixed(v < 10 ? 2 : 1) : v}${u[i]}`;
}

function shortId(img: ImageRecord): string {
  return img.id.slice('sha256:'.length, 'sha256:'.length + 12);
}

function table(images: ImageRecord[]): string {
  const rows: string[][] = [['REPOSITORY', 'TAG', 'IMAGE ID', 'SIZE']];
  for (const img of images) {
    const names = img.names.length ? img.names : [''];
    for (const n of names) {
      const f = familiarName(n);
      const colon = f.lastIndexOf(':');
      rows.push(n ? [f.slice(0, colon), f.slice(colon + 1), shortId(img), humanSize(img.size)] : ['<none>', '<none>', shortId(img), humanSize(img.size)]);
    }
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => (c === r.length - 1 ? x : x.padEnd(w[c]! + 3))).join('')).join('\n') + '\n';
}

export async function runImages(values: FlagValues, positional: string[]): Promise<void> {
  const [sub, ...args] = positional;
  if (!sub) throw new UsageError(USAGE);
  const store = await ImageStore.open(join(resolve(String(values['data-dir'] ?? '/var/lib/skiff')), 'images'));
  switch (sub) {
    case 'import': {
      if (args.length !== 1) throw new UsageError('images import: give one PATH (an OCI layout directory or a docker save archive)');
      const t0 = Date.now();
      const r = await importPath(store, args[0]!, { name: values['name'] ? String(values['name']) : undefined });
      for (const img of r.images) {
        const names = img.names.map(familiarName).join(', ') || '<none>';
        process.stdout.write(`imported ${names} (${shortId(img)}, ${img.manifestDigest})\n`);
      }
      process.stderr.write(`${r.progress.layersUnpacked} layer(s) unpacked, ${r.progress.layersReused} already present, ${Date.now() - t0} ms\n`);
      return;
    }
    case 'pull': {
      if (args.length !== 1) throw new UsageError('images pull: give one image reference');
      const ref = args[0]!;
      const auth: RegistryAuth[] = [];
      const creds = values['creds'] ? String(values['creds']) : '';
      if (creds) {
        const colon = creds.indexOf(':');
        if (colon <= 0) throw new UsageError('images pull: --creds must be USER:PASSWORD');
        auth.push({ registry: parseReference(ref).domain, username: creds.slice(0, colon), password: creds.slice(colon + 1) });
      }
      const quiet = Boolean(values['quiet']);
      let last = '';
      const onProgress = (p: PullProgress) => {
        const line = p.phase === 'downloading' ? `downloading ${p.layersDownloaded}/${p.layers - p.layersSkipped} layer(s), ${p.layersSkipped} already present` : p.phase === 'storing' ? 'unpacking' : '';
        if (!quiet && line && line !== last) process.stderr.write(line + '\n');
        last = line;
      };
      const t0 = Date.now();
      const img = await pullImage(store, ref, { auth, insecureRegistries: (values['insecure-registry'] as string[] | undefined) ?? [], onProgress });
      const names = img.names.map(familiarName).join(', ') || familiarName(img.repoDigests?.[0] ?? ref);
      process.stdout.write(`pulled ${names} (${shortId(img)}, ${img.manifestDigest})\n`);
      for (const d of img.repoDigests ?? []) process.stdout.write(`Digest: ${d}\n`);
      if (!quiet) process.stderr.write(`${Date.now() - t0} ms\n`);
      return;
    }
    case 'list':
    case 'ls': {
      if (args.length) throw new UsageError(`images list: unexpected argument "${args[0]}"`);
      const images = await store.list();
      process.stdout.write(values['quiet'] ? images.map((i) => shortId(i) + '\n').join('') : table(images));
      return;
    }
    case 'rm':
    case 'remove': {
      if (!args.length) throw new UsageError('images rm: give at least one image reference or ID');
      let failed = 0;
      for (const ref of args) {
        try {
          const r = await store.remove(ref);
          for (const u of r.untagged) process.stdout.write(`Untagged: ${u}\n`);
          if (r.deleted) process.stdout.write(`Deleted: ${r.deleted}\n`);
        } catch (e) {
          failed++;
          process.stderr.write(`skiff: images rm ${ref}: ${(e as Error).message}\n`);
        }
      }
      if (failed) throw new Error(`${failed} of ${args.length} image(s) not removed`);
      return;
    }
    default:
      throw new UsageError(`images: unknown subcommand "${sub}" (${USAGE.slice('images: give a subcommand: '.length)})`);
  }
}
