// Serves /openapi/v3 (the index and one document per group-version, immutable by content hash)
// and gives each built-in resource its schema hooks (strict decoding against its model).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceInfo } from './registry/strategy.js';
import type { SchemaHooks } from './registry/generic.js';
import type { CrdSchemaSource } from './crd/schema-hooks.js';
import { checkModelObject } from './openapi/strict.js';
import { buildOpenApi, type OpenApi } from './openapi/index.js';
import { send } from './http/respond.js';
import { errors } from './status.js';

/**
 * Built-in objects decode into typed structs in Kubernetes, where a JSON null becomes "absent"
 * (`creationTimestamp: null` in the pod templates kubectl sends, for instance). Dropping nulls the
 * same way keeps stored objects, and hashes computed from them, as Kubernetes would have them.
 */
function stripNulls(v: unknown): void {
  const stack: unknown[] = [v];
  while (stack.length) {
    const x = stack.pop();
    if (Array.isArray(x)) {
      for (const item of x) if (item !== null && typeof item === 'object') stack.push(item);
    } else if (x !== null && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const c = o[k];
        if (c === null) delete o[k];
        else if (typeof c === 'object') stack.push(c);
      }
    }
  }
}

export class OpenApiService {
  private resources: ResourceInfo[] = [];
  private crds: CrdSchemaSource[] = [];
  private built?: OpenApi;

  setResources(resources: ResourceInfo[], crds: CrdSchemaSource[]): void {
    this.resources = resources;
    this.crds = crds;
    this.built = undefined; // rebuilt lazily: most requests never need it
  }

  private api(): OpenApi {
    if (!this.built) this.built = buildOpenApi(this.resources, this.crds);
    return this.built;
  }

  hooksFor(info: ResourceInfo): SchemaHooks {
    const model = info.modelName;
    return {
      check: (obj, prune) => {
        stripNulls(obj);
        return model ? checkModelObject(model, obj, prune) : { unknown: [], mismatches: [] };
      },
    };
  }

  serveV3(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): void {
    if (req.method !== 'GET') throw errors.methodNotAllowed('OpenAPI documents are read-only');
    const api = this.api();
    if (path === '/openapi/v3') {
      send(res, 200, JSON.stringify(api.root()), { gzip: true });
      return;
    }
    const doc = api.document(path.slice('/openapi/v3/'.length));
    if (!doc) throw errors.notFoundPath();
    const hash = q.get('hash');
    const headers: Record<string, string> = { ETag: `"${doc.hash}"` };
    // A URL with the current hash never changes: let kubectl cache it for good.
    if (hash === doc.hash) {
      headers['Cache-Control'] = 'public, immutable';
      headers['Expires'] = new Date(Date.now() + 365 * 86400_000).toUTCString();
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    send(res, 200, doc.body, { headers, gzip });
  }
}
