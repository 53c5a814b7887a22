// The pod's /etc/hosts, /etc/hostname and /etc/resolv.conf: written once per pod in its directory
// and bind-mounted into each container, with the contents kubelet and the CRI runtimes produce.
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { podHostname, type BindMount } from '../runtime/oci/spec.js';
import { formatResolvConf, parseResolvConf, podDnsConfig } from './dns.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export interface EtcFilesOptions {
  clusterDomain?: string;
  /** the cluster DNS service addresses; none means the host's resolver is used (as kubelet does) */
  clusterDNS?: string[];
  /** the resolver file of the node (kubelet's --resolv-conf); default /etc/resolv.conf */
  hostResolvConf?: string;
  /** the hosts file of the node, copied for hostNetwork pods; default /etc/hosts */
  hostHostsFile?: string;
  /** all the pod's IPs when it has more than podIP (dual stack) */
  podIPs?: string[];
}

const MANAGED_HEADER = '# Kubernetes-managed hosts file.\n';
const MANAGED_HEADER_HOST_NETWORK = '# Kubernetes-managed hosts file (host network).\n';

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

function hostAliasLines(spec: Json): string {
  const aliases = (spec.hostAliases as { ip: string; hostnames?: string[] }[] | undefined) ?? [];
  if (aliases.length === 0) return '';
  let out = '\n# Entries added by HostAliases.\n';
  for (const a of aliases) out += `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`;
  return out;
}

/** `<subdomain>.<namespace>.svc.<clusterDomain>` when spec.subdomain is set. */
function podDomain(pod: KObject, clusterDomain: string | undefined): string {
  const spec = (pod.spec ?? {}) as Json;
  if (!spec.subdomain || !clusterDomain) return '';
  return `${String(spec.subdomain)}.${String(pod.metadata.namespace ?? 'default')}.svc.${clusterDomain}`;
}

export function managedHostsContent(pod: KObject, podIPs: string[], clusterDomain?: string): string {
  const spec = (pod.spec ?? {}) as Json;
  const hostname = podHostname(pod);
  const domain = podDomain(pod, clusterDomain);
  let out = MANAGED_HEADER;
  out += '127.0.0.1\tlocalhost\n';
  out += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  out += 'fe00::0\tip6-localnet\n';
  out += 'fe00::0\tip6-mcastprefix\n';
  out += 'fe00::1\tip6-allnodes\n';
  out += 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) out += domain ? `${ip}\t${hostname}.${domain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  return out + hostAliasLines(spec);
}

/** Writes only when the content differs, in place, so bind mounts of the file stay valid. */
async function writeIfChanged(path: string, content: string): Promise<void> {
  if ((await readOrEmpty(path)) === content) return;
  await writeFile(path, content, { mode: 0o644 });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export async function writePodEtcFiles(podDir: string, pod: KObject, podIP: string, opts: EtcFilesOptions = {}): Promise<BindMount[]> {
  const spec = (pod.spec ?? {}) as Json;
  const hostNetwork = spec.hostNetwork === true;
  const mounts: BindMount[] = [];
  const podIPs = opts.podIPs ?? (podIP ? [podIP] : []);

  // kubelet manages /etc/hosts only when the pod has an address, and never rewrites an existing
  // one: containers may have edited it and a restarted agent must not undo that
  if (podIPs.length > 0 || hostNetwork) {
    const hostsPath = join(podDir, 'etc-hosts');
    if (!(await exists(hostsPath))) {
      const content = hostNetwork
        ? MANAGED_HEADER_HOST_NETWORK + (await readOrEmpty(opts.hostHostsFile ?? '/etc/hosts')) + hostAliasLines(spec)
        : managedHostsContent(pod, podIPs, opts.clusterDomain);
      await writeFile(hostsPath, content, { mode: 0o644 });
    }
    mounts.push({ destination: '/etc/hosts', source: hostsPath });
  }

  // a hostNetwork pod shares the node's UTS namespace, so its hostname is the node's
  if (!hostNetwork) {
    const hostnamePath = join(podDir, 'etc-hostname');
    const domain = podDomain(pod, opts.clusterDomain);
    const name = spec.setHostnameAsFQDN === true && domain ? `${podHostname(pod)}.${domain}` : podHostname(pod);
    await writeIfChanged(hostnamePath, `${name}\n`);
    mounts.push({ destination: '/etc/hostname', source: hostnamePath });
  }

  const host = parseResolvConf(await readOrEmpty(opts.hostResolvConf ?? '/etc/resolv.conf'));
  const dns = podDnsConfig(pod, { clusterDomain: opts.clusterDomain, clusterDNS: opts.clusterDNS, host });
  const resolvPath = join(podDir, 'resolv.conf');
  await writeIfChanged(resolvPath, formatResolvConf(dns));
  mounts.push({ destination: '/etc/resolv.conf', source: resolvPath });
  return mounts;
}
