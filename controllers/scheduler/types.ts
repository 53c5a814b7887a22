// The parts of core/v1 Pod and Node the scheduler reads. The API objects are plain JSON; these
// shapes only name the fields so that the scheduling code is checked by the compiler.
import type { KObject } from '../../pkg/api/types.js';
import type { LabelSelector } from '../../pkg/api/labels.js';

export type QuantityMap = Record<string, string | number>;

export interface ContainerPort {
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: string;
}

export interface Container {
  name: string;
  resources?: { requests?: QuantityMap; limits?: QuantityMap };
  ports?: ContainerPort[];
  restartPolicy?: string;
}

import type { Taint, Toleration } from '../../pkg/api/taints.js';
export type { Taint, Toleration };

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector | null;
  namespaces?: string[];
  namespaceSelector?: LabelSelector | null;
  topologyKey: string;
}

export interface Affinity {
  nodeAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } | null;
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; preference: NodeSelectorTerm }[];
  };
  podAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] };
  podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] };
}

export interface PodSpec {
  nodeName?: string;
  schedulerName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: Affinity;
  tolerations?: Toleration[];
  containers?: Container[];
  initContainers?: Container[];
  overhead?: QuantityMap;
  priority?: number;
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
}

export interface Pod extends KObject {
  spec?: PodSpec;
  status?: { phase?: string; conditions?: PodCondition[] };
}

export interface NodeCondition {
  type: string;
  status: string;
}

export interface Node extends KObject {
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: { allocatable?: QuantityMap; capacity?: QuantityMap; conditions?: NodeCondition[] };
}

export type Strategy = 'spread' | 'binpack' | 'random';
export const STRATEGIES: readonly Strategy[] = ['spread', 'binpack', 'random'];
export const STRATEGY_ANNOTATION = 'scheduler.skiff.dev/strategy';
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
