// The blocks of one cluster CIDR: which /N subnets are taken. Allocation goes round from where it
// last stopped, so a block just released is not handed out again at once.
import { parseCidr } from '../../kubelet/network/pod-ips.js';

function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class CidrSet {
  private readonly base: number;
  private readonly blockSize: number;
  private readonly count: number;
  private readonly used = new Set<number>();
  private next = 0;

  constructor(
    readonly clusterCidr: string,
    readonly maskSize: number,
  ) {
    const c = parseCidr(clusterCidr);
    if (maskSize < c.prefix || maskSize > 32) throw new Error(`node CIDR mask /${maskSize} does not fit in ${clusterCidr}`);
    this.base = c.base;
    this.blockSize = 2 ** (32 - maskSize);
    this.count = 2 ** (maskSize - c.prefix);
  }

  get free(): number {
    return this.count - this.used.size;
  }

  private indexOf(cidr: string): number | undefined {
    const c = parseCidr(cidr);
    if (c.prefix !== this.maskSize) return undefined;
    const off = c.base - this.base;
    if (off < 0 || off % this.blockSize !== 0 || off / this.blockSize >= this.count) return undefined;
    return off / this.blockSize;
  }

  allocate(): string | undefined {
    for (let i = 0; i < this.count; i++) {
      const idx = (this.next + i) % this.count;
      if (!this.used.has(idx)) {
        this.used.add(idx);
        this.next = (idx + 1) % this.count;
        return `${intToIp(this.base + idx * this.blockSize)}/${this.maskSize}`;
      }
    }
    return undefined;
  }

  /** Marks a block a Node already has; false when it is outside the range (left alone). */
  occupy(cidr: string): boolean {
    const i = this.indexOf(cidr);
    if (i === undefined) return false;
    this.used.add(i);
    return true;
  }

  release(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i !== undefined) this.used.delete(i);
  }
}
