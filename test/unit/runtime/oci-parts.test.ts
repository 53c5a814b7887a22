// The host-facing helpers of the OCI runtime that need no host: CRI log format, cgroup layout
// detection, conmon's command line, the crun create wrapper and image users.
import test from 'ava';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCriLogLine, parseCriLog, parseCriLogLine } from '../../../kubelet/runtime/oci/cri-log.js';
import { cgroupDirs, readCgroupLayout } from '../../../kubelet/runtime/oci/cgroups.js';
import { conmonArgs } from '../../../kubelet/runtime/oci/conmon.js';
import { wrapForCreate, type OciBinary } from '../../../kubelet/runtime/oci/oci-binary.js';
import { resolveImageUser } from '../../../kubelet/runtime/oci/image-user.js';

test('CRI log lines: parse, join partial lines, format like kubelet', (t) => {
  t.deepEqual(parseCriLogLine('2026-11-28T07:05:56.443786674+00:00 stdout F hello world'), {
    time: '2026-11-28T07:05:56.443786674+00:00',
    stream: 'stdout',
    full: true,
    text: 'hello world',
  });
  t.is(parseCriLogLine('2026-01-01T00:00:00.000000000Z stderr F')!.text, '');
  t.is(parseCriLogLine('garbage'), undefined);
  // Carriage returns belong to the text (a tty container ends every line with one).
  t.is(parseCriLogLine('2026-01-01T00:00:00.000000000Z stdout F p 10%\rp 100%')!.text, 'p 10%\rp 100%');
  t.is(parseCriLogLine('2026-01-01T00:00:00.000000000Z stdout F tty-out\r')!.text, 'tty-out\r');
  const log = ['T1 stdout P abc', 'T2 stderr F err', 'T3 stdout F def', ''].join('\n');
  t.deepEqual(parseCriLog(log).map((e) => [e.stream, e.text]), [['stderr', 'err'], ['stdout', 'abcdef']]);
  t.is(formatCriLogLine(new Date(Date.UTC(2026, 0, 1)), 'stdout', 'text'), '2026-01-01T00:00:00.000000000Z stdout F text');
});

const HYBRID = `tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;

test('cgroup layout: hybrid, v1 and v2 hosts', (t) => {
  const hybrid = readCgroupLayout(HYBRID);
  t.is(hybrid.mode, 'hybrid');
  t.is(hybrid.v1.get('memory'), '/sys/fs/cgroup/memory');
  t.is(hybrid.unified, '/sys/fs/cgroup/unified');
  t.deepEqual(cgroupDirs(hybrid, '/skiff/podu/c'), [
    '/sys/fs/cgroup/memory/skiff/podu/c',
    '/sys/fs/cgroup/cpu/skiff/podu/c',
    '/sys/fs/cgroup/systemd/skiff/podu/c',
    '/sys/fs/cgroup/unified/skiff/podu/c',
  ]);
  t.is(readCgroupLayout(HYBRID.split('\n').filter((l) => !l.includes('cgroup2')).join('\n')).mode, 'v1');
  const v2 = readCgroupLayout('cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n');
  t.is(v2.mode, 'v2');
  t.deepEqual(cgroupDirs(v2, 'skiff/podu'), ['/sys/fs/cgroup/skiff/podu']);
});

const bin: OciBinary = {
  name: 'crun',
  path: '/usr/bin/crun',
  version: '1.8.1',
  stateRoot: '/run/skiff/crun',
  hideUnifiedMount: '/sys/fs/cgroup/unified',
  layout: readCgroupLayout(HYBRID),
};

test('conmon command line as CRI-O passes it', (t) => {
  const args = conmonArgs({
    conmonPath: '/usr/bin/conmon',
    id: 'abc',
    name: 'ns_pod_ctr_0',
    bin,
    paths: {
      bundle: '/r/containers/abc',
      containerPidFile: '/r/containers/abc/pidfile',
      conmonPidFile: '/r/containers/abc/conmon.pid',
      logPath: '/var/log/pods/x/ctr/0.log',
      exitDir: '/r/exits',
      socketDir: '/r/sockets',
      persistDir: '/r/containers/abc/persist',
      conmonLog: '/r/containers/abc/conmon.log',
    },
  });
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  t.is(value('--cid'), 'abc');
  t.is(value('--cuuid'), 'abc');
  t.is(value('--runtime'), '/usr/bin/crun');
  t.is(value('--runtime-arg'), '--root=/run/skiff/crun');
  t.is(value('--bundle'), '/r/containers/abc');
  t.is(value('--log-path'), 'k8s-file:/var/log/pods/x/ctr/0.log');
  t.is(value('--exit-dir'), '/r/exits');
  t.is(value('--persist-dir'), '/r/containers/abc/persist');
  t.false(args.includes('--sync'), 'detached conmon: the sync pipe reports the pid');
});

test('crun on a hybrid host creates from a mount namespace without the cgroup2 mount', (t) => {
  const argv = wrapForCreate(bin, ['/usr/bin/conmon', '--cid', 'a b']);
  t.deepEqual(argv.slice(0, 4), ['unshare', '-m', '--propagation', 'slave']);
  t.is(argv[6], 'umount /sys/fs/cgroup/unified && exec "$@"');
  t.deepEqual(argv.slice(8), ['/usr/bin/conmon', '--cid', 'a b']);
  t.deepEqual(wrapForCreate({ ...bin, hideUnifiedMount: undefined }, ['x']), ['x']);
});

test('named image users resolve against the image /etc/passwd and /etc/group', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'skiff-user-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nstaff:x:50:\n');
  t.deepEqual(await resolveImageUser(root, 'web'), { uid: 101, gid: 102 });
  t.deepEqual(await resolveImageUser(root, 'web:staff'), { uid: 101, gid: 50 });
  t.deepEqual(await resolveImageUser(root, '101'), { uid: 101, gid: 0 });
  await t.throwsAsync(resolveImageUser(root, 'nobody'), { message: /not in the image's \/etc\/passwd/ });
});
