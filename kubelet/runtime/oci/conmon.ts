// Starts conmon for one container the way CRI-O and podman do. conmon forks, the child runs
// `<runtime> create`, owns the container's stdio (CRI log file) and writes its exit code to the exit
// dir, so the agent can die and come back without touching the container. The parent returns at
// once, before the container exists: the only reliable signal is the sync pipe (_OCI_SYNCPIPE),
// where conmon writes {"data": <container pid>} after create, or a negative data and a message.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { wrapForCreate, type OciBinary } from './oci-binary.js';

export interface ConmonPaths {
  /** the bundle: config.json lives here */
  bundle: string;
  /** -p: the container's pid, written by the runtime */
  containerPidFile: string;
  /** -P: conmon's own pid */
  conmonPidFile: string;
  /** CRI (k8s-file) log */
  logPath: string;
  exitDir: string;
  socketDir: string;
  /** conmon writes exit and oom here; must exist before conmon starts */
  persistDir: string;
  /** conmon's own stderr */
  conmonLog: string;
}

export interface ConmonOptions {
  conmonPath: string;
  id: string;
  name: string;
  bin: OciBinary;
  paths: ConmonPaths;
  terminal?: boolean;
  stdin?: boolean;
  /** stdin stays open when an attached client leaves (Kubernetes' stdinOnce: false) */
  leaveStdinOpen?: boolean;
  /** bytes after which conmon rotates the log; undefined: no limit */
  logSizeMax?: number;
  timeoutMs?: number;
}

export class ConmonError extends Error {}

export function conmonArgs(o: ConmonOptions): string[] {
  const p = o.paths;
  const args = [
    '--api-version', '1',
    '--cid', o.id,
    '--cuuid', o.id,
    '--name', o.name,
    '--runtime', o.bin.path,
    '--runtime-arg', `--root=${o.bin.stateRoot}`,
    '--bundle', p.bundle,
    '--container-pidfile', p.containerPidFile,
    '--conmon-pidfile', p.conmonPidFile,
    '--log-path', `k8s-file:${p.logPath}`,
    '--exit-dir', p.exitDir,
    '--socket-dir-path', p.socketDir,
    '--persist-dir', p.persistDir,
    '--log-level', 'info',
  ];
  if (o.terminal) args.push('--terminal');
  if (o.stdin) args.push('--stdin');
  if (o.stdin && o.leaveStdinOpen) args.push('--leave-stdin-open');
  if (o.logSizeMax !== undefined) args.push('--log-size-max', String(o.logSizeMax));
  return args;
}

/** Launches conmon, waits until the runtime has created the container and returns its pid. */
export function launchConmon(o: ConmonOptions): Promise<number> {
  const argv = wrapForCreate(o.bin, [o.conmonPath, ...conmonArgs(o)]);
  const errFd = openSync(o.paths.conmonLog, 'a');
  let child;
  try {
    child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'ignore', errFd, 'pipe'],
      env: { ...pathEnv(), _OCI_SYNCPIPE: '3' },
      // conmon drops files (an `oom` marker) into its working directory: keep them in the bundle.
      cwd: o.paths.bundle,
      detached: true,
    });
  } finally {
    closeSync(errFd);
  }
  child.unref();
  const sync = child.stdio[3] as Readable;
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise<number>((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, pid?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sync.removeAllListeners('data');
      // conmon keeps its end; dropping ours only matters to conmon if it writes again, which it
      // does not for a created (non-exec) container.
      sync.destroy();
      if (err) reject(err);
      else resolve(pid!);
    };
    const timer = setTimeout(() => finish(new ConmonError(`conmon for ${o.id}: no container pid after ${timeoutMs} ms${conmonStderr(o)}`)), timeoutMs);
    sync.setEncoding('utf8');
    sync.on('data', (chunk: string) => {
      buf += chunk;
      const end = buf.indexOf('}');
      if (end < 0) return;
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(buf.slice(0, end + 1));
      } catch {
        finish(new ConmonError(`conmon for ${o.id}: unreadable sync message ${JSON.stringify(buf)}`));
        return;
      }
      if (typeof msg.data === 'number' && msg.data > 0) finish(undefined, msg.data);
      else finish(new ConmonError(`creating container ${o.id} failed: ${msg.message?.trim() || `conmon reported ${msg.data}`}${conmonStderr(o)}`));
    });
    sync.on('error', (err) => finish(new ConmonError(`conmon for ${o.id}: sync pipe: ${err.message}`)));
    sync.on('end', () => finish(new ConmonError(`conmon for ${o.id} exited before the container was created${conmonStderr(o)}`)));
    child.on('error', (err) => finish(new ConmonError(`cannot run conmon (${o.conmonPath}): ${err.message}`)));
  });
}

function conmonStderr(o: ConmonOptions): string {
  try {
    const text = readFileSync(o.paths.conmonLog, 'utf8').trim();
    return text ? `: ${text.split('\n').slice(-5).join(' | ')}` : '';
  } catch {
    return '';
  }
}

function pathEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
}
