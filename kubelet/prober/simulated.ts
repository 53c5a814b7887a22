// Simulated readiness: a container without a readinessProbe is ready once it runs; one with a
// probe becomes ready after the probe's initialDelaySeconds, as if every probe succeeded.
import type { Prober } from './prober.js';

export class SimulatedProber implements Prober {
  watchReadiness(_pod: unknown, container: { readinessProbe?: { initialDelaySeconds?: number } }, onChange: (ready: boolean) => void): () => void {
    if (!container.readinessProbe) {
      onChange(true);
      return () => {};
    }
    const delay = Math.max(0, Number(container.readinessProbe.initialDelaySeconds ?? 0)) * 1000;
    const t = setTimeout(() => onChange(true), delay);
    return () => clearTimeout(t);
  }
}
