// Resolves an image's named User ("nginx", "app:staff") against the image's own /etc/passwd and
// /etc/group, as container runtimes do; the runtime spec only takes numbers.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseNumericUser, SpecError } from './spec.js';

async function readDb(rootfs: string, file: string): Promise<string[][]> {
  try {
    const text = await readFile(join(rootfs, 'etc', file), 'utf8');
    return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function resolveImageUser(rootfs: string, user: string): Promise<{ uid: number; gid: number }> {
  const numeric = parseNumericUser(user);
  if (numeric) return { uid: numeric.uid, gid: numeric.gid ?? 0 };
  const [userPart, groupPart] = user.split(':', 2);
  const passwd = await readDb(rootfs, 'passwd');
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    gid = Number(passwd.find((p) => Number(p[2]) === uid)?.[3] ?? 0);
  } else {
    const entry = passwd.find((p) => p[0] === userPart);
    if (!entry) throw new SpecError(`image user "${userPart}" is not in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const group = (await readDb(rootfs, 'group')).find((g) => g[0] === groupPart);
      if (!group) throw new SpecError(`image group "${groupPart}" is not in the image's /etc/group`);
      gid = Number(group[2]);
    }
  }
  return { uid, gid };
}
