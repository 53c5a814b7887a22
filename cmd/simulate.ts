// `skiff simulate --nodes N`: N hollow nodes (simulated runtime) in one process, sharing one
// client connection pool, one Node watch and one Pod watch. Runnable directly as well
// (`node dist/cmd/simulate.js ...`) until the main command line wires it.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { RestClient } from '../pkg/client/rest.js';
import { NodeAgent } from '../kubelet/agent.js';
import { AgentHost } from '../kubelet/agent-host.js';
import { StatusManager } from '../kubelet/status-manager.js';
import { SimulatedProber } from '../kubelet/prober/simulated.js';
import { SimulatedRuntime } from '../kubelet/runtime/simulated.js';
import { logger } from '../pkg/log/logger.js';
import { parseFlags, usage, UsageError, type FlagSpec, type FlagValues } from './flags.js';
import { nodeShapeFlags, osImage, parseLabels, quantityFlag, stopOnSignals, timingFlags, timingFrom, validNodeName } from './agent.js';

export const simulateFlags: FlagSpec[] = [
  { name: 'nodes', type: 'int', help: 'how many hollow nodes to run (required)' },
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the server (default $KUBECONFIG, else /var/lib/skiff/kubeconfig)' },
  { name: 'name-prefix', type: 'string', default: 'sim-node-', help: 'node names are PREFIX0, PREFIX1, ...' },
  ...nodeShapeFlags('8', '32Gi'),
  ...timingFlags,
  { name: 'status-workers', type: 'int', default: 16, help: 'concurrent pod status writes' },
];

/** Hollow node i gets a distinct loopback address, so no real host is ever named. */
export function hollowAddress(i: number): string {
  return `127.${1 + ((i >>> 16) & 0xff)}.${(i >>> 8) & 0xff}.${i & 0xff}`;
}

export async function runSimulate(v: FlagValues): Promise<void> {
  const n = v['nodes'];
  if (n === undefined) throw new UsageError('simulate: --nodes N is required');
  if (Number(n) < 1) throw new UsageError('simulate: --nodes must be at least 1');
  const kubeconfig = String(v['kubeconfig'] ?? (process.env.KUBECONFIG || '/var/lib/skiff/kubeconfig'));
  if (!existsSync(kubeconfig)) throw new UsageError(`simulate: kubeconfig ${kubeconfig} does not exist (give --kubeconfig FILE)`);
  const { timing, sim } = timingFrom(v);
  const prefix = String(v['name-prefix']);
  validNodeName(`${prefix}${Number(n) - 1}`, '--name-prefix');
  const client = RestClient.fromKubeconfig(resolve(kubeconfig), 'skiff-simulate');
  const statusManager = new StatusManager(client, Number(v['status-workers']));
  const runtime = new SimulatedRuntime(sim);
  const prober = new SimulatedProber();
  const shape = {
    cpu: quantityFlag(v, 'cpu'),
    memory: quantityFlag(v, 'memory'),
    ephemeralStorage: quantityFlag(v, 'ephemeral-storage'),
    maxPods: Number(v['max-pods']),
    labels: parseLabels((v['labels'] as string[]) ?? []),
    runtimeVersion: runtime.version,
    osImage: osImage(),
  };
  const agents = Array.from(
    { length: Number(n) },
    (_, i) => new NodeAgent({ ...shape, name: `${prefix}${i}`, address: hollowAddress(i) }, { client, runtime, prober, statusManager }, timing),
  );
  const host = new AgentHost(client, agents, { spreadMs: timing.leaseRenewIntervalMs });
  stopOnSignals(host, client, statusManager);
  const t0 = Date.now();
  await host.start();
  logger('simulate').info({ nodes: agents.length, ms: Date.now() - t0 }, 'hollow nodes running');
  process.stdout.write(`skiff: ${agents.length} simulated nodes registered (${prefix}0..${prefix}${agents.length - 1})\n`);
}

// Direct use: node dist/cmd/simulate.js --nodes 3 --kubeconfig FILE
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(usage('simulate', 'Run N hollow nodes.', simulateFlags));
  } else {
    void (async () => {
      const { values, positional } = parseFlags(args, simulateFlags);
      if (positional.length) throw new UsageError(`simulate: unexpected argument "${positional[0]}"`);
      await runSimulate(values);
    })().catch((err: unknown) => {
      process.stderr.write(`skiff: ${(err as Error).message}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    });
  }
}
