// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
// lease every retry period; others take it over only when it has not been renewed for the lease
// duration. Writes use the lease's resourceVersion, so two candidates can never both win.
import { ApiError, isNotFound, resourcePath, type RestClient } from './rest.js';
import type { KObject } from '../api/types.js';
import { logger } from '../log/logger.js';

export interface LeaderElectionOptions {
  namespace?: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };

function microTime(d = new Date()): string {
  return d.toISOString().replace('Z', '000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastRenew = 0;
  private readonly log;
  private readonly ns: string;
  private readonly duration: number;
  private readonly retry: number;
  private readonly renewDeadline: number;

  constructor(
    private readonly client: RestClient,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.ns = opts.namespace ?? 'kube-system';
    this.duration = opts.leaseDurationSeconds ?? 10;
    this.retry = opts.retryPeriodSeconds ?? 2;
    this.renewDeadline = opts.renewDeadlineSeconds ?? 8;
    this.log = logger(`leader-election/${opts.name}`);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the lease so another can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      try {
        await this.client.patch(resourcePath(LEASES, this.ns, this.opts.name), { spec: { holderIdentity: null, renewTime: null } }, 'merge');
      } catch {
        /* best effort: the lease expires anyway */
      }
      this.opts.onStoppedLeading();
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // Not unref'd: a standby with nothing else to do must stay alive to campaign.
    this.timer = setTimeout(() => void this.tick(), this.retry * 1000);
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = Date.now();
        if (!this.leading && !this.stopped) {
          this.leading = true;
          this.log.info({ identity: this.opts.identity }, 'became leader');
          await this.opts.onStartedLeading();
        }
      } else if (this.leading) this.lose('lease taken by another holder');
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'lease update failed');
      if (this.leading && Date.now() - this.lastRenew > this.renewDeadline * 1000) this.lose('could not renew the lease in time');
    }
    this.schedule();
  }

  private lose(why: string): void {
    this.leading = false;
    this.log.warn({ why }, 'lost leadership');
    this.opts.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const path = resourcePath(LEASES, this.ns, this.opts.name);
    const now = new Date();
    let lease: KObject & { spec?: LeaseSpec };
    try {
      lease = await this.client.get(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const spec: LeaseSpec = { holderIdentity: this.opts.identity, leaseDurationSeconds: this.duration, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
      try {
        await this.client.create(resourcePath(LEASES, this.ns), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.opts.name, namespace: this.ns }, spec });
        return true;
      } catch (ce) {
        if (ce instanceof ApiError && ce.code === 409) return false;
        throw ce;
      }
    }
    const spec = lease.spec ?? {};
    const mine = spec.holderIdentity === this.opts.identity;
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired = !spec.holderIdentity || Date.now() - renewed > (spec.leaseDurationSeconds ?? this.duration) * 1000;
    if (!mine && !expired) return false;
    const next: LeaseSpec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: this.duration,
      acquireTime: mine ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      await this.client.update(path, { ...lease, spec: next });
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.code === 409) return false;
      throw e;
    }
  }
}
