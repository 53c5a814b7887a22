// `skiff controller-manager --kubeconfig FILE`: the controllers alone, against any server, under
// the kube-controller-manager leader Lease.
import { ControllerManager } from '../controllers/manager.js';
import { controllerFactories } from '../controllers/index.js';
import { RestClient } from '../pkg/client/rest.js';
import type { FlagSpec, FlagValues } from './flags.js';
import { UsageError } from './flags.js';
import { parseDurationMs } from './duration.js';
import { logger } from '../pkg/log/logger.js';

export const controllerManagerFlags: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the server to manage' },
  { name: 'node-monitor-grace-period', type: 'string', default: '40s', help: 'how long a silent node stays Ready' },
  { name: 'default-unreachable-toleration', type: 'string', default: '300s', help: 'how long pods stay on an unreachable node' },
  { name: 'cluster-cidr', type: 'string', default: '10.42.0.0/16', help: 'range node pod CIDRs are allocated from' },
  { name: 'node-cidr-mask-size', type: 'int', default: 24, help: 'prefix length of each node\'s pod CIDR' },
];

export async function runControllerManager(v: FlagValues): Promise<void> {
  if (!v['kubeconfig']) throw new UsageError('controller-manager: --kubeconfig is required');
  const client = RestClient.fromKubeconfig(String(v['kubeconfig']), 'skiff-controller-manager');
  const manager = new ControllerManager(client, {
    leaseName: 'kube-controller-manager',
    factories: controllerFactories,
    options: {
      nodeMonitorGracePeriodMs: parseDurationMs(String(v['node-monitor-grace-period']), 'node-monitor-grace-period'),
      defaultUnreachableTolerationSeconds: Math.round(parseDurationMs(String(v['default-unreachable-toleration']), 'default-unreachable-toleration') / 1000),
      clusterCidr: String(v['cluster-cidr']),
      nodeCidrMaskSize: Number(v['node-cidr-mask-size']),
    },
  });
  manager.start();
  logger('controller-manager').info({ identity: manager.identity }, 'campaigning for the kube-controller-manager lease');
  const stop = async () => {
    await manager.stop();
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
