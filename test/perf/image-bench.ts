// Image store figures: importing the hack/ busybox OCI layout into an empty store (verify, copy,
// unpack) against GNU tar unpacking the same layer (the peer, measured in the same run), importing
// it again (snapshot reused), and per container: overlay mount time, unmount time, and the disk a
// new container takes (upper+work, target <= 12 KB). Needs root. Usage: node dist/test/perf/image-bench.js
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ImageStore, importOciLayout, mountRootfs, unmountRootfs } from '../../kubelet/images/index.js';

const RUNS = 7;
const CONTAINERS = 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('image-bench needs root (overlay mounts, chown, mknod)');
    process.exit(2);
  }
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const work = mkdtempSync('/tmp/skiff-image-bench-');
  const containers: string[] = [];
  try {
    const layout = join(work, 'busybox-oci');
    execFileSync(join(repo, 'hack', 'build-busybox-image.sh'), [layout], { stdio: 'ignore' });
    const index = JSON.parse(execFileSync('cat', [join(layout, 'index.json')], { encoding: 'utf8' })) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(execFileSync('cat', [join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7))], { encoding: 'utf8' })) as { layers: Array<{ digest: string }> };
    const layerBlob = join(layout, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7));

    const cold: number[] = [];
    const warm: number[] = [];
    const peer: number[] = [];
    let store!: ImageStore;
    for (let i = 0; i < RUNS; i++) {
      const root = join(work, `store-${i}`);
      store = await ImageStore.open(root);
      let t0 = performance.now();
      await importOciLayout(store, layout);
      cold.push(performance.now() - t0);
      t0 = performance.now();
      await importOciLayout(store, layout);
      warm.push(performance.now() - t0);
      const out = join(work, `tar-${i}`);
      mkdirSync(out);
      t0 = performance.now();
      execFileSync('tar', ['--numeric-owner', '-xzf', layerBlob, '-C', out]);
      peer.push(performance.now() - t0);
      if (i < RUNS - 1) rmSync(root, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
    const img = await store.resolve('busybox');
    const mountMs: number[] = [];
    const kb: number[] = [];
    for (let i = 0; i < CONTAINERS; i++) {
      const c = join(work, 'containers', `c${i}`);
      containers.push(c);
      const t0 = performance.now();
      const m = await mountRootfs(store, img, c);
      mountMs.push(performance.now() - t0);
      kb.push(execFileSync('du', ['-sk', m.upper, m.work], { encoding: 'utf8' }).trim().split('\n').reduce((a, l) => a + Number(l.split('\t')[0]), 0));
    }
    const umountMs: number[] = [];
    for (const c of containers.splice(0)) {
      const t0 = performance.now();
      await unmountRootfs(c, { remove: true });
      umountMs.push(performance.now() - t0);
    }
    const maxKb = Math.max(...kb);
    const fmt = (x: number) => x.toFixed(1);
    console.log(`busybox image (1 layer, ${(img.size / 1e6).toFixed(2)} MB compressed), ${RUNS} runs, medians:`);
    console.log(`  import into an empty store   ${fmt(median(cold))} ms   (peer: GNU tar -xzf of the layer alone ${fmt(median(peer))} ms, ratio ${(median(cold) / median(peer)).toFixed(2)})`);
    console.log(`  import again (layer reused)  ${fmt(median(warm))} ms`);
    console.log(`  overlay mount per container  ${fmt(median(mountMs))} ms   unmount+remove ${fmt(median(umountMs))} ms   (${CONTAINERS} containers)`);
    console.log(`  disk per new container (upper+work, du -sk): max ${maxKb} KB   target <= 12 KB: ${maxKb <= 12 ? 'PASS' : 'MISS'}`);
  } finally {
    for (const c of containers) await unmountRootfs(c).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
