// The OCI runtime binary (crun or runc): which one, where, and how to call it. crun 1.8.1 refuses
// hybrid cgroups while cgroup2 has controllers; started in a private mount namespace without the
// unified mount it sees plain cgroup v1 and works (reference/runtime-notes.md §2). Only creating a
// container needs that; start, kill, state, exec and delete work from the host namespace.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { readCgroupLayout, unifiedControllers, type CgroupLayout } from './cgroups.js';

const execFileP = promisify(execFile);

export const OCI_RUNTIMES = ['crun', 'runc'] as const;
export type OciRuntimeName = (typeof OCI_RUNTIMES)[number];

export interface OciBinary {
  name: OciRuntimeName;
  path: string;
  version: string;
  /** --root: the runtime's state directory */
  stateRoot: string;
  /** the cgroup2 mount to hide from `create` (crun on hybrid hosts), else undefined */
  hideUnifiedMount?: string;
  layout: CgroupLayout;
}

export class OciRuntimeError extends Error {
  constructor(
    message: string,
    readonly stderr = '',
    readonly exitCode?: number,
  ) {
    super(message);
  }
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Looks a program up on PATH plus the sbin directories a non-login root shell may lack. */
export function findExecutable(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...envPath.split(delimiter).filter(Boolean), ...SEARCH_PATH];
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface DetectOptions {
  /** crun or runc; when absent, crun if installed, else runc */
  runtime?: OciRuntimeName;
  /** explicit binary path (tests, unusual installs) */
  path?: string;
  stateRoot: string;
  layout?: CgroupLayout;
}

export async function detectOciBinary(opts: DetectOptions): Promise<OciBinary> {
  const candidates: OciRuntimeName[] = opts.runtime ? [opts.runtime] : ['crun', 'runc'];
  for (const name of candidates) {
    const path = opts.path ?? findExecutable(name);
    if (!path) continue;
    const { stdout } = await execFileP(path, ['--version']);
    const m = /version\s+(\S+)/.exec(stdout);
    const layout = opts.layout ?? readCgroupLayout();
    const hide = name === 'crun' && layout.mode === 'hybrid' && unifiedControllers(layout).length > 0 ? layout.unified : undefined;
    if (hide && !findExecutable('unshare')) {
      throw new OciRuntimeError('crun needs unshare (util-linux) on a hybrid-cgroup host with controllers in cgroup2');
    }
    return { name, path, version: m ? m[1] : 'unknown', stateRoot: opts.stateRoot, hideUnifiedMount: hide, layout };
  }
  throw new OciRuntimeError(
    opts.runtime
      ? `OCI runtime "${opts.runtime}" not found on PATH (Debian: apt-get install ${opts.runtime})`
      : 'no OCI runtime found: install crun or runc (Debian: apt-get install crun)',
  );
}

/** argv for one runtime command run from the host namespace. */
export function runtimeArgv(bin: OciBinary, args: string[]): string[] {
  return [bin.path, '--root', bin.stateRoot, ...args];
}

/**
 * Wraps argv so that it runs in a private mount namespace without the cgroup2 mount when the
 * runtime needs it; the shell only unmounts and then execs, so the pid stays the same.
 */
export function wrapForCreate(bin: OciBinary, argv: string[]): string[] {
  if (!bin.hideUnifiedMount) return argv;
  const script = `umount ${shellQuote(bin.hideUnifiedMount)} && exec "$@"`;
  return ['unshare', '-m', '--propagation', 'slave', 'sh', '-c', script, 'sh', ...argv];
}

export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs a runtime command and returns its stdout; a non-zero exit becomes OciRuntimeError. */
export async function runRuntime(bin: OciBinary, args: string[], timeoutMs = 30_000): Promise<string> {
  const [cmd, ...rest] = runtimeArgv(bin, args);
  try {
    const { stdout } = await execFileP(cmd, rest, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; code?: number | string };
    const stderr = (e.stderr ?? '').trim();
    throw new OciRuntimeError(`${bin.name} ${args[0]} failed: ${stderr || e.message}`, stderr, typeof e.code === 'number' ? e.code : undefined);
  }
}

export interface RuntimeState {
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid: number;
  bundle: string;
}

/** `state`, or undefined when the runtime does not know the container. */
export async function runtimeState(bin: OciBinary, id: string): Promise<RuntimeState | undefined> {
  try {
    return JSON.parse(await runRuntime(bin, ['state', id])) as RuntimeState;
  } catch (err) {
    if (err instanceof OciRuntimeError && /does not exist|not found|no such file/i.test(err.stderr)) return undefined;
    throw err;
  }
}
