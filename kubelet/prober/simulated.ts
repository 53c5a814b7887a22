// Simulated probes: a container is started at once; one without a readinessProbe is ready once it
// runs; one with a probe becomes ready after the probe's initialDelaySeconds, as if every probe
// succeeded. Liveness never fails.
import type { Prober, ProbeCallbacks, ProbeTarget } from './prober.js';

export class SimulatedProber implements Prober {
  watch(target: ProbeTarget, cb: ProbeCallbacks): () => void {
    cb.started();
    const probe = target.container.readinessProbe;
    if (!probe) {
      cb.readiness(true);
      return () => {};
    }
    const delay = Math.max(0, Number(probe.initialDelaySeconds ?? 0)) * 1000;
    const t = setTimeout(() => cb.readiness(true), delay);
    return () => clearTimeout(t);
  }
}
