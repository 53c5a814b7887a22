// What every controller is given and what it provides. A controller registers informer handlers
// that only enqueue keys, and a reconcile that reads the informers' caches and writes through
// the API (sample-controller's shape).
import type { RestClient } from '../pkg/client/rest.js';
import type { InformerFactory } from '../pkg/client/informer-factory.js';
import type { EventRecorder } from '../pkg/client/events.js';

export interface ControllerOptions {
  /** a node silent this long is marked NotReady/Unknown (ms) */
  nodeMonitorGracePeriodMs: number;
  /** tolerationSeconds given to pods for not-ready/unreachable taints when they have none (s) */
  defaultUnreachableTolerationSeconds: number;
  /** pod CIDR range the node IPAM allocates per-node /24s from */
  clusterCidr: string;
  nodeCidrMaskSize: number;
  /** range the network controller allocates Networks' subnets from (default 10.240.0.0/12) */
  networkCidr?: string;
  /** the server's data dir, for controllers that keep files (the GitOps git cache); absent when run alone */
  dataDir?: string;
}

export const defaultControllerOptions: ControllerOptions = {
  nodeMonitorGracePeriodMs: 40_000,
  defaultUnreachableTolerationSeconds: 300,
  clusterCidr: '10.42.0.0/16',
  nodeCidrMaskSize: 24,
};

export interface ControllerContext {
  client: RestClient;
  informers: InformerFactory;
  recorder(component: string): EventRecorder;
  options: ControllerOptions;
}

export interface Controller {
  readonly name: string;
  /** Registers informers and handlers; called before the informers start. */
  setup(): void;
  /** Starts workers; called once informers have synced. */
  run(): void;
  stop(): void;
}

export type ControllerFactory = (ctx: ControllerContext) => Controller;
