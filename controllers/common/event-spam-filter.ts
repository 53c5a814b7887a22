// Per-object event rate limit, like client-go's spam filter (a burst of 25, then one more every
// five minutes): a ReplicaSet creating a thousand pods must not write a thousand Events while
// the API is busy with the pods themselves.
import type { KObject } from '../../pkg/api/types.js';
import type { EventRecorder } from '../../pkg/client/events.js';

export interface FilteredRecorder {
  event(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function spamFiltered(recorder: EventRecorder, burst = 25, refillMs = 300_000, now: () => number = Date.now): FilteredRecorder {
  const buckets = new Map<string, Bucket>();
  return {
    event(obj, type, reason, message) {
      const key = obj.metadata.uid ?? `${obj.metadata.namespace}/${obj.metadata.name}`;
      const t = now();
      let b = buckets.get(key);
      if (!b) {
        if (buckets.size > 10_000) buckets.clear();
        b = { tokens: burst, at: t };
        buckets.set(key, b);
      }
      const refill = Math.floor((t - b.at) / refillMs);
      if (refill > 0) {
        b.tokens = Math.min(burst, b.tokens + refill);
        b.at += refill * refillMs;
      }
      if (b.tokens <= 0) return;
      b.tokens--;
      recorder.event(obj, type, reason, message);
    },
  };
}
