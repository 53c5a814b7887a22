// Writes pod statuses through the status subresource. Only the newest status of a pod is sent:
// a pod that changes several times before its write goes out costs one PATCH (kubelet's status
// manager does the same), so start-up bursts stay cheap. One manager serves every agent of a
// process.
import { WorkQueue } from '../pkg/client/workqueue.js';
import { ApiError, resourcePath, type RestClient } from '../pkg/client/rest.js';
import { R } from '../pkg/client/informer-factory.js';
import type { Json } from './pod-status.js';

interface Pending {
  namespace: string;
  name: string;
  uid: string;
  status: Json;
}

export class StatusManager {
  private readonly latest = new Map<string, Pending>();
  private readonly queue: WorkQueue<string>;
  /** PATCHes sent (for benchmarks and tests) */
  writes = 0;

  constructor(
    private readonly client: RestClient,
    workers = 16,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), { name: 'pod-status-manager', workers });
  }

  set(namespace: string, name: string, uid: string, status: Json): void {
    const key = `${namespace}/${name}`;
    this.latest.set(key, { namespace, name, uid, status });
    this.queue.add(key);
  }

  forget(namespace: string, name: string): void {
    this.latest.delete(`${namespace}/${name}`);
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  shutdown(): void {
    this.queue.shutdown();
  }

  private async sync(key: string): Promise<void> {
    const p = this.latest.get(key);
    if (!p) return;
    this.latest.delete(key);
    try {
      this.writes++;
      // The uid in the body is a precondition: a newer pod of the same name is left alone.
      await this.client.patch(resourcePath(R.pods, p.namespace, p.name, 'status'), { metadata: { uid: p.uid }, status: p.status }, 'merge');
    } catch (e) {
      if (e instanceof ApiError && (e.code === 404 || e.code === 409)) return;
      // Retry with the newest status unless a newer one arrived meanwhile.
      if (!this.latest.has(key)) this.latest.set(key, p);
      throw e;
    }
  }
}
