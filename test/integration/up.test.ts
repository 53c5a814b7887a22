// `skiff up -f DIR` (and `skiff server -f DIR --watch`): the folder is applied at start and the
// cluster follows every edit, new file and deleted file within a second; a broken file applies
// nothing; a file removed while the server was down is pruned at the next start.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot, skiffBin, startServer } from '../helpers/server.js';
import { RestClient, isNotFound } from '../../pkg/client/rest.js';
import type { KObject } from '../../pkg/api/types.js';
import { waitFor as waitForCondition } from '../helpers/wait.js';

const work = mkdtempSync(join(tmpdir(), 'skiff-up-it-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

// Polls every 20 ms.
function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>): Promise<T> {
  return waitForCondition(what, ms, fn, 20);
}

function deployment(replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: busybox}]}
`;
}

/** `skiff up` through bin/skiff.js once main.ts has it, else through cmd/up.js directly. */
function upCommand(args: string[]): string[] {
  const help = spawnSync(process.execPath, [skiffBin, 'up', '--help'], { encoding: 'utf8' });
  if (help.status === 0 && /--watch/.test(help.stdout)) return [skiffBin, 'up', ...args];
  const flags = pathToFileURL(join(repoRoot, 'dist', 'cmd', 'flags.js')).href;
  const up = pathToFileURL(join(repoRoot, 'dist', 'cmd', 'up.js')).href;
  const script = `const { parseFlags } = await import(${JSON.stringify(flags)}); const { upFlags, runUp } = await import(${JSON.stringify(up)}); await runUp(parseFlags(process.argv.slice(1), upFlags).values);`;
  return ['--input-type=module', '-e', script, '--', ...args];
}

interface Up {
  proc: ChildProcess;
  client: RestClient;
  output(): string;
  stop(): Promise<void>;
}

async function startUp(dataDir: string, dir: string): Promise<Up> {
  const proc = spawn(process.execPath, upCommand(['--data-dir', dataDir, '--port', '0', '--bind', '127.0.0.1', '--disable-agent', '-f', dir]), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' },
  });
  const log: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  await waitFor('skiff up to start', 30_000, async () => {
    if (proc.exitCode !== null) throw new Error(`skiff up exited: ${log.join('')}`);
    return /kubeconfig written/.test(log.join(''));
  });
  const client = RestClient.fromKubeconfig(join(dataDir, 'kubeconfig'));
  return {
    proc,
    client,
    output: () => log.join(''),
    stop: async () => {
      client.close();
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      });
    },
  };
}

async function get(c: RestClient, path: string): Promise<any> {
  try {
    return await c.get<KObject & Record<string, any>>(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

const DEPLOY = '/apis/apps/v1/namespaces/demo/deployments/web';
const CM = (name: string) => `/api/v1/namespaces/demo/configmaps/${name}`;

test.serial('skiff up -f DIR: edits, new files and deleted files reach the cluster within a second', async (t) => {
  const dir = join(work, 'app');
  const dataDir = join(work, 'data');
  mkdirSync(join(dir, 'config'), { recursive: true });
  writeFileSync(join(dir, '00-namespace.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n');
  writeFileSync(join(dir, 'web.yaml'), deployment(1));
  writeFileSync(join(dir, 'config', 'settings.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data: { mode: 'a' } }));
  let up = await startUp(dataDir, dir);
  try {
    const c = up.client;
    await waitFor('the folder applied at start', 10_000, async () => (await get(c, DEPLOY)) && (await get(c, CM('settings'))));
    const timed = async (what: string, change: () => void, done: () => Promise<boolean>) => {
      const t0 = Date.now();
      change();
      await waitFor(what, 1_000, done);
      t.log(`${what}: ${Date.now() - t0} ms`);
    };
    await timed('edit', () => writeFileSync(join(dir, 'web.yaml'), deployment(3)), async () => (await get(c, DEPLOY))?.spec?.replicas === 3);
    await timed('new file', () => writeFileSync(join(dir, 'config', 'extra.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: demo}\ndata: {a: "1"}\n'), async () => !!(await get(c, CM('extra'))));
    await timed('deleted file', () => unlinkSync(join(dir, 'config', 'extra.yaml')), async () => !(await get(c, CM('extra'))));
    // A broken file: nothing of the folder's new state is applied, the message names the file.
    writeFileSync(join(dir, 'web.yaml'), deployment(5).replace('replicas: 5', 'replicas: 5\n  bogus: 1'));
    writeFileSync(join(dir, 'config', 'settings.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'demo' }, data: { mode: 'b' } }));
    await waitFor('the problem reported', 5_000, async () => /nothing applied/.test(up.output()) && /web\.yaml/.test(up.output()) && /bogus/.test(up.output()));
    t.is((await get(c, CM('settings')))?.data?.mode, 'a');
    t.is((await get(c, DEPLOY))?.spec?.replicas, 3);
    writeFileSync(join(dir, 'web.yaml'), deployment(5));
    await waitFor('the fixed folder applied', 2_000, async () => (await get(c, DEPLOY))?.spec?.replicas === 5 && (await get(c, CM('settings')))?.data?.mode === 'b');
    // Removed while down: pruned at the next start (the inventory is in the cluster).
    await up.stop();
    unlinkSync(join(dir, 'config', 'settings.json'));
    up = await startUp(dataDir, dir);
    await waitFor('pruned at restart', 10_000, async () => !(await get(up.client, CM('settings'))));
    t.truthy(await get(up.client, DEPLOY));
  } finally {
    await up.stop();
  }
});

test.serial('skiff server -f DIR --watch uses the same engine', async (t) => {
  const dir = join(work, 'server-watch');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: "1"}\n');
  const srv = await startServer({ args: ['-f', dir, '--watch'] });
  const c = RestClient.fromKubeconfig(srv.kubeconfig);
  try {
    await waitFor('applied at start', 10_000, async () => !!(await get(c, '/api/v1/namespaces/default/configmaps/one')));
    writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {a: "1"}\n');
    await waitFor('renamed object applied and the old one pruned', 2_000, async () => !!(await get(c, '/api/v1/namespaces/default/configmaps/two')) && !(await get(c, '/api/v1/namespaces/default/configmaps/one')));
    // The inventory is recorded once the prune is done: wait for it rather than race it.
    const want = JSON.stringify([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'two', namespace: 'default' }]);
    await waitFor('the inventory to name only the new object', 5_000, async () => {
      const inv = await get(c, '/api/v1/namespaces/kube-system/configmaps/skiff-apply-inventory');
      return !!inv && JSON.stringify(JSON.parse(inv.data.inventory)) === want;
    });
    t.pass();
  } finally {
    c.close();
    await srv.stop();
  }
});
