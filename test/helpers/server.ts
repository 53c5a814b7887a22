// Starts a real `skiff server` process on a free port in a fresh data dir, for integration tests,
// and runs the real kubectl against it. Everything is removed on stop().
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const skiffBin = join(repoRoot, 'bin', 'skiff.js');

export interface TestServer {
  dataDir: string;
  kubeconfig: string;
  url: string;
  port: number;
  proc: ChildProcess;
  /** stderr+stdout collected so far (for failure messages) */
  output(): string;
  kubectl(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<KubectlResult>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  port?: number;
  /** run the node agent too (real containers, root): the server is started without --disable-agent */
  agent?: boolean;
}

function launch(dataDir: string, port: number, args: string[], env: NodeJS.ProcessEnv, log: string[], agent = false): Promise<{ proc: ChildProcess; url: string; port: number }> {
  // The same V8 flag as bin/skiff.js's shebang, which a direct `node FILE` would skip.
  const proc = spawn(process.execPath, ['--max-semi-space-size=4', skiffBin, 'server', '--data-dir', dataDir, '--port', String(port), '--bind', '127.0.0.1', ...(agent ? [] : ['--disable-agent']), ...args], {
    env: { ...process.env, SKIFF_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`skiff server did not start in 30s:\n${log.join('')}`));
    }, 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      const s = d.toString();
      log.push(s);
      buf += s;
      const m = /API server at (https:\/\/[^\s]+)/.exec(buf);
      if (m && /kubeconfig written/.test(buf) && (!agent || /running containers with/.test(buf))) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]!, port: Number(new URL(m[1]!).port) });
      }
    });
    proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`skiff server exited with ${code}:\n${log.join('')}`));
    });
  });
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'skiff-it-'));
  const cacheDir = join(dataDir, 'kubectl-cache');
  mkdirSync(cacheDir, { recursive: true });
  const log: string[] = [];
  let launched;
  try {
    launched = await launch(dataDir, opts.port ?? 0, opts.args ?? [], opts.env ?? {}, log, opts.agent);
  } catch (e) {
    // A server that never came up leaves nothing behind either.
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  let { proc, url, port } = launched;
  const kubeconfig = join(dataDir, 'kubeconfig');
  const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
  const server: TestServer = {
    dataDir,
    kubeconfig,
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    get proc() {
      return proc;
    },
    output: () => log.join(''),
    kubectl(args, kopts = {}) {
      return new Promise((resolve) => {
        const child = execFile(
          'kubectl',
          ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args],
          { env: { ...process.env, KUBECONFIG: kubeconfig, ...kopts.env }, timeout: kopts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
          (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
          },
        );
        if (kopts.input !== undefined) child.stdin!.end(kopts.input);
        else child.stdin?.end();
      });
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited(proc);
        clearTimeout(t);
      }
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill9() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      ({ proc, url, port } = await launch(dataDir, port, opts.args ?? [], opts.env ?? {}, log, opts.agent));
    },
  };
  return server;
}
