// Agents joining from "another host" (separate processes, their own data dirs, other loopback
// addresses): with the server's node-token and with a bootstrap token from `skiff token create`;
// refused with a clear message for a wrong secret, an expired bootstrap token and a CA that does
// not match the token. A joined agent authenticates as system:node:<name> with its own credential,
// reuses it on restart and joins again when it has been revoked.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { startServer, skiffBin, type TestServer } from '../helpers/server.js';
import { RestClient, configFromKubeconfig } from '../../pkg/client/rest.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;
let admin: RestClient;
let work: string;
const procs = new Set<ChildProcess>();

interface AgentRun {
  proc: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

function startAgent(args: string[]): AgentRun {
  const proc = spawn(process.execPath, [skiffBin, 'agent', '--runtime', 'simulated', '--server', srv.url, '--heartbeat-interval', '1s', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' },
  });
  procs.add(proc);
  const out: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => (procs.delete(proc), resolve(code))));
  return { proc, out, exited };
}

async function stopAgent(a: AgentRun): Promise<void> {
  if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGTERM');
  await a.exited;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, log: () => string = () => '', timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}\n${log().slice(-3000)}`);
}

function tokenFile(name: string, content: string): string {
  const f = join(work, `${name}.token`);
  writeFileSync(f, content + '\n', { mode: 0o600 });
  return f;
}

const dataDir = (node: string) => join(work, `agent-${node}`);

function joinArgs(node: string, token: string, ip: string): string[] {
  return ['--token-file', token, '--node-name', node, '--node-ip', ip, '--data-dir', dataDir(node)];
}

async function nodeReady(node: string, run: AgentRun): Promise<void> {
  await until(
    `node ${node} Ready`,
    async () => {
      const n = await admin.get<Json>(`/api/v1/nodes/${node}`);
      return n.status?.conditions?.some((c: Json) => c.type === 'Ready' && c.status === 'True');
    },
    () => run.out.join(''),
  );
}

async function whoami(client: RestClient): Promise<string> {
  const r = await client.create<Json>('/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  return r.status.userInfo.username;
}

/** Runs an agent expected to be refused; returns its output once it has exited non-zero. */
async function refused(node: string, token: string): Promise<{ code: number | null; output: string }> {
  const run = startAgent(joinArgs(node, tokenFile(node, token), '127.0.0.9'));
  const deadline = setTimeout(() => run.proc.kill('SIGKILL'), 30_000);
  const code = await run.exited;
  clearTimeout(deadline);
  return { code, output: run.out.join('') };
}

const nodeToken = () => readFileSync(join(srv.dataDir, 'node-token'), 'utf8').trim();
const caSha = () => createHash('sha256').update(readFileSync(join(srv.dataDir, 'tls', 'ca.crt'))).digest('hex');

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'skiff-join-'));
  srv = await startServer();
  admin = RestClient.fromKubeconfig(srv.kubeconfig);
});

test.after.always(async () => {
  await Promise.all([...procs].map((p) => new Promise<void>((r) => (p.once('exit', () => r()), p.kill('SIGKILL')))));
  admin?.close();
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('DIR/node-token is a K10 token with the CA hash, and /cacerts serves that CA without authentication', async (t) => {
  t.is(nodeToken().slice(0, 67), `K10${caSha()}`);
  t.regex(nodeToken(), /^K10[0-9a-f]{64}::[0-9a-f]{64}$/);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const req = httpsRequest(new URL('/cacerts', srv.url), { rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  t.deepEqual(body, readFileSync(join(srv.dataDir, 'tls', 'ca.crt')));
});

test('an agent joins with the node-token, gets its own credential, reuses it, and joins again once revoked', async (t) => {
  const args = joinArgs('n1', join(srv.dataDir, 'node-token'), '127.0.0.5');
  let run = startAgent(args);
  await nodeReady('n1', run);

  const kubeconfig = join(dataDir('n1'), 'agent', 'kubeconfig');
  t.is(statSync(kubeconfig).mode & 0o777, 0o600);
  const nodeClient = RestClient.fromKubeconfig(kubeconfig);
  try {
    t.is(await whoami(nodeClient), 'system:node:n1');
    t.not(nodeClient.config.token, nodeToken().split('::')[1], 'the per-node credential is not the join secret');
  } finally {
    nodeClient.close();
  }
  const cred = await admin.get<Json>('/api/v1/namespaces/kube-system/secrets/node-credential-n1');
  t.is(cred.type, 'skiff.dev/node-credential');
  t.is(cred.metadata.annotations['skiff.dev/joined-with'], 'node-token');
  const stored = Buffer.from(cred.data['token-sha256'], 'base64').toString();
  t.is(stored, createHash('sha256').update(configFromKubeconfig(kubeconfig).token!).digest('hex'), 'only the hash is stored');

  // A restart reuses the stored credential: the Secret is not rewritten.
  await stopAgent(run);
  run = startAgent(args);
  await until('the restarted agent running', async () => run.out.join('').includes('registered'), () => run.out.join(''));
  t.is((await admin.get<Json>('/api/v1/namespaces/kube-system/secrets/node-credential-n1')).metadata.resourceVersion, cred.metadata.resourceVersion);

  // Revoked (Secret deleted): the old credential is refused at once, the agent joins again on restart.
  await stopAgent(run);
  const oldToken = configFromKubeconfig(kubeconfig).token!;
  await admin.delete('/api/v1/namespaces/kube-system/secrets/node-credential-n1');
  const revoked = new RestClient({ server: srv.url, ca: readFileSync(join(srv.dataDir, 'tls', 'ca.crt'), 'utf8'), token: oldToken });
  try {
    await t.throwsAsync(whoami(revoked), { message: /Unauthorized/ });
  } finally {
    revoked.close();
  }
  run = startAgent(args);
  await until('a new node credential', async () => admin.get<Json>('/api/v1/namespaces/kube-system/secrets/node-credential-n1'), () => run.out.join(''));
  await until('the agent running again', async () => run.out.join('').includes('registered'), () => run.out.join(''));
  t.not(configFromKubeconfig(kubeconfig).token, oldToken);
  await stopAgent(run);
});

test('a bootstrap token from `skiff token create --ttl 1h` joins a node', async (t) => {
  const made = spawn(process.execPath, [skiffBin, 'token', 'create', '--ttl', '1h', '--data-dir', srv.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(made);
  let stdout = '';
  let stderr = '';
  made.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  made.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => made.once('exit', (c) => (procs.delete(made), r(c))));
  t.is(code, 0, stderr);
  const token = stdout.trim();
  t.regex(token, new RegExp(`^K10${caSha()}::[a-z0-9]{6}\\.[a-z0-9]{16}$`));
  const id = token.split('::')[1]!.split('.')[0]!;
  const secret = await admin.get<Json>(`/api/v1/namespaces/kube-system/secrets/bootstrap-token-${id}`);
  t.is(secret.type, 'bootstrap.kubernetes.io/token');
  const exp = Date.parse(Buffer.from(secret.data.expiration, 'base64').toString());
  t.true(exp > Date.now() + 55 * 60_000 && exp <= Date.now() + 60 * 60_000);

  const run = startAgent(joinArgs('n2', tokenFile('n2', token), '127.0.0.6'));
  await nodeReady('n2', run);
  const cred = await admin.get<Json>('/api/v1/namespaces/kube-system/secrets/node-credential-n2');
  t.is(cred.metadata.annotations['skiff.dev/joined-with'], `bootstrap-token-${id}`);
  await stopAgent(run);
});

test('a wrong join secret is refused: "invalid join token"', async (t) => {
  const { code, output } = await refused('bad-secret', `K10${caSha()}::${'0'.repeat(64)}`);
  t.not(code, 0);
  t.regex(output, /invalid join token/, output);
  const { code: code2, output: out2 } = await refused('bad-bootstrap', `K10${caSha()}::zzzzzz.0123456789abcdef`);
  t.not(code2, 0);
  t.regex(out2, /invalid join token/, out2);
});

test('an expired bootstrap token (a Secret in the Kubernetes format) is refused: "expired"', async (t) => {
  const manifest = [
    'apiVersion: v1',
    'kind: Secret',
    'metadata: {name: bootstrap-token-exp123, namespace: kube-system}',
    'type: bootstrap.kubernetes.io/token',
    'stringData:',
    '  token-id: exp123',
    '  token-secret: 0123456789abcdef',
    '  expiration: "2020-01-01T00:00:00Z"',
    '  usage-bootstrap-authentication: "true"',
  ].join('\n');
  const applied = await srv.kubectl(['apply', '-f', '-'], { input: manifest });
  t.is(applied.code, 0, applied.stderr);
  const { code, output } = await refused('expired', `K10${caSha()}::exp123.0123456789abcdef`);
  t.not(code, 0);
  t.regex(output, /join token exp123 expired at 2020-01-01T00:00:00Z/, output);
});

test('a token whose CA hash does not match the server is refused before any credential is sent', async (t) => {
  const wrong = createHash('sha256').update('another cluster').digest('hex');
  const { code, output } = await refused('bad-ca', `K10${wrong}::${nodeToken().split('::')[1]}`);
  t.not(code, 0);
  t.true(output.includes(`the server's CA does not match the token: expected sha256 ${wrong}, got ${caSha()} — wrong server or tampered connection`), output);
  await t.throwsAsync(admin.get('/api/v1/namespaces/kube-system/secrets/node-credential-bad-ca'), { message: /not found/ });
});

test('a bare join secret joins when the CA is given with --ca-file, and is refused without it', async (t) => {
  const bare = tokenFile('n3', nodeToken().split('::')[1]!);
  const { code, output } = await refused('n3-no-ca', nodeToken().split('::')[1]!);
  t.is(code, 2, output);
  t.regex(output, /carries no CA hash.*--ca-file/, output);
  const run = startAgent([...joinArgs('n3', bare, '127.0.0.7'), '--ca-file', join(srv.dataDir, 'tls', 'ca.crt')]);
  await nodeReady('n3', run);
  await stopAgent(run);
});
