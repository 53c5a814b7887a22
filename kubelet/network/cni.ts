// Running one CNI plugin binary (CNI spec 1.0 execution protocol): parameters in the environment,
// the network configuration on stdin, a JSON result (or a JSON error) on stdout.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface CniInvocation {
  command: CniCommand;
  /** plugin config; its `type` names the binary in binDir */
  config: Record<string, unknown> & { type: string };
  containerId: string;
  /** path of the pod's network namespace, e.g. /run/netns/skiff-0123abcd4567 */
  netns: string;
  ifName: string;
  binDir: string;
  /** CNI_ARGS, `K=V;K2=V2` */
  args?: string;
  timeoutMs?: number;
  /** run the plugin inside this named netns (its host side: a simulated host) instead of ours */
  hostNetns?: string;
}

/** The plugin's own error report (`{code,msg,details}`), or a failure to run it at all. */
export class CniError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`CNI ${plugin} ${command} failed (code ${code}): ${msg}${details ? ` (${details})` : ''}`);
    this.name = 'CniError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const SYSTEM_PATH = SYSTEM_DIRS.join(':');
const toolPaths = new Map<string, string>();

/**
 * Absolute path of a system tool. Looked up in the system directories only: under npm/npx the PATH
 * starts with node_modules/.bin, where `nft` is an unrelated JavaScript CLI.
 */
export function systemTool(name: string): string {
  const known = toolPaths.get(name);
  if (known) return known;
  for (const d of SYSTEM_DIRS) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      toolPaths.set(name, p);
      return p;
    } catch {
      // next directory
    }
  }
  throw new Error(`${name} is not installed (looked in ${SYSTEM_PATH})`);
}
// Codes from the spec; 999 is what we use for "the plugin did not speak the protocol".
const CODE_NOT_PROTOCOL = 999;

/** The CNI result of ADD (the parts skiff reads); other fields are kept as the plugin sent them. */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { interface?: number; address: string; gateway?: string }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
  [k: string]: unknown;
}

export function pluginPath(binDir: string, type: string): string {
  // The type becomes a file name: keep it from walking out of binDir.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(type)) throw new Error(`invalid CNI plugin type ${JSON.stringify(type)}`);
  return join(binDir, type);
}

export function pluginAvailable(binDir: string, type: string): boolean {
  try {
    accessSync(pluginPath(binDir, type), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Parses a plugin's stdout after a non-zero exit into a CniError (spec: an error object on stdout). */
export function parseCniFailure(plugin: string, command: CniCommand, exitCode: number | null, signal: string | null, stdout: string, stderr: string): CniError {
  const text = stdout.trim();
  if (text) {
    try {
      const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
      if (typeof e.code === 'number' && typeof e.msg === 'string') {
        return new CniError(plugin, command, e.code, e.msg, typeof e.details === 'string' && e.details ? e.details : undefined);
      }
    } catch {
      // not JSON: reported below with the raw output
    }
  }
  const how = signal ? `killed by ${signal}` : `exit code ${exitCode}`;
  const out = [text, stderr.trim()].filter(Boolean).join(' / ');
  return new CniError(plugin, command, CODE_NOT_PROTOCOL, `${how}${out ? `: ${out.slice(0, 2000)}` : ''}`);
}

/**
 * Runs the plugin. ADD and VERSION resolve with the parsed result; DEL and CHECK with undefined
 * (they print nothing on success). Rejects with CniError on a plugin error or timeout.
 */
export async function invokeCni(inv: CniInvocation): Promise<CniResult | undefined> {
  const type = inv.config.type;
  const bin = pluginPath(inv.binDir, type);
  const timeoutMs = inv.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env: NodeJS.ProcessEnv = {
    // Plugins run iptables themselves: only system directories, so nothing an npm script puts on
    // PATH (node_modules/.bin) can stand in for them.
    PATH: SYSTEM_PATH,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_PATH: inv.binDir,
  };
  if (inv.args) env.CNI_ARGS = inv.args;
  const input = JSON.stringify(inv.config);

  let r: Finished;
  try {
    r = inv.hostNetns ? await runChild(systemTool('ip'), ['netns', 'exec', inv.hostNetns, bin], { env, input, timeoutMs }) : await runChild(bin, [], { env, input, timeoutMs });
  } catch (e) {
    throw new CniError(type, inv.command, CODE_NOT_PROTOCOL, `cannot run ${bin}: ${(e as Error).message}`);
  }
  if (r.timedOut) throw new CniError(type, inv.command, CODE_NOT_PROTOCOL, `timed out after ${timeoutMs} ms`, r.stderr.trim() || undefined);
  if (r.code !== 0) throw parseCniFailure(type, inv.command, r.code, r.signal, r.stdout, r.stderr);
  if (inv.command === 'DEL' || inv.command === 'CHECK') return undefined;
  try {
    return JSON.parse(r.stdout) as CniResult;
  } catch {
    throw new CniError(type, inv.command, CODE_NOT_PROTOCOL, `result is not JSON: ${r.stdout.slice(0, 500)}`);
  }
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a program with input on stdin, collecting its output; SIGKILL after timeoutMs. Rejects only when it cannot start. */
function runChild(bin: string, args: string[], o: { env: NodeJS.ProcessEnv; input: string; timeoutMs: number }): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A program that exits before reading stdin gives EPIPE here; its exit status tells the story.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
    child.stdin.end(o.input);
  });
}

/**
 * Runs a host networking tool (ip, nft, iptables; found by systemTool) with a timeout; resolves with stdout, rejects
 * with an Error carrying the command line and stderr.
 */
export async function runTool(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const bin = systemTool(cmd);
  let r: Finished;
  try {
    r = await runChild(bin, args, { env: { ...process.env, PATH: SYSTEM_PATH }, input: opts.input ?? '', timeoutMs });
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${(e as Error).message}`);
  }
  if (r.timedOut) throw new Error(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`);
  if (r.code !== 0) throw new ToolError(cmd, args, r.code, r.stderr.trim() || r.stdout.trim() || (r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`));
  return r.stdout;
}

export class ToolError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${cmd} ${args.join(' ')} failed: ${stderr}`);
    this.name = 'ToolError';
  }
}
