// The Deployment and ReplicaSet controllers against a real `skiff server`, driven by the real
// kubectl: create, rolling update within maxSurge/maxUnavailable at every observed moment,
// rollout status/history/undo/restart/pause/resume, revision history limit, Recreate, progress
// deadline, scaling, adoption and release, and cascading deletion (background, foreground,
// orphan). There are no kubelets here: a small fake kubelet in this file binds every pod to a
// made-up node, reports it Running and Ready a moment later, and finishes terminating pods.
import test, { type ExecutionContext } from 'ava';
import type { KObject } from '../../pkg/api/types.js';
import { RestClient, isNotFound, isConflict, resourcePath } from '../../pkg/client/rest.js';
import { Informer, keyOf } from '../../pkg/client/informer.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { ControllerManager } from '../../controllers/manager.js';
import { controllerFactories } from '../../controllers/index.js';
import { replicaSetController } from '../../controllers/replicaset/replicaset-controller.js';
import { deploymentController } from '../../controllers/deployment/deployment-controller.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/api-client.js';

const NS = 'deploy-it';
let srv: TestServer;
let client: RestClient;
let manager: ControllerManager | undefined;
let kubelet: FakeKubelet;

/** Binds pods, makes them Running+Ready after a short delay, and completes their deletion. */
class FakeKubelet {
  readonly informer: Informer<KObject>;
  private readonly queue: WorkQueue<string>;
  private readonly due = new Set<string>();

  constructor(private readonly c: RestClient) {
    this.informer = new Informer<KObject>(c, R.pods);
    this.queue = new WorkQueue((k) => this.handle(k), { name: 'fake-kubelet', workers: 32 });
    this.informer.on({ add: (p) => this.queue.add(keyOf(p)), update: (_o, p) => this.queue.add(keyOf(p)) });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): void {
    this.informer.stop();
    this.queue.shutdown();
  }

  private async handle(key: string): Promise<void> {
    const pod = this.informer.get(key);
    if (!pod) return;
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const spec = pod.spec as { nodeName?: string; containers: { name: string; image: string }[] };
    try {
      if (pod.metadata.deletionTimestamp) {
        await this.c.delete(resourcePath(R.pods, ns, name), { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
        return;
      }
      if (!spec.nodeName) {
        await this.c.create(resourcePath(R.pods, ns, name, 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: 'fake-node' } });
        return;
      }
      // Images named "broken" never start: rollouts to them cannot progress.
      if (spec.containers.some((c) => c.image.includes('broken'))) return;
      const ready = (pod.status as { conditions?: { type: string; status: string }[] })?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (ready) return;
      if (!this.due.has(key)) {
        this.due.add(key);
        this.queue.addAfter(key, 20 + Math.floor(Math.random() * 60));
        return;
      }
      this.due.delete(key);
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await this.c.patch(
        resourcePath(R.pods, ns, name, 'status'),
        {
          status: {
            phase: 'Running',
            hostIP: '10.0.0.1',
            podIP: '10.42.0.10',
            startTime: now,
            conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now })),
            containerStatuses: spec.containers.map((c) => ({ name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
          },
        },
        'merge',
      );
    } catch (e) {
      if (isNotFound(e)) return;
      if (isConflict(e)) return; // bound meanwhile or already gone: the next event brings it back
      throw e;
    }
  }
}

/** Watches the pods of one app and checks, on every event, the rolling-update bounds. */
class PodObserver {
  readonly informer: Informer<KObject>;
  maxActive = 0;
  minReady = Infinity;
  events = 0;
  readonly violations: string[] = [];
  /** for Recreate: moments where pods of two templates were alive together */
  mixed = 0;
  /** the initial list arrives one add at a time: judge only from the synced state on */
  private armed = false;

  constructor(c: RestClient, app: string, private readonly bounds: { maxTotal?: number; minReady?: number; exclusive?: boolean }) {
    this.informer = new Informer<KObject>(c, R.pods, { namespace: NS, labelSelector: `app=${app}` });
    const check = () => this.check();
    this.informer.on({ add: check, update: check, delete: check });
  }

  async start(): Promise<void> {
    await this.informer.start();
    this.armed = true;
    this.check();
  }

  stop(): void {
    this.informer.stop();
  }

  private check(): void {
    if (!this.armed) return;
    this.events++;
    const active = this.informer.list().filter((p) => !p.metadata.deletionTimestamp);
    const ready = active.filter((p) => (p.status as { conditions?: { type: string; status: string }[] })?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    this.maxActive = Math.max(this.maxActive, active.length);
    this.minReady = Math.min(this.minReady, ready.length);
    if (this.bounds.maxTotal !== undefined && active.length > this.bounds.maxTotal) this.violations.push(`${active.length} pods > ${this.bounds.maxTotal}`);
    if (this.bounds.minReady !== undefined && ready.length < this.bounds.minReady) this.violations.push(`${ready.length} ready < ${this.bounds.minReady}`);
    if (this.bounds.exclusive) {
      const hashes = new Set(this.informer.list().map((p) => p.metadata.labels?.['pod-template-hash']));
      if (hashes.size > 1) this.mixed++;
    }
  }
}

test.before(async () => {
  srv = await startServer();
  client = RestClient.fromKubeconfig(srv.kubeconfig, 'deployment-test');
  // Until the server runs these controllers itself, run them here, under a lease of our own.
  if (!controllerFactories.includes(deploymentController) || !controllerFactories.includes(replicaSetController)) {
    manager = new ControllerManager(client, { leaseName: 'deployment-test-controllers', factories: [replicaSetController, deploymentController] });
    manager.start();
    await waitFor(() => manager!.isLeader, 15_000, () => 'test controller manager never became leader');
  }
  kubelet = new FakeKubelet(client);
  await kubelet.start();
  await client.create(resourcePath(R.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});

test.after.always(async () => {
  kubelet?.stop();
  await manager?.stop();
  client?.close();
  await srv?.stop();
});

// ---- helpers ----

async function ok(t: ExecutionContext, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string> {
  const r = await srv.kubectl(args, opts);
  if (r.code !== 0) t.fail(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function deploymentYaml(name: string, o: { replicas?: number; image?: string; strategy?: string; extra?: string; annotations?: string } = {}): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${NS}
${o.annotations ? `  annotations:\n${o.annotations}\n` : ''}spec:
  replicas: ${o.replicas ?? 3}
  selector:
    matchLabels:
      app: ${name}
${o.strategy ?? ''}${o.extra ?? ''}  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
      - name: main
        image: ${o.image ?? 'nginx:1.0'}
`;
}

async function getJson<T = any>(kind: string, name: string): Promise<T> {
  return (await client.get(`${kindPath(kind)}/${name}`)) as T;
}

function kindPath(kind: string): string {
  const gvr = kind === 'deploy' ? R.deployments : kind === 'rs' ? R.replicasets : R.pods;
  return resourcePath(gvr, NS);
}

async function list(kind: 'rs' | 'pods', app: string): Promise<any[]> {
  const r = await client.get<{ items: any[] }>(kindPath(kind), { labelSelector: `app=${app}` });
  return r.items;
}

async function activePods(app: string): Promise<any[]> {
  return (await list('pods', app)).filter((p) => !p.metadata.deletionTimestamp);
}

/** Waits for the rollout to finish as `kubectl rollout status` sees it, plus the pods settled. */
async function settled(name: string, replicas: number, ms = 30_000): Promise<any> {
  let d: any;
  await waitFor(
    async () => {
      d = await getJson('deploy', name);
      const s = d.status ?? {};
      const pods = await activePods(name);
      return (
        s.observedGeneration >= d.metadata.generation &&
        s.updatedReplicas === replicas &&
        s.replicas === replicas &&
        s.availableReplicas === replicas &&
        s.readyReplicas === replicas &&
        pods.length === replicas
      );
    },
    ms,
    () => `deployment ${name} did not settle at ${replicas}: ${JSON.stringify(d?.status)}`,
  );
  return d;
}

function cond(obj: any, type: string): any {
  return obj.status?.conditions?.find((c: any) => c.type === type);
}

// ---- tests ----

test.serial('a Deployment of 3 creates one ReplicaSet and 3 pods and becomes 3/3 ready', async (t) => {
  const y = deploymentYaml('web', {
    annotations: '    kubernetes.io/change-cause: first version',
    strategy: '  strategy:\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n',
    extra: '  revisionHistoryLimit: 2\n',
  });
  t.regex(await ok(t, ['apply', '-f', '-'], { input: y }), /deployment.apps\/web created/);
  const d = await settled('web', 3);
  const rss = await list('rs', 'web');
  t.is(rss.length, 1);
  const rs = rss[0];
  const hash = rs.metadata.labels['pod-template-hash'];
  t.truthy(hash);
  t.is(rs.metadata.name, `web-${hash}`);
  t.is(rs.spec.selector.matchLabels['pod-template-hash'], hash);
  t.is(rs.spec.template.metadata.labels['pod-template-hash'], hash);
  t.is(rs.metadata.annotations['deployment.kubernetes.io/revision'], '1');
  t.is(rs.metadata.annotations['deployment.kubernetes.io/desired-replicas'], '3');
  t.is(rs.metadata.annotations['deployment.kubernetes.io/max-replicas'], '4');
  t.is(rs.metadata.annotations['kubernetes.io/change-cause'], 'first version');
  t.is(rs.metadata.ownerReferences[0].kind, 'Deployment');
  t.is(rs.metadata.ownerReferences[0].uid, d.metadata.uid);
  t.is(d.metadata.annotations['deployment.kubernetes.io/revision'], '1');

  const pods = await activePods('web');
  t.is(pods.length, 3);
  for (const p of pods) {
    t.true(p.metadata.name.startsWith(`${rs.metadata.name}-`));
    t.is(p.metadata.labels['pod-template-hash'], hash);
    t.like(p.metadata.ownerReferences[0], { kind: 'ReplicaSet', name: rs.metadata.name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true });
  }
  t.like(cond(d, 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' });
  t.like(cond(d, 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' });
  t.is(d.status.unavailableReplicas, 0);

  const table = await ok(t, ['get', 'deploy', 'web', '-n', NS]);
  t.regex(table, /web\s+3\/3\s+3\s+3/);
  const rsTable = await ok(t, ['get', 'rs', '-n', NS]);
  t.regex(rsTable, new RegExp(`web-${hash}\\s+3\\s+3\\s+3`));
  const rsObj = await getJson('rs', rs.metadata.name);
  t.like(rsObj.status, { replicas: 3, fullyLabeledReplicas: 3, readyReplicas: 3, availableReplicas: 3, observedGeneration: rsObj.metadata.generation });

  await waitFor(
    async () => /Scaled up replica set web-\S+ from 0 to 3/.test(await ok(t, ['describe', 'deploy', 'web', '-n', NS])),
    10_000,
    () => 'no ScalingReplicaSet event in describe',
  );
  await waitFor(
    async () => (await ok(t, ['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${rs.metadata.name}`])).includes('SuccessfulCreate'),
    10_000,
    () => 'no SuccessfulCreate event',
  );
});

test.serial('an image change rolls out within maxSurge=1 / maxUnavailable=0 at every observed moment', async (t) => {
  const obs = new PodObserver(client, 'web', { maxTotal: 4, minReady: 3 });
  await obs.start();
  try {
    await ok(t, ['set', 'image', 'deploy/web', 'main=nginx:2.0', '-n', NS]);
    await ok(t, ['annotate', 'deploy/web', '-n', NS, 'kubernetes.io/change-cause=second version', '--overwrite']);
    const out = await ok(t, ['rollout', 'status', 'deploy/web', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
    t.regex(out, /successfully rolled out/);
    await settled('web', 3);
  } finally {
    obs.stop();
  }
  t.deepEqual(obs.violations, []);
  t.true(obs.events > 6, `observed ${obs.events} pod events`);
  t.is(obs.maxActive, 4, 'the surge pod was used');
  const rss = await list('rs', 'web');
  t.is(rss.length, 2);
  const byRev = Object.fromEntries(rss.map((rs) => [rs.metadata.annotations['deployment.kubernetes.io/revision'], rs]));
  t.is(byRev['1'].spec.replicas, 0);
  t.is(byRev['2'].spec.replicas, 3);
  t.is(byRev['2'].spec.template.spec.containers[0].image, 'nginx:2.0');
  const d = await getJson('deploy', 'web');
  t.is(d.metadata.annotations['deployment.kubernetes.io/revision'], '2');
  for (const p of await activePods('web')) t.is(p.spec.containers[0].image, 'nginx:2.0');
});

test.serial('rollout history lists revisions; rollout undo returns to the previous template as a new revision', async (t) => {
  const hist = await ok(t, ['rollout', 'history', 'deploy/web', '-n', NS]);
  t.regex(hist, /1\s+first version/);
  t.regex(hist, /2\s+second version/);
  const rev1 = (await list('rs', 'web')).find((rs) => rs.metadata.annotations['deployment.kubernetes.io/revision'] === '1');

  const obs = new PodObserver(client, 'web', { maxTotal: 4, minReady: 3 });
  await obs.start();
  try {
    t.regex(await ok(t, ['rollout', 'undo', 'deploy/web', '-n', NS]), /rolled back/);
    await ok(t, ['rollout', 'status', 'deploy/web', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
    await settled('web', 3);
  } finally {
    obs.stop();
  }
  t.deepEqual(obs.violations, []);
  const rss = await list('rs', 'web');
  if (rss.length !== 2) t.log(JSON.stringify(rss.map((r) => ({ n: r.metadata.name, a: r.metadata.annotations, c: r.metadata.creationTimestamp, t: r.spec.template })), null, 1), JSON.stringify((await getJson('deploy', 'web')).spec.template));
  t.is(rss.length, 2, 'no third ReplicaSet: the old one is reused');
  const back = rss.find((rs) => rs.metadata.name === rev1.metadata.name);
  t.is(back.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  t.is(back.spec.replicas, 3);
  const d = await getJson('deploy', 'web');
  t.is(d.spec.template.spec.containers[0].image, 'nginx:1.0');
  t.is(d.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  const hist2 = await ok(t, ['rollout', 'history', 'deploy/web', '-n', NS]);
  t.regex(hist2, /\n2\s+/);
  t.regex(hist2, /\n3\s+/);
  t.notRegex(hist2, /\n1\s+/);
});

test.serial('revisionHistoryLimit trims old ReplicaSets scaled to zero', async (t) => {
  for (const v of ['3.0', '4.0', '5.0']) {
    await ok(t, ['set', 'image', 'deploy/web', `main=nginx:${v}`, '-n', NS]);
    await ok(t, ['rollout', 'status', 'deploy/web', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
  }
  await settled('web', 3);
  let rss: any[] = [];
  await waitFor(
    async () => (rss = await list('rs', 'web')).length === 3,
    15_000,
    () => `expected 1 current + 2 old ReplicaSets, have ${rss.map((r) => r.metadata.name).join(',')}`,
  );
  const revs = rss.map((rs) => Number(rs.metadata.annotations['deployment.kubernetes.io/revision'])).sort((a, b) => a - b);
  t.deepEqual(revs, [4, 5, 6]);
  for (const rs of rss) if (rs.metadata.annotations['deployment.kubernetes.io/revision'] !== '6') t.is(rs.spec.replicas, 0);
});

test.serial('rollout restart makes a new ReplicaSet with a restartedAt template annotation', async (t) => {
  const before = new Set((await activePods('web')).map((p) => p.metadata.name));
  await ok(t, ['rollout', 'restart', 'deploy/web', '-n', NS]);
  await ok(t, ['rollout', 'status', 'deploy/web', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
  await settled('web', 3);
  const pods = await activePods('web');
  t.true(pods.every((p) => !before.has(p.metadata.name)), 'every pod was replaced');
  t.truthy(pods[0].metadata.annotations?.['kubectl.kubernetes.io/restartedAt']);
});

test.serial('pause stops rollout progress but status and scaling still follow; resume completes it', async (t) => {
  await ok(t, ['rollout', 'pause', 'deploy/web', '-n', NS]);
  await waitFor(async () => cond(await getJson('deploy', 'web'), 'Progressing')?.reason === 'DeploymentPaused', 10_000, () => 'no DeploymentPaused condition');
  const rssBefore = (await list('rs', 'web')).map((r) => r.metadata.name).sort();
  await ok(t, ['set', 'image', 'deploy/web', 'main=nginx:paused', '-n', NS]);
  await ok(t, ['scale', 'deploy/web', '-n', NS, '--replicas=4']);
  // Scaling is followed while paused; the template change is not (no pod is "updated").
  let d: any;
  await waitFor(
    async () => {
      d = await getJson('deploy', 'web');
      const st = d.status ?? {};
      return st.observedGeneration >= d.metadata.generation && st.replicas === 4 && st.availableReplicas === 4 && st.updatedReplicas === 0 && (await activePods('web')).length === 4;
    },
    15_000,
    () => `paused deployment did not scale to 4: ${JSON.stringify(d?.status)}`,
  );
  t.like(cond(d, 'Progressing'), { status: 'Unknown', reason: 'DeploymentPaused' });
  // No ReplicaSet for the paused template. (With the template changed every RS is "old", so
  // the history limit may trim one, as in Kubernetes.)
  const rssAfter = (await list('rs', 'web')).map((r) => r.metadata.name);
  t.true(rssAfter.every((n) => rssBefore.includes(n)), `new ReplicaSet while paused: ${rssAfter.join(',')} vs ${rssBefore.join(',')}`);
  t.true((await activePods('web')).every((p) => p.spec.containers[0].image !== 'nginx:paused'));

  await ok(t, ['rollout', 'resume', 'deploy/web', '-n', NS]);
  await ok(t, ['rollout', 'status', 'deploy/web', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
  const after = await settled('web', 4);
  t.like(cond(after, 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' });
  t.true((await activePods('web')).every((p) => p.spec.containers[0].image === 'nginx:paused'));
});

test.serial('scale to 0 and back', async (t) => {
  await ok(t, ['scale', 'deploy/web', '-n', NS, '--replicas=0']);
  await waitFor(async () => (await activePods('web')).length === 0, 15_000, () => 'pods still there at 0 replicas');
  const d0 = await settled('web', 0);
  t.is(d0.status.replicas, 0);
  t.like(cond(d0, 'Available'), { status: 'True' });
  await ok(t, ['scale', 'deploy/web', '-n', NS, '--replicas=3']);
  await settled('web', 3);
  t.regex(await ok(t, ['get', 'deploy', 'web', '-n', NS]), /web\s+3\/3\s+3\s+3/);
});

test.serial('a rollout with percentages stays within 25% surge / 25% unavailable', async (t) => {
  await ok(t, ['apply', '-f', '-'], { input: deploymentYaml('pct', { replicas: 8 }) });
  await settled('pct', 8);
  // 25% of 8: surge 2 (rounded up), unavailable 2 (rounded down).
  const obs = new PodObserver(client, 'pct', { maxTotal: 10, minReady: 6 });
  await obs.start();
  try {
    await ok(t, ['set', 'image', 'deploy/pct', 'main=nginx:2.0', '-n', NS]);
    await ok(t, ['rollout', 'status', 'deploy/pct', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
    await settled('pct', 8);
  } finally {
    obs.stop();
  }
  t.deepEqual(obs.violations, []);
  t.true(obs.maxActive > 8);
});

test.serial('Recreate removes every old pod before any new one exists', async (t) => {
  const strategy = '  strategy:\n    type: Recreate\n';
  await ok(t, ['apply', '-f', '-'], { input: deploymentYaml('rec', { strategy }) });
  await settled('rec', 3);
  const obs = new PodObserver(client, 'rec', { maxTotal: 3, exclusive: true });
  await obs.start();
  try {
    await ok(t, ['apply', '-f', '-'], { input: deploymentYaml('rec', { strategy, image: 'nginx:2.0' }) });
    await ok(t, ['rollout', 'status', 'deploy/rec', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
    await settled('rec', 3);
  } finally {
    obs.stop();
  }
  t.deepEqual(obs.violations, []);
  t.is(obs.mixed, 0, 'old and new pods never coexisted');
  t.true((await activePods('rec')).every((p) => p.spec.containers[0].image === 'nginx:2.0'));
});

test.serial('a rollout that cannot progress reports ProgressDeadlineExceeded and rollout status fails', async (t) => {
  await ok(t, ['apply', '-f', '-'], { input: deploymentYaml('stuck', { replicas: 2, extra: '  progressDeadlineSeconds: 2\n' }) });
  await settled('stuck', 2);
  await ok(t, ['set', 'image', 'deploy/stuck', 'main=broken:1', '-n', NS]);
  let d: any;
  await waitFor(async () => cond((d = await getJson('deploy', 'stuck')), 'Progressing')?.reason === 'ProgressDeadlineExceeded', 15_000, () => JSON.stringify(d?.status));
  t.like(cond(d, 'Progressing'), { status: 'False', message: `ReplicaSet "${(await list('rs', 'stuck')).find((r) => r.spec.template.spec.containers[0].image === 'broken:1').metadata.name}" has timed out progressing.` });
  // maxUnavailable 25% of 2 rounds down to 0: the old pods stay available.
  t.like(cond(d, 'Available'), { status: 'True' });
  t.is(d.status.availableReplicas, 2);
  const r = await srv.kubectl(['rollout', 'status', 'deploy/stuck', '-n', NS, '--timeout=20s']);
  t.not(r.code, 0);
  t.regex(r.stderr, /exceeded its progress deadline/);
});

test.serial('a ReplicaSet adopts a matching orphan pod and releases a pod that stops matching', async (t) => {
  const rsYaml = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: solo
  namespace: ${NS}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: solo
  template:
    metadata:
      labels:
        app: solo
        tier: x
    spec:
      containers:
      - name: main
        image: nginx:1.0
`;
  await ok(t, ['apply', '-f', '-'], { input: rsYaml });
  const rs = await getJson('rs', 'solo');
  await waitFor(async () => (await getJson('rs', 'solo')).status?.readyReplicas === 2, 15_000, () => 'solo never had 2 ready');

  // An orphan with the RS's labels is adopted, making 3 for 2 wanted: one goes (the not-ready one).
  await client.create(kindPath('pods'), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', namespace: NS, labels: { app: 'solo' } }, spec: { containers: [{ name: 'main', image: 'nginx:1.0' }] } });
  await waitFor(
    async () => {
      const pods = await activePods('solo');
      return pods.length === 2 && pods.every((p) => p.metadata.ownerReferences?.[0]?.uid === rs.metadata.uid);
    },
    15_000,
    () => 'orphan not adopted / surplus not removed',
  );
  let s: any;
  await waitFor(async () => (s = (await getJson('rs', 'solo')).status)?.replicas === 2 && s.fullyLabeledReplicas === 2 && s.readyReplicas === 2, 15_000, () => JSON.stringify(s));

  // Relabel one pod: it is released (no owner) and replaced.
  const victim = (await activePods('solo'))[0];
  await client.patch(`${kindPath('pods')}/${victim.metadata.name}`, { metadata: { labels: { app: 'elsewhere' } } }, 'merge');
  await waitFor(async () => !(await getJson('pods', victim.metadata.name)).metadata.ownerReferences?.length, 15_000, () => 'released pod still owned');
  await waitFor(async () => (await activePods('solo')).length === 2 && (await getJson('rs', 'solo')).status?.readyReplicas === 2, 15_000, () => 'no replacement pod');
  await client.delete(`${kindPath('pods')}/${victim.metadata.name}`, { gracePeriodSeconds: 0 });
  await client.delete(`${kindPath('rs')}/solo`);
  await waitFor(async () => (await activePods('solo')).length === 0, 15_000, () => 'solo pods left after RS deletion');
  t.pass();
});

test.serial('a ReplicaSet of 500 comes up quickly and exactly', async (t) => {
  const started = Date.now();
  await ok(t, ['create', 'deployment', 'big', '-n', NS, '--image=nginx:1.0', '--replicas=500']);
  await waitFor(async () => (await getJson('deploy', 'big')).status?.readyReplicas === 500, 60_000, () => 'big never reached 500 ready');
  t.log(`500 replicas ready in ${Date.now() - started} ms`);
  const pods = (await client.get<{ items: any[] }>(kindPath('pods'), { labelSelector: 'app=big' })).items;
  t.is(pods.filter((p: any) => !p.metadata.deletionTimestamp).length, 500, 'no duplicates');
  await ok(t, ['delete', 'deploy', 'big', '-n', NS, '--wait=false']);
});

async function gone(kind: 'rs' | 'pods', app: string): Promise<boolean> {
  return (await list(kind, app)).length === 0;
}

test.serial('deleting a Deployment: background and foreground cascade, orphan keeps ReplicaSets and pods', async (t) => {
  for (const name of ['bg', 'fg', 'orph']) await ok(t, ['apply', '-f', '-'], { input: deploymentYaml(name, { replicas: 2 }) });
  for (const name of ['bg', 'fg', 'orph']) await settled(name, 2);

  await ok(t, ['delete', 'deploy', 'bg', '-n', NS, '--cascade=background']);
  await waitFor(async () => (await gone('rs', 'bg')) && (await gone('pods', 'bg')), 20_000, () => 'bg: RS or pods left');

  await ok(t, ['delete', 'deploy', 'fg', '-n', NS, '--cascade=foreground']);
  await waitFor(async () => (await gone('rs', 'fg')) && (await gone('pods', 'fg')), 20_000, () => 'fg: RS or pods left');
  const r = await srv.kubectl(['get', 'deploy', 'fg', '-n', NS]);
  t.not(r.code, 0, 'foreground-deleted deployment is gone once its dependents are');

  const rsName = (await list('rs', 'orph'))[0].metadata.name;
  await ok(t, ['delete', 'deploy', 'orph', '-n', NS, '--cascade=orphan']);
  await waitFor(async () => (await srv.kubectl(['get', 'deploy', 'orph', '-n', NS])).code !== 0, 15_000, () => 'orph deployment still there');
  await waitFor(async () => !(await getJson('rs', rsName)).metadata.ownerReferences?.length, 15_000, () => 'RS still has its owner reference');
  const pods = await activePods('orph');
  t.is(pods.length, 2);
  const rs = await getJson('rs', rsName);
  t.is(rs.spec.replicas, 2);
  // The orphaned RS still manages its pods.
  t.true(pods.every((p) => p.metadata.ownerReferences?.[0]?.uid === rs.metadata.uid));
});
