// GitOps acceptance: a real `skiff server`, the Sync controller in this process (its own lease, so
// it never competes with the server's manager), local git repositories made and committed to by
// the test, and the real kubectl. Follows commits, prunes, reverts hand edits within seconds,
// refuses a broken commit whole, suspends and catches up, restarts without losing its inventory.
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, repoRoot, skiffBin, type TestServer } from '../helpers/server.js';
import { RestClient } from '../../pkg/client/rest.js';
import { ControllerManager } from '../../controllers/manager.js';
import { controllerFactories } from '../../controllers/index.js';
import { Scheduler } from '../../controllers/scheduler/index.js';
import { waitFor as waitForCondition } from '../helpers/wait.js';

let srv: TestServer;
let client: RestClient;
let manager: ControllerManager;
let work: string;
let sim: ChildProcess | undefined;
let scheduler: ControllerManager | undefined;

// Polls every 100 ms.
function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>): Promise<T> {
  return waitForCondition(what, ms, fn, 100);
}

/** Asserts a condition stays true for a while (for what must not happen). */
async function holds(ms: number, fn: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await fn())) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await srv.kubectl(args, input !== undefined ? { input } : {});
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function getJson(args: string[]): Promise<any> {
  const r = await srv.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout);
}

class Repo {
  readonly dir: string;
  constructor(name: string) {
    this.dir = join(work, name);
    mkdirSync(this.dir, { recursive: true });
    this.git('init', '-q', '-b', 'main');
    this.git('config', 'user.email', 'test@skiff.dev');
    this.git('config', 'user.name', 'skiff test');
  }
  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.dir, encoding: 'utf8' }).trim();
  }
  write(path: string, text: string): this {
    mkdirSync(join(this.dir, path, '..'), { recursive: true });
    writeFileSync(join(this.dir, path), text);
    return this;
  }
  remove(path: string): this {
    unlinkSync(join(this.dir, path));
    return this;
  }
  commit(msg: string): string {
    this.git('add', '-A');
    this.git('commit', '-q', '-m', msg);
    return this.git('rev-parse', 'HEAD');
  }
}

function deployment(name: string, ns: string | undefined, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}${ns ? `\n  namespace: ${ns}` : ''}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - name: app
        image: busybox
        command: [sleep, "3600"]
`;
}

function syncYaml(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'gitops.skiff.dev/v1alpha1', kind: 'Sync', metadata: { name, namespace: 'default' }, spec });
}

async function sync(name: string): Promise<any> {
  return getJson(['get', 'sync', name, '-n', 'default']);
}

function ready(s: any): { status?: string; reason?: string; message?: string } {
  return s?.status?.conditions?.find((c: any) => c.type === 'Ready') ?? {};
}

async function replicas(ns: string, name: string): Promise<number | undefined> {
  return (await getJson(['get', 'deployment', name, '-n', ns]))?.spec?.replicas;
}

function startManager(): ControllerManager {
  // The server runs no controllers here (--disable-controllers): this manager is the cluster's
  // controller manager, so the test can stop and restart it.
  const m = new ControllerManager(client, { leaseName: 'kube-controller-manager', factories: controllerFactories, leaseDurationSeconds: 5, retryPeriodSeconds: 1 });
  m.start();
  return m;
}

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'skiff-gitops-it-'));
  srv = await startServer({ args: ['--disable-controllers'] });
  client = RestClient.fromKubeconfig(srv.kubeconfig, 'gitops-test');
  // The server installs the CRD once bootstrapCrds is wired in; applying it again is harmless.
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(repoRoot, 'manifests', 'crds', 'sync.yaml')]);
  await kubectl(['wait', '--for=condition=Established', 'crd/syncs.gitops.skiff.dev', '--timeout=30s']);
  process.env.SKIFF_GITOPS_CACHE_DIR = work;
  manager = startManager();
});

test.after.always(async () => {
  await manager?.stop();
  await scheduler?.stop();
  client?.close();
  if (sim && sim.exitCode === null) {
    const p = sim;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill('SIGTERM');
    });
  }
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('a Sync follows commits, prunes, reverts hand edits, refuses broken commits and suspends', async (t) => {
  const repo = new Repo('shop');
  repo.write('deploy/namespace.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n');
  repo.write('deploy/config.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop-config}\ndata: {greeting: hello}\n');
  repo.write('deploy/app/web.yaml', deployment('web', undefined, 2));
  repo.write('README.md', 'not a manifest\n');
  const c1 = repo.commit('first');
  await kubectl(['apply', '-f', '-'], syncYaml('shop', { source: { git: { url: repo.dir, ref: 'main', path: 'deploy/' } }, interval: '2s', prune: true, targetNamespace: 'shop' }));

  // 1. Everything applied, Ready, the commit as revision.
  const s1 = await waitFor('Ready=True at the first commit', 20_000, async () => {
    const s = await sync('shop');
    return ready(s).status === 'True' && s.status.lastAppliedRevision === c1 && s;
  });
  t.is(s1.status.lastAttemptedRevision, c1);
  t.truthy(s1.status.lastSyncTime);
  t.deepEqual(s1.status.inventory.entries.map((e: any) => `${e.kind}/${e.namespace ?? ''}/${e.name}`).sort(), ['ConfigMap/shop/shop-config', 'Deployment/shop/web', 'Namespace//shop']);
  t.is(await replicas('shop', 'web'), 2);
  const cm = await getJson(['get', 'configmap', 'shop-config', '-n', 'shop', '--show-managed-fields']);
  t.is(cm.data.greeting, 'hello');
  t.true(cm.metadata.managedFields.some((f: any) => f.manager === 'skiff-gitops' && f.operation === 'Apply'));
  const table = await kubectl(['get', 'syncs', '-n', 'default']);
  t.regex(table, /NAME\s+READY\s+REVISION\s+AGE\s+MESSAGE/);
  t.regex(table, new RegExp(`shop\\s+True\\s+${c1}`));

  // 2. A replicas change follows within the interval; a removed ConfigMap is pruned.
  repo.write('deploy/app/web.yaml', deployment('web', undefined, 3));
  const c2 = repo.commit('scale to 3');
  await waitFor('replicas 3 from the second commit', 10_000, async () => (await replicas('shop', 'web')) === 3);
  repo.remove('deploy/config.yaml');
  const c3 = repo.commit('drop the config');
  await waitFor('the ConfigMap pruned', 10_000, async () => (await srv.kubectl(['get', 'configmap', 'shop-config', '-n', 'shop'])).code !== 0);
  await waitFor('lastAppliedRevision at the third commit', 10_000, async () => (await sync('shop'))?.status?.lastAppliedRevision === c3);
  t.not(c2, c3);

  // 3. A hand scale is reverted within 5 s, with an event saying so.
  await kubectl(['scale', 'deployment/web', '-n', 'shop', '--replicas=7']);
  const t0 = Date.now();
  await waitFor('the hand scale reverted', 5_000, async () => (await replicas('shop', 'web')) === 3);
  t.log(`drift reverted in ${Date.now() - t0} ms`);
  await waitFor('a DriftCorrected event', 5_000, async () => {
    const ev = await getJson(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=shop']);
    return ev?.items?.some((e: any) => e.reason === 'DriftCorrected' && /deployment\.apps\/web -n shop/.test(e.message) && /spec\.replicas/.test(e.message));
  });
  // A deleted managed object comes back too.
  await kubectl(['delete', 'deployment', 'web', '-n', 'shop', '--wait=false']);
  await waitFor('the deleted Deployment recreated', 10_000, async () => {
    const d = await getJson(['get', 'deployment', 'web', '-n', 'shop']);
    return d && !d.metadata.deletionTimestamp && d.spec.replicas === 3;
  });

  // 4. A broken commit: Ready=False naming the file and the field, nothing of it applied.
  repo.write('deploy/app/web.yaml', deployment('web', undefined, 4));
  repo.write('deploy/app/worker.yaml', deployment('worker', undefined, 1).replace('replicas: 1', 'replicas: 1\n  replicaz: 2'));
  repo.write('deploy/extra.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {a: b}\n');
  const bad = repo.commit('broken');
  const sBad = await waitFor('Ready=False for the broken commit', 10_000, async () => {
    const s = await sync('shop');
    return ready(s).status === 'False' && s.status.lastAttemptedRevision === bad && s;
  });
  t.log(ready(sBad).message);
  t.regex(ready(sBad).message!, /app\/worker\.yaml/);
  t.regex(ready(sBad).message!, /replicaz/);
  t.is(ready(sBad).reason, 'ValidationFailed');
  t.is(sBad.status.lastAppliedRevision, c3);
  t.true(sBad.status.conditions.some((c: any) => c.type === 'Stalled' && c.status === 'True'));
  t.true(await holds(3_000, async () => (await replicas('shop', 'web')) === 3), 'nothing of the broken commit applied');
  t.is((await srv.kubectl(['get', 'configmap', 'extra', '-n', 'shop'])).code, 1);
  t.is((await srv.kubectl(['get', 'deployment', 'worker', '-n', 'shop'])).code, 1);
  // A parse error names file and document.
  repo.write('deploy/app/worker.yaml', `${deployment('worker', undefined, 1)}---\nkind: [unclosed\n`);
  const bad2 = repo.commit('does not parse');
  const sBad2 = await waitFor('Ready=False for the unparsable commit', 10_000, async () => {
    const s = await sync('shop');
    return ready(s).status === 'False' && s.status.lastAttemptedRevision === bad2 && s;
  });
  t.is(ready(sBad2).reason, 'BuildFailed');
  t.regex(ready(sBad2).message!, /app\/worker\.yaml/);
  // Fixed in the next commit: Ready again, all of it applied.
  repo.write('deploy/app/worker.yaml', deployment('worker', undefined, 1));
  const fixed = repo.commit('fixed');
  await waitFor('Ready=True at the fixed commit', 10_000, async () => {
    const s = await sync('shop');
    return ready(s).status === 'True' && s.status.lastAppliedRevision === fixed;
  });
  t.is(await replicas('shop', 'web'), 4);
  t.is(await replicas('shop', 'worker'), 1);
  t.false((await sync('shop')).status.conditions.some((c: any) => c.type === 'Stalled'));

  // 5. Suspended: neither new commits nor drift correction; resuming catches up.
  await kubectl(['patch', 'sync', 'shop', '-n', 'default', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
  await waitFor('the Suspended condition', 10_000, async () => (await sync('shop'))?.status?.conditions?.some((c: any) => c.type === 'Reconciling' && c.reason === 'Suspended'));
  repo.write('deploy/app/web.yaml', deployment('web', undefined, 5));
  const c5 = repo.commit('while suspended');
  await kubectl(['scale', 'deployment/worker', '-n', 'shop', '--replicas=6']);
  t.true(await holds(5_000, async () => (await replicas('shop', 'web')) === 4 && (await replicas('shop', 'worker')) === 6), 'suspended: no fetch, no drift correction');
  await kubectl(['patch', 'sync', 'shop', '-n', 'default', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
  await waitFor('caught up after resuming', 10_000, async () => (await replicas('shop', 'web')) === 5 && (await replicas('shop', 'worker')) === 1);
  await waitFor('Ready at the commit made while suspended', 10_000, async () => (await sync('shop'))?.status?.lastAppliedRevision === c5);

  // Events for applies and prunes.
  const events = await getJson(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=shop']);
  const reasons = new Set(events.items.map((e: any) => e.reason));
  for (const r of ['Applied', 'Pruned', 'DriftCorrected', 'ValidationFailed', 'BuildFailed']) t.true(reasons.has(r), `event ${r}`);
});

test.serial('a controller restart keeps the inventory: what was removed meanwhile is pruned', async (t) => {
  const repo = new Repo('restart');
  repo.write('a.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\ndata: {a: "1"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\ndata: {a: "1"}\n');
  repo.commit('two');
  await kubectl(['create', 'namespace', 'restart']);
  await kubectl(['apply', '-f', '-'], syncYaml('restart', { source: { git: { url: `file://${repo.dir}` } }, interval: '2s', prune: true, targetNamespace: 'restart' }));
  await waitFor('both ConfigMaps', 15_000, async () => (await srv.kubectl(['get', 'configmap', 'gone', '-n', 'restart'])).code === 0);
  await manager.stop();
  repo.write('a.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\ndata: {a: "1"}\n');
  const c = repo.commit('one');
  manager = startManager();
  await waitFor('the removed ConfigMap pruned by the new controller', 30_000, async () => (await srv.kubectl(['get', 'configmap', 'gone', '-n', 'restart'])).code !== 0);
  t.is((await sync('restart')).status.lastAppliedRevision, c);
  t.is((await srv.kubectl(['get', 'configmap', 'keep', '-n', 'restart'])).code, 0);
});

test.serial('bad sources: a ref that does not exist, a repository that cannot be fetched', async (t) => {
  const repo = new Repo('refs');
  repo.write('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tagged}\ndata: {v: "1"}\n');
  const tagged = repo.commit('v1');
  repo.git('tag', '-a', 'v1', '-m', 'v1');
  repo.write('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tagged}\ndata: {v: "2"}\n');
  repo.commit('v2');
  await kubectl(['apply', '-f', '-'], syncYaml('badref', { source: { git: { url: repo.dir, ref: 'nope' } }, interval: '2s' }));
  const s = await waitFor('Ready=False for a missing ref', 15_000, async () => {
    const s = await sync('badref');
    return ready(s).status === 'False' && s;
  });
  t.is(ready(s).reason, 'GitOperationFailed');
  t.regex(ready(s).message!, /ref "nope" not found/);
  await kubectl(['apply', '-f', '-'], syncYaml('norepo', { source: { git: { url: join(work, 'no-such-repo') } }, interval: '2s' }));
  const s2 = await waitFor('Ready=False for a missing repository', 15_000, async () => {
    const s = await sync('norepo');
    return ready(s).status === 'False' && s;
  });
  t.is(ready(s2).reason, 'GitOperationFailed');
  // A tag resolves to its commit (annotated tags are peeled).
  await kubectl(['apply', '-f', '-'], syncYaml('tag', { source: { git: { url: repo.dir, ref: 'v1' } }, interval: '2s' }));
  await waitFor('the tagged revision applied', 15_000, async () => (await sync('tag'))?.status?.lastAppliedRevision === tagged);
  t.is((await getJson(['get', 'configmap', 'tagged', '-n', 'default'])).data.v, '1');
  // And a commit hash.
  await kubectl(['patch', 'sync', 'tag', '-n', 'default', '--type=merge', '-p', JSON.stringify({ spec: { source: { git: { url: repo.dir, ref: tagged.slice(0, 10) } } } })]);
  await waitFor('the commit revision applied', 15_000, async () => ready(await sync('tag')).status === 'True' && (await sync('tag')).status.lastAppliedRevision === tagged);
  await kubectl(['delete', 'sync', 'badref', 'norepo', 'tag', '-n', 'default']);
});

test.serial('directory source, kustomize, dependsOn and wait for workloads to be available', async (t) => {
  sim = spawn(process.execPath, [skiffBin, 'simulate', '--nodes', '2', '--kubeconfig', srv.kubeconfig, '--name-prefix', 'gitops-', '--heartbeat-interval', '1s', '--sim-start-delay', '50ms'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' },
  });
  // A standby scheduler under the scheduler's own lease: it acts only if the server runs none.
  scheduler = new ControllerManager(client, { leaseName: 'kube-scheduler', factories: [(ctx) => new Scheduler(ctx, { strategy: 'spread' })] });
  scheduler.start();
  const dir = join(work, 'platform');
  mkdirSync(join(dir, 'base'), { recursive: true });
  writeFileSync(join(dir, 'ns.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: platform}\n');
  writeFileSync(join(dir, 'base', 'kustomization.yaml'), 'namespace: platform\nnamePrefix: k-\nresources: [cm.yaml]\n');
  writeFileSync(join(dir, 'base', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {x: "1"}\n');
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'web.yaml'), deployment('api', 'platform', 2));
  // The app waits for the platform.
  await kubectl(['apply', '-f', '-'], syncYaml('app', { source: { directory: { path: app } }, interval: '1m', dependsOn: [{ name: 'platform' }], wait: true, timeout: '1m' }));
  const s0 = await waitFor('DependencyNotReady', 10_000, async () => {
    const s = await sync('app');
    return ready(s).reason === 'DependencyNotReady' && s;
  });
  t.regex(ready(s0).message!, /platform/);
  await kubectl(['apply', '-f', '-'], syncYaml('platform', { source: { directory: { path: dir } }, interval: '1m', prune: true }));
  await waitFor('the platform Ready', 15_000, async () => ready(await sync('platform')).status === 'True');
  t.is((await getJson(['get', 'configmap', 'k-settings', '-n', 'platform'])).data.x, '1');
  t.regex((await sync('platform')).status.lastAppliedRevision, /^sha256:/);
  const sApp = await waitFor('the app Ready once its Deployment is available', 30_000, async () => {
    const s = await sync('app');
    if (ready(s).status !== 'True') throw new Error(JSON.stringify(ready(s)));
    return s;
  });
  const d = await getJson(['get', 'deployment', 'api', '-n', 'platform']);
  t.is(d.status.availableReplicas, 2);
  t.truthy(sApp.status.lastAppliedRevision);
  // A directory change is applied without waiting for the interval; a removed file is pruned.
  writeFileSync(join(dir, 'base', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {x: "2"}\n');
  await waitFor('the directory change applied', 5_000, async () => (await getJson(['get', 'configmap', 'k-settings', '-n', 'platform']))?.data?.x === '2');
  writeFileSync(join(dir, 'more.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: more, namespace: platform}\ndata: {y: "1"}\n');
  await waitFor('a new file applied', 5_000, async () => (await srv.kubectl(['get', 'configmap', 'more', '-n', 'platform'])).code === 0);
  unlinkSync(join(dir, 'more.yaml'));
  await waitFor('a removed file pruned', 5_000, async () => (await srv.kubectl(['get', 'configmap', 'more', '-n', 'platform'])).code !== 0);
  // A Deployment that cannot become available: the health check times out.
  writeFileSync(join(app, 'web.yaml'), deployment('api', 'platform', 2).replace('replicas: 2', 'replicas: 2\n  progressDeadlineSeconds: 600').replace('containers:', 'nodeSelector: {nowhere: "true"}\n      containers:'));
  await kubectl(['patch', 'sync', 'app', '-n', 'default', '--type=merge', '-p', '{"spec":{"timeout":"3s"}}']);
  const sFail = await waitFor('HealthCheckFailed', 20_000, async () => {
    const s = await sync('app');
    return ready(s).reason === 'HealthCheckFailed' && s;
  });
  t.regex(ready(sFail).message!, /Deployment\/api/);
  await kubectl(['delete', 'sync', 'app', 'platform', '-n', 'default']);
});
