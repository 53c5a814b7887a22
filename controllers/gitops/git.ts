// git sources: resolve a ref with `git ls-remote` (cheap, every interval), fetch the commit into a
// bare cache repository only when it is not there yet, and export the wanted folder of that
// commit with `git archive | tar -x`. The `git` binary does the work, so every URL git can fetch
// (https, ssh, file://, local paths) works, with credentials passed through its environment.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface GitCredentials {
  username?: string;
  password?: string;
  bearerToken?: string;
  /** ssh private key (PEM / OpenSSH) */
  identity?: string;
  knownHosts?: string;
}

export class GitError extends Error {}

interface Auth {
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** The environment that makes git use the credentials, and a cleanup for any key files written. */
export function gitAuth(creds: GitCredentials | undefined, scratch: string): Auth {
  const env: NodeJS.ProcessEnv = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'echo', SSH_ASKPASS: 'echo', GIT_SSH_COMMAND: 'ssh -o BatchMode=yes' };
  if (!creds) return { env, cleanup: () => {} };
  let header: string | undefined;
  if (creds.bearerToken) header = `Authorization: Bearer ${creds.bearerToken}`;
  else if (creds.password !== undefined) header = `Authorization: Basic ${Buffer.from(`${creds.username ?? 'git'}:${creds.password}`).toString('base64')}`;
  if (header) {
    // Through GIT_CONFIG_* rather than -c, so the secret is not on any command line.
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = header;
  }
  if (!creds.identity) return { env, cleanup: () => {} };
  if (!creds.knownHosts) throw new GitError('an ssh identity needs known_hosts in the same Secret (the host key is never accepted blindly)');
  const dir = mkdtempSync(join(scratch, 'ssh-'));
  const key = join(dir, 'identity');
  const hosts = join(dir, 'known_hosts');
  writeFileSync(key, creds.identity.endsWith('\n') ? creds.identity : creds.identity + '\n', { mode: 0o600 });
  writeFileSync(hosts, creds.knownHosts, { mode: 0o600 });
  env.GIT_SSH_COMMAND = `ssh -o BatchMode=yes -o IdentitiesOnly=yes -i '${key}' -o UserKnownHostsFile='${hosts}' -o StrictHostKeyChecking=yes`;
  return { env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const lines = String(stderr)
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith('hint:'));
        reject(new GitError(lines.slice(-2).join(': ') || err.message));
      } else resolve(String(stdout));
    });
  });
}

export interface ResolvedRef {
  commit: string;
  /** the full ref it came from (refs/heads/main), or the commit itself */
  ref: string;
}

const SHA = /^[0-9a-f]{7,40}$/;

export class GitCache {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** One operation per repository at a time: git's own locks would fail concurrent fetches. */
  private serial<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(repo) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(
      repo,
      next.catch(() => undefined),
    );
    return next;
  }

  private async repo(url: string): Promise<string> {
    const dir = join(this.dir, 'repos', createHash('sha256').update(url).digest('hex').slice(0, 20));
    if (!existsSync(join(dir, 'HEAD'))) {
      mkdirSync(dir, { recursive: true });
      await git(['init', '--bare', '-q', dir]);
    }
    return dir;
  }

  /** The commit a ref (branch, tag, commit; default the remote HEAD) names now. */
  async resolve(url: string, ref: string | undefined, creds?: GitCredentials): Promise<ResolvedRef> {
    const auth = gitAuth(creds, this.dir);
    try {
      const wanted = !ref ? ['HEAD'] : ref.startsWith('refs/') ? [ref, `${ref}^{}`] : [`refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`];
      const out = await git(['ls-remote', '--', url, ...wanted], { env: auth.env });
      const refs = new Map<string, string>();
      for (const line of out.split('\n')) {
        const [sha, name] = line.split('\t');
        if (sha && name) refs.set(name, sha);
      }
      for (const w of [...wanted].sort((a, b) => Number(b.endsWith('^{}')) - Number(a.endsWith('^{}')))) {
        const sha = refs.get(w);
        if (sha) return { commit: sha, ref: w.replace(/\^\{\}$/, '') };
      }
      if (ref && SHA.test(ref)) return this.serial(url, () => this.fetchCommit(url, ref, auth.env));
      throw new GitError(ref ? `ref "${ref}" not found in ${url} (no branch or tag of that name)` : `${url} has no HEAD`);
    } finally {
      auth.cleanup();
    }
  }

  private async fetchCommit(url: string, sha: string, env: NodeJS.ProcessEnv): Promise<ResolvedRef> {
    const repo = await this.repo(url);
    const have = await git(['rev-parse', '--verify', '-q', `${sha}^{commit}`], { cwd: repo }).catch(() => '');
    if (!have.trim()) {
      // A bare commit is not advertised: fetch branches and tags, then look it up.
      await git(['fetch', '-q', '--', url, '+refs/heads/*:refs/skiff/heads/*', '+refs/tags/*:refs/skiff/tags/*'], { cwd: repo, env });
    }
    const full = await git(['rev-parse', '--verify', '-q', `${sha}^{commit}`], { cwd: repo }).catch(() => '');
    if (!full.trim()) throw new GitError(`ref "${sha}" not found in ${url} (no branch, tag or commit of that name)`);
    return { commit: full.trim(), ref: full.trim() };
  }

  /** Makes sure the commit is in the cache (fetching its ref when not). */
  async fetch(url: string, r: ResolvedRef, creds?: GitCredentials): Promise<void> {
    await this.serial(url, async () => {
      const repo = await this.repo(url);
      const have = await git(['cat-file', '-e', `${r.commit}^{commit}`], { cwd: repo }).then(
        () => true,
        () => false,
      );
      if (have) return;
      const auth = gitAuth(creds, this.dir);
      try {
        await git(['fetch', '-q', '--no-tags', '--', url, `+${r.ref}:refs/skiff/fetched`], { cwd: repo, env: auth.env });
      } finally {
        auth.cleanup();
      }
      const ok = await git(['cat-file', '-e', `${r.commit}^{commit}`], { cwd: repo }).then(
        () => true,
        () => false,
      );
      // The ref moved between ls-remote and fetch: the next interval picks the new commit up.
      if (!ok) throw new GitError(`${r.ref} of ${url} moved while fetching ${r.commit.slice(0, 12)}; retrying`);
    });
  }

  /** Writes the tree at `path` of the commit into `dest` (an empty folder); returns the folder to read. */
  async export(url: string, commit: string, path: string | undefined, dest: string): Promise<string> {
    const repo = await this.repo(url);
    const sub = (path ?? '').replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (sub) {
      const type = (await git(['cat-file', '-t', `${commit}:${sub}`], { cwd: repo }).catch(() => '')).trim();
      if (!type) throw new GitError(`path "${path}" not found in commit ${commit.slice(0, 12)}`);
    }
    await new Promise<void>((resolve, reject) => {
      const archive = spawn('git', ['archive', '--format=tar', commit, ...(sub ? ['--', sub] : [])], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
      const tar = spawn('tar', ['-x', '-C', dest], { stdio: ['pipe', 'ignore', 'pipe'] });
      let errText = '';
      archive.stderr.on('data', (d: Buffer) => (errText += d.toString()));
      tar.stderr.on('data', (d: Buffer) => (errText += d.toString()));
      archive.stdout.pipe(tar.stdin);
      let pending = 2;
      let failed = false;
      const done = (code: number | null, what: string) => {
        if (code !== 0 && !failed) {
          failed = true;
          reject(new GitError(`${what} failed: ${errText.trim() || `exit ${code}`}`));
        }
        if (--pending === 0 && !failed) resolve();
      };
      archive.on('error', reject);
      tar.on('error', reject);
      archive.on('close', (c) => done(c, 'git archive'));
      tar.on('close', (c) => done(c, 'tar'));
    });
    return sub ? join(dest, sub) : dest;
  }
}
