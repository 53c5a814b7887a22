// API discovery, in both forms kubectl understands: aggregated (apidiscovery.k8s.io/v2 and v2beta1,
// one request for everything) and legacy (APIVersions / APIGroupList / APIResourceList).
import type { ResourceInfo } from './registry/strategy.js';

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const AGGREGATED_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

/** Which aggregated discovery version the Accept header asks for, if any. */
export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept || !accept.includes('apidiscovery.k8s.io')) return undefined;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s/g, '');
    if (p.includes('g=apidiscovery.k8s.io') && p.includes('as=APIGroupDiscoveryList')) {
      if (p.includes('v=v2beta1')) return 'v2beta1';
      if (p.includes('v=v2')) return 'v2';
    }
  }
  return undefined;
}

interface SubresourceInfo {
  name: string;
  kind: { group: string; version: string; kind: string };
  verbs: string[];
}

function subresourcesOf(r: ResourceInfo): SubresourceInfo[] {
  const self = { group: r.group, version: r.version, kind: r.kind };
  const out: SubresourceInfo[] = [];
  for (const s of r.subresources ?? []) {
    switch (s) {
      case 'status':
      case 'ephemeralcontainers':
        out.push({ name: s, kind: self, verbs: ['get', 'patch', 'update'] });
        break;
      case 'scale':
        out.push({ name: 'scale', kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] });
        break;
      case 'binding':
        out.push({ name: 'binding', kind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] });
        break;
      case 'eviction':
        out.push({ name: 'eviction', kind: { group: 'policy', version: 'v1', kind: 'Eviction' }, verbs: ['create'] });
        break;
      case 'log':
        out.push({ name: 'log', kind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get'] });
        break;
      case 'exec':
      case 'attach':
      case 'portforward':
        out.push({ name: s, kind: { group: '', version: 'v1', kind: s === 'portforward' ? 'PodPortForwardOptions' : s === 'exec' ? 'PodExecOptions' : 'PodAttachOptions' }, verbs: ['create', 'get'] });
        break;
      case 'token':
        out.push({ name: 'token', kind: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }, verbs: ['create'] });
        break;
      case 'finalize':
        out.push({ name: 'finalize', kind: self, verbs: ['update'] });
        break;
      default:
        out.push({ name: s, kind: self, verbs: ['get'] });
    }
  }
  return out;
}

function groupsOf(resources: ResourceInfo[]): Map<string, Map<string, ResourceInfo[]>> {
  const groups = new Map<string, Map<string, ResourceInfo[]>>();
  for (const r of resources) {
    let g = groups.get(r.group);
    if (!g) groups.set(r.group, (g = new Map()));
    let v = g.get(r.version);
    if (!v) g.set(r.version, (v = []));
    v.push(r);
  }
  return groups;
}

function aggregatedResource(r: ResourceInfo) {
  const out: Record<string, unknown> = {
    resource: r.plural,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: r.verbs,
  };
  if (r.shortNames?.length) out.shortNames = r.shortNames;
  if (r.categories?.length) out.categories = r.categories;
  const subs = subresourcesOf(r);
  if (subs.length) out.subresources = subs.map((s) => ({ subresource: s.name, responseKind: s.kind, verbs: s.verbs }));
  return out;
}

/** Versions sorted the way Kubernetes prefers them: v1 > v1beta1 > v1alpha1, higher numbers first. */
export function sortVersions(versions: string[]): string[] {
  const rank = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0];
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  return [...versions].sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
    return a.localeCompare(b);
  });
}

export function aggregatedDiscovery(resources: ResourceInfo[], legacy: boolean, version: 'v2' | 'v2beta1'): string {
  const groups = groupsOf(resources.filter((r) => (r.group === '') === legacy));
  const items = [...groups].map(([group, versions]) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: sortVersions([...versions.keys()]).map((v) => ({ version: v, resources: versions.get(v)!.map(aggregatedResource), freshness: 'Current' })),
  }));
  return JSON.stringify({ kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items });
}

export function legacyApiVersions(): string {
  return JSON.stringify({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] });
}

function apiGroup(group: string, versions: string[]) {
  const sorted = sortVersions(versions);
  return {
    name: group,
    versions: sorted.map((v) => ({ groupVersion: `${group}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${group}/${sorted[0]}`, version: sorted[0] },
  };
}

export function apiGroupList(resources: ResourceInfo[]): string {
  const groups = groupsOf(resources.filter((r) => r.group !== ''));
  return JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([g, v]) => apiGroup(g, [...v.keys()])) });
}

export function apiGroupJson(resources: ResourceInfo[], group: string): string | undefined {
  const versions = [...new Set(resources.filter((r) => r.group === group).map((r) => r.version))];
  if (!versions.length) return undefined;
  return JSON.stringify({ kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) });
}

export function apiResourceList(resources: ResourceInfo[], group: string, version: string): string | undefined {
  const rs = resources.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const list: Record<string, unknown>[] = [];
  for (const r of rs) {
    const e: Record<string, unknown> = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames?.length) e.shortNames = r.shortNames;
    if (r.categories?.length) e.categories = r.categories;
    list.push(e);
    for (const s of subresourcesOf(r)) {
      const se: Record<string, unknown> = { name: `${r.plural}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind.kind, verbs: s.verbs };
      if (s.kind.group !== r.group || s.kind.version !== r.version) {
        se.group = s.kind.group;
        se.version = s.kind.version;
      }
      list.push(se);
    }
  }
  return JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: list });
}
