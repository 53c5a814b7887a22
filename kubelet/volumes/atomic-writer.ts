// Kubernetes' AtomicWriter layout, so that a refreshed ConfigMap/Secret volume is never seen
// half-written: the payload lives in a timestamped hidden directory, `..data` is a symlink to the
// current one (swapped with a rename, which is atomic), and the user-visible names are symlinks
// through `..data`. A reader sees either the whole old payload or the whole new one.
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { checkRelativePath } from './paths.js';

export interface PayloadFile {
  data: Buffer;
  /** permission bits, e.g. 0o644 */
  mode: number;
  /** numeric owner applied when running as root (fsGroup → gid) */
  uid?: number;
  gid?: number;
}

export type Payload = Map<string, PayloadFile>;

const DATA_LINK = '..data';
const DATA_TMP_LINK = '..data_tmp';

function timestampPrefix(now: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
}

async function currentDataDir(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, DATA_LINK));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Lists regular files below root as relative paths. */
async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out;
}

async function sameAsOnDisk(dataDir: string, payload: Payload): Promise<boolean> {
  let files: string[];
  try {
    files = await listFiles(dataDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (files.length !== payload.size) return false;
  for (const rel of files) {
    const want = payload.get(rel);
    if (!want) return false;
    const path = join(dataDir, rel);
    const st = await stat(path);
    if ((st.mode & 0o7777) !== want.mode) return false;
    if (want.gid !== undefined && st.gid !== want.gid) return false;
    if (!(await readFile(path)).equals(want.data)) return false;
  }
  return true;
}

function topLevelNames(paths: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const p of paths) names.add(p.split('/')[0]);
  return names;
}

/** A new payload written beside the current one and not yet visible. */
export interface StagedPayload {
  dir: string;
  /** basename of the new timestamped directory */
  dataDirName: string;
  previous?: string;
  paths: string[];
}

/**
 * Writes the payload into a new timestamped directory of dir. Returns undefined when the visible
 * payload already equals it (nothing to do, which makes repeated set-ups after a restart cheap).
 */
export async function stagePayload(dir: string, payload: Payload): Promise<StagedPayload | undefined> {
  for (const p of payload.keys()) checkRelativePath(p, 'path');
  await mkdir(dir, { recursive: true });
  const previous = await currentDataDir(dir);
  if (previous !== undefined && (await sameAsOnDisk(join(dir, previous), payload))) {
    await ensureVisibleLinks(dir, [...payload.keys()], previous);
    return undefined;
  }
  const dataDir = await mkdtemp(join(dir, timestampPrefix(new Date())));
  const asRoot = process.getuid?.() === 0;
  try {
    for (const [rel, file] of payload) {
      const path = join(dataDir, rel);
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await writeFile(path, file.data, { mode: file.mode });
      // writeFile's mode is filtered by the umask
      await chmod(path, file.mode);
      if (asRoot && (file.uid !== undefined || file.gid !== undefined)) {
        await chown(path, file.uid ?? 0, file.gid ?? 0);
      }
    }
    await chmod(dataDir, 0o755);
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  const staged: StagedPayload = { dir, dataDirName: dataDir.slice(dir.length + 1), paths: [...payload.keys()] };
  if (previous !== undefined) staged.previous = previous;
  return staged;
}

async function ensureVisibleLinks(dir: string, paths: string[], dataDirName: string): Promise<void> {
  const wanted = topLevelNames(paths);
  for (const name of wanted) {
    const link = join(dir, name);
    const target = join(DATA_LINK, name);
    let existing: string | undefined;
    try {
      existing = await readlink(link);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EINVAL') throw new Error(`${link} exists and is not a symlink`);
      if (code !== 'ENOENT') throw e;
    }
    if (existing === target) continue;
    if (existing !== undefined) await unlink(link);
    await symlink(target, link);
  }
  // names that left the payload: their links would dangle
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') || wanted.has(entry)) continue;
    const st = await lstat(join(dir, entry));
    if (st.isSymbolicLink()) await unlink(join(dir, entry));
  }
  // stale timestamped directories from an interrupted earlier write
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== DATA_LINK && entry !== dataDirName && entry !== DATA_TMP_LINK) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}

/** Makes a staged payload the visible one: one rename of the `..data` link, then tidy up. */
export async function commitPayload(staged: StagedPayload): Promise<void> {
  const tmpLink = join(staged.dir, DATA_TMP_LINK);
  await rm(tmpLink, { force: true });
  await symlink(staged.dataDirName, tmpLink);
  await rename(tmpLink, join(staged.dir, DATA_LINK));
  await ensureVisibleLinks(staged.dir, staged.paths, staged.dataDirName);
}

/** Stage and commit; returns true when the visible payload changed. */
export async function writePayload(dir: string, payload: Payload): Promise<boolean> {
  const staged = await stagePayload(dir, payload);
  if (!staged) return false;
  await commitPayload(staged);
  return true;
}
