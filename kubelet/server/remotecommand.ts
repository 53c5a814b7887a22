// The remote command protocol (kubectl exec / attach / cp) independent of its transport: a client's
// stdin, stdout, stderr and resize events, and a final status. The WebSocket channel protocol and the
// SPDY streams protocol each provide a CommandTransport.
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExecSession } from './streaming.js';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export type CommandResult = { exitCode: number; command?: string[] } | { error: string };

export interface CommandTransport {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  onResize(cb: (width: number, height: number) => void): void;
  /** sends the final status and ends the session */
  finish(result: CommandResult): Promise<void>;
  /** settles when the client goes away */
  closed: Promise<void>;
}

export function streamOptions(q: URLSearchParams): StreamOptions {
  const bool = (n: string) => q.get(n) === 'true' || q.get(n) === '1';
  const tty = bool('tty');
  // With a tty the process has one output stream; a separate stderr makes no sense.
  return { stdin: bool('stdin'), stdout: bool('stdout'), stderr: bool('stderr') && !tty, tty };
}

/** The metav1.Status kubectl reads from the status/error channel (protocol v4 and v5). */
export function statusJson(result: CommandResult): string {
  if ('error' in result) return JSON.stringify({ metadata: {}, status: 'Failure', message: result.error, reason: 'InternalError', code: 500 });
  if (result.exitCode === 0) return JSON.stringify({ metadata: {}, status: 'Success' });
  const what = result.command ? `error executing command [${result.command.join(' ')}], exit code ${result.exitCode}` : `exit code ${result.exitCode}`;
  return JSON.stringify({
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${what}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
  });
}

/** The plain-text error the older protocols (v1-v3) carry on their error stream. */
export function legacyErrorText(result: CommandResult): string {
  if ('error' in result) return result.error;
  return result.exitCode === 0 ? '' : `command terminated with non-zero exit code: exit code ${result.exitCode}`;
}

/** Splits a stream of concatenated JSON resize messages ({"Width":..,"Height":..}). */
export class ResizeDecoder {
  private buf = '';
  constructor(private readonly cb: (w: number, h: number) => void) {}
  feed(text: string): void {
    this.buf += text;
    for (;;) {
      const end = this.buf.indexOf('}');
      if (end < 0) return;
      const part = this.buf.slice(0, end + 1).trim();
      this.buf = this.buf.slice(end + 1);
      try {
        const m = JSON.parse(part) as { Width?: number; Height?: number };
        this.cb(Number(m.Width) || 0, Number(m.Height) || 0);
      } catch {
        // A malformed size is ignored, as kubelet does.
      }
    }
  }
}

/** Connects an exec'd process to a transport and reports its exit code when its output is all sent. */
export async function runCommand(t: CommandTransport, session: ExecSession, command: string[]): Promise<void> {
  let gone = false;
  void t.closed.then(() => {
    gone = true;
    session.kill();
  });
  t.onResize((w, h) => session.resize(w, h));
  if (session.stdin) {
    if (t.stdin) {
      // Client stdin ends (close signal, FIN or disconnect) → the process sees EOF.
      t.stdin.pipe(session.stdin);
      session.stdin.on('error', () => undefined);
    } else session.stdin.end();
  }
  const outputs: Promise<void>[] = [];
  const copy = (from: Readable | undefined, to: Writable | undefined) => {
    if (!from) {
      to?.end();
      return;
    }
    if (!to) {
      from.resume();
      outputs.push(new Promise((r) => from.once('close', r).once('end', r)));
      return;
    }
    outputs.push(pipeline(from, to).catch(() => undefined));
  };
  copy(session.stdout, t.stdout);
  copy(session.stderr, t.stderr);
  let result: CommandResult;
  try {
    const code = await session.exited;
    await Promise.all(outputs);
    result = { exitCode: code, command };
  } catch (e) {
    result = { error: (e as Error).message };
  }
  if (!gone) await t.finish(result).catch(() => undefined);
}
