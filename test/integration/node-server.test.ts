// The real kubectl's logs, exec, cp, attach and port-forward, through a real `skiff server`, to a
// NodeServer in this process. Its runtime runs commands as host processes in a temp dir and serves
// CRI log files the test writes: a stand-in for a container, the protocols are all real.
import test from 'ava';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { NodeServer } from '../../kubelet/server/node-server.js';
import { ensureServingCert } from '../../kubelet/server/serving-cert.js';
import { formatCriLogLine } from '../../kubelet/runtime/oci/cri-log.js';
import { KUBELET_CLIENT_CN } from '../../apiserver/auth/pki.js';
import { StreamTargetError, type ContainerLogs, type ContainerRef, type ExecRequest, type ExecSession, type StreamingRuntime } from '../../kubelet/server/streaming.js';

/** Host processes in a temp dir stand in for the container c1 of pod default/p. */
class HostRuntime implements StreamingRuntime {
  running = true;
  current: string;
  previous?: string;
  resizes: [number, number][] = [];
  readonly procs = new Set<ChildProcess>();

  constructor(readonly dir: string) {
    this.current = join(dir, 'c1.log');
    writeFileSync(this.current, '');
  }

  private check(ref: ContainerRef): void {
    if (ref.namespace !== 'default' || ref.pod !== 'p' || ref.container !== 'c1') throw new StreamTargetError(`container ${ref.container} of ${ref.namespace}/${ref.pod} is not on this node`, 404);
  }

  async logs(ref: ContainerRef): Promise<ContainerLogs> {
    this.check(ref);
    return { current: this.current, previous: this.previous, running: this.running };
  }

  async exec(ref: ContainerRef, req: ExecRequest): Promise<ExecSession> {
    this.check(ref);
    if (!this.running) throw new StreamTargetError('container c1 is not running');
    // A tty comes from script(1), which runs the command on a pseudo-terminal.
    const quoted = req.command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const [cmd, args] = req.tty ? ['script', ['-qfec', quoted, '/dev/null']] : [req.command[0]!, req.command.slice(1)];
    const child = spawn(cmd as string, args as string[], { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new StreamTargetError(`exec failed: ${e.message}`)));
    });
    const exited = new Promise<number>((resolve) =>
      child.once('close', (code, signal) => {
        this.procs.delete(child);
        resolve(code ?? (signal ? 128 + 9 : 1));
      }),
    );
    let stdout = child.stdout!;
    if (req.tty) {
      // One output stream with a terminal: what script writes, stderr included.
      const merged = new PassThrough();
      child.stdout!.pipe(merged, { end: false });
      child.stderr!.pipe(merged, { end: false });
      void exited.then(() => merged.end());
      stdout = merged as unknown as typeof stdout;
    }
    if (!req.stdin) child.stdin!.end();
    return {
      stdin: req.stdin ? child.stdin! : undefined,
      stdout,
      stderr: req.tty ? undefined : child.stderr!,
      resize: (w, h) => void this.resizes.push([w, h]),
      exited,
      kill: () => child.kill('SIGKILL'),
    };
  }

  async podAddress(namespace: string, pod: string): Promise<string> {
    if (namespace !== 'default' || pod !== 'p') throw new StreamTargetError(`pod ${namespace}/${pod} is not on this node`, 404);
    return '127.0.0.1';
  }
}

let srv: TestServer;
let work: string;
let runtime: HostRuntime;
let node: NodeServer;
let nodePort: number;
let echo: Server;
let echoPort: number;
const children = new Set<ChildProcess>();

function log(lines: [string, string, boolean?][], file = runtime.current): void {
  const now = new Date();
  appendFileSync(file, lines.map(([stream, text, full]) => formatCriLogLine(now, stream as 'stdout' | 'stderr', text, full ?? true) + '\n').join(''));
}

async function k(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return srv.kubectl(args, opts);
}

/** Runs kubectl in the background, collecting its output. */
function kubectlBg(args: string[], env: NodeJS.ProcessEnv = {}): { proc: ChildProcess; out: () => string; err: () => string; exit: Promise<number> } {
  const proc = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, '--cache-dir', join(srv.dataDir, 'kubectl-cache'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number>((r) =>
    proc.once('exit', (code) => {
      children.delete(proc);
      r(code ?? 1);
    }),
  );
  return { proc, out: () => out, err: () => err, exit };
}

test.before(async () => {
  srv = await startServer({ args: ['--disable-controllers'] });
  work = mkdtempSync(join(tmpdir(), 'skiff-node-server-'));
  runtime = new HostRuntime(work);
  const cert = ensureServingCert(join(work, 'pki'), 'node1');
  node = new NodeServer({ runtime, cert: cert.cert, key: cert.key, caCert: readFileSync(join(srv.dataDir, 'tls', 'ca.crt'), 'utf8'), allowedClientCN: KUBELET_CLIENT_CN, port: 0, host: '127.0.0.1' });
  nodePort = await node.start();
  echo = createServer((s) => s.on('data', (d) => s.write(`echo:${d.toString()}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;

  const nodeJson = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node1' } };
  let r = await k(['create', '-f', '-'], { input: JSON.stringify(nodeJson) });
  if (r.code) throw new Error(r.stderr);
  r = await k(['patch', 'node', 'node1', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: nodePort } } } })]);
  if (r.code) throw new Error(r.stderr);
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'node1', containers: [{ name: 'c1', image: 'busybox' }] } };
  r = await k(['create', '-f', '-'], { input: JSON.stringify(pod) });
  if (r.code) throw new Error(r.stderr);
  r = await k(['patch', 'pod', 'p', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { phase: 'Running', podIP: '127.0.0.1' } })]);
  if (r.code) throw new Error(r.stderr);
  const two = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'two', namespace: 'default' }, spec: { nodeName: 'node1', containers: [{ name: 'a', image: 'busybox' }, { name: 'b', image: 'busybox' }] } };
  r = await k(['create', '-f', '-'], { input: JSON.stringify(two) });
  if (r.code) throw new Error(r.stderr);
  const unbound = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unbound', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
  r = await k(['create', '-f', '-'], { input: JSON.stringify(unbound) });
  if (r.code) throw new Error(r.stderr);
});

test.after.always(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of runtime?.procs ?? []) p.kill('SIGKILL');
  await node?.stop();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

for (const [name, env] of [
  ['websocket', {}],
  ['spdy', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }],
] as const) {
  test.serial(`exec over ${name}: output, exit codes, stdin`, async (t) => {
    let r = await k(['exec', 'p', '--', 'echo', 'hi'], { env });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'hi\n');
    r = await k(['exec', 'p', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { env });
    t.is(r.code, 3);
    t.is(r.stdout, 'out\n');
    t.regex(r.stderr, /err\n/);
    t.regex(r.stderr, /command terminated with exit code 3/);
    const big = 'x'.repeat(300_000) + '\n';
    r = await k(['exec', '-i', 'p', '--', 'cat'], { env, input: 'hello\n' + big });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'hello\n' + big);
    r = await k(['exec', 'p', '--', 'no-such-command-here'], { env });
    t.not(r.code, 0);
    t.regex(r.stderr, /exec failed/);
  });
}

test.serial('exec -it runs with a terminal (kubectl under script(1) to have one too)', async (t) => {
  const cmd = `kubectl --kubeconfig '${srv.kubeconfig}' --cache-dir '${join(srv.dataDir, 'kubectl-cache')}' exec -it p -- sh -c 'test -t 1 && echo on-a-tty; exit 4'`;
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    const c = execFile('script', ['-qec', cmd, '/dev/null'], { timeout: 60_000 }, (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: String(stdout) }));
    c.stdin?.end();
  });
  t.regex(r.out, /on-a-tty/);
  t.is(r.code, 4);
  t.true(runtime.resizes.length > 0, 'kubectl sent the terminal size');
});

test.serial('cp into and out of the pod (exec of tar)', async (t) => {
  const local = join(work, 'local.txt');
  writeFileSync(local, 'copied in\n');
  const inPod = join(work, 'in-pod.txt');
  let r = await k(['cp', local, `p:${inPod}`]);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.is(readFileSync(inPod, 'utf8'), 'copied in\n');
  const back = join(work, 'back.txt');
  r = await k(['cp', `p:${inPod}`, back]);
  t.is(r.code, 0, r.stderr + r.stdout);
  t.is(readFileSync(back, 'utf8'), 'copied in\n');
});

test.serial('logs: whole, partial lines joined, tail, timestamps, previous, bad requests', async (t) => {
  writeFileSync(runtime.current, '');
  log([
    ['stdout', 'one'],
    ['stderr', 'two'],
    ['stdout', 'thr', false],
    ['stdout', 'ee'],
    ['stdout', 'four'],
  ]);
  let r = await k(['logs', 'p']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'one\ntwo\nthree\nfour\n');
  r = await k(['logs', 'p', '--tail=2']);
  t.is(r.stdout, 'three\nfour\n');
  r = await k(['logs', 'p', '--timestamps', '--tail=1']);
  t.regex(r.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z four\n$/);
  r = await k(['logs', 'p', '--limit-bytes=6']);
  t.is(r.stdout, 'one\ntw');
  r = await k(['logs', 'p', '--since=1h']);
  t.is(r.stdout, 'one\ntwo\nthree\nfour\n');
  r = await k(['logs', 'p', '--previous']);
  t.not(r.code, 0);
  t.regex(r.stderr, /previous terminated container "c1" in pod "p" not found/);
  runtime.previous = join(work, 'c1.prev.log');
  log([['stdout', 'before restart']], runtime.previous);
  r = await k(['logs', 'p', '--previous']);
  t.is(r.stdout, 'before restart\n');
  r = await k(['logs', 'two']);
  // kubectl picks the first container itself; this node's runtime knows only p, and says so.
  t.regex(r.stderr, /Defaulted container "a" out of: a, b[^]*container a of default\/two is not on this node/);
  r = await k(['get', '--raw', '/api/v1/namespaces/default/pods/two/log']);
  t.not(r.code, 0);
  t.regex(r.stderr, /a container name must be specified for pod two, choose one of: \[a b\]/);
  r = await k(['logs', 'p', '-c', 'nope']);
  t.regex(r.stderr, /container nope is not valid for pod p/);
  r = await k(['logs', 'unbound']);
  t.regex(r.stderr, /pod unbound does not have a host assigned/);
  r = await k(['logs', 'missing']);
  t.regex(r.stderr, /pods "missing" not found/);
});

test.serial('logs -f follows until the container stops', async (t) => {
  writeFileSync(runtime.current, '');
  runtime.running = true;
  log([['stdout', 'first']]);
  const f = kubectlBg(['logs', '-f', 'p']);
  await waitFor('first line', 20_000, async () => f.out().includes('first\n'));
  log([
    ['stdout', 'sec', false],
    ['stdout', 'ond'],
    ['stderr', 'third'],
  ]);
  await waitFor('appended lines', 20_000, async () => f.out() === 'first\nsecond\nthird\n');
  runtime.running = false;
  t.is(await f.exit, 0, f.err());
  t.is(f.out(), 'first\nsecond\nthird\n');
  runtime.running = true;
});

test.serial('attach shows new output until the container stops; stdin is refused', async (t) => {
  writeFileSync(runtime.current, '');
  runtime.running = true;
  log([['stdout', 'old']]);
  const a = kubectlBg(['attach', 'p', '-c', 'c1']);
  // attach sees what is written after it connected: keep writing until a line shows up.
  let n = 0;
  await waitFor('attached output', 20_000, async () => {
    log([['stdout', `tick ${n++}`]]);
    return /tick \d+\n/.test(a.out());
  }, 300);
  runtime.running = false;
  t.is(await a.exit, 0, a.err());
  t.false(a.out().includes('old'));
  runtime.running = true;
  const r = await k(['attach', '-i', 'p', '-c', 'c1'], { input: 'x' });
  t.not(r.code, 0);
  t.regex(r.stderr + r.stdout, /attach with stdin is not supported by this runtime/);
});

for (const [name, env] of [
  ['websocket', {}],
  ['spdy', { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
] as const) {
  test.serial(`port-forward over ${name}`, async (t) => {
    const pf = kubectlBg(['port-forward', 'pod/p', `:${echoPort}`], env);
    const m = await waitFor('forwarding', 20_000, async () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(pf.out()));
    const local = Number(m![1]);
    for (const msg of ['ping', 'pong']) {
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(local, '127.0.0.1', () => s.write(msg));
        let got = '';
        s.on('data', (d) => {
          got += d.toString();
          if (got.length >= `echo:${msg}`.length) {
            s.end();
            resolve(got);
          }
        });
        s.on('error', reject);
      });
      t.is(reply, `echo:${msg}`);
    }
    pf.proc.kill('SIGTERM');
    await pf.exit;
  });
}

test.serial('the node server lets in only the API server', async (t) => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: nodePort, path: '/containerLogs/default/p/c1', rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  t.is(status, 401);
  t.true(existsSync(join(srv.dataDir, 'tls', 'apiserver-kubelet-client.crt')));
});
