// Attach: the runtime's own when it has one (conmon's attach socket: stdin, output, resizes). For a
// runtime that keeps no live handle on a container's stdio, the output half is served by following
// the container's log from its current end (stdout and stderr entries to their streams), until the
// container stops; writing to the container's stdin is not possible that way.
import { PassThrough } from 'node:stream';
import { CriLogDecoder, fileSize, followFile } from './logs.js';
import type { StreamOptions } from './remotecommand.js';
import { StreamTargetError, type ContainerRef, type ExecSession, type StreamingRuntime } from './streaming.js';

export async function attachSession(runtime: StreamingRuntime, ref: ContainerRef, so: StreamOptions): Promise<ExecSession> {
  if (runtime.attach) return runtime.attach(ref, { tty: so.tty, stdin: so.stdin });
  if (so.stdin) throw new StreamTargetError('attach with stdin is not supported by this runtime');
  const logs = await runtime.logs(ref);
  if (!logs.current || !logs.running) throw new StreamTargetError(`container ${ref.container} in pod ${ref.pod} is not running`);
  const file = logs.current;
  const start = await fileSize(file).catch(() => 0);
  const stdout = new PassThrough();
  const stderr = so.tty ? undefined : new PassThrough();
  const ac = new AbortController();
  const exited = followFile(
    runtime,
    ref,
    file,
    start,
    new CriLogDecoder(),
    async (e) => {
      const out = e.stream === 'stderr' && stderr ? stderr : stdout;
      if (!out.write(`${e.text}${e.full ? '\n' : ''}`)) await new Promise((r) => out.once('drain', r));
    },
    ac.signal,
  )
    .then(() => 0)
    .finally(() => {
    stdout.end();
    stderr?.end();
  });
  return {
    stdout,
    stderr,
    // A log has no terminal to resize.
    resize: () => undefined,
    exited,
    kill: () => ac.abort(),
  };
}
