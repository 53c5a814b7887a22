// Readiness as the pod worker sees it: a prober watches one running container and reports when
// its readiness changes. Real probers run exec/httpGet/tcpSocket probes; the simulated one only
// honours initialDelaySeconds.
import type { Container, Pod } from '../runtime/runtime.js';

export interface Prober {
  /** Starts watching readiness; returns a function that stops it. */
  watchReadiness(pod: Pod, container: Container, onChange: (ready: boolean) => void): () => void;
}
