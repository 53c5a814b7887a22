// One tcpSocket probe: healthy when a connection opens within the timeout; it is closed at once.
import net from 'node:net';
import { goNetError } from './go-errors.js';
import { joinHostPort, resolvePort, type ProbeOutcome, type TCPSocketAction } from './probe-spec.js';
import type { ProbeTarget } from './prober.js';

export function runTcpProbe(
  action: TCPSocketAction,
  target: Pick<ProbeTarget, 'podIP' | 'container'>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  let port: number;
  try {
    port = resolvePort(action.port, target.container);
  } catch (err) {
    return Promise.resolve({ result: 'error', message: (err as Error).message });
  }
  const host = action.host || target.podIP;
  const hp = joinHostPort(host, port);
  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    const finish = (o: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(o);
    };
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => finish({ result: 'failure', message: `dial tcp ${hp}: i/o timeout` }), timeoutMs);
    const onAbort = (): void => finish({ result: 'error', message: 'probe stopped' });
    socket.on('connect', () => finish({ result: 'success', message: '' }));
    socket.on('error', (err) => finish({ result: 'failure', message: goNetError(err, host, hp) }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
