// Allocation of Service cluster IPs (from the service CIDR) and node ports (30000-32767), done by
// the apiserver on create as Kubernetes does. What is in use is read from the watch cache, plus
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

  private used(): { ips: Set<string>; ports: Set<number> } {
    const ips = new Set(this.reservedIps);
    const ports = new Set(this.reservedPorts);
    for (const c of this.cache.list(SERVICES)) {
      const spec = (c.obj.spec ?? {}) as ServiceSpec;
      for (const ip of spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])) ips.add(ip);
      for (const p of spec.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
    }
    return { ips, ports };
  }

  /** Fills in clusterIP(s) and node ports; returns a release function for a failed create. */
  allocate(svc: KObject): () => void {
    const spec = (svc.spec ?? {}) as ServiceSpec;
    const type = spec.type ?? 'ClusterIP';
    const taken: { ip?: string; ports: number[] } = { ports: [] };
    const { ips, ports } = this.used();
    if (type !== 'ExternalName' && spec.clusterIP !== 'None') {
      if (spec.clusterIP) {
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
      }
      spec.clusterIPs = [spec.clusterIP];
      taken.ip = spec.clusterIP;
      this.reservedIps.add(spec.clusterIP);
    }
    if (type === 'NodePort' || type === 'LoadBalancer') {
      for (const p of spec.ports ?? []) {
        if (p.nodePort) {
          if (ports.has(p.nodePort)) {
            this.release(taken);
            throw new StatusError(422, 'Invalid', `Service "${svc.metadata.name}" is invalid: spec.ports.nodePort: Invalid value: ${p.nodePort}: provided port is already allocated`, {
              name: svc.metadata.name,
              kind: 'Service',
              causes: [{ reason: 'FieldValueInvalid', field: 'spec.ports.nodePort', message: `Invalid value: ${p.nodePort}: provided port is already allocated` }],
            });
          }
        } else {
          const range = NODE_PORT_MAX - NODE_PORT_MIN + 1;
          for (let i = 0; i < range; i++) {
            const cand = NODE_PORT_MIN + ((this.nextPort - NODE_PORT_MIN + i) % range);
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
