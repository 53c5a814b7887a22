// What a pod asks of a node: effective cpu/memory requests (Kubernetes' rule: the containers'
// sum, or the largest init container if bigger, with restartable init containers — sidecars —
// counted for the pod's whole life, plus overhead) and its host ports.
import { milliValue, intValue } from '../../pkg/api/quantity.js';
import type { Container, ContainerPort, PodSpec, QuantityMap } from './types.js';

export interface Requests {
  /** millicores */
  cpu: number;
  /** bytes */
  memory: number;
}

export interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

function requestOf(c: Container): Requests {
  const r: QuantityMap | undefined = c.resources?.requests;
  return {
    cpu: r?.['cpu'] !== undefined ? milliValue(r['cpu']) : 0,
    memory: r?.['memory'] !== undefined ? intValue(r['memory']) : 0,
  };
}

export function podRequests(spec: PodSpec | undefined): Requests {
  let cpu = 0;
  let memory = 0;
  for (const c of spec?.containers ?? []) {
    const r = requestOf(c);
    cpu += r.cpu;
    memory += r.memory;
  }
  let sidecarCpu = 0;
  let sidecarMem = 0;
  let initCpu = 0;
  let initMem = 0;
  for (const c of spec?.initContainers ?? []) {
    const r = requestOf(c);
    let needCpu: number;
    let needMem: number;
    if (c.restartPolicy === 'Always') {
      sidecarCpu += r.cpu;
      sidecarMem += r.memory;
      needCpu = sidecarCpu;
      needMem = sidecarMem;
    } else {
      // A regular init container runs next to the sidecars started before it.
      needCpu = r.cpu + sidecarCpu;
      needMem = r.memory + sidecarMem;
    }
    initCpu = Math.max(initCpu, needCpu);
    initMem = Math.max(initMem, needMem);
  }
  cpu = Math.max(cpu + sidecarCpu, initCpu);
  memory = Math.max(memory + sidecarMem, initMem);
  const o = spec?.overhead;
  if (o?.['cpu'] !== undefined) cpu += milliValue(o['cpu']);
  if (o?.['memory'] !== undefined) memory += intValue(o['memory']);
  return { cpu, memory };
}

export function podHostPorts(spec: PodSpec | undefined): HostPort[] {
  const out: HostPort[] = [];
  const add = (p: ContainerPort) => {
    if (p.hostPort && p.hostPort > 0) out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
  };
  for (const c of spec?.containers ?? []) for (const p of c.ports ?? []) add(p);
  for (const c of spec?.initContainers ?? []) if (c.restartPolicy === 'Always') for (const p of c.ports ?? []) add(p);
  return out;
}

/** Two host ports clash when protocol and port match and either binds all addresses or both the same one. */
export function portsConflict(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');
}
