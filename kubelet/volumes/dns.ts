// A pod's resolv.conf, computed by kubelet's rules (dns.go): the dnsPolicy picks cluster DNS, the
// host's resolver or nothing; spec.dnsConfig is merged on top; the result is cut to libc's limits.
import type { KObject } from '../../pkg/api/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCH_PATHS = 32;
const MAX_SEARCH_CHARS = 2048;

/** nameserver, search and options of a resolv.conf; as glibc, the last search line wins. */
export function parseResolvConf(text: string): DnsConfig {
  const cfg: DnsConfig = { servers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const fields = line.split(/\s+/);
    if (fields[0] === 'nameserver' && fields[1]) cfg.servers.push(fields[1]);
    else if (fields[0] === 'search' || fields[0] === 'domain') {
      cfg.searches = fields.slice(1).filter((s) => s !== '.').map((s) => s.replace(/\.$/, ''));
    } else if (fields[0] === 'options') cfg.options.push(...fields.slice(1));
  }
  return cfg;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/** Later options replace earlier ones of the same name; a valueless option is written bare. */
export function mergeOptions(existing: string[], extra: { name: string; value?: string | null }[]): string[] {
  const map = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i < 0) map.set(op, '');
    else map.set(op.slice(0, i), op.slice(i + 1));
  }
  for (const op of extra) map.set(String(op.name), op.value === undefined || op.value === null ? '' : String(op.value));
  return [...map].map(([k, v]) => (v === '' ? k : `${k}:${v}`));
}

function fitLimits(cfg: DnsConfig): DnsConfig {
  const searches: string[] = [];
  let chars = 0;
  for (const s of cfg.searches) {
    const add = (searches.length > 0 ? 1 : 0) + s.length;
    if (searches.length >= MAX_SEARCH_PATHS || chars + add > MAX_SEARCH_CHARS) break;
    searches.push(s);
    chars += add;
  }
  return { servers: cfg.servers.slice(0, MAX_NAMESERVERS), searches, options: cfg.options };
}

export type PodDnsType = 'cluster' | 'host' | 'none';

export function podDnsType(pod: KObject, clusterDNS: string[]): PodDnsType {
  const spec = (pod.spec ?? {}) as Json;
  const policy = String(spec.dnsPolicy ?? 'ClusterFirst');
  let type: PodDnsType;
  if (policy === 'None') type = 'none';
  else if (policy === 'ClusterFirstWithHostNet') type = 'cluster';
  else if (policy === 'ClusterFirst') type = spec.hostNetwork === true ? 'host' : 'cluster';
  else type = 'host';
  // without a cluster DNS service kubelet falls back to the host's resolver
  if (type === 'cluster' && clusterDNS.length === 0) type = 'host';
  return type;
}

export function podDnsConfig(pod: KObject, opts: { clusterDomain?: string; clusterDNS?: string[]; host: DnsConfig }): DnsConfig {
  const spec = (pod.spec ?? {}) as Json;
  const clusterDNS = opts.clusterDNS ?? [];
  let cfg: DnsConfig;
  switch (podDnsType(pod, clusterDNS)) {
    case 'none':
      cfg = { servers: [], searches: [], options: [] };
      break;
    case 'host':
      cfg = { servers: [...opts.host.servers], searches: [...opts.host.searches], options: [...opts.host.options] };
      break;
    case 'cluster': {
      const domain = opts.clusterDomain ?? '';
      const ns = String(pod.metadata.namespace ?? 'default');
      const clusterSearch = domain === '' ? [] : [`${ns}.svc.${domain}`, `svc.${domain}`, domain];
      cfg = { servers: [...clusterDNS], searches: unique([...clusterSearch, ...opts.host.searches]), options: ['ndots:5'] };
      break;
    }
  }
  const extra = spec.dnsConfig as Json | undefined;
  if (extra) {
    cfg.servers = unique([...cfg.servers, ...((extra.nameservers as string[]) ?? []).map(String)]);
    cfg.searches = unique([...cfg.searches, ...((extra.searches as string[]) ?? []).map(String)]);
    cfg.options = mergeOptions(cfg.options, (extra.options as { name: string; value?: string }[]) ?? []);
  }
  return fitLimits(cfg);
}

export function formatResolvConf(cfg: DnsConfig): string {
  let out = '';
  for (const s of cfg.servers) out += `nameserver ${s}\n`;
  if (cfg.searches.length > 0) out += `search ${cfg.searches.join(' ')}\n`;
  if (cfg.options.length > 0) out += `options ${cfg.options.join(' ')}\n`;
  return out;
}
