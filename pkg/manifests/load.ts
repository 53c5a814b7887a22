// Reading manifests: YAML or JSON files (multi-document), folders of them (sorted, recursive),
// and `kind: List` documents. Errors name the file and document.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, extname } from 'node:path';
import * as yaml from 'js-yaml';
import type { KObject } from '../api/types.js';

export interface Manifest {
  source: string;
  object: KObject;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export function manifestFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  for (const name of readdirSync(path).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(path, name);
    if (statSync(p).isDirectory()) out.push(...manifestFiles(p));
    else if (EXTENSIONS.has(extname(name))) out.push(p);
  }
  return out;
}

export function parseManifests(text: string, source: string): Manifest[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message.split('\n')[0]}`);
  }
  const out: Manifest[] = [];
  docs.forEach((d, i) => {
    if (d === null || d === undefined) return;
    const where = docs.length > 1 ? `${source} (document ${i + 1})` : source;
    if (typeof d !== 'object' || Array.isArray(d)) throw new Error(`${where}: a manifest must be an object`);
    const o = d as KObject;
    if (o.kind === 'List' && Array.isArray((o as { items?: unknown }).items)) {
      for (const item of (o as unknown as { items: KObject[] }).items) out.push({ source: where, object: item });
      return;
    }
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') throw new Error(`${where}: apiVersion and kind are required`);
    if (!o.metadata || typeof o.metadata !== 'object') throw new Error(`${where}: metadata.name is required`);
    out.push({ source: where, object: o });
  });
  return out;
}

export function loadManifests(paths: string[]): Manifest[] {
  const out: Manifest[] = [];
  for (const p of paths) for (const f of manifestFiles(p)) out.push(...parseManifests(readFileSync(f, 'utf8'), f));
  return out;
}
