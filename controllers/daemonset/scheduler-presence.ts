// Whether a scheduler is running: its leader Lease (kube-system/kube-scheduler) is held and fresh.
// With one, daemon pods are left to it to bind, as in Kubernetes; without, the DaemonSet
// controller binds them itself by setting spec.nodeName (Kubernetes before 1.12 did so), so
// daemons run on a control plane that has no scheduler.
import type { RestClient } from '../../pkg/client/rest.js';
import { isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';

const CACHE_MS = 5_000;

export class SchedulerPresence {
  private checkedAt = 0;
  private present = false;

  constructor(
    private readonly client: RestClient,
    private readonly leaseName = 'kube-scheduler',
  ) {}

  async isRunning(now = Date.now()): Promise<boolean> {
    if (now - this.checkedAt < CACHE_MS) return this.present;
    try {
      const lease = await this.client.get<{ spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }>(resourcePath(R.leases, 'kube-system', this.leaseName));
      const spec = lease.spec ?? {};
      const renewed = Date.parse(spec.renewTime ?? '');
      this.present = !!spec.holderIdentity && Number.isFinite(renewed) && renewed + (spec.leaseDurationSeconds ?? 15) * 1000 > now;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      this.present = false;
    }
    this.checkedAt = now;
    return this.present;
  }
}
