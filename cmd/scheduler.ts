// `skiff scheduler --kubeconfig FILE [--strategy spread|binpack|random]`: the scheduler alone,
// against any server, under the kube-scheduler leader Lease.
import { ControllerManager } from '../controllers/manager.js';
import { schedulerFactory, SCHEDULER_LEASE, STRATEGIES, type Strategy } from '../controllers/scheduler/index.js';
import { RestClient } from '../pkg/client/rest.js';
import type { FlagSpec, FlagValues } from './flags.js';
import { UsageError } from './flags.js';
import { logger } from '../pkg/log/logger.js';

export const schedulerFlags: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the server to schedule for' },
  { name: 'strategy', type: 'string', default: 'spread', choices: [...STRATEGIES], help: 'placement strategy of the default-scheduler profile' },
];

export async function runScheduler(v: FlagValues): Promise<void> {
  if (!v['kubeconfig']) throw new UsageError('scheduler: --kubeconfig is required');
  const strategy = String(v['strategy'] ?? 'spread') as Strategy;
  const client = RestClient.fromKubeconfig(String(v['kubeconfig']), 'skiff-scheduler');
  const manager = new ControllerManager(client, { leaseName: SCHEDULER_LEASE, factories: [schedulerFactory({ strategy })] });
  manager.start();
  logger('scheduler').info({ identity: manager.identity, strategy }, 'campaigning for the kube-scheduler lease');
  const stop = async () => {
    await manager.stop();
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
