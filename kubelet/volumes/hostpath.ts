// hostPath volumes: the checks and creations kubelet performs for spec.volumes[].hostPath.type.
import { mkdir, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { VolumeError } from './sources.js';

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function fail(message: string, volume: string): never {
  throw new VolumeError(message, { volume });
}

/** Runs kubelet's checkType for a hostPath; creates the path for the *OrCreate types. */
export async function checkHostPath(path: string, type: string | undefined, volume: string): Promise<void> {
  if (!path.startsWith('/')) fail(`hostPath ${path} must be an absolute path`, volume);
  if (path.split('/').includes('..')) fail(`hostPath ${path} must not contain '..'`, volume);
  const t = type ?? '';
  if (t === '') return;
  const st = await statOrUndefined(path);
  switch (t) {
    case 'DirectoryOrCreate':
    case 'Directory':
      if (!st && t === 'DirectoryOrCreate') {
        await mkdir(path, { recursive: true, mode: 0o755 });
        return;
      }
      if (!st?.isDirectory()) fail(`hostPath type check failed: ${path} is not a directory`, volume);
      return;
    case 'FileOrCreate':
    case 'File':
      if (!st && t === 'FileOrCreate') {
        try {
          // the parent is not created, as in kubelet
          await (await open(path, 'a', 0o644)).close();
        } catch (e) {
          fail(`hostPath type check failed: could not create file ${path}: ${(e as Error).message}`, volume);
        }
        return;
      }
      if (!st?.isFile()) fail(`hostPath type check failed: ${path} is not a file`, volume);
      return;
    case 'Socket':
      if (!st?.isSocket()) fail(`hostPath type check failed: ${path} is not a socket file`, volume);
      return;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) fail(`hostPath type check failed: ${path} is not a character device`, volume);
      return;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) fail(`hostPath type check failed: ${path} is not a block device`, volume);
      return;
    default:
      fail(`${t} is an invalid volume type`, volume);
  }
}
