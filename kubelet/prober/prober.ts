// Probes as the pod worker sees them: a prober watches one running container and calls back when
// its readiness changes, when its startup probe has passed (or it has none), and when its liveness
// (or startup) probe has failed failureThreshold times, which makes the worker kill and restart it.
// Real probers run exec/httpGet/tcpSocket probes; the simulated one only honours
// readinessProbe.initialDelaySeconds.
import type { Container, ExecResult, Pod } from '../runtime/runtime.js';

/** What an exec probe's command gave: the runtime's exec result. */
export type ExecProbeResult = ExecResult;

/** What a prober may touch of one running container. */
export interface ProbeTarget {
  pod: Pod;
  container: Container;
  /** where httpGet/tcpSocket probes connect when the probe names no host */
  podIP: string;
  /** runs a command in the container (exec probes); rejects when it cannot be started */
  exec(command: string[], timeoutMs: number): Promise<ExecProbeResult>;
}

export type ProbeKind = 'Liveness' | 'Readiness' | 'Startup';

export interface ProbeCallbacks {
  /** readiness changed (a container without a readinessProbe is ready once started) */
  readiness(ready: boolean): void;
  /** the startup probe succeeded, or there is none: containerStatus.started becomes true */
  started(): void;
  /** liveness or startup probe failed failureThreshold times in a row: restart the container */
  failed(kind: 'Liveness' | 'Startup', message: string): void;
  /** one failed probe, for the `Unhealthy` event (kubelet: "Readiness probe failed: ...") */
  unhealthy?(kind: ProbeKind, message: string): void;
  /** a probe passed with a warning, for the `ProbeWarning` event (e.g. a redirect to another host) */
  warning?(kind: ProbeKind, message: string): void;
}

export interface Prober {
  /** Starts probing; returns a function that stops every probe of this container. */
  watch(target: ProbeTarget, cb: ProbeCallbacks): () => void;
}
