// Server-side apply of manifests through the API, as `kubectl apply --server-side` does: find
// each kind's resource through discovery, apply namespaces and CRDs first, then the rest.
import type { KObject } from '../api/types.js';
import { parseApiVersion } from '../api/types.js';
import { ApiError, resourcePath, type RestClient } from '../client/rest.js';
import type { Manifest } from './load.js';

interface ResourceRef {
  plural: string;
  namespaced: boolean;
}

/** Maps apiVersion+kind to a resource using the server's discovery. */
export class KindResolver {
  private cache = new Map<string, ResourceRef>();

  constructor(private readonly client: RestClient) {}

  invalidate(): void {
    this.cache.clear();
  }

  async resolve(apiVersion: string, kind: string): Promise<ResourceRef> {
    const key = `${apiVersion}/${kind}`;
    let r = this.cache.get(key);
    if (r) return r;
    const { group, version } = parseApiVersion(apiVersion);
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    let list: { resources: { name: string; kind: string; namespaced: boolean }[] };
    try {
      list = await this.client.get(path);
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) throw new Error(`no resources served for apiVersion ${apiVersion}`);
      throw e;
    }
    for (const res of list.resources) {
      if (res.name.includes('/')) continue;
      this.cache.set(`${apiVersion}/${res.kind}`, { plural: res.name, namespaced: res.namespaced });
    }
    r = this.cache.get(key);
    if (!r) throw new Error(`the server does not serve kind ${kind} in ${apiVersion}`);
    return r;
  }
}

export interface ApplyResult {
  object: KObject;
  source: string;
  error?: string;
}

function rank(o: KObject): number {
  if (o.kind === 'Namespace') return 0;
  if (o.kind === 'CustomResourceDefinition') return 1;
  return 2;
}

export async function applyManifests(client: RestClient, resolver: KindResolver, manifests: Manifest[], opts: { fieldManager: string; defaultNamespace?: string; force?: boolean }): Promise<ApplyResult[]> {
  const ordered = [...manifests].sort((a, b) => rank(a.object) - rank(b.object));
  const results: ApplyResult[] = [];
  let sawCrd = false;
  for (const m of ordered) {
    const o = structuredClone(m.object);
    try {
      if (sawCrd && rank(o) === 2) {
        resolver.invalidate();
        sawCrd = false;
      }
      const ref = await resolver.resolve(o.apiVersion!, o.kind!);
      const ns = ref.namespaced ? (o.metadata.namespace ?? opts.defaultNamespace ?? 'default') : undefined;
      if (ns) o.metadata.namespace = ns;
      const { group, version } = parseApiVersion(o.apiVersion!);
      const path = resourcePath({ group, version, resource: ref.plural }, ns, o.metadata.name);
      const applied = await client.patch<KObject>(path, o, 'apply', { fieldManager: opts.fieldManager, force: opts.force ?? true });
      if (o.kind === 'CustomResourceDefinition') sawCrd = true;
      results.push({ object: applied, source: m.source });
    } catch (e) {
      results.push({ object: o, source: m.source, error: (e as Error).message });
    }
  }
  return results;
}
