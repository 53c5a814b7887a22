// Image references the way Docker spells them: "busybox" is docker.io/library/busybox:latest,
// "registry:5000/team/app@sha256:..." keeps its registry, and a name may carry a tag, a digest or
// both. Names are normalised once here so the store compares plain strings.

export interface ImageReference {
  /** registry host, with port: "docker.io", "localhost:5000" */
  domain: string;
  /** repository path: "library/busybox" */
  path: string;
  tag?: string;
  /** "sha256:<64 hex>" */
  digest?: string;
}

export class ReferenceError extends Error {}

export const DEFAULT_DOMAIN = 'docker.io';
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d+)?$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function parseReference(input: string): ImageReference {
  const s = input.trim();
  if (!s) throw new ReferenceError('empty image reference');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new ReferenceError(`invalid digest in "${input}" (want sha256:<64 lowercase hex>)`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new ReferenceError(`invalid tag "${tag}" in "${input}"`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Like Docker: the first component is a registry only if it looks like a host.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN_RE.test(domain)) throw new ReferenceError(`invalid registry "${domain}" in "${input}"`);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (!path || !path.split('/').every((c) => COMPONENT_RE.test(c))) throw new ReferenceError(`invalid repository name "${path}" in "${input}" (lowercase letters, digits and separators)`);
  if (domain.length + path.length > 254) throw new ReferenceError(`image name too long: "${input}"`);
  if (!tag && !digest) tag = 'latest';
  return { domain, path, tag, digest };
}

export function repository(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

/** the canonical string: "docker.io/library/busybox:latest", "host/x@sha256:..." */
export function formatReference(r: ImageReference): string {
  return repository(r) + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** the short form users typed: "busybox:latest" for docker.io/library/busybox:latest */
export function familiarName(canonical: string): string {
  if (canonical.startsWith('docker.io/library/')) return canonical.slice('docker.io/library/'.length);
  if (canonical.startsWith('docker.io/')) return canonical.slice('docker.io/'.length);
  return canonical;
}

export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}
