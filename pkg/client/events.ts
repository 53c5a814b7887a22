// An event recorder: what `kubectl describe` shows under Events. Repeats of the same event (same
// object, reason and message) within a short window are folded into one Event with a count,
// as Kubernetes does, so a hot loop cannot flood the store.
import { randomBytes } from 'node:crypto';
import type { KObject } from '../api/types.js';
import { resourcePath, type RestClient } from './rest.js';
import { logger } from '../log/logger.js';

const EVENTS = { group: '', version: 'v1', resource: 'events' };

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  first: string;
}

export class EventRecorder {
  private readonly seen = new Map<string, Recorded>();
  private readonly log = logger('events');

  constructor(
    private readonly client: RestClient,
    private readonly component: string,
    private readonly host?: string,
  ) {}

  event(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.record(obj, type, reason, message).catch((err) => this.log.debug({ err: (err as Error).message, reason }, 'event not recorded'));
  }

  private async record(obj: KObject, type: string, reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace || 'default';
    const key = `${obj.metadata.uid}/${reason}/${message}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const prev = this.seen.get(key);
    if (prev) {
      prev.count++;
      await this.client.patch(resourcePath(EVENTS, prev.namespace, prev.name), { count: prev.count, lastTimestamp: now }, 'merge');
      return;
    }
    if (this.seen.size > 4096) this.seen.clear();
    const name = `${obj.metadata.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    const rec: Recorded = { name, namespace: ns, count: 1, first: now };
    this.seen.set(key, rec);
    await this.client.create(resourcePath(EVENTS, ns), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
      reportingComponent: this.component,
      reportingInstance: this.host ?? '',
    });
  }
}
