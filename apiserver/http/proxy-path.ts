// The proxy subresources' URL paths: /api/v1/namespaces/NS/pods/ID/proxy[/PATH],
// /api/v1/namespaces/NS/services/ID/proxy[/PATH] and /api/v1/nodes/ID/proxy[/PATH], where ID is
// `[scheme:]name[:port]` as Kubernetes splits it. PATH stays as the client encoded it, so an
// escaped slash or space reaches the backend unchanged.
import { errors } from '../status.js';

export type ProxyResource = 'pods' | 'services' | 'nodes';

export interface ProxyPath {
  resource: ProxyResource;
  namespace?: string;
  /** the ID segment, decoded */
  id: string;
  /** '' (plain http), 'http' or 'https' */
  scheme: string;
  name: string;
  /** '' when the ID names no port */
  port: string;
  /** the backend path, still percent-encoded: '' for .../proxy, otherwise starting with '/' */
  path: string;
  /** the request path up to and including `proxy`, as sent (redirects are rewritten under it) */
  prefix: string;
}

const SCHEMES = new Set(['', 'http', 'https']);

/**
 * Splits `[scheme:]name[:port]`: one part is a name, two are name and port, three are scheme,
 * name and port. The name must not be empty and the scheme must be http, https or empty.
 */
export function splitSchemeNamePort(id: string): { scheme: string; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name: string;
  let port = '';
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) [name, port] = parts as [string, string];
  else if (parts.length === 3) [scheme, name, port] = parts as [string, string, string];
  else return undefined;
  if (!name || !SCHEMES.has(scheme)) return undefined;
  return { scheme, name, port };
}

function decode(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw errors.badRequest(`invalid escape in path segment ${JSON.stringify(seg)}`);
  }
}

/**
 * The proxy request a raw request path (no query) asks for, or undefined when it is not one.
 * Throws a 400 Status for a malformed ID or a dot segment in the backend path (which a client
 * could otherwise use to have the backend path mean something else than what was asked).
 */
export function parseProxyPath(rawPath: string): ProxyPath | undefined {
  const segs = rawPath.split('/');
  // A leading '/' gives an empty first segment.
  if (segs[0] !== '' || segs[1] !== 'api' || segs[2] !== 'v1') return undefined;
  let resource: ProxyResource;
  let namespace: string | undefined;
  let idAt: number;
  if (segs[3] === 'namespaces' && (segs[5] === 'pods' || segs[5] === 'services') && segs.length >= 8) {
    resource = segs[5];
    namespace = decode(segs[4]!);
    idAt = 6;
  } else if (segs[3] === 'nodes' && segs.length >= 6) {
    resource = 'nodes';
    idAt = 4;
  } else return undefined;
  if (segs[idAt + 1] !== 'proxy') return undefined;
  if (namespace === '') return undefined;
  const id = decode(segs[idAt]!);
  const rest = segs.slice(idAt + 2);
  for (const s of rest) {
    const d = decode(s);
    if (d === '.' || d === '..') throw errors.badRequest(`the proxy path may not contain ${JSON.stringify(d)} segments`);
  }
  const split = splitSchemeNamePort(id);
  if (!split) throw errors.badRequest(`invalid ${resource === 'pods' ? 'pod' : resource === 'services' ? 'service' : 'node'} request ${JSON.stringify(id)}`);
  return {
    resource,
    namespace,
    id,
    ...split,
    path: rest.length ? '/' + rest.join('/') : '',
    prefix: segs.slice(0, idAt + 2).join('/'),
  };
}

/**
 * A Location header from the backend, pointed back through the proxy when it names the backend
 * itself: an absolute path, or an absolute URL to the backend's host. Relative references resolve
 * against the proxied URL already and other hosts are left alone.
 */
export function rewriteLocation(location: string, backendHost: string, prefix: string, publicOrigin: string): string {
  let u: URL;
  try {
    u = new URL(location, 'http://backend.invalid');
  } catch {
    return location;
  }
  const relative = !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');
  if (relative && !location.startsWith('/')) return location;
  if (!relative && u.host !== backendHost) return location;
  if (u.pathname === prefix || u.pathname.startsWith(prefix + '/')) return relative ? location : publicOrigin + u.pathname + u.search + u.hash;
  return (relative ? '' : publicOrigin) + prefix + u.pathname + u.search + u.hash;
}

/** The proxy request of a raw request-target (path and query as received), if it is one. */
export function proxyRequestOf(requestTarget: string): { path: ProxyPath; rawQuery: string } | undefined {
  const q = requestTarget.indexOf('?');
  const path = parseProxyPath(q < 0 ? requestTarget : requestTarget.slice(0, q));
  return path && { path, rawQuery: q < 0 ? '' : requestTarget.slice(q + 1) };
}
