// Writes the entries of a tar stream into a directory without ever leaving it: every path is
// normalised, ".." is refused, and no parent component may be a symlink (checked with lstat as we
// go), so a hostile layer cannot write through a link it planted earlier. In overlay mode, OCI
// whiteouts become what overlayfs reads: ".wh.NAME" a 0/0 character device, ".wh..wh..opq" the
// trusted.overlay.opaque xattr on the directory. Node has no mknod/setxattr, so those (and
// device nodes, PAX xattrs) are made by mknod(1)/setfattr(1) in batches at the end of the layer.
import { constants, promises as fsp } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { tarEntries, type TarHeader } from './tar-reader.js';

export class UnsafePathError extends Error {}

export interface UnpackOptions {
  /** turn OCI whiteouts into overlayfs whiteouts (image layers); otherwise they are plain files */
  overlayWhiteouts: boolean;
  /** apply uid/gid, device nodes and xattrs (needs root); off for staging archives */
  preserveOwnership: boolean;
}

export interface UnpackStats {
  entries: number;
  bytes: number;
  whiteouts: number;
  opaqueDirs: number;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** "./a//b/" → ["a","b"]; throws on ".." so nothing escapes the root */
export function safeParts(name: string): string[] {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new UnsafePathError(`refusing tar entry "${name}": it climbs out with ".."`);
    if (p.includes('\0')) throw new UnsafePathError(`refusing tar entry with a NUL byte`);
    parts.push(p);
  }
  return parts;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') reject(new Error(`${cmd} is not installed (Debian package ${cmd === 'setfattr' ? 'attr' : 'coreutils'})`));
      else reject(new Error(`${cmd} failed: ${String(stderr).trim() || err.message}`));
    });
  });
}

/** runs a shell loop over argument tuples, in chunks that fit the argv limit */
async function batch(script: string, tuples: string[][]): Promise<void> {
  const CHUNK = 2000;
  for (let i = 0; i < tuples.length; i += CHUNK) await run('sh', ['-c', script, 'sh', ...tuples.slice(i, i + CHUNK).flat()]);
}

const MKNOD_LOOP = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod "$1" p; else mknod "$1" "$2" "$3" "$4"; fi || exit 1; shift 4; done';
const SETFATTR_LOOP = 'while [ $# -gt 0 ]; do setfattr -h -n "$2" -v "$3" "$1" || exit 1; shift 3; done';

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}

class Unpacker {
  private readonly safeDirs = new Set<string>(['']);
  private readonly pendingWhiteouts = new Set<string>();
  private readonly opaque = new Set<string>();
  private readonly xattrs: string[][] = [];
  private readonly dirTimes = new Map<string, number>();
  readonly stats: UnpackStats = { entries: 0, bytes: 0, whiteouts: 0, opaqueDirs: 0 };

  constructor(private readonly root: string, private readonly opts: UnpackOptions) {}

  private abs(rel: string): string {
    return rel ? join(this.root, rel) : this.root;
  }

  /** makes sure every parent of rel is a real directory inside root, creating missing ones */
  private async parents(parts: string[], create: boolean): Promise<void> {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i]!;
      if (this.safeDirs.has(rel)) continue;
      const p = this.abs(rel);
      let st;
      try {
        st = await fsp.lstat(p);
      } catch (e) {
        if (!isErrno(e, 'ENOENT') || !create) throw e;
        await fsp.mkdir(p, { mode: 0o755 });
        this.pendingWhiteouts.delete(rel);
        this.safeDirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) throw new UnsafePathError(`refusing to write through symlink "${rel}" (path traversal)`);
      if (!st.isDirectory()) {
        if (!create) throw new UnsafePathError(`"${rel}" is not a directory`);
        // A later entry may turn a file into a directory; the pending whiteout, if any, too.
        await fsp.rm(p, { force: true });
        await fsp.mkdir(p, { mode: 0o755 });
        this.pendingWhiteouts.delete(rel);
      }
      this.safeDirs.add(rel);
    }
  }

  /** clears whatever sits at rel unless it is a directory and keepDir is set */
  private async clear(rel: string, keepDir: boolean): Promise<'dir' | 'none'> {
    const p = this.abs(rel);
    let st;
    try {
      st = await fsp.lstat(p);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return 'none';
      throw e;
    }
    if (st.isDirectory() && keepDir) return 'dir';
    await fsp.rm(p, { recursive: true, force: true });
    for (const d of this.safeDirs) if (d === rel || d.startsWith(rel + '/')) this.safeDirs.delete(d);
    return 'none';
  }

  private async meta(rel: string, h: TarHeader, isLink: boolean): Promise<void> {
    const p = this.abs(rel);
    if (this.opts.preserveOwnership) await fsp.lchown(p, h.uid, h.gid);
    // chown drops set-id bits, so the mode goes after it; Linux has no lchmod.
    if (!isLink) await fsp.chmod(p, h.mode);
    if (h.type === 'dir') this.dirTimes.set(rel, h.mtime);
    else await fsp.lutimes(p, h.mtime, h.mtime);
    if (this.opts.preserveOwnership) for (const [k, v] of h.xattrs) this.xattrs.push([p, k, '0s' + v.toString('base64')]);
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.stats.entries++;
    const parts = safeParts(h.name);
    if (parts.length === 0) {
      // "./" itself: only its metadata matters.
      if (h.type !== 'dir') throw new UnsafePathError(`refusing tar entry "${h.name}" that replaces the root`);
      await this.meta('', h, false);
      return;
    }
    const base = parts[parts.length - 1]!;
    if (this.opts.overlayWhiteouts && base.startsWith(WH)) {
      await this.whiteout(parts);
      return;
    }
    await this.parents(parts, true);
    const rel = parts.join('/');
    const p = this.abs(rel);
    const wasWhiteout = this.pendingWhiteouts.delete(rel);
    switch (h.type) {
      case 'dir': {
        const had = await this.clear(rel, true);
        if (had === 'none') await fsp.mkdir(p, { mode: 0o700 });
        this.safeDirs.add(rel);
        // Re-created over its own whiteout: lower contents must stay hidden.
        if (wasWhiteout) this.opaque.add(rel);
        await this.meta(rel, h, false);
        return;
      }
      case 'file': {
        await this.clear(rel, false);
        const fh = await fsp.open(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const c of body) {
            await fh.write(c);
            this.stats.bytes += c.length;
          }
        } finally {
          await fh.close();
        }
        await this.meta(rel, h, false);
        return;
      }
      case 'symlink':
        await this.clear(rel, false);
        await fsp.symlink(h.linkname, p);
        await this.meta(rel, h, true);
        return;
      case 'link': {
        const tparts = safeParts(h.linkname);
        if (!tparts.length) throw new UnsafePathError(`refusing hard link "${h.name}" to the root`);
        await this.parents(tparts, false);
        const target = this.abs(tparts.join('/'));
        const st = await fsp.lstat(target).catch((e) => {
          if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) throw new UnsafePathError(`hard link "${h.name}" points at "${h.linkname}", which is not in this layer`);
          throw e;
        });
        if (st.isDirectory()) throw new UnsafePathError(`refusing hard link "${h.name}" to a directory`);
        if (tparts.join('/') === rel) return;
        await this.clear(rel, false);
        await fsp.link(target, p);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        if (!this.opts.preserveOwnership) throw new Error(`tar entry "${h.name}" is a device or fifo; not expected here`);
        await this.clear(rel, false);
        const t = h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p';
        await batch(MKNOD_LOOP, [[p, t, String(h.devmajor), String(h.devminor)]]);
        await this.meta(rel, h, false);
        return;
      }
    }
  }

  private async whiteout(parts: string[]): Promise<void> {
    const base = parts[parts.length - 1]!;
    await this.parents(parts, true);
    const dirRel = parts.slice(0, -1).join('/');
    if (base === OPAQUE) {
      this.opaque.add(dirRel);
      return;
    }
    const name = base.slice(WH.length);
    // Other ".wh..wh.*" names are aufs bookkeeping (hard link dirs), not whiteouts.
    if (name.startsWith(WH) || name === '' || name === '.' || name === '..') return;
    const rel = dirRel ? `${dirRel}/${name}` : name;
    let st;
    try {
      st = await fsp.lstat(this.abs(rel));
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    // A whiteout hides lower layers only; a directory this layer already made must then be opaque.
    if (st?.isDirectory()) this.opaque.add(rel);
    else if (!st) this.pendingWhiteouts.add(rel);
  }

  async finish(): Promise<void> {
    const wh = [...this.pendingWhiteouts];
    if (wh.length) {
      for (const rel of wh) await this.parents(rel.split('/'), false);
      await batch(MKNOD_LOOP, wh.map((rel) => [this.abs(rel), 'c', '0', '0']));
    }
    this.stats.whiteouts = wh.length;
    const opq = [...this.opaque];
    for (const rel of opq) {
      const st = await fsp.lstat(this.abs(rel));
      if (!st.isDirectory() || st.isSymbolicLink()) throw new UnsafePathError(`opaque marker in "${rel}", which is not a directory`);
    }
    this.stats.opaqueDirs = opq.length;
    const attrs = [...this.xattrs, ...opq.map((rel) => [this.abs(rel), 'trusted.overlay.opaque', 'y'])];
    if (attrs.length) await batch(SETFATTR_LOOP, attrs);
    // Deepest first, after every child exists, so creating entries does not bump the times again.
    const dirs = [...this.dirTimes].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, t] of dirs) await fsp.utimes(this.abs(rel), t, t);
  }
}

/** Unpacks a (decompressed) tar stream into root, which must exist and be empty. */
export async function unpackTar(src: AsyncIterable<Buffer>, root: string, opts: UnpackOptions): Promise<UnpackStats> {
  const u = new Unpacker(root, opts);
  for await (const { header, body } of tarEntries(src)) await u.entry(header, body);
  await u.finish();
  return u.stats;
}
