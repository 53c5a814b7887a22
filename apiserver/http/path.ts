// Resource paths: /api/v1/... and /apis/<group>/<version>/..., with an optional legacy /watch/
// segment, a namespace, a name and a subresource.

export interface ResourcePath {
  group: string;
  version: string;
  namespace?: string;
  resource?: string;
  name?: string;
  subresource?: string;
  /** the legacy /watch/ path form */
  watchPath: boolean;
  /** trailing segments after the subresource (e.g. proxy paths); not served */
  rest: string[];
}

/**
 * Splits a URL path into its parts. isNamespaced tells whether a plural in this group-version is
 * namespaced, which decides what /namespaces/x/y means.
 */
export function parseResourcePath(pathname: string, isNamespaced: (group: string, version: string, plural: string) => boolean | undefined): ResourcePath | undefined {
  const segs = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let i: number;
  if (segs[0] === 'api') {
    if (segs.length < 2) return undefined;
    group = '';
    version = segs[1]!;
    i = 2;
  } else if (segs[0] === 'apis') {
    if (segs.length < 3) return undefined;
    group = segs[1]!;
    version = segs[2]!;
    i = 3;
  } else return undefined;
  const out: ResourcePath = { group, version, watchPath: false, rest: [] };
  if (segs[i] === 'watch') {
    out.watchPath = true;
    i++;
  }
  if (segs[i] === 'namespaces' && segs.length - i >= 3 && isNamespaced(group, version, segs[i + 2]!) === true) {
    out.namespace = segs[i + 1];
    i += 2;
  }
  out.resource = segs[i];
  out.name = segs[i + 1];
  out.subresource = segs[i + 2];
  out.rest = segs.slice(i + 3);
  return out;
}
