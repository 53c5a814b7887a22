// Runs whichever handler a probe names. As kubelet does, an attempt that errors (the probe could
// not be carried out, as opposed to the container answering badly) is retried up to three times.
import { runExecProbe } from './exec-probe.js';
import { runHttpProbe } from './http-probe.js';
import type { ProbeOutcome, ProbeSpec } from './probe-spec.js';
import type { ProbeTarget } from './prober.js';
import { runTcpProbe } from './tcp-probe.js';

const MAX_ATTEMPTS = 3;

function runOnce(spec: ProbeSpec, target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeOutcome> {
  if (spec.exec) return runExecProbe(spec.exec, target, timeoutMs, signal);
  if (spec.httpGet) return runHttpProbe(spec.httpGet, target, timeoutMs, signal);
  if (spec.tcpSocket) return runTcpProbe(spec.tcpSocket, target, timeoutMs, signal);
  if (spec.grpc) return Promise.resolve({ result: 'failure', message: 'grpc probes are not supported' });
  const ns = target.pod.metadata.namespace ?? 'default';
  return Promise.resolve({
    result: 'error',
    message: `missing probe handler for ${ns}/${target.pod.metadata.name}:${target.container.name}`,
  });
}

export async function runProbe(spec: ProbeSpec, target: ProbeTarget, timeoutMs: number, signal: AbortSignal): Promise<ProbeOutcome> {
  let outcome: ProbeOutcome = { result: 'error', message: 'probe stopped' };
  for (let i = 0; i < MAX_ATTEMPTS && !signal.aborted; i++) {
    outcome = await runOnce(spec, target, timeoutMs, signal);
    if (outcome.result !== 'error') break;
  }
  return outcome;
}
