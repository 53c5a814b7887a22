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
      check: (obj, prune) => (model ? checkModelObject(model, obj, prune) : { unknown: [], mismatches: [] }),
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
