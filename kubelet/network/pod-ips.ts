// Pod addresses from the node's pod CIDR, handed out in sequence (the host-local IPAM way): the
// network address and the first host (the bridge's gateway) are never given out, released
// addresses are reused only after the range has wrapped round.

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number; size: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const prefix = Number(m[2]);
  if (prefix < 0 || prefix > 32) throw new Error(`bad prefix length in ${cidr}`);
  const size = 2 ** (32 - prefix);
  const base = prefix === 0 ? 0 : (ipToInt(m[1]!) & (~(size - 1) >>> 0)) >>> 0;
  return { base, prefix, size };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}

export class PodAddressPool {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Map<number, string>();
  private next: number;

  constructor(readonly cidr: string) {
    const c = parseCidr(cidr);
    if (c.size < 4) throw new Error(`pod CIDR ${cidr} is too small`);
    this.base = c.base;
    this.size = c.size;
    this.next = 2;
  }

  get inUse(): number {
    return this.used.size;
  }

  /** Allocates the next free address for owner (a pod uid); the same owner gets the same address. */
  allocate(owner: string): string {
    for (const [off, o] of this.used) if (o === owner) return intToIp(this.base + off);
    const last = this.size - 2; // the broadcast address stays free
    for (let i = 0; i < last - 1; i++) {
      const off = this.next;
      this.next = this.next >= last ? 2 : this.next + 1;
      if (!this.used.has(off)) {
        this.used.set(off, owner);
        return intToIp(this.base + off);
      }
    }
    throw new Error(`pod CIDR ${this.cidr} has no free address`);
  }

  /** Marks an address as used (recovering pods that already run after an agent restart). */
  reserve(ip: string, owner: string): boolean {
    if (!cidrContains(this.cidr, ip)) return false;
    const off = ipToInt(ip) - this.base;
    const cur = this.used.get(off);
    if (cur !== undefined && cur !== owner) return false;
    this.used.set(off, owner);
    return true;
  }

  release(owner: string): void {
    for (const [off, o] of this.used) if (o === owner) this.used.delete(off);
  }
}
