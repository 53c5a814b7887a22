// Container start latency: create + start until the process runs, for skiff's conmon + crun (and
// conmon + runc) against plain `crun run --detach` and `runc run --detach` with the same
// config.json. Runs are interleaved so machine noise hits every peer alike. Needs root.
//   node dist/test/perf/runtime-bench.js [runs=30]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OciContainerRuntime } from '../../kubelet/runtime/oci/runtime.js';
import { buildSpec, containerCgroupPath, podCgroupParent } from '../../kubelet/runtime/oci/spec.js';
import { cgroupDirs, removeCgroupTree } from '../../kubelet/runtime/oci/cgroups.js';
import { findExecutable, runtimeArgv, wrapForCreate, type OciBinary, type OciRuntimeName } from '../../kubelet/runtime/oci/oci-binary.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../unit/runtime/busybox-rootfs.js';

const RUNS = Number(process.argv[2] ?? 30);
const WARMUP = 3;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // The detached container inherits stdio; pipes would stay open as long as it lives.
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('runtime-bench needs root');
  if (!busyboxAvailable() || !findExecutable('conmon')) throw new Error('needs busybox-static and conmon (apt-get install -y busybox-static conmon crun runc)');
  const available = (['crun', 'runc'] as OciRuntimeName[]).filter((r) => findExecutable(r));
  const tmp = makeBusyboxRootfs('skiff-rtbench-');
  const uid = `bench-${process.pid}-${randomBytes(3).toString('hex')}`;
  const netns = `skiff-bench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', netns]);
  const pod = { metadata: { name: 'bench', namespace: 'perf', uid }, spec: {} };
  const runtimes = new Map<OciRuntimeName, OciContainerRuntime>();
  const samples = new Map<string, number[]>();
  const record = (peer: string, ms: number) => {
    if (!samples.has(peer)) samples.set(peer, []);
    samples.get(peer)!.push(ms);
  };
  let n = 0;
  const spec = (id: string) =>
    buildSpec({
      pod,
      container: { name: 'c', command: ['sleep', '3600'] },
      rootfs: tmp.rootfs,
      netnsPath: `/run/netns/${netns}`,
      cgroupsPath: containerCgroupPath(uid, id),
      nofileHard: 20000,
    });
  try {
    for (const r of available) runtimes.set(r, await OciContainerRuntime.open({ root: join(tmp.dir, r), runtime: r }));

    const viaConmon = async (r: OciRuntimeName, measured: boolean) => {
      const rt = runtimes.get(r)!;
      const id = rt.newContainerId();
      const t0 = performance.now();
      await rt.create({ id, name: 'c', pod: { uid, name: 'bench', namespace: 'perf' }, spec: spec(id) });
      const st = await rt.start(id);
      const ms = performance.now() - t0;
      if (st.state !== 'running') throw new Error(`conmon+${r}: container is ${st.state}`);
      if (measured) record(`conmon+${r}`, ms);
      await rt.remove(id, { force: true });
    };

    const plain = async (bin: OciBinary, measured: boolean) => {
      const id = `plain${n++}${randomBytes(3).toString('hex')}`;
      const bundle = join(tmp.dir, 'bundles', id);
      mkdirSync(bundle, { recursive: true });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec(id)));
      const t0 = performance.now();
      await run(wrapForCreate(bin, runtimeArgv(bin, ['run', '--detach', '--bundle', bundle, id])));
      const ms = performance.now() - t0;
      if (measured) record(`${bin.name} run`, ms);
      await run(runtimeArgv(bin, ['delete', '--force', id]));
      removeCgroupTree(bin.layout, containerCgroupPath(uid, id));
      rmSync(bundle, { recursive: true, force: true });
    };

    for (let i = 0; i < WARMUP + RUNS; i++) {
      const measured = i >= WARMUP;
      for (const r of available) {
        await viaConmon(r, measured);
        await plain(runtimes.get(r)!.bin, measured);
      }
    }
  } finally {
    for (const rt of runtimes.values()) rt.close();
    const layout = [...runtimes.values()][0]?.cgroupLayout;
    if (layout) {
      removeCgroupTree(layout, podCgroupParent(uid));
      // The shared parent goes only when no other pod uses it (rmdir fails otherwise).
      for (const d of cgroupDirs(layout, '/skiff')) {
        try {
          rmdirSync(d);
        } catch {
          /* in use by other pods, or gone */
        }
      }
    }
    execFileSync('ip', ['netns', 'del', netns]);
    rmSync(tmp.dir, { recursive: true, force: true });
  }

  console.log(`container start latency, create+start until the process runs (${RUNS} runs each, ${WARMUP} warm-up, interleaved)`);
  const medians = new Map<string, number>();
  for (const [peer, xs] of samples) {
    const sorted = [...xs].sort((a, b) => a - b);
    const med = quantile(sorted, 0.5);
    medians.set(peer, med);
    console.log(`  ${peer.padEnd(14)} min ${sorted[0].toFixed(1)} ms  median ${med.toFixed(1)} ms  p99 ${quantile(sorted, 0.99).toFixed(1)} ms`);
  }
  const ratio = (a: string, b: string) => {
    if (medians.has(a) && medians.has(b)) console.log(`  ratio ${a} / ${b} (medians): ${(medians.get(a)! / medians.get(b)!).toFixed(2)}`);
  };
  ratio('conmon+crun', 'crun run');
  ratio('conmon+crun', 'runc run');
  ratio('conmon+runc', 'runc run');
  ratio('runc run', 'crun run');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
