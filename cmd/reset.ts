// `skiff reset`: tears a node down (kubeadm reset's job). Refuses while a skiff server or agent
// still uses the data dir, since that process would make again what reset removes. Prints one line
// per thing removed or failed; exits 0 only when nothing of the node is left.
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkBridgeName } from '../kubelet/network/pod-network.js';
import { netnsNameFor } from '../kubelet/network/netns.js';
import { nodeProcessUsing, resetNode, type ResetItem } from '../kubelet/node-reset.js';
import { parseDurationMs } from './duration.js';
import { UsageError, type FlagSpec, type FlagValues } from './flags.js';

export const resetFlags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: 'the data dir of the node (server or agent)' },
  { name: 'bridge', type: 'string', default: 'skiff0', help: 'the pod bridge the node ran with (its --bridge)' },
  { name: 'netns-prefix', type: 'string', default: 'skiff-', help: "prefix of the pods' network namespaces (the node's --netns-prefix)" },
  { name: 'overlay', type: 'boolean', default: true, help: "remove the node's VXLAN device skiff.1 (--overlay=false leaves VXLAN devices alone)" },
  { name: 'grace-period', type: 'string', default: '5s', help: 'time each container gets between SIGTERM and SIGKILL' },
  { name: 'purge', type: 'boolean', default: false, help: 'also delete the data dir (API data, certificates, images); without it the node starts again empty in the same cluster' },
];

const describe = (i: ResetItem) => `${i.kind} ${i.name}`;

export async function runReset(v: FlagValues): Promise<void> {
  const given = resolve(String(v['data-dir']));
  // Through a symlink the node's processes name the real path.
  const dataDir = existsSync(given) ? realpathSync(given) : given;
  const bridge = String(v['bridge']);
  const netnsPrefix = String(v['netns-prefix']);
  try {
    checkBridgeName(bridge);
    netnsNameFor(netnsPrefix, '0');
  } catch (e) {
    throw new UsageError(`reset: ${(e as Error).message}`);
  }
  const graceMs = parseDurationMs(String(v['grace-period']), 'grace-period');
  if (dataDir === '/') throw new UsageError('reset: --data-dir / is not a node data dir');
  if (process.getuid?.() !== 0) throw new Error('reset: must run as root (it removes network devices, namespaces, cgroups and mounts)');
  // The bridge, namespaces and tables have host-wide names: a mistyped or foreign dir must not
  // lead to tearing down whatever node uses them. Every node's data dir has the agent's
  // certificate dir (DATA/agent).
  if (!existsSync(join(dataDir, 'agent')) && !existsSync(join(dataDir, 'runtime'))) {
    throw new UsageError(`reset: ${dataDir} is not the data dir of a skiff node (no ${join(dataDir, 'agent')}); give the --data-dir the node ran with`);
  }
  const user = nodeProcessUsing(dataDir);
  if (user) throw new Error(`reset: ${dataDir} is in use by process ${user.pid} (${user.command.slice(0, 120)}); stop it first`);

  const report = await resetNode({ dataDir, bridge, netnsPrefix, overlayDevice: v['overlay'] === false ? null : undefined, graceMs, purge: v['purge'] === true });
  const out = (s: string) => process.stdout.write(`${s}\n`);
  for (const i of report.removed) out(`removed ${describe(i)}`);
  for (const w of report.warnings) out(`warning: ${w}`);
  for (const f of report.failed) out(`failed: ${f}`);
  for (const i of report.left) out(`left: ${describe(i)}`);
  if (report.left.length) throw new Error(`reset: ${report.left.length} thing(s) of the node are still there (listed above)`);
  out(
    report.removed.length
      ? `skiff reset: node torn down (${report.removed.length} removed)${v['purge'] === true ? `, ${dataDir} deleted` : `; ${dataDir} kept (skiff server starts again as an empty node of the same cluster)`}`
      : `skiff reset: nothing of the node was left${v['purge'] === true ? `; ${dataDir} deleted` : ''}`,
  );
}
