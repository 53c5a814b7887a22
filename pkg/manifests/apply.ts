// Which resource serves a kind: the server's discovery, as kubectl finds it. The apply itself is
// in sync-engine.ts.
import { parseApiVersion } from '../api/types.js';
import { ApiError, type RestClient } from '../client/rest.js';

export interface ResourceRef {
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
