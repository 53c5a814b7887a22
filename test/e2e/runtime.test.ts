// Real containers through conmon + crun and conmon + runc: run to completion with CRI logs, a
// long-running one with exec and a pid namespace, graceful and forced stop, a memory limit with an
// OOM kill, and an agent restart that finds its containers again. Needs root, conmon, crun/runc,
// busybox-static and iproute2 (Debian: apt-get install -y crun runc conmon busybox-static iproute2).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { OciContainerRuntime, type ContainerStatus } from '../../kubelet/runtime/oci/runtime.js';
import { buildSpec, containerCgroupPath, podCgroupParent } from '../../kubelet/runtime/oci/spec.js';
import { cgroupDirs, readMemoryLimit } from '../../kubelet/runtime/oci/cgroups.js';
import { parseCriLog } from '../../kubelet/runtime/oci/cri-log.js';
import { findExecutable, type OciRuntimeName } from '../../kubelet/runtime/oci/oci-binary.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../unit/runtime/busybox-rootfs.js';

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!findExecutable('conmon')) return 'conmon is not installed (apt-get install -y conmon)';
  if (!findExecutable('ip')) return 'ip is not installed (apt-get install -y iproute2)';
  if (!busyboxAvailable()) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  if (!findExecutable('crun') && !findExecutable('runc')) return 'neither crun nor runc is installed (apt-get install -y crun runc)';
  return undefined;
}

const missing = missingPrerequisite();
const runtimes: OciRuntimeName[] = missing ? [] : (['crun', 'runc'] as const).filter((r) => findExecutable(r));
const unique = `${process.pid}-${randomBytes(3).toString('hex')}`;
const netns = `skiff-e2e-${unique}`;
let tmp: { dir: string; rootfs: string } | undefined;
const opened: OciContainerRuntime[] = [];

if (missing) {
  console.log(`runtime e2e tests skipped: ${missing}`);
  test.skip(`runtime e2e (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(() => {
    tmp = makeBusyboxRootfs(`skiff-e2e-rt-${unique}-`);
    execFileSync('ip', ['netns', 'add', netns]);
  });

  test.after.always(async (t) => {
    for (const rt of opened) rt.close();
    if (existsSync(`/run/netns/${netns}`)) execFileSync('ip', ['netns', 'del', netns]);
    // conmon exits on its own once its container is gone; wait for that with a deadline.
    const deadline = Date.now() + 5000;
    let left = '';
    while (Date.now() < deadline) {
      left = conmonsUnder(tmp?.dir);
      if (!left) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (tmp) rmSync(tmp.dir, { recursive: true, force: true });
    t.is(left, '', 'no conmon of these tests is left');
  });

  for (const name of runtimes) registerTests(name);
}

/** conmon processes whose command line mentions dir (only ours), ignoring zombies. */
function conmonsUnder(dir: string | undefined): string {
  if (!dir) return '';
  try {
    const out = execFileSync('pgrep', ['-a', '-f', `conmon .*${dir}`], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter(Boolean)
      .filter((l) => {
        const pid = l.split(' ')[0];
        try {
          return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      })
      .join('\n');
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}

function registerTests(runtime: OciRuntimeName): void {
  const runtimes = new Map<string, Promise<OciContainerRuntime>>();
  /** One runtime object per root; a test can open a second one over the same root. */
  function openRuntime(root: string): Promise<OciContainerRuntime> {
    const p = OciContainerRuntime.open({ root: join(tmp!.dir, root), runtime }).then((rt) => {
      opened.push(rt);
      return rt;
    });
    runtimes.set(root, p);
    return p;
  }

  interface Ctx {
    rt: OciContainerRuntime;
    uid: string;
    podName: string;
    run(name: string, container: Record<string, unknown>, opts?: { start?: boolean }): Promise<ContainerStatus>;
  }

  async function setup(t: { teardown(fn: () => Promise<void> | void): void }, label: string): Promise<Ctx> {
    const rt = await openRuntime(`${runtime}-${label}`);
    const uid = `${label}-${unique}-${randomBytes(3).toString('hex')}`;
    const podName = `pod-${label}`;
    const ids: string[] = [];
    t.teardown(async () => {
      for (const id of ids) await rt.remove(id, { force: true });
      const busy = rt.removePodCgroup(uid);
      if (busy.length > 0) throw new Error(`cgroups left: ${busy.join(', ')}`);
      const left = cgroupDirs(rt.cgroupLayout, podCgroupParent(uid)).filter((d) => existsSync(d));
      if (left.length > 0) throw new Error(`pod cgroups still there: ${left.join(', ')}`);
      removeSkiffParentIfEmpty(rt);
    });
    const pod = { metadata: { name: podName, namespace: 'e2e', uid }, spec: {} };
    return {
      rt,
      uid,
      podName,
      async run(name, container, opts = {}) {
        const id = rt.newContainerId();
        const spec = buildSpec({
          pod,
          container: { name, ...container },
          rootfs: tmp!.rootfs,
          netnsPath: `/run/netns/${netns}`,
          cgroupsPath: containerCgroupPath(uid, id),
          nofileHard: 20000,
        });
        ids.push(id);
        const created = await rt.create({ id, name, pod: { uid, name: podName, namespace: 'e2e' }, spec });
        return opts.start === false ? created : rt.start(id);
      },
    };
  }

  test(`${runtime}: a container that echoes and exits: exit code and CRI log lines`, async (t) => {
    const c = await setup(t, 'echo');
    const created = await c.run('echo', { command: ['sh', '-c', 'echo hello-out; echo hello-err >&2; exit 3'] }, { start: false });
    t.is(created.state, 'created');
    t.true(created.pid! > 0);
    await c.rt.start(created.id);
    t.true(await c.rt.waitExit(created.id, 10_000));
    const st = await c.rt.state(created.id);
    t.is(st.state, 'exited');
    t.is(st.exitCode, 3);
    t.is(st.reason, 'Error');
    const raw = readFileSync(st.logPath, 'utf8');
    t.regex(raw, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) stdout F hello-out$/m);
    const entries = parseCriLog(raw);
    t.deepEqual(
      entries.map((e) => [e.stream, e.text]).sort(),
      [['stderr', 'hello-err'], ['stdout', 'hello-out']],
    );

    const ok = await c.run('ok', { command: ['true'] });
    t.true(await c.rt.waitExit(ok.id, 10_000));
    const okSt = await c.rt.state(ok.id);
    t.is(okSt.exitCode, 0);
    t.is(okSt.reason, 'Completed');
  });

  test(`${runtime}: a long-running container: running, exec, pid namespace, stop by SIGTERM`, async (t) => {
    const c = await setup(t, 'long');
    const script = 'trap "echo got-term; exit 143" TERM; echo ready; while true; do sleep 1 & wait $!; done';
    const st = await c.run('web', { command: ['sh', '-c', script] });
    t.is(st.state, 'running');
    t.true(st.pid! > 1);

    const host = await c.rt.exec(st.id, { command: ['hostname'] });
    t.is(host.exitCode, 0);
    t.is(host.stdout.trim(), c.podName);

    const ps = await c.rt.exec(st.id, { command: ['ps', '-o', 'pid,comm'] });
    t.is(ps.exitCode, 0, ps.stderr);
    const rows = ps.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    t.deepEqual(rows.find((r) => r[0] === '1')?.[1], 'sh', ps.stdout);
    // Only the container's own processes: its sh, its sleeps and ps itself.
    t.true(rows.every((r) => ['sh', 'sleep', 'ps'].includes(r[1])), ps.stdout);
    t.true(rows.length <= 4, ps.stdout);

    const code = await c.rt.exec(st.id, { command: ['sh', '-c', 'cat; exit 7'], stdin: 'from-stdin\n' });
    t.is(code.exitCode, 7);
    t.is(code.stdout, 'from-stdin\n');

    const tty = await c.rt.exec(st.id, { command: ['sh', '-c', 'tty; exit 4'], tty: true, timeoutMs: 10_000 });
    t.is(tty.exitCode, 4);
    t.regex(tty.stdout, /^\/dev\/pts\/\d+\r*\n+$/);

    const slow = await c.rt.exec(st.id, { command: ['sleep', '30'], timeoutMs: 300 });
    t.true(slow.timedOut);

    const t0 = Date.now();
    const stopped = await c.rt.stop(st.id, 20_000);
    t.true(Date.now() - t0 < 10_000, 'the trap ended it well before the grace period');
    t.is(stopped.state, 'exited');
    t.is(stopped.exitCode, 143);
    const log = parseCriLog(readFileSync(stopped.logPath, 'utf8')).map((e) => e.text);
    t.deepEqual(log, ['ready', 'got-term']);
  });

  test(`${runtime}: a process that ignores SIGTERM is killed after the grace period`, async (t) => {
    const c = await setup(t, 'kill');
    const st = await c.run('sleeper', { command: ['sleep', '3600'] });
    const t0 = Date.now();
    const stopped = await c.rt.stop(st.id, 600);
    t.true(Date.now() - t0 >= 600);
    t.is(stopped.exitCode, 137);
    t.is(stopped.reason, 'Error');
  });

  test(`${runtime}: memory limit in the cgroup; allocating more is OOMKilled`, async (t) => {
    const c = await setup(t, 'oom');
    const hog = 'echo start; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived';
    const st = await c.run('hog', { command: ['sh', '-c', hog], resources: { limits: { memory: '16Mi' } } }, { start: false });
    t.is(readMemoryLimit(c.rt.cgroupLayout, st.cgroupsPath), 16 * 1024 * 1024);
    await c.rt.start(st.id);
    t.true(await c.rt.waitExit(st.id, 20_000));
    const done = await c.rt.state(st.id);
    t.is(done.exitCode, 137);
    t.is(done.reason, 'OOMKilled');
    t.false(readFileSync(done.logPath, 'utf8').includes('survived'));
  });

  test(`${runtime}: a missing executable fails create with the runtime's message and leaves nothing behind`, async (t) => {
    const c = await setup(t, 'fail');
    const err = await t.throwsAsync(c.run('bad', { command: ['/nonexistent'] }));
    t.regex(err!.message, /nonexistent/);
    t.deepEqual(await c.rt.list(), []);
    // A created but never started container can be removed by force.
    const idle = await c.run('idle', { command: ['sleep', '3600'] }, { start: false });
    t.is(idle.state, 'created');
    await c.rt.remove(idle.id, { force: true });
    t.deepEqual(await c.rt.list(), []);
  });

  test(`${runtime}: a new runtime object over the same root finds the running container`, async (t) => {
    const c = await setup(t, 'restart');
    const st = await c.run('keep', { command: ['sleep', '3600'] });
    const again = await OciContainerRuntime.open({ root: join(tmp!.dir, `${runtime}-restart`), runtime });
    opened.push(again);
    const found = (await again.list()).find((s) => s.id === st.id);
    t.truthy(found);
    t.is(found!.state, 'running');
    t.is(found!.pid, st.pid);
    t.is(found!.name, 'keep');
    t.deepEqual(found!.pod, { uid: c.uid, name: c.podName, namespace: 'e2e' });
    const exited = new Promise<ContainerStatus>((resolve) => again.onExit(st.id, resolve));
    await again.stop(st.id, 0);
    t.is((await exited).exitCode, 137);
  });
}

/** /skiff is shared by all pods; the last test to leave removes it (rmdir fails while in use). */
function removeSkiffParentIfEmpty(rt: OciContainerRuntime): void {
  for (const dir of cgroupDirs(rt.cgroupLayout, '/skiff')) {
    try {
      rmdirSync(dir);
    } catch {
      /* still used by another pod, or already gone */
    }
  }
}
