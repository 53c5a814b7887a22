// Node and Pod objects for the scheduler's unit tests, and a cache built from them.
import { SchedulerCache, podInfoOf } from '../../../controllers/scheduler/cache.js';
import type { Node, Pod, PodSpec, Taint } from '../../../controllers/scheduler/types.js';

export interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  ready?: 'True' | 'False' | 'Unknown' | 'none';
  unschedulable?: boolean;
}

export function node(name: string, o: NodeOpts = {}): Node {
  const alloc = { cpu: o.cpu ?? '2', memory: o.memory ?? '4Gi', pods: o.pods ?? '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { ...(o.taints ? { taints: o.taints } : {}), ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      capacity: alloc,
      allocatable: alloc,
      conditions: o.ready === 'none' ? [] : [{ type: 'Ready', status: o.ready ?? 'True' }],
    },
  };
}

let uid = 0;
export function pod(name: string, spec: Partial<PodSpec> = {}, meta: { labels?: Record<string, string>; annotations?: Record<string, string>; namespace?: string } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: meta.namespace ?? 'default', uid: `uid-${++uid}`, labels: meta.labels, annotations: meta.annotations },
    spec: { containers: [{ name: 'c' }], ...spec },
  };
}

export function withRequests(cpu?: string, memory?: string): Partial<PodSpec> {
  const requests: Record<string, string> = {};
  if (cpu) requests['cpu'] = cpu;
  if (memory) requests['memory'] = memory;
  return { containers: [{ name: 'c', resources: { requests } }] };
}

export function cacheOf(nodes: Node[], bound: [Pod, string][] = []): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.upsertNode(n);
  for (const [p, n] of bound) c.addPod(podInfoOf(p, n, false));
  return c;
}
