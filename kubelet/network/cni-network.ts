// A Network of driver cni on the node: its spec.cni turned into the configuration list the
// plugins are run with (CNI 1.0: a list's name and cniVersion go into every plugin's
// configuration, each ADD gets the result so far as prevResult), ADD in order and DEL in reverse
// through invokeCni, and the pod's address read back from the result. The list built for ADD is
// what the attachment record keeps, so DEL runs the same plugins with the same settings even after
// the Network was edited or deleted (as libcni's cache does).
import { cniConfigProblem } from '../../pkg/api/networks.js';
import { CniError, invokeCni, pluginAvailable, type CniInvocation, type CniResult } from './cni.js';
import { parseCidr } from './pod-ips.js';

export const DEFAULT_CNI_VERSION = '1.0.0';
const CNI_ERR_UNKNOWN_CONTAINER = 3;

export type CniPluginConf = Record<string, unknown> & { type: string };

/** A normalized network configuration list; a single-plugin config becomes a list of one. */
export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

/** Where and for whom the plugins run (the CNI_* parameters besides the command and config). */
export type CniRuntime = Omit<CniInvocation, 'command' | 'config'>;

export type Invoke = (inv: CniInvocation) => Promise<CniResult | undefined>;

// Fields of spec.cni that are skiff's, not the plugins'.
const SKIFF_FIELDS = new Set(['scope']);

/**
 * The list the plugins of a cni Network run with. `name` is always the Network's (unique on the
 * node, which CNI requires; host-local keeps its leases under it); cniVersion defaults to 1.0.0.
 * Throws on a configuration cniConfigProblem refuses.
 */
export function buildCniConfList(network: string, spec: unknown): CniConfList {
  const problem = cniConfigProblem(spec);
  if (problem) throw new Error(`Network ${network}: ${problem}`);
  const c = spec as Record<string, unknown>;
  const cniVersion = typeof c.cniVersion === 'string' ? c.cniVersion : DEFAULT_CNI_VERSION;
  const raw: Record<string, unknown>[] = Array.isArray(c.plugins) ? (c.plugins as Record<string, unknown>[]) : [c];
  const plugins = raw.map((p) => {
    const own = Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'name' && k !== 'cniVersion' && k !== 'plugins' && !SKIFF_FIELDS.has(k)));
    const conf: CniPluginConf = { cniVersion, name: network, ...own, type: p.type as string };
    return structuredClone(conf);
  });
  return { cniVersion, name: network, plugins };
}

/** What the i-th plugin reads on stdin. */
export function pluginConfig(list: CniConfList, index: number, prevResult?: CniResult): CniPluginConf {
  const p = list.plugins[index];
  if (!p) throw new Error(`CNI network ${list.name} has no plugin #${index}`);
  const conf: CniPluginConf = { ...p, cniVersion: list.cniVersion, name: list.name };
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** CNI_ARGS for a pod: the names Kubernetes runtimes pass, ignored by plugins that do not know them. */
export function podCniArgs(pod: { uid: string; namespace: string; name: string }): string {
  return `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.uid};K8S_POD_UID=${pod.uid}`;
}

/**
 * The pod's IPv4 address on ifName from an ADD result: an entry of `ips` whose interface is that
 * sandbox interface, else the only IPv4 entry without one (plugins that report no interfaces).
 * Results before CNI 0.3.0 carry `ip4.ip` instead. Undefined when there is none.
 */
export function resultAddress(result: CniResult, ifName: string): { ip: string; prefix: number } | undefined {
  const v4 = (address: unknown) => {
    if (typeof address !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(address)) return undefined;
    try {
      const c = parseCidr(address);
      return { ip: address.slice(0, address.indexOf('/')), prefix: c.prefix };
    } catch {
      return undefined;
    }
  };
  const ips = Array.isArray(result.ips) ? result.ips : [];
  const ifaces = Array.isArray(result.interfaces) ? result.interfaces : [];
  const ours = ifaces.map((f, i) => (f && f.name === ifName && f.sandbox ? i : -1)).filter((i) => i >= 0);
  for (const e of ips) {
    if (typeof e?.interface === 'number' && ours.includes(e.interface)) {
      const a = v4(e.address);
      if (a) return a;
    }
  }
  const loose = ips.filter((e) => typeof e?.interface !== 'number').map((e) => v4(e?.address)).filter((a) => a !== undefined);
  if (loose.length) return loose[0];
  const old = (result as { ip4?: { ip?: unknown } }).ip4;
  return old ? v4(old.ip) : undefined;
}

/** An ADD that failed: which plugin of the list, and the plugin's own error. */
export class CniAddError extends Error {
  constructor(
    readonly network: string,
    readonly plugin: string,
    readonly index: number,
    readonly pluginError: Error,
  ) {
    super(`Network ${network}: ${pluginError instanceof CniError ? pluginError.message : `CNI plugin ${plugin} ADD failed: ${pluginError.message}`}`);
    this.name = 'CniAddError';
  }
}

/**
 * ADD of every plugin in order, each given the previous one's result; resolves with the last
 * result. Stops at the first failure (the caller runs DEL for what may have been made).
 */
export async function cniAdd(list: CniConfList, rt: CniRuntime, invoke: Invoke = invokeCni): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const [i, p] of list.plugins.entries()) {
    try {
      const r = await invoke({ command: 'ADD', config: pluginConfig(list, i, prev), ...rt });
      if (!r || typeof r !== 'object') throw new Error('printed no result');
      prev = r;
    } catch (e) {
      throw new CniAddError(list.name, p.type, i, e as Error);
    }
  }
  return prev!;
}

export interface CniDelOutcome {
  /** plugins whose DEL failed, with the error */
  errors: string[];
  /** plugins not run because their binary is not there (nothing of theirs can be undone) */
  skipped: string[];
}

/**
 * DEL of every plugin in reverse order with the last ADD's result as prevResult (when there was
 * one). A failing plugin does not stop the others: DEL is meant to be idempotent, and each plugin
 * undoes only its own part.
 */
export async function cniDel(list: CniConfList, rt: CniRuntime, prevResult: CniResult | undefined, invoke: Invoke = invokeCni, available = pluginAvailable): Promise<CniDelOutcome> {
  const out: CniDelOutcome = { errors: [], skipped: [] };
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    const p = list.plugins[i]!;
    if (!available(rt.binDir, p.type)) {
      out.skipped.push(`${p.type} (not in ${rt.binDir})`);
      continue;
    }
    try {
      await invoke({ command: 'DEL', config: pluginConfig(list, i, prevResult), ...rt });
    } catch (e) {
      // The spec's code 3: the container is unknown to the plugin, there is nothing to clean up.
      if (e instanceof CniError && e.code === CNI_ERR_UNKNOWN_CONTAINER) continue;
      out.errors.push((e as Error).message);
    }
  }
  return out;
}

/** The plugin types of a list that are not installed in binDir. */
export function missingPlugins(list: CniConfList, binDir: string, available = pluginAvailable): string[] {
  return [...new Set(list.plugins.map((p) => p.type).filter((t) => !available(binDir, t)))];
}
