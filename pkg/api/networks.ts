// The Network resource (networking.skiff.dev/v1alpha1) as its users read it: the control plane's
// network controller writes status, the node agent reads it to build a pod's interfaces. Pure
// functions only, so the agent and the controller agree on names without talking to each other.
import { createHash } from 'node:crypto';
import type { KObject } from './types.js';
import { isDns1123Subdomain } from './validation.js';

export const NETWORKS_GROUP = 'networking.skiff.dev';
export const NETWORKS_VERSION = 'v1alpha1';
export const NETWORK_API_VERSION = `${NETWORKS_GROUP}/${NETWORKS_VERSION}`;
export const NETWORKS = { group: NETWORKS_GROUP, version: NETWORKS_VERSION, resource: 'networks' } as const;

/** Pod annotation naming the networks a pod joins besides the default one: `a,b`. */
export const NETWORKS_ANNOTATION = 'networking.skiff.dev/networks';
/** The overlay every pod (but hostNetwork ones) is on. */
export const DEFAULT_NETWORK = 'default';
/** The VXLAN id of the default network; other overlays get ids from FIRST_ALLOCATED_VNI up. */
export const DEFAULT_NETWORK_VNI = 1;
export const FIRST_ALLOCATED_VNI = 4096;
export const MAX_VNI = 16_777_215;
/** The bridge the agent has always put default-network pods on (kubelet/network/pod-network.ts). */
export const DEFAULT_NETWORK_BRIDGE = 'skiff0';

export type NetworkDriver = 'bridge' | 'overlay' | 'cni';
export type NetworkScope = 'local' | 'global';

export interface NetworkSpec {
  driver?: NetworkDriver;
  /** for driver cni: the range the plugin hands out, stated (default: a host-local IPAM's range, if any) */
  subnet?: string;
  internal?: boolean;
  vni?: number;
  /** a CNI network configuration (one plugin, or a conflist with `plugins`) for driver cni */
  cni?: Record<string, unknown>;
  nodeSubnetPrefix?: number;
}

export interface NodeSlice {
  name: string;
  subnet: string;
  bridge?: string;
}

export interface NetworkCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface NetworkStatus {
  observedGeneration?: number;
  scope?: NetworkScope;
  subnet?: string;
  vni?: number;
  nodes?: NodeSlice[];
  pods?: number;
  conditions?: NetworkCondition[];
}

export type Network = KObject & { spec?: NetworkSpec; status?: NetworkStatus };

export class NetworksAnnotationError extends Error {}

/**
 * The networks an annotation value names, in order, without repeats. Throws a
 * NetworksAnnotationError naming the first bad entry.
 */
export function parseNetworksAnnotation(value: string): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') {
      // `a,` or `a,,b` is a typo, not a request for an unnamed network; a blank value names none.
      if (value.trim() === '') continue;
      throw new NetworksAnnotationError(`${NETWORKS_ANNOTATION}: empty network name in ${JSON.stringify(value)}`);
    }
    const errs = isDns1123Subdomain(name);
    if (errs.length) throw new NetworksAnnotationError(`${NETWORKS_ANNOTATION}: invalid network name ${JSON.stringify(name)}: ${errs.join('; ')}`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * The networks a pod is on, in order (its first interface and default route on the first): those
 * its annotation names — `default` among them only when named — or the default network alone.
 * A pod on networks that do not include `default` is isolated from the default network's pods,
 * as a Docker container on a user network is from the default bridge. hostNetwork pods are on
 * the host's network: none.
 */
export function podNetworks(pod: KObject): string[] {
  const spec = pod.spec as { hostNetwork?: boolean } | undefined;
  if (spec?.hostNetwork) return [];
  const value = pod.metadata.annotations?.[NETWORKS_ANNOTATION];
  const named = value === undefined ? [] : parseNetworksAnnotation(value);
  return named.length ? named : [DEFAULT_NETWORK];
}

/** The node's slice of a network as the controller recorded it; undefined until it has one. */
export function nodeSlice(network: Network, nodeName: string): NodeSlice | undefined {
  return network.status?.nodes?.find((n) => n.name === nodeName);
}

/** Whether a driver's networks span nodes (overlay) or stay on each node (bridge). */
export function scopeOf(spec: NetworkSpec | undefined): NetworkScope {
  const driver = spec?.driver ?? 'overlay';
  if (driver === 'overlay') return 'global';
  if (driver === 'cni') return spec?.cni?.scope === 'global' ? 'global' : 'local';
  return 'local';
}

const PLAIN_SHORT_NAME = /^[a-z0-9-]{1,11}$/;

/**
 * The Linux bridge a node uses for a network: `skn-<name>` when that fits the 15 characters an
 * interface name may have; otherwise a 5-character prefix, `_` (which no object name contains,
 * so the two forms never meet) and 5 hex digits of the name's hash.
 */
export function bridgeName(networkName: string): string {
  if (networkName === DEFAULT_NETWORK) return DEFAULT_NETWORK_BRIDGE;
  if (PLAIN_SHORT_NAME.test(networkName)) return `skn-${networkName}`;
  const hash = createHash('sha256').update(networkName).digest('hex').slice(0, 5);
  return `skn-${networkName.slice(0, 5).replace(/\./g, '-')}_${hash}`;
}

// A plugin's type is the name of its binary in the node's CNI directory: no path may hide in it.
const CNI_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function cniTypeProblem(where: string, t: unknown): string | undefined {
  if (typeof t !== 'string' || t === '') return `${where}.type is required (the plugin binary's name)`;
  if (!CNI_TYPE.test(t)) return `${where}.type ${JSON.stringify(t)} is not a plugin binary's name`;
  return undefined;
}

/** Why a CNI network configuration (single plugin or conflist) cannot be used; undefined if it can. */
export function cniConfigProblem(cni: unknown): string | undefined {
  if (cni === undefined || cni === null) return 'spec.cni is required when spec.driver is cni';
  if (typeof cni !== 'object' || Array.isArray(cni)) return 'spec.cni must be a CNI network configuration object';
  const c = cni as Record<string, unknown>;
  if (c.scope !== undefined && c.scope !== 'local' && c.scope !== 'global') return `spec.cni.scope must be local or global, not ${JSON.stringify(c.scope)}`;
  if (c.cniVersion !== undefined && (typeof c.cniVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(c.cniVersion))) return `spec.cni.cniVersion ${JSON.stringify(c.cniVersion)} is not a version like 1.0.0`;
  if (c.plugins !== undefined) {
    if (!Array.isArray(c.plugins) || c.plugins.length === 0) return 'spec.cni.plugins must be a non-empty list of plugin configurations';
    for (const [i, p] of c.plugins.entries()) {
      if (typeof p !== 'object' || p === null || Array.isArray(p)) return `spec.cni.plugins[${i}] must be an object`;
      const why = cniTypeProblem(`spec.cni.plugins[${i}]`, (p as Record<string, unknown>).type);
      if (why) return why;
    }
    if (c.type !== undefined) return 'spec.cni has both type and plugins; give a single plugin configuration or a list, not both';
    return undefined;
  }
  if (typeof c.type !== 'string' || c.type === '') return "spec.cni.type is required (the plugin binary's name), or spec.cni.plugins for a list";
  return cniTypeProblem('spec.cni', c.type);
}
