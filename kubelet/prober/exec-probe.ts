// One exec probe: the command runs in the container; exit code 0 is healthy, anything else a
// failure whose message is the command's output, a timeout a failure, an exec that cannot start
// an error (which kubelet reports but does not count).
import type { ExecAction, ProbeOutcome } from './probe-spec.js';
import type { ProbeTarget } from './prober.js';

/** kubelet keeps at most this much of a probe command's output. */
export const MAX_EXEC_OUTPUT = 10 * 1024;

export function runExecProbe(
  action: ExecAction,
  target: Pick<ProbeTarget, 'exec'>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const command = action.command;
  if (!Array.isArray(command) || command.length === 0) {
    return Promise.resolve({ result: 'error', message: 'exec probe has no command' });
  }
  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    const finish = (o: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(o);
    };
    // The target enforces the timeout on the process; this timer covers a target that never answers.
    const timer = setTimeout(() => finish({ result: 'failure', message: 'command timed out' }), timeoutMs);
    const onAbort = (): void => finish({ result: 'error', message: 'probe stopped' });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    let started: Promise<{ exitCode: number; output: string; timedOut: boolean }>;
    try {
      started = target.exec(command.map(String), timeoutMs);
    } catch (err) {
      finish({ result: 'error', message: (err as Error)?.message ?? String(err) });
      return;
    }
    started.then(
      (r) => {
        if (r.timedOut) return finish({ result: 'failure', message: 'command timed out' });
        const output = String(r.output ?? '').slice(0, MAX_EXEC_OUTPUT).trim();
        finish({ result: r.exitCode === 0 ? 'success' : 'failure', message: output });
      },
      (err) => finish({ result: 'error', message: (err as Error)?.message ?? String(err) }),
    );
  });
}
