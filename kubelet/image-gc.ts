// Image garbage collection under disk pressure, kubelet's way: when the filesystem holding the
// image store is fuller than the high threshold, delete unused images, least recently used first,
// until it is back under the low threshold. Images that containers use (leases) stay.
import { statfs } from 'node:fs/promises';
import type { ImageStore } from './images/index.js';
import type { Logger } from '../pkg/log/logger.js';

export interface ImageGCOptions {
  store: ImageStore;
  /** percent of the filesystem in use that starts a collection (kubelet: 85) */
  highPercent?: number;
  /** percent to get back under (kubelet: 80) */
  lowPercent?: number;
  intervalMs?: number;
  log: Logger;
}

export interface DiskUsage {
  totalBytes: number;
  usedBytes: number;
}

export async function diskUsage(path: string): Promise<DiskUsage> {
  const s = await statfs(path);
  const total = s.blocks * s.bsize;
  return { totalBytes: total, usedBytes: total - s.bavail * s.bsize };
}

/** Bytes to free to get from used to under low percent of total; 0 when under high percent. */
export function bytesToFree(u: DiskUsage, highPercent: number, lowPercent: number): number {
  if (u.totalBytes <= 0 || (u.usedBytes / u.totalBytes) * 100 < highPercent) return 0;
  return Math.max(0, Math.ceil(u.usedBytes - (u.totalBytes * lowPercent) / 100));
}

export class ImageGC {
  private timer?: NodeJS.Timeout;
  /** whether the last check found the disk over the high threshold even after collecting */
  diskPressure = false;

  constructor(private readonly o: ImageGCOptions) {}

  start(): void {
    const tick = () => {
      void this.check()
        .catch((err) => this.o.log.warn({ err: (err as Error).message }, 'image garbage collection failed'))
        .finally(() => {
          this.timer = setTimeout(tick, this.o.intervalMs ?? 60_000);
          this.timer.unref();
        });
    };
    tick();
  }

  async check(): Promise<void> {
    const high = this.o.highPercent ?? 85;
    const low = this.o.lowPercent ?? 80;
    const need = bytesToFree(await diskUsage(this.o.store.root), high, low);
    if (need === 0) {
      this.diskPressure = false;
      return;
    }
    const r = await this.o.store.collectGarbage(need);
    this.o.log.info({ deleted: r.deleted.length, freedBytes: r.freedBytes, wanted: need }, 'image garbage collection');
    this.diskPressure = bytesToFree(await diskUsage(this.o.store.root), high, low) > 0;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
