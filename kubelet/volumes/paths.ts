// Relative paths named by users (items[].path, subPath) must stay inside the volume they name.
import { VolumeError } from './sources.js';

/** The rules of kubelet's AtomicWriter for payload paths, also applied to subPath. */
export function checkRelativePath(p: string, what: string, volume?: string): void {
  const fail = (why: string): never => {
    throw new VolumeError(`invalid ${what} "${p}": ${why}`, volume === undefined ? {} : { volume });
  };
  if (p === '') fail('must not be empty');
  if (p.startsWith('/')) fail('must be a relative path');
  if (p.length > 4096) fail('must be at most 4096 characters');
  if (p.includes('\0')) fail('must not contain a NUL character');
  const parts = p.split('/');
  if (parts.includes('..')) fail("must not contain '..'");
  if (p.startsWith('..')) fail("must not start with '..'");
  for (const part of parts) if (part.length > 255) fail('a path element must be at most 255 characters');
}
