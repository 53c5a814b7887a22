// Every built-in resource skiff serves, as the registry's strategies.
import type { Strategy } from '../strategy.js';
import { crdStrategy } from './apiextensions/crd.js';
import { daemonSetStrategy } from './apps/daemonset.js';
import { deploymentStrategy } from './apps/deployment.js';
import { replicaSetStrategy } from './apps/replicaset.js';
import { statefulSetStrategy } from './apps/statefulset.js';
import { hpaStrategy } from './autoscaling/hpa.js';
import { cronJobStrategy } from './batch/cronjob.js';
import { jobStrategy } from './batch/job.js';
import { leaseStrategy } from './coordination/lease.js';
import { configMapStrategy } from './core/configmap.js';
import { endpointsStrategy } from './core/endpoints.js';
import { coreEventStrategy } from './core/event.js';
import { namespaceStrategy } from './core/namespace.js';
import { nodeStrategy } from './core/node.js';
import { podStrategy } from './core/pod.js';
import { pvcStrategy } from './core/pvc.js';
import { secretStrategy } from './core/secret.js';
import { serviceStrategy } from './core/service.js';
import { serviceAccountStrategy } from './core/serviceaccount.js';
import { endpointSliceStrategy } from './discovery/endpointslice.js';
import { eventsV1EventStrategy } from './events/event.js';
import { clusterRoleBindingStrategy, clusterRoleStrategy, roleBindingStrategy, roleStrategy } from './rbac/rbac.js';

export function builtinStrategies(): Strategy[] {
  return [
    namespaceStrategy,
    podStrategy,
    nodeStrategy,
    serviceStrategy,
    endpointsStrategy,
    configMapStrategy,
    secretStrategy,
    coreEventStrategy,
    serviceAccountStrategy,
    pvcStrategy,
    deploymentStrategy,
    replicaSetStrategy,
    statefulSetStrategy,
    daemonSetStrategy,
    jobStrategy,
    cronJobStrategy,
    leaseStrategy,
    endpointSliceStrategy,
    roleStrategy,
    clusterRoleStrategy,
    roleBindingStrategy,
    clusterRoleBindingStrategy,
    crdStrategy,
    hpaStrategy,
    eventsV1EventStrategy,
  ];
}

export {
  clusterRoleBindingStrategy,
  clusterRoleStrategy,
  configMapStrategy,
  coreEventStrategy,
  crdStrategy,
  cronJobStrategy,
  daemonSetStrategy,
  deploymentStrategy,
  endpointSliceStrategy,
  endpointsStrategy,
  eventsV1EventStrategy,
  hpaStrategy,
  jobStrategy,
  leaseStrategy,
  namespaceStrategy,
  nodeStrategy,
  podStrategy,
  pvcStrategy,
  replicaSetStrategy,
  roleBindingStrategy,
  roleStrategy,
  secretStrategy,
  serviceAccountStrategy,
  serviceStrategy,
  statefulSetStrategy,
};
