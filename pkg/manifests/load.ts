// Reading manifests: YAML or JSON files (multi-document), folders of them (sorted, recursive),
// `kind: List` documents, and kustomize folders (a folder with a kustomization file is rendered
// as one unit by `kubectl kustomize` and not walked further). Every problem found is reported,
// each naming its file and document, so a broken commit is explained in one go.
import { readFileSync, readdirSync, lstatSync, statSync, realpathSync } from 'node:fs';
import { join, extname, relative, sep } from 'node:path';
import * as yaml from 'js-yaml';
import type { KObject } from '../api/types.js';
import { KUSTOMIZATION_FILES, kustomize } from './kustomize.js';

export interface Manifest {
  /** file (relative to the base given to the loader) and, for multi-document files, the document */
  source: string;
  object: KObject;
}

export class ManifestError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`);
  }
}

export interface LoadOptions {
  /** file names in messages are relative to this folder (a checkout's root) */
  base?: string;
  /** refuse files and symlinks that resolve outside this folder (untrusted checkouts) */
  confine?: string;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

type Unit = { kind: 'file'; path: string } | { kind: 'kustomize'; path: string };

function units(path: string, opts: LoadOptions, problems: string[]): Unit[] {
  if (opts.confine) {
    const real = realpathSync(path);
    const root = realpathSync(opts.confine);
    if (real !== root && !real.startsWith(root + sep)) {
      problems.push(`${display(path, opts)}: resolves outside the source (${lstatSync(path).isSymbolicLink() ? 'symbolic link' : 'path'}), not read`);
      return [];
    }
  }
  const st = statSync(path);
  if (!st.isDirectory()) return [{ kind: 'file', path }];
  const names = readdirSync(path).sort();
  if (names.some((n) => KUSTOMIZATION_FILES.includes(n))) return [{ kind: 'kustomize', path }];
  const out: Unit[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const p = join(path, name);
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      problems.push(`${display(p, opts)}: ${(e as Error).message}`);
      continue;
    }
    if (isDir) out.push(...units(p, opts, problems));
    else if (EXTENSIONS.has(extname(name))) out.push(...units(p, opts, problems));
  }
  return out;
}

function display(path: string, opts: LoadOptions): string {
  if (!opts.base) return path;
  const r = relative(opts.base, path);
  return r === '' ? '.' : r;
}

/** The manifest files under a path, in the order they are applied (kustomize folders excluded). */
export function manifestFiles(path: string): string[] {
  const problems: string[] = [];
  const out = units(path, {}, problems)
    .filter((u) => u.kind === 'file')
    .map((u) => u.path);
  if (problems.length) throw new ManifestError(problems);
  return out;
}

/** Parses one file's text; problems are pushed (when given) or thrown. */
export function parseManifests(text: string, source: string, problems?: string[]): Manifest[] {
  const local: string[] = problems ?? [];
  const out: Manifest[] = [];
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (e) {
    local.push(`${source}: ${(e as Error).message.split('\n')[0]}`);
    if (!problems) throw new ManifestError(local);
    return out;
  }
  docs.forEach((d, i) => {
    if (d === null || d === undefined) return;
    const where = docs.length > 1 ? `${source} (document ${i + 1})` : source;
    if (typeof d !== 'object' || Array.isArray(d)) {
      local.push(`${where}: a manifest must be an object`);
      return;
    }
    const o = d as KObject;
    if (o.kind === 'List' && Array.isArray((o as { items?: unknown }).items)) {
      (o as unknown as { items: unknown[] }).items.forEach((item, j) => {
        const at = `${where} (item ${j})`;
        const problem = checkShape(item);
        if (problem) local.push(`${at}: ${problem}`);
        else out.push({ source: at, object: item as KObject });
      });
      return;
    }
    const problem = checkShape(o);
    if (problem) local.push(`${where}: ${problem}`);
    else out.push({ source: where, object: o });
  });
  if (!problems && local.length) throw new ManifestError(local);
  return out;
}

function checkShape(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return 'a manifest must be an object';
  const o = d as KObject;
  if (typeof o.apiVersion !== 'string' || !o.apiVersion) return 'apiVersion: Required value';
  if (typeof o.kind !== 'string' || !o.kind) return 'kind: Required value';
  if (!o.metadata || typeof o.metadata !== 'object' || Array.isArray(o.metadata)) return 'metadata: Required value';
  if (typeof o.metadata.name !== 'string' || !o.metadata.name) return `metadata.name: Required value (${o.kind})`;
  return undefined;
}

/** Reads every manifest under the paths; throws a ManifestError listing every problem found. */
export async function loadManifests(paths: string[], opts: LoadOptions = {}): Promise<Manifest[]> {
  const problems: string[] = [];
  const out: Manifest[] = [];
  for (const p of paths) {
    let list: Unit[];
    try {
      list = units(p, opts, problems);
    } catch (e) {
      problems.push(`${display(p, opts)}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
      continue;
    }
    for (const u of list) {
      const name = display(u.path, opts);
      if (u.kind === 'file') {
        let text: string;
        try {
          text = readFileSync(u.path, 'utf8');
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
          continue;
        }
        out.push(...parseManifests(text, name, problems));
      } else {
        try {
          out.push(...parseManifests(await kustomize(u.path), `${name} (kustomize)`, problems));
        } catch (e) {
          problems.push(`${name}: kustomize: ${(e as Error).message}`);
        }
      }
    }
  }
  if (problems.length) throw new ManifestError(problems);
  return out;
}
