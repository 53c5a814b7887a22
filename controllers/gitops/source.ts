// Getting a Sync's source onto disk: a git commit exported into a scratch folder, or a host
// directory read in place. Each comes with its revision: the commit hash, or for a directory a
// digest of its files' names and contents (so an unchanged folder is recognised as such).
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isNotFound, resourcePath, type RestClient } from '../../pkg/client/rest.js';
import type { KObject } from '../../pkg/api/types.js';
import { GitCache, type GitCredentials } from './git.js';
import type { Sync } from './spec.js';

export interface Artifact {
  revision: string;
  /** folder or file to load manifests from */
  path: string;
  /** file names in messages are relative to this; nothing outside it is read */
  root: string;
  cleanup(): void;
}

export class SourceError extends Error {
  constructor(
    readonly reason: 'GitOperationFailed' | 'SecretNotFound' | 'DirectoryNotFound',
    message: string,
  ) {
    super(message);
  }
}

export function directoryRevision(path: string): string {
  const h = createHash('sha256');
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(join(p, name));
      return;
    }
    h.update(relative(path, p) + '\0');
    h.update(readFileSync(p));
    h.update('\0');
  };
  walk(path);
  return `sha256:${h.digest('hex').slice(0, 32)}`;
}

async function credentials(client: RestClient, namespace: string, name: string): Promise<GitCredentials> {
  let secret: KObject & { data?: Record<string, string> };
  try {
    secret = await client.get(resourcePath({ group: '', version: 'v1', resource: 'secrets' }, namespace, name));
  } catch (e) {
    if (isNotFound(e)) throw new SourceError('SecretNotFound', `secret ${namespace}/${name} not found`);
    throw e;
  }
  const d = (k: string) => (secret.data?.[k] !== undefined ? Buffer.from(secret.data[k]!, 'base64').toString('utf8') : undefined);
  return { username: d('username'), password: d('password'), bearerToken: d('bearerToken'), identity: d('identity'), knownHosts: d('known_hosts') };
}

export async function fetchSource(sync: Sync, client: RestClient, cache: GitCache): Promise<Artifact> {
  const src = sync.spec.source;
  if (src.directory) {
    const path = resolve(src.directory.path);
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new SourceError('DirectoryNotFound', `directory source ${path}: no such file or directory`);
    }
    let revision: string;
    try {
      revision = directoryRevision(path);
    } catch (e) {
      throw new SourceError('DirectoryNotFound', `directory source ${path}: ${(e as Error).message}`);
    }
    return { revision, path, root: st.isDirectory() ? path : dirname(path), cleanup: () => {} };
  }
  const g = src.git!;
  try {
    const creds = g.secretRef ? await credentials(client, sync.metadata.namespace!, g.secretRef.name) : undefined;
    const resolved = await cache.resolve(g.url, g.ref, creds);
    await cache.fetch(g.url, resolved, creds);
    const scratch = mkdtempSync(join(cache.dir, 'checkout-'));
    try {
      const path = await cache.export(g.url, resolved.commit, g.path, scratch);
      return { revision: resolved.commit, path, root: scratch, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
    } catch (e) {
      rmSync(scratch, { recursive: true, force: true });
      throw e;
    }
  } catch (e) {
    if (e instanceof SourceError) throw e;
    throw new SourceError('GitOperationFailed', `git ${g.url}: ${(e as Error).message}`);
  }
}
