// A client for the OCI distribution API (the registry v2 protocol), just what a pull needs:
// manifests by tag or digest, blobs streamed to disk and verified, and the two auth schemes
// registries use (a Bearer token from the realm the registry names, or plain Basic).
// Credentials and tokens only ever travel in Authorization headers; no message or error built
// here includes them.
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { DigestMismatchError, digestHex, sha256 } from './digest.js';
import { hostPlatform, ImageNotFoundError, MT, type Descriptor } from './store.js';

/** Credentials for one registry (from imagePullSecrets or `--creds`). */
export interface RegistryAuth {
  /** registry host as references spell it: "docker.io", "127.0.0.1:5000", "*.example.com" */
  registry: string;
  username: string;
  password: string;
}

export class RegistryError extends Error {
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message);
  }
}

/** The registry has no such manifest or repository (the pod worker reports ErrImagePull). */
export class ManifestUnknownError extends ImageNotFoundError {}

/** The registry refused us: no credentials, wrong ones, or no pull access. */
export class RegistryUnauthorizedError extends RegistryError {}

export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');
const MANIFEST_LIMIT = 4 << 20;
const REDIRECT_LIMIT = 5;
const USER_AGENT = 'skiff/0.1';

export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: { schemaVersion?: number; mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
}

export function isIndex(m: Manifest): boolean {
  return m.mediaType === MT.ociIndex || m.mediaType === MT.dockerList;
}

/** where a registry named in references really answers */
export function registryEndpoint(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' ? 'registry-1.docker.io' : domain;
}

function hostOnly(hostport: string): string {
  if (hostport.startsWith('[')) return hostport.slice(1, hostport.indexOf(']'));
  const c = hostport.lastIndexOf(':');
  return c > 0 ? hostport.slice(0, c) : hostport;
}

function isLoopback(hostport: string): boolean {
  const h = hostOnly(hostport).toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** a registry entry from a flag or a secret, down to "host[:port]" (scheme and path dropped) */
export function normalizeRegistryHost(s: string): string {
  let h = s.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = h.indexOf('/');
  if (slash >= 0) h = h.slice(0, slash);
  h = h.toLowerCase();
  return h === 'index.docker.io' || h === 'registry-1.docker.io' ? 'docker.io' : h;
}

/** Docker's rule: plain HTTP is allowed for loopback registries and those listed as insecure. */
export function isInsecureRegistry(domain: string, insecure: string[] = []): boolean {
  if (isLoopback(domain)) return true;
  const d = normalizeRegistryHost(domain);
  return insecure.some((e) => {
    const n = normalizeRegistryHost(e);
    return n === d || (!n.includes(':') && n === hostOnly(d));
  });
}

/** true if a credential's registry (possibly "*.example.com") covers domain */
export function registryMatches(pattern: string, domain: string): boolean {
  const p = normalizeRegistryHost(pattern);
  const d = normalizeRegistryHost(domain);
  if (p === d) return true;
  if (p.startsWith('*.')) {
    const suffix = p.slice(1);
    return d.endsWith(suffix) && !d.slice(0, -suffix.length).includes('.');
  }
  return false;
}

/**
 * Picks the image for a platform out of an OCI index or Docker manifest list. A variant the host
 * asks for wins; otherwise an entry without a variant, then the first match.
 */
export function selectPlatformManifest(manifests: Descriptor[], where: string, platform: { os: string; architecture: string; variant?: string } = hostPlatform()): Descriptor {
  const images = manifests.filter((m) => m.mediaType === MT.ociManifest || m.mediaType === MT.dockerManifest || m.mediaType === undefined);
  const fits = images.filter((m) => m.platform?.os === platform.os && m.platform?.architecture === platform.architecture);
  const pick = (platform.variant ? fits.find((m) => m.platform?.variant === platform.variant) : undefined) ?? fits.find((m) => !m.platform?.variant) ?? fits[0];
  if (!pick) {
    const have = manifests
      .map((m) => (m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : '?'))
      .filter((p) => p !== 'unknown/unknown');
    throw new RegistryError(`${where}: no image for ${platform.os}/${platform.architecture} in the index (has ${have.join(', ') || 'none'})`);
  }
  return pick;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** parses a WWW-Authenticate value (one challenge; quoted values may hold commas) */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2]!;
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest))) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface RegistryClientOptions {
  /** credentials to present if the registry asks (the caller picks the ones for this registry) */
  auth?: RegistryAuth;
  insecureRegistries?: string[];
  signal?: AbortSignal;
  /** a request with no bytes moving for this long fails (default 60 s) */
  idleTimeoutMs?: number;
}

function redacted(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

async function readBody(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.destroy();
      throw new RegistryError(`response from ${res.url || 'the registry'} is larger than ${limit} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** the registry's own explanation ({"errors":[{code,message}]}), if it sent one */
async function registryErrors(res: http.IncomingMessage): Promise<{ code?: string; message: string }> {
  const body = await readBody(res, 64 << 10).catch(() => Buffer.alloc(0));
  try {
    const e = (JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    if (e) return { code: e.code, message: [e.code, e.message].filter(Boolean).join(': ') };
  } catch {
    // not JSON: fall back to the status line
  }
  return { message: `HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim() };
}

/** One repository on one registry. Keeps its auth header between requests. */
export class RegistryClient {
  readonly domain: string;
  readonly repo: string;
  private readonly opts: RegistryClientOptions;
  private readonly host: string;
  private base: Promise<string> | undefined;
  private authorization: string | undefined;
  private readonly insecure: boolean;

  constructor(domain: string, repo: string, opts: RegistryClientOptions = {}) {
    this.domain = domain;
    this.repo = repo;
    this.opts = opts;
    this.host = registryEndpoint(domain);
    this.insecure = isInsecureRegistry(domain, opts.insecureRegistries);
  }

  private get idleMs(): number {
    return this.opts.idleTimeoutMs ?? 60_000;
  }

  /** one GET, no redirects or auth handling; rejects on network errors and timeouts */
  private get(url: URL, headers: Record<string, string>, tlsVerify = !(this.insecure && url.host === this.host)): Promise<http.IncomingMessage> {
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = { headers: { 'user-agent': USER_AGENT, ...headers }, signal: this.opts.signal, rejectUnauthorized: tlsVerify };
      const req = mod.get(url, options, resolve);
      req.setTimeout(this.idleMs, () => req.destroy(new RegistryError(`${redacted(url)}: no response for ${this.idleMs / 1000}s`)));
      req.on('error', (e) => {
        if (e instanceof RegistryError || (e as Error).name === 'AbortError') reject(e);
        else reject(new RegistryError(`${redacted(url)}: ${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`.replace(/\s+/g, ' ')));
      });
    });
  }

  /**
   * The scheme to use. An insecure registry is tried over HTTPS (certificate unchecked) first and
   * over plain HTTP when TLS does not answer, as Docker does.
   */
  private baseUrl(): Promise<string> {
    this.base ??= (async () => {
      if (!this.insecure) return `https://${this.host}`;
      try {
        const res = await this.get(new URL(`https://${this.host}/v2/`), {}, false);
        res.resume();
        return `https://${this.host}`;
      } catch (e) {
        if ((e as Error).name === 'AbortError') throw e;
        return `http://${this.host}`;
      }
    })();
    return this.base;
  }

  /** GET with redirects (credentials stay with the registry's own host) and one auth round */
  private async request(path: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
    const start = new URL(path, await this.baseUrl());
    for (let attempt = 0; ; attempt++) {
      let url = start;
      let res: http.IncomingMessage;
      for (let hops = 0; ; hops++) {
        const h = { ...headers };
        if (this.authorization && url.host === start.host) h['authorization'] = this.authorization;
        res = await this.get(url, h);
        const loc = res.headers.location;
        if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !loc) break;
        res.resume();
        if (hops >= REDIRECT_LIMIT) throw new RegistryError(`${redacted(start)}: more than ${REDIRECT_LIMIT} redirects`);
        const next = new URL(loc, url);
        if (url.protocol === 'https:' && next.protocol !== 'https:') throw new RegistryError(`${redacted(start)}: refusing a redirect from HTTPS to ${next.protocol}`);
        url = next;
      }
      if (res.statusCode !== 401 || attempt > 0) return res;
      const challenge = parseChallenge(String(res.headers['www-authenticate'] ?? ''));
      res.resume();
      await this.authorize(challenge);
    }
  }

  private what(): string {
    return `${this.domain}/${this.repo}`;
  }

  private async authorize(ch: Challenge | undefined): Promise<void> {
    const cred = this.opts.auth;
    const basic = cred ? 'Basic ' + Buffer.from(`${cred.username}:${cred.password}`).toString('base64') : undefined;
    if (ch?.scheme === 'basic') {
      if (!basic) throw new RegistryUnauthorizedError(`unauthorized: ${this.domain} requires authentication to pull ${this.what()} and no credentials were given`, 401, 'UNAUTHORIZED');
      this.authorization = basic;
      return;
    }
    if (ch?.scheme !== 'bearer' || !ch.params['realm']) throw new RegistryUnauthorizedError(`unauthorized: ${this.domain} refused access to ${this.what()} without saying how to authenticate`, 401, 'UNAUTHORIZED');
    let realm: URL;
    try {
      realm = new URL(ch.params['realm']);
    } catch {
      throw new RegistryError(`${this.domain}: token realm "${ch.params['realm']}" is not a URL`);
    }
    // Basic credentials may go to the token service over plain HTTP only where the registry itself is allowed to be insecure.
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (this.insecure || isLoopback(realm.host)))) throw new RegistryError(`${this.domain}: refusing token realm ${redacted(realm)} (not HTTPS)`);
    realm.username = '';
    realm.password = '';
    if (ch.params['service']) realm.searchParams.set('service', ch.params['service']);
    realm.searchParams.set('scope', ch.params['scope'] || `repository:${this.repo}:pull`);
    const res = await this.get(realm, basic ? { authorization: basic } : {});
    if (res.statusCode === 401 || res.statusCode === 403) {
      res.resume();
      throw new RegistryUnauthorizedError(cred ? `unauthorized: the token service of ${this.domain} rejected the credentials for ${cred.username ? 'user ' + JSON.stringify(cred.username) : 'this registry'}` : `unauthorized: the token service of ${this.domain} requires credentials`, res.statusCode, 'UNAUTHORIZED');
    }
    if (res.statusCode !== 200) throw new RegistryError(`${this.domain}: token service ${redacted(realm)} answered ${(await registryErrors(res)).message}`, res.statusCode);
    let token: string | undefined;
    try {
      const j = JSON.parse((await readBody(res, 1 << 20)).toString('utf8')) as { token?: string; access_token?: string };
      token = j.token || j.access_token;
    } catch {
      // reported below
    }
    if (!token) throw new RegistryError(`${this.domain}: token service ${redacted(realm)} sent no token`);
    this.authorization = `Bearer ${token}`;
  }

  /** turns a failed response into the error a caller can act on */
  private async fail(res: http.IncomingMessage, what: string): Promise<never> {
    const st = res.statusCode ?? 0;
    const e = await registryErrors(res);
    if (st === 401) {
      const msg = this.opts.auth
        ? `unauthorized: ${this.domain} rejected the credentials for ${this.what()}`
        : `unauthorized: pull access denied for ${this.what()}: the repository does not exist or needs credentials`;
      throw new RegistryUnauthorizedError(`${msg} (${e.message})`, st, e.code);
    }
    if (st === 403) throw new RegistryUnauthorizedError(`denied: no pull access to ${this.what()} (${e.message})`, st, e.code);
    if (st === 429) throw new RegistryError(`toomanyrequests: ${this.domain} is rate-limiting pulls of ${what} (${e.message})`, st, e.code);
    throw new RegistryError(`${what}: ${this.domain} answered ${e.message}`, st, e.code);
  }

  /** GET /v2/<repo>/manifests/<tag|digest>; `display` names the reference in errors */
  async getManifest(reference: string, display: string): Promise<Manifest> {
    const res = await this.request(`/v2/${this.repo}/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    if (res.statusCode === 404) {
      const e = await registryErrors(res);
      if (!e.code || e.code === 'MANIFEST_UNKNOWN' || e.code === 'NAME_UNKNOWN') throw new ManifestUnknownError(`manifest unknown: ${display}`);
      throw new RegistryError(`${display}: ${this.domain} answered ${e.message}`, 404, e.code);
    }
    if (res.statusCode !== 200) return this.fail(res, display);
    const bytes = await readBody(res, MANIFEST_LIMIT);
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) throw new DigestMismatchError(`${display}: the registry sent a manifest whose digest is ${digest}`);
    const claimed = res.headers['docker-content-digest'];
    if (typeof claimed === 'string' && claimed.startsWith('sha256:') && claimed !== digest) throw new DigestMismatchError(`${display}: manifest digest ${digest} differs from Docker-Content-Digest ${claimed}`);
    let json: Manifest['json'];
    try {
      json = JSON.parse(bytes.toString('utf8')) as Manifest['json'];
    } catch {
      throw new RegistryError(`${display}: the manifest is not JSON`);
    }
    const header = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    const mediaType = json.mediaType || (json.manifests ? MT.ociIndex : json.config ? MT.ociManifest : header);
    if (json.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) throw new RegistryError(`${display}: Docker schema 1 manifests are not supported (re-push the image with a current client)`);
    if (![MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].includes(mediaType as never)) throw new RegistryError(`${display}: unsupported manifest type "${mediaType}"`);
    return { digest, mediaType, bytes, json };
  }

  /**
   * GET /v2/<repo>/blobs/<digest> into dest, checking size and digest as bytes arrive; dest is
   * removed if anything is wrong. onBytes reports each chunk's length.
   */
  async downloadBlob(d: Descriptor, dest: string, onBytes?: (n: number) => void): Promise<void> {
    digestHex(d.digest);
    const res = await this.request(`/v2/${this.repo}/blobs/${d.digest}`, {});
    if (res.statusCode === 404) {
      const e = await registryErrors(res);
      throw new RegistryError(`blob unknown: ${this.what()}@${d.digest} (${e.message})`, 404, e.code);
    }
    if (res.statusCode !== 200) return this.fail(res, `${this.what()}@${d.digest}`);
    const h = createHash('sha256');
    let n = 0;
    try {
      await pipeline(
        res,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const c of source) {
            n += c.length;
            if (typeof d.size === 'number' && n > d.size) throw new DigestMismatchError(`blob ${d.digest}: the registry sent more than the ${d.size} bytes the manifest lists`);
            h.update(c);
            onBytes?.(c.length);
            yield c;
          }
        },
        createWriteStream(dest, { mode: 0o600 }),
      );
      const got = 'sha256:' + h.digest('hex');
      if (got !== d.digest) throw new DigestMismatchError(`blob ${d.digest}: downloaded content has digest ${got}`);
      if (typeof d.size === 'number' && n !== d.size) throw new DigestMismatchError(`blob ${d.digest}: got ${n} bytes, the manifest lists ${d.size}`);
    } catch (e) {
      await fsp.rm(dest, { force: true });
      if (e instanceof RegistryError || e instanceof DigestMismatchError || (e as Error).name === 'AbortError') throw e;
      throw new RegistryError(`blob ${d.digest} of ${this.what()}: download failed after ${n} bytes: ${(e as Error).message}`);
    }
  }
}
