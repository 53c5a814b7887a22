// A minimal root filesystem for runtime tests and benchmarks: the static busybox from Debian's
// busybox-static with a few applets as symlinks, no image store involved.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'sleep', 'echo', 'hostname', 'ps', 'cat', 'head', 'tr', 'true', 'false', 'id', 'ls', 'kill', 'tty', 'env'];

/** Whether /bin/busybox is the static build (a dynamic one would need its libraries in the rootfs). */
export function busyboxAvailable(): boolean {
  return existsSync(BUSYBOX);
}

/** Creates <tmp>/rootfs with busybox; returns the temp dir (remove it recursively when done). */
export function makeBusyboxRootfs(prefix = 'skiff-rootfs-'): { dir: string; rootfs: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return { dir, rootfs };
}
