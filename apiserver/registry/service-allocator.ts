// Allocation of Service cluster IPs (from the service CIDR) and node ports (30000-32767), done by
// the apiserver on create and update as Kubernetes does. What is in use is read from the watch cache, plus
// what concurrent creates have reserved but not yet committed.
import type { KObject } from '../../pkg/api/types.js';
import type { WatchCache } from '../cache/watch-cache.js';
import { StatusError } from '../status.js';

const SERVICES = '/registry/core/services/';
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: { nodePort?: number }[];
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class ServiceAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly reservedIps = new Set<string>();
  private readonly reservedPorts = new Set<number>();
  private nextIp = 10;
  private nextPort = NODE_PORT_MIN;

  constructor(
    private readonly cache: WatchCache,
    cidr = '10.43.0.0/16',
  ) {
    const [net, bits] = cidr.split('/');
    this.size = 2 ** (32 - Number(bits));
    this.base = ipToInt(net!) & ~(this.size - 1);
  }

  /** The first address of the range: the `kubernetes` Service's by convention. */
  get firstIp(): string {
    return intToIp(this.base + 1);
  }

  /** What other Services hold (the one being updated, `self`, excluded) plus pending reservations. */
  private used(self?: KObject): { ips: Set<string>; ports: Set<number> } {
    const ips = new Set(this.reservedIps);
    const ports = new Set(this.reservedPorts);
    const selfKey = self ? `${SERVICES}${self.metadata.namespace}/${self.metadata.name}` : undefined;
    for (const c of this.cache.list(SERVICES)) {
      if (c.key === selfKey) continue;
      const spec = (c.obj.spec ?? {}) as ServiceSpec;
      for (const ip of spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])) ips.add(ip);
      for (const p of spec.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
    }
    return { ips, ports };
  }

  /** Fills in clusterIP(s) and node ports; returns a release function for a failed create. */
  allocate(svc: KObject): () => void {
    return this.fill(svc, undefined);
  }

  /**
   * The same for an update: what the Service already held stays its own; what its new type or new
   * ports need and lack is allocated (ClusterIP -> NodePort gets node ports, ExternalName ->
   * ClusterIP an IP); a node port or IP the client picked must be free.
   */
  allocateUpdate(svc: KObject, old: KObject): () => void {
    return this.fill(svc, old);
  }

  private fill(svc: KObject, old: KObject | undefined): () => void {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    const type = spec.type ?? 'ClusterIP';
    const taken: { ip?: string; ports: number[] } = { ports: [] };
    const { ips, ports } = this.used(old);
    const oldSpec = (old?.spec ?? {}) as ServiceSpec;
    const ownIps = new Set(oldSpec.clusterIPs ?? (oldSpec.clusterIP ? [oldSpec.clusterIP] : []));
    const ownPorts = new Set((oldSpec.ports ?? []).map((p) => p.nodePort).filter((p): p is number => !!p));
    if (type !== 'ExternalName' && spec.clusterIP !== 'None') {
      if (spec.clusterIP && ownIps.has(spec.clusterIP)) {
        // Kept from before: nothing to allocate.
      } else if (spec.clusterIP) {
        if (ips.has(spec.clusterIP)) {
          throw new StatusError(422, 'Invalid', `Service "${svc.metadata.name}" is invalid: spec.clusterIPs: Invalid value: ["${spec.clusterIP}"]: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`, {
            name: svc.metadata.name,
            kind: 'Service',
            causes: [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: ["${spec.clusterIP}"]: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated` }],
          });
        }
        const n = ipToInt(spec.clusterIP);
        if (n <= this.base || n >= this.base + this.size - 1) {
          throw new StatusError(422, 'Invalid', `Service "${svc.metadata.name}" is invalid: spec.clusterIPs: Invalid value: ["${spec.clusterIP}"]: failed to allocate IP ${spec.clusterIP}: the provided IP (${spec.clusterIP}) is not in the valid range`, {
            name: svc.metadata.name,
            kind: 'Service',
            causes: [{ reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `the provided IP (${spec.clusterIP}) is not in the valid range` }],
          });
        }
        taken.ip = spec.clusterIP;
      } else {
        let ip: string | undefined;
        for (let i = 0; i < this.size - 2; i++) {
          const off = 1 + ((this.nextIp - 1 + i) % (this.size - 2));
          const cand = intToIp(this.base + off);
          if (!ips.has(cand)) {
            ip = cand;
            this.nextIp = off + 1;
            break;
          }
        }
        if (!ip) throw new StatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full');
        spec.clusterIP = ip;
        taken.ip = ip;
      }
      spec.clusterIPs = [spec.clusterIP];
      if (taken.ip) this.reservedIps.add(taken.ip);
    }
    if (type === 'NodePort' || type === 'LoadBalancer') {
      for (const [i, p] of (spec.ports ?? []).entries()) {
        if (p.nodePort && ownPorts.has(p.nodePort)) {
          ports.add(p.nodePort);
          continue;
        }
        if (p.nodePort) {
          if (p.nodePort < NODE_PORT_MIN || p.nodePort > NODE_PORT_MAX) {
            this.release(taken);
            const msg = `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`;
            throw new StatusError(422, 'Invalid', `Service "${svc.metadata.name}" is invalid: spec.ports[${i}].nodePort: ${msg}`, {
              name: svc.metadata.name,
              kind: 'Service',
              causes: [{ reason: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, message: msg }],
            });
          }
          if (ports.has(p.nodePort)) {
            this.release(taken);
            throw new StatusError(422, 'Invalid', `Service "${svc.metadata.name}" is invalid: spec.ports[${i}].nodePort: Invalid value: ${p.nodePort}: provided port is already allocated`, {
              name: svc.metadata.name,
              kind: 'Service',
              causes: [{ reason: 'FieldValueInvalid', field: `spec.ports[${i}].nodePort`, message: `Invalid value: ${p.nodePort}: provided port is already allocated` }],
            });
          }
        } else {
          const range = NODE_PORT_MAX - NODE_PORT_MIN + 1;
          for (let j = 0; j < range; j++) {
            const cand = NODE_PORT_MIN + ((this.nextPort - NODE_PORT_MIN + j) % range);
            if (!ports.has(cand)) {
              p.nodePort = cand;
              this.nextPort = cand + 1;
              break;
            }
          }
          if (!p.nodePort) {
            this.release(taken);
            throw new StatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a nodePort: range is full');
          }
        }
        ports.add(p.nodePort);
        taken.ports.push(p.nodePort);
        this.reservedPorts.add(p.nodePort);
      }
    }
    svc.spec = spec;
    return () => this.release(taken);
  }

  private release(t: { ip?: string; ports: number[] }): void {
    if (t.ip) this.reservedIps.delete(t.ip);
    for (const p of t.ports) this.reservedPorts.delete(p);
  }
}
