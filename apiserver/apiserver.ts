// The API server: HTTPS with bearer-token authentication in front of discovery, OpenAPI and the
// resource registries. Built-in resources come from their strategies; custom resources are added
// and removed as CustomResourceDefinitions change.
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { UnavailableError, type Store } from './storage/store.js';
import { WatchCache } from './cache/watch-cache.js';
import { ResourceRegistry, type NamespaceLookup, type SchemaHooks } from './registry/generic.js';
import type { ResourceInfo, Strategy } from './registry/strategy.js';
import type { KObject } from '../pkg/api/types.js';
import { builtinStrategies } from './registry/resources/index.js';
import { errors, StatusError } from './status.js';
import { send, sendError, sendJson } from './http/respond.js';
import { parseResourcePath } from './http/path.js';
import { ResourceHandler } from './http/resources.js';
import { NODE_SUBRESOURCES, NodeProxy, rejectUpgrade } from './http/node-proxy.js';
import { ProxyHandler } from './http/proxy.js';
import { proxyRequestOf } from './http/proxy-path.js';
import type { Duplex } from 'node:stream';
import { defaultWatchSettings, type WatchSettings } from './http/watch.js';
import {
  aggregatedDiscovery,
  apiGroupJson,
  apiGroupList,
  apiResourceList,
  AGGREGATED_V2,
  AGGREGATED_V2BETA1,
  legacyApiVersions,
  wantsAggregated,
} from './discovery.js';
import type { TokenAuthenticator, UserInfo } from './auth/tokens.js';
import { JOIN_PATHS, JoinService } from './auth/join.js';
import type { Pki } from './auth/pki.js';
import { logger } from '../pkg/log/logger.js';
import { OpenApiService } from './openapi-service.js';
import { CustomResources } from './crd/custom-resources.js';
import { bootstrapKubernetesService, bootstrapNamespaces } from './bootstrap.js';
import { bootstrapCrds } from './bootstrap-crds.js';
import { ServiceAllocator } from './registry/service-allocator.js';
import { REVIEW_RESOURCES, review } from './auth/reviews.js';
import { ensureServiceAccountKey, type ServiceAccountKey } from './auth/service-account-key.js';
import { cacheLookup, ServiceAccountTokens } from './auth/service-account-tokens.js';
import { serveTokenRequest } from './auth/token-request.js';
import { admitPodServiceAccount } from './registry/resources/core/serviceaccount-admission.js';
import { ephemeralContainersWrite } from './registry/resources/core/pod.js';
import { namespaceContent } from './registry/resources/core/serviceaccount-namespace.js';
import { decodeBody, readBody } from './http/body.js';
import { GarbageCollector } from '../controllers/garbagecollector/garbage-collector.js';
import { NamespaceController } from '../controllers/namespace/namespace-controller.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.2-skiff',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-11-28T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export interface APIServerOptions {
  store: Store;
  pki: Pki;
  auth: TokenAuthenticator;
  bind?: string;
  port?: number;
  watchCacheSize?: number;
  watch?: Partial<WatchSettings>;
  /** how often old revisions are compacted away (0 = never) */
  compactIntervalMs?: number;
  /** the permanent node join secret (DIR/node-token); bootstrap tokens join without it */
  nodeJoinSecret?: string;
  /** signs service account tokens (default: DIR/tls/service-account.key next to the CA, made on first start) */
  serviceAccountKey?: ServiceAccountKey;
}

/** Revisions kept behind the newest at each compaction (paged lists read at an older revision). */
const COMPACT_KEEP = 5000;

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz']);

export class APIServer {
  readonly cache: WatchCache;
  private readonly registries = new Map<string, ResourceRegistry>();
  private resourceList: ResourceInfo[] = [];
  private readonly handler: ResourceHandler;
  private server?: Server;
  private readonly log = logger('apiserver');
  readonly openapi: OpenApiService;
  private readonly crds: CustomResources;
  private discoveryCache = new Map<string, string>();
  private ready = false;
  private compactTimer?: NodeJS.Timeout;
  private readonly services: ServiceAllocator;
  // Controllers that need the apiserver's own machinery run inside it for now (see README).
  private readonly gc: GarbageCollector;
  private readonly nsController: NamespaceController;
  private readonly join: JoinService;
  private readonly nodeProxy: NodeProxy;
  private readonly proxy: ProxyHandler;
  readonly serviceAccountTokens: ServiceAccountTokens;
  private readonly namespaceContent: (ns: KObject) => Promise<void>;

  constructor(private readonly opts: APIServerOptions) {
    this.cache = new WatchCache(opts.store, opts.watchCacheSize);
    this.handler = new ResourceHandler({
      cache: this.cache,
      watch: { ...defaultWatchSettings, ...opts.watch },
      registry: (g, v, p) => this.registries.get(`${g}/${v}/${p}`),
    });
    this.openapi = new OpenApiService();
    for (const s of builtinStrategies()) this.addResource(s, this.openapi.hooksFor(s.info));
    this.crds = new CustomResources({
      cache: this.cache,
      add: (s, hooks) => this.addResource(s, hooks),
      remove: (info) => this.removeResource(info),
      registry: (g, v, p) => this.registries.get(`${g}/${v}/${p}`),
      changed: () => this.resourcesChanged(),
    });
    this.resourcesChanged();
    const internal = {
      cache: this.cache,
      registryFor: (prefix: string) => this.byPrefix(prefix),
      namespacedRegistries: () => [...this.registries.values()].filter((r) => r.info.namespaced),
    };
    const services = new ServiceAllocator(this.cache);
    this.services = services;
    this.registries.get('/v1/services')!.beforeCreate = (svc) => services.allocate(svc);
    this.registries.get('/v1/services')!.beforeUpdate = (svc, old) => services.allocateUpdate(svc, old);
    this.gc = new GarbageCollector(internal);
    this.nsController = new NamespaceController(internal);
    this.nodeProxy = new NodeProxy({ cache: this.cache, clientCert: opts.pki.kubeletClientCert, clientKey: opts.pki.kubeletClientKey });
    this.proxy = new ProxyHandler({ cache: this.cache, clientCert: opts.pki.kubeletClientCert, clientKey: opts.pki.kubeletClientKey });
    this.serviceAccountTokens = new ServiceAccountTokens({ key: opts.serviceAccountKey ?? ensureServiceAccountKey(opts.pki.dir) });
    const saLookup = cacheLookup(this.cache);
    this.registries.get('/v1/pods')!.admitCreate = (pod) => admitPodServiceAccount(pod, { serviceAccount: saLookup.serviceAccount });
    this.registries.get('/v1/pods')!.partialWrites = { ephemeralcontainers: ephemeralContainersWrite };
    this.registries.get('/v1/namespaces')!.afterCreate = this.namespaceContent = namespaceContent({ serviceAccounts: this.registries.get('/v1/serviceaccounts')!, configMaps: this.registries.get('/v1/configmaps')!, caCert: opts.pki.caCert });
    this.join = new JoinService({ cache: this.cache, secrets: this.registries.get('/v1/secrets')!, caCert: opts.pki.caCert, joinSecret: opts.nodeJoinSecret });
  }

  private byPrefix(prefix: string): ResourceRegistry | undefined {
    for (const r of this.registries.values()) if (r.prefix === prefix) return r;
    return undefined;
  }

  private readonly namespaces: NamespaceLookup = {
    phase: (name) => {
      const c = this.cache.get(`/registry/core/namespaces/${name}`);
      if (!c) return undefined;
      return c.obj.metadata.deletionTimestamp || (c.obj.status as { phase?: string } | undefined)?.phase === 'Terminating' ? 'Terminating' : 'Active';
    },
  };

  addResource(s: Strategy, hooks: SchemaHooks): void {
    const i = s.info;
    this.registries.set(`${i.group}/${i.version}/${i.plural}`, new ResourceRegistry(s, this.opts.store, this.cache, this.namespaces, hooks));
  }

  removeResource(i: ResourceInfo): void {
    this.registries.delete(`${i.group}/${i.version}/${i.plural}`);
  }

  private resourcesChanged(): void {
    this.resourceList = [...[...this.registries.values()].map((r) => r.info), ...REVIEW_RESOURCES];
    this.discoveryCache.clear();
    this.openapi.setResources(this.resourceList, this.crds.schemas());
  }

  registry(group: string, version: string, plural: string): ResourceRegistry | undefined {
    return this.registries.get(`${group}/${version}/${plural}`);
  }

  async start(): Promise<void> {
    await this.cache.start();
    this.opts.auth.attach?.(this.cache);
    this.serviceAccountTokens.attach(cacheLookup(this.cache));
    await bootstrapNamespaces(this);
    // Namespaces from a data dir older than service accounts get theirs now, before pods are admitted.
    for (const c of this.cache.list('/registry/core/namespaces/')) if (this.namespaces.phase(c.obj.metadata.name!) === 'Active') await this.namespaceContent(c.obj);
    this.crds.start();
    await bootstrapCrds(this);
    this.gc.start();
    this.nsController.start();
    const every = this.opts.compactIntervalMs ?? 60_000;
    if (every > 0) {
      this.compactTimer = setInterval(() => void this.compact(), every);
      this.compactTimer.unref();
    }
    const server = createHttpsServer({ cert: this.opts.pki.serverCert, key: this.opts.pki.serverKey, ca: this.opts.pki.caCert }, (req, res) => {
      this.serve(req, res).catch((err) => {
        this.log.error({ err }, 'request failed');
        sendError(res, err);
      });
    });
    // Only pod exec/attach/portforward (and log) and the proxy subresources are served as upgrades; see serveUpgrade.
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => undefined);
      try {
        this.serveUpgrade(req, socket, head);
      } catch (err) {
        if (!(err instanceof StatusError)) this.log.error({ err }, 'upgrade failed');
        rejectUpgrade(socket, err);
      }
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    // Watches stay open for a long time; do not let Node cut them.
    server.requestTimeout = 0;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 6443, this.opts.bind ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    await bootstrapKubernetesService(this, this.services.firstIp, { ip: this.advertiseAddress(), port: this.port });
    this.ready = true;
  }

  /** The address other hosts reach this server at: the bind address, or the first non-loopback IPv4. */
  private advertiseAddress(): string {
    const bind = this.opts.bind ?? '0.0.0.0';
    if (bind !== '0.0.0.0' && bind !== '::') return bind;
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    return '127.0.0.1';
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  private async compact(): Promise<void> {
    try {
      const target = (await this.opts.store.currentRevision()) - COMPACT_KEEP;
      if (target > (await this.opts.store.compactedRevision())) await this.opts.store.compact(target);
    } catch (err) {
      this.log.warn({ err }, 'compaction failed');
    }
  }

  async stop(): Promise<void> {
    this.ready = false;
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.crds.stop();
    this.gc.stop();
    this.nsController.stop();
    this.opts.auth.detach?.();
    this.serviceAccountTokens.attach(undefined);
    this.cache.stop();
    if (this.server) {
      const s = this.server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
  }

  private authenticate(req: IncomingMessage): UserInfo | undefined {
    const header = req.headers['authorization'];
    return this.opts.auth.authenticate(header) ?? this.serviceAccountTokens.authenticate(header);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://skiff');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    if (PUBLIC_PATHS.has(path) || path.startsWith('/livez/') || path.startsWith('/readyz/') || path.startsWith('/healthz/')) {
      send(res, this.ready || path.startsWith('/livez') ? 200 : 503, this.ready ? 'ok' : 'not ready', { contentType: 'text/plain; charset=utf-8' });
      return;
    }
    if (JOIN_PATHS.has(path)) {
      await this.join.serve(req, res, path);
      return;
    }
    const user = this.authenticate(req);
    if (!user) {
      sendError(res, errors.unauthorized());
      return;
    }
    try {
      await this.route(req, res, path, url.searchParams, user);
    } catch (err) {
      if (!(err instanceof StatusError) && !(err instanceof UnavailableError)) this.log.error({ err, method: req.method, path }, 'internal error');
      // Drain what the client still sends so the connection can be reused.
      if (!req.readableEnded) req.resume();
      sendError(res, err);
    }
  }

  /** The pod path of a node-served subresource (log, exec, attach, portforward), if that is what p is. */
  private nodeSubresource(path: string): { namespace: string; name: string; sub: string } | undefined {
    const rp = parseResourcePath(path, (g, v, p) => this.registries.get(`${g}/${v}/${p}`)?.info.namespaced);
    if (!rp || rp.group !== '' || rp.version !== 'v1' || rp.resource !== 'pods' || rp.watchPath || rp.rest.length) return undefined;
    if (!rp.namespace || !rp.name || !rp.subresource || !NODE_SUBRESOURCES.has(rp.subresource)) return undefined;
    return { namespace: rp.namespace, name: rp.name, sub: rp.subresource };
  }

  private serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://skiff');
    if (!this.authenticate(req)) throw errors.unauthorized();
    const proxied = proxyRequestOf(req.url ?? '/');
    if (proxied) {
      this.proxy.upgrade(req, socket, head, proxied.path, proxied.rawQuery);
      return;
    }
    const target = this.nodeSubresource(url.pathname.replace(/\/+$/, ''));
    if (!target) throw errors.badRequest(`${url.pathname} cannot be upgraded to ${String(req.headers['upgrade'] ?? '')}; only pods/exec, pods/attach and pods/portforward can`);
    this.nodeProxy.upgrade(req, socket, head, target.namespace, target.name, target.sub, url.searchParams);
  }

  private discovery(key: string, make: () => string | undefined): string | undefined {
    let v = this.discoveryCache.get(key);
    if (v === undefined) {
      v = make();
      if (v !== undefined) this.discoveryCache.set(key, v);
    }
    return v;
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams, user: UserInfo): Promise<void> {
    const method = req.method ?? 'GET';
    const accept = String(req.headers['accept'] ?? '');
    if (path === '/version') {
      sendJson(res, 200, SERVER_VERSION);
      return;
    }
    if (path === '/api' || path === '/apis') {
      if (method !== 'GET') throw errors.methodNotAllowed('discovery is read-only');
      const agg = wantsAggregated(accept);
      const legacy = path === '/api';
      if (agg) {
        const body = this.discovery(`${path}:${agg}`, () => aggregatedDiscovery(this.resourceList, legacy, agg))!;
        send(res, 200, body, { contentType: agg === 'v2' ? AGGREGATED_V2 : AGGREGATED_V2BETA1, headers: { Vary: 'Accept' } });
      } else {
        const body = this.discovery(path, () => (legacy ? legacyApiVersions() : apiGroupList(this.resourceList)))!;
        send(res, 200, body, { headers: { Vary: 'Accept' } });
      }
      return;
    }
    if (path === '/openapi/v3' || path.startsWith('/openapi/v3/')) {
      this.openapi.serveV3(req, res, path, q);
      return;
    }
    if (path === '/openapi/v2') {
      throw new StatusError(404, 'NotFound', 'OpenAPI v2 is not served; use /openapi/v3');
    }
    const segs = path.split('/').filter(Boolean);
    // /api/v1, /apis/<group>, /apis/<group>/<version>
    if (segs[0] === 'api' && segs.length === 2) {
      const body = this.discovery(path, () => apiResourceList(this.resourceList, '', segs[1]!));
      if (!body) throw errors.notFoundPath();
      send(res, 200, body);
      return;
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const body = this.discovery(path, () => apiGroupJson(this.resourceList, segs[1]!));
      if (!body) throw errors.notFoundPath();
      send(res, 200, body);
      return;
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const body = this.discovery(path, () => apiResourceList(this.resourceList, segs[1]!, segs[2]!));
      if (!body) throw errors.notFoundPath();
      send(res, 200, body);
      return;
    }
    // pods|services|nodes/NAME/proxy/...: the raw path, as the trailing slash and escapes matter.
    const proxied = proxyRequestOf(req.url ?? '/');
    if (proxied) {
      await this.proxy.serve(req, res, proxied.path, proxied.rawQuery);
      return;
    }
    const rp = parseResourcePath(path, (g, v, p) => {
      if (g === '' && v === 'v1' && p === 'bindings') return true;
      return this.registries.get(`${g}/${v}/${p}`)?.info.namespaced;
    });
    if (!rp || !rp.resource) throw errors.notFoundPath();
    if (rp.group === '' && rp.version === 'v1' && rp.resource === 'bindings' && rp.namespace && !rp.name) {
      // The legacy bindings collection: POST a Binding named after the pod.
      await this.handler.bindingCollection(req, res, rp.namespace, q, user);
      return;
    }
    const nodeSub = this.nodeSubresource(path);
    if (nodeSub) {
      await this.nodeProxy.serve(req, res, nodeSub.namespace, nodeSub.name, nodeSub.sub, q);
      return;
    }
    if (rp.group === '' && rp.version === 'v1' && rp.resource === 'serviceaccounts' && rp.subresource === 'token' && rp.namespace && rp.name && !rp.rest.length) {
      await serveTokenRequest(req, res, rp.namespace, rp.name, this.serviceAccountTokens, cacheLookup(this.cache));
      return;
    }
    const reg = this.registries.get(`${rp.group}/${rp.version}/${rp.resource}`);
    if (!reg) {
      const rv = REVIEW_RESOURCES.find((r) => r.group === rp.group && r.version === rp.version && r.plural === rp.resource);
      if (!rv || rp.name) throw errors.notFoundPath();
      if (method !== 'POST') throw errors.methodNotAllowed(`${rv.plural} only supports create`);
      const body = decodeBody(await readBody(req), req.headers['content-type']);
      sendJson(res, 201, review(rv.plural, body, user));
      return;
    }
    await this.handler.handle(req, res, reg, rp, q, user);
  }
}
