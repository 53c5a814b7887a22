// The controllers `skiff controller-manager` (and `skiff server`) run.
import type { ControllerFactory } from './controller.js';
import { nodeLifecycleController } from './nodelifecycle/node-lifecycle.js';
import { nodeIpamController } from './nodeipam/node-ipam.js';
import { endpointsController } from './endpoints/endpoints-controller.js';
import { endpointSliceController } from './endpointslice/endpointslice-controller.js';
import { daemonSetController } from './daemonset/daemonset-controller.js';
import { jobController } from './job/job-controller.js';
import { cronJobController } from './cronjob/cronjob-controller.js';
import { statefulSetController } from './statefulset/statefulset-controller.js';
import { replicaSetController } from './replicaset/replicaset-controller.js';
import { deploymentController } from './deployment/deployment-controller.js';
import { syncController } from './gitops/sync-controller.js';
import { networkController } from './network/network-controller.js';
import { serviceAccountsController } from './serviceaccount/serviceaccounts-controller.js';
import { rootCaPublisher } from './serviceaccount/root-ca-publisher.js';

export const controllerFactories: ControllerFactory[] = [
  serviceAccountsController,
  rootCaPublisher,
  deploymentController,
  replicaSetController,
  nodeIpamController,
  nodeLifecycleController,
  endpointsController,
  endpointSliceController,
  daemonSetController,
  jobController,
  cronJobController,
  statefulSetController,
  syncController,
  networkController,
];
