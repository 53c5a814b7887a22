// The Node an agent registers and the status it reports: labels, capacity, addresses, nodeInfo
// and the four node conditions kubelet maintains.
import { randomUUID } from 'node:crypto';
import { release } from 'node:os';
import type { KObject } from '../pkg/api/types.js';
import { isoSeconds, type Json } from './pod-status.js';

export const KUBELET_VERSION = 'v1.32.2-skiff';

export interface NodeIdentity {
  name: string;
  /** InternalIP */
  address: string;
  cpu: string;
  memory: string;
  maxPods: number;
  ephemeralStorage: string;
  labels: Record<string, string>;
  runtimeVersion: string;
  osImage: string;
  /** the node server's port (kubectl logs/exec go there through the API server) */
  kubeletPort?: number;
}

export function nodeLabels(id: Pick<NodeIdentity, 'name' | 'labels'>): Record<string, string> {
  return {
    'kubernetes.io/hostname': id.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': 'amd64',
    ...id.labels,
  };
}

export function nodeConditions(ready: boolean, since: Map<string, string>, diskPressure = false): Json[] {
  const now = isoSeconds();
  const cond = (type: string, status: string, reason: string, message: string): Json => {
    const key = `${type}=${status}`;
    if (!since.has(key)) {
      for (const k of [...since.keys()]) if (k.startsWith(`${type}=`)) since.delete(k);
      since.set(key, now);
    }
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: since.get(key) };
  };
  return [
    cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    diskPressure ? cond('DiskPressure', 'True', 'KubeletHasDiskPressure', 'kubelet has disk pressure') : cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ready ? cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status') : cond('Ready', 'False', 'KubeletNotReady', 'container runtime is not ready'),
  ];
}

export function nodeStatus(id: NodeIdentity, conditions: Json[], bootID: string): Json {
  const capacity = { cpu: id.cpu, memory: id.memory, pods: String(id.maxPods), 'ephemeral-storage': id.ephemeralStorage };
  return {
    capacity,
    allocatable: { ...capacity },
    conditions,
    addresses: [
      { type: 'InternalIP', address: id.address },
      { type: 'Hostname', address: id.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: id.kubeletPort ?? 10250 } },
    nodeInfo: {
      machineID: bootID.replace(/-/g, ''),
      systemUUID: bootID,
      bootID,
      kernelVersion: release(),
      osImage: id.osImage,
      containerRuntimeVersion: id.runtimeVersion,
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  };
}

export function newBootID(): string {
  return randomUUID();
}

export function nodeObject(id: NodeIdentity, status: Json): KObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: id.name, labels: nodeLabels(id) }, spec: {}, status };
}

/** True when the Node's Ready condition says what this agent last said (True). */
export function reportsReady(node: KObject | undefined): boolean {
  const conds = ((node?.status as Json | undefined)?.conditions as Json[] | undefined) ?? [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}
