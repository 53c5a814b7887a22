// Node-level NAT: egress masquerade for pod traffic leaving the cluster range (one nftables table
// per bridge, so several agents on one machine never touch each other's rules), IPv4 forwarding,
// and removal of the iptables chains the CNI portmap plugin leaves behind once nobody uses them.
import { readFileSync, writeFileSync } from 'node:fs';
import { runTool, ToolError } from './cni.js';

export function natTableName(bridge: string): string {
  return `skiff-nat-${bridge}`;
}

/**
 * nft script that replaces the table atomically: declaring it first makes the delete safe when it
 * does not exist yet, and `nft -f` applies the whole script as one transaction.
 */
export function buildNatRuleset(table: string, podCIDR: string, clusterCIDR: string): string {
  return [
    `table ip ${table} {}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${podCIDR} ip daddr != ${clusterCIDR} ip daddr != 224.0.0.0/4 masquerade`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

export async function ensureNatTable(table: string, podCIDR: string, clusterCIDR: string): Promise<void> {
  await runTool('nft', ['-f', '-'], { input: buildNatRuleset(table, podCIDR, clusterCIDR) });
}

export async function natTableExists(table: string): Promise<boolean> {
  try {
    await runTool('nft', ['list', 'table', 'ip', table]);
    return true;
  } catch (e) {
    if (e instanceof ToolError && /No such file|does not exist/i.test(e.stderr)) return false;
    throw e;
  }
}

export async function removeNatTable(table: string): Promise<void> {
  // same trick as above: never fails on a missing table, never leaves half a table
  await runTool('nft', ['-f', '-'], { input: `table ip ${table} {}\ndelete table ip ${table}\n` });
}

/** Routing between the bridge and the uplink needs this; never turned off again (other users). */
export function enableIpForward(): void {
  const p = '/proc/sys/net/ipv4/ip_forward';
  if (readFileSync(p, 'utf8').trim() !== '1') writeFileSync(p, '1');
}

// Chains the portmap plugin (CNI 1.1) creates in `iptables -t nat` and never deletes.
export const PORTMAP_TOP_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'] as const;

/** Splits one line of `iptables -S` into arguments (double-quoted comments stay one argument). */
export function splitRuleLine(line: string): string[] {
  const args: string[] = [];
  let cur = '';
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inArg = true;
    } else if (c === ' ' || c === '\t') {
      if (inArg) args.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (inArg) args.push(cur);
  return args;
}

export interface PortmapCleanupPlan {
  /** `-D ...` argument lists for the jumps into the top chains */
  deleteRules: string[][];
  /** chains to flush and delete, in order */
  deleteChains: string[];
  /** why nothing is removed, when something else still uses portmap */
  inUseBy?: string;
}

/**
 * Decides from `iptables -t nat -S` what portmap left behind. Only when no per-container DNAT
 * chain (CNI-DN-*) exists and the DNAT dispatcher is empty is it safe to remove the shared chains;
 * otherwise another pod (of another agent, or of any CNI user on this host) still needs them.
 */
export function planPortmapCleanup(natRules: string): PortmapCleanupPlan {
  const lines = natRules.split('\n').map((l) => l.trim()).filter(Boolean);
  const chains = new Set(lines.filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()));
  const perPod = [...chains].filter((c) => c.startsWith('CNI-DN-'));
  if (perPod.length > 0) return { deleteRules: [], deleteChains: [], inUseBy: `chain ${perPod[0]}` };
  const dnatRules = lines.filter((l) => l.startsWith('-A CNI-HOSTPORT-DNAT '));
  if (dnatRules.length > 0) return { deleteRules: [], deleteChains: [], inUseBy: `rule ${dnatRules[0]}` };
  const top = new Set<string>(PORTMAP_TOP_CHAINS);
  const deleteRules: string[][] = [];
  for (const l of lines) {
    if (!l.startsWith('-A ')) continue;
    const args = splitRuleLine(l);
    const chain = args[1] ?? '';
    if (top.has(chain)) continue; // go with their chain
    const j = args.indexOf('-j');
    if (j >= 0 && top.has(args[j + 1] ?? '')) deleteRules.push(['-D', ...args.slice(1)]);
  }
  return { deleteRules, deleteChains: PORTMAP_TOP_CHAINS.filter((c) => chains.has(c)), inUseBy: undefined };
}

/**
 * Removes portmap's shared chains when unused; returns what still uses them, if anything. A portmap
 * ADD racing with this (between its top-level chain set-up and its per-pod chain) fails with an
 * error rather than silently, and succeeds when retried: portmap re-creates the chains on each ADD.
 */
export async function cleanupPortmapLeftovers(): Promise<string | undefined> {
  let rules: string;
  try {
    rules = await runTool('iptables', ['-w', '5', '-t', 'nat', '-S']);
  } catch (e) {
    // no iptables at all: portmap could not have run either
    if (e instanceof Error && /not installed/.test(e.message)) return undefined;
    throw e;
  }
  const plan = planPortmapCleanup(rules);
  if (plan.inUseBy) return plan.inUseBy;
  // Another agent may be cleaning up at the same moment: what it removed first is not an error.
  const gone = (e: unknown) => e instanceof ToolError && /No chain\/target\/match|does a matching rule exist|does not exist/i.test(e.stderr);
  const nat = (args: string[]) => runTool('iptables', ['-w', '5', '-t', 'nat', ...args]).catch((e: unknown) => {
    if (!gone(e)) throw e;
  });
  for (const r of plan.deleteRules) await nat(r);
  for (const c of plan.deleteChains) await nat(['-F', c]);
  for (const c of plan.deleteChains) await nat(['-X', c]);
  return undefined;
}
