// Runs an extra process in a running container (kubectl exec, exec probes) with `<runtime> exec
// --process`. The process inherits the container's user, env, cwd and capabilities from its
// config.json, as Kubernetes expects. A tty needs a terminal on the runtime's side: Node has no
// pty, so `script` (util-linux) provides one; stdout and stderr are then one stream.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, runtimeArgv, shellQuote, OciRuntimeError, type OciBinary } from './oci-binary.js';
import type { OciProcess, OciSpec } from './spec-types.js';

export interface ExecOptions {
  command: string[];
  /** extra NAME=value entries, after the container's own */
  env?: string[];
  cwd?: string;
  tty?: boolean;
  /** written to the process's stdin, then closed; without it stdin is empty */
  stdin?: string | Buffer;
  /** kill the process after this long (probes' timeoutSeconds) */
  timeoutMs?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function execProcess(spec: OciSpec, o: ExecOptions): OciProcess {
  if (o.command.length === 0) throw new OciRuntimeError('exec needs a command');
  return {
    ...spec.process,
    terminal: o.tty === true,
    args: o.command,
    env: [...spec.process.env, ...(o.env ?? [])],
    cwd: o.cwd ?? spec.process.cwd,
  };
}

export interface ExecHandle {
  child: ChildProcess;
  /** the exec'd process's host pid, once the runtime has written it */
  pid(): Promise<number | undefined>;
  /** with a tty: what the runtime itself wrote to stderr (without one it is in the child's stderr) */
  runtimeErrors(): Promise<string>;
  /** removes the process.json, pid and error files */
  cleanup(): Promise<void>;
}

/** Starts the exec; the caller owns the child's stdio (streaming exec for kubectl). */
export async function spawnExec(bin: OciBinary, bundle: string, id: string, o: ExecOptions): Promise<ExecHandle> {
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as OciSpec;
  const tag = randomBytes(6).toString('hex');
  const processFile = join(bundle, `exec-${tag}.json`);
  const pidFile = join(bundle, `exec-${tag}.pid`);
  const errFile = join(bundle, `exec-${tag}.err`);
  await writeFile(processFile, JSON.stringify(execProcess(spec, o)));
  const argv = runtimeArgv(bin, ['exec', '--process', processFile, '--pid-file', pidFile, ...(o.tty ? ['--tty'] : []), id]);
  let child: ChildProcess;
  if (o.tty) {
    const script = findExecutable('script');
    if (!script) throw new OciRuntimeError('exec with a tty needs `script` (util-linux / bsdutils) on the node');
    // The runtime's own messages would land on the terminal among the process's output.
    const command = `${argv.map(shellQuote).join(' ')} 2>${shellQuote(errFile)}`;
    child = spawn(script, ['-q', '-e', '-c', command, '/dev/null'], { stdio: 'pipe' });
  } else {
    child = spawn(argv[0], argv.slice(1), { stdio: 'pipe' });
  }
  return {
    child,
    pid: async () => {
      try {
        const n = Number((await readFile(pidFile, 'utf8')).trim());
        return n > 0 ? n : undefined;
      } catch {
        return undefined;
      }
    },
    runtimeErrors: async () => {
      try {
        return await readFile(errFile, 'utf8');
      } catch {
        return '';
      }
    },
    cleanup: async () => {
      await rm(processFile, { force: true });
      await rm(pidFile, { force: true });
      await rm(errFile, { force: true });
    },
  };
}

/** Runs the exec to completion and collects its output. */
export async function runExec(bin: OciBinary, bundle: string, id: string, o: ExecOptions): Promise<ExecResult> {
  const h = await spawnExec(bin, bundle, id, o);
  const { child } = h;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  child.stdin!.on('error', () => undefined);
  // script passes an end of input on to the pty as a ^D the terminal echoes; with nothing to send
  // the input stays open until the process is done.
  if (o.stdin !== undefined || !o.tty) child.stdin!.end(o.stdin ?? undefined);
  child.on('close', () => child.stdin!.destroy());
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  if (o.timeoutMs !== undefined) {
    timer = setTimeout(async () => {
      timedOut = true;
      // Killing the runtime client would leave the process running inside the container.
      const pid = await h.pid();
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      child.kill('SIGKILL');
    }, o.timeoutMs);
  }
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + signalNumber(sig) : 255)));
    });
    const stdout = Buffer.concat(out).toString('utf8');
    const stderr = Buffer.concat(err).toString('utf8');
    // A terminal is one stream, and crun 1.8.1 sometimes hands the tail of the terminal's output
    // to its own error channel; a user at a terminal would see both, so both go to stdout.
    if (o.tty) return { exitCode: code, stdout: stdout + stderr + (await h.runtimeErrors()), stderr: '', timedOut };
    return { exitCode: code, stdout, stderr, timedOut };
  } finally {
    if (timer) clearTimeout(timer);
    await h.cleanup();
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 0;
}
