// Real probes for one container, the way kubelet's prober workers run them: a startup probe first
// (liveness and readiness wait until it passes), then one worker per readiness and liveness probe.
// A container with no readiness probe is ready once started; a liveness or startup probe that
// fails failureThreshold times ends all probing of the container, which the pod worker restarts.
import { logger, type Logger } from '../../pkg/log/logger.js';
import { probeSettings, type ProbeSettings } from './probe-spec.js';
import type { ProbeCallbacks, ProbeKind, Prober, ProbeTarget } from './prober.js';
import { runProbe } from './run-probe.js';
import { ProbeWorker } from './worker.js';

export { runHttpProbe, PROBE_USER_AGENT } from './http-probe.js';
export { runTcpProbe } from './tcp-probe.js';
export { runExecProbe } from './exec-probe.js';
export type { ProbeOutcome } from './probe-spec.js';

export interface RealProberOptions {
  log?: Logger;
  /**
   * Length of one probe "second" in milliseconds (default 1000). Probe fields are whole seconds;
   * tests shrink the second rather than wait for real ones.
   */
  secondMs?: number;
}

export class RealProber implements Prober {
  private readonly log: Logger;
  private readonly secondMs: number;

  constructor(opts: RealProberOptions = {}) {
    this.log = opts.log ?? logger('prober');
    const s = opts.secondMs ?? 1000;
    if (!(s > 0)) throw new Error(`secondMs must be positive, got ${s}`);
    this.secondMs = s;
  }

  watch(target: ProbeTarget, cb: ProbeCallbacks): () => void {
    const { container } = target;
    const startup = probeSettings(container, 'Startup');
    const readiness = probeSettings(container, 'Readiness');
    const liveness = probeSettings(container, 'Liveness');
    const log = this.log.child({
      pod: `${target.pod.metadata.namespace ?? 'default'}/${target.pod.metadata.name}`,
      container: container.name,
    });
    // initialDelaySeconds counts from the container's start, which is when the worker calls us.
    const began = Date.now();
    const workers = new Set<ProbeWorker>();
    let stopped = false;

    const stopAll = (): void => {
      stopped = true;
      for (const w of workers) w.stop();
      workers.clear();
    };
    const call = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        log.error({ err }, `probe callback ${what} threw`);
      }
    };
    const spawn = (kind: ProbeKind, settings: ProbeSettings, onSettled: (w: ProbeWorker, healthy: boolean, message: string) => void): void => {
      if (stopped) return;
      const worker: ProbeWorker = new ProbeWorker({
        settings,
        secondMs: this.secondMs,
        firstDelayMs: Math.max(0, began + settings.initialDelaySeconds * this.secondMs - Date.now()),
        run: (signal) => runProbe(settings.spec, target, settings.timeoutSeconds * this.secondMs, signal),
        onAttempt: (o) => {
          if (o.result === 'success') return;
          log.debug({ probe: kind, result: o.result, output: o.message }, 'probe attempt');
          if (o.result === 'failure') call('unhealthy', () => cb.unhealthy?.(kind, `${kind} probe failed: ${o.message}`));
          else if (o.result === 'error') call('unhealthy', () => cb.unhealthy?.(kind, `${kind} probe errored: ${o.message}`));
          else call('warning', () => cb.warning?.(kind, `${kind} probe warning: ${o.message}`));
        },
        onSettled: (healthy, message) => onSettled(worker, healthy, message),
      });
      workers.add(worker);
      worker.start();
    };

    const afterStarted = (): void => {
      if (stopped) return;
      if (readiness) {
        let ready = false;
        spawn('Readiness', readiness, (_w, healthy) => {
          if (healthy === ready) return;
          ready = healthy;
          call('readiness', () => cb.readiness(healthy));
        });
      } else {
        call('readiness', () => cb.readiness(true));
      }
      if (liveness) {
        spawn('Liveness', liveness, (_w, healthy, message) => {
          if (healthy) return;
          log.info({ output: message }, 'liveness probe failed, container will be restarted');
          stopAll();
          call('failed', () => cb.failed('Liveness', message));
        });
      }
    };

    if (startup) {
      spawn('Startup', startup, (w, healthy, message) => {
        w.stop();
        workers.delete(w);
        if (healthy) {
          call('started', () => cb.started());
          afterStarted();
        } else {
          log.info({ output: message }, 'startup probe failed, container will be restarted');
          stopAll();
          call('failed', () => cb.failed('Startup', message));
        }
      });
    } else {
      call('started', () => cb.started());
      afterStarted();
    }
    return stopAll;
  }
}
