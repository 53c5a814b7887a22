// The controllers `skiff controller-manager` (and `skiff server`) run.
import type { ControllerFactory } from './controller.js';
import { nodeLifecycleController } from './nodelifecycle/node-lifecycle.js';
import { nodeIpamController } from './nodeipam/node-ipam.js';
import { endpointsController } from './endpoints/endpoints-controller.js';
import { endpointSliceController } from './endpointslice/endpointslice-controller.js';

export const controllerFactories: ControllerFactory[] = [nodeIpamController, nodeLifecycleController, endpointsController, endpointSliceController];
