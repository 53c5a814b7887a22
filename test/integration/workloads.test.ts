// DaemonSet, Job, CronJob and StatefulSet controllers against a real `skiff server`. There are
// no kubelets here: the test registers Node objects and plays the nodes' part itself — it binds
// pods nobody bound, finishes graceful deletions, and moves pods through Running/Ready and
// Succeeded/Failed via the status subresource. The controllers run in this process unless the
// server runs them already (then the server's act).
import test from 'ava';
import type { KObject } from '../../pkg/api/types.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { RestClient, ApiError, resourcePath } from '../../pkg/client/rest.js';
import { Informer } from '../../pkg/client/informer.js';
import { R } from '../../pkg/client/informer-factory.js';
import { ControllerManager } from '../../controllers/manager.js';
import { controllerFactories } from '../../controllers/index.js';
import { daemonSetController } from '../../controllers/daemonset/daemonset-controller.js';
import { jobController, jobControllerWith } from '../../controllers/job/job-controller.js';
import { cronJobController } from '../../controllers/cronjob/cronjob-controller.js';
import { statefulSetController } from '../../controllers/statefulset/statefulset-controller.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;
let client: RestClient;
let manager: ControllerManager | undefined;
let pods: Informer;
const nodeNames: string[] = [];
/** namespaces whose pods the simulated nodes start and make Ready on their own */
const autoRun = new Set<string>();
let rr = 0;
const stopSim: (() => void)[] = [];

const NODES = { group: '', version: 'v1', resource: 'nodes' };
const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

async function ignoreGone(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiError) || (e.code !== 404 && e.code !== 409)) throw e;
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function addNode(name: string, extra: { labels?: Record<string, string>; taints?: Json[] } = {}): Promise<void> {
  await client.create(resourcePath(NODES), {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(extra.labels ?? {}) } },
    spec: extra.taints ? { taints: extra.taints } : {},
  });
  await client.patch(resourcePath(NODES, undefined, name, 'status'), {
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated', lastHeartbeatTime: nowIso(), lastTransitionTime: nowIso() }],
    },
  });
  nodeNames.push(name);
}

function containerStatuses(pod: KObject, state: Json, ready: boolean): Json[] {
  return ((pod.spec as Json).containers as Json[]).map((c) => ({ name: c.name, image: c.image, imageID: '', ready, started: ready, restartCount: 0, state }));
}

async function markRunning(pod: KObject): Promise<void> {
  const t = nowIso();
  await ignoreGone(
    client.patch(resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name, 'status'), {
      status: {
        phase: 'Running',
        startTime: t,
        podIP: '10.42.0.10',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
          { type: 'Initialized', status: 'True', lastTransitionTime: t },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: t },
          { type: 'Ready', status: 'True', lastTransitionTime: t },
        ],
        containerStatuses: containerStatuses(pod, { running: { startedAt: t } }, true),
      },
    }),
  );
}

async function markFinished(pod: KObject, exitCode: number): Promise<void> {
  const t = nowIso();
  await client.patch(resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name, 'status'), {
    status: {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
        { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: t },
      ],
      containerStatuses: containerStatuses(pod, { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: t, finishedAt: t } }, false),
    },
  });
}

/** What kubelets and a scheduler would do for the pods of this test. */
function simulateNodes(): void {
  const act = (pod: KObject) => {
    void (async () => {
      const spec = pod.spec as Json;
      const ns = pod.metadata.namespace!;
      if (pod.metadata.deletionTimestamp) {
        // The kubelet has stopped the containers: the pod can go.
        await ignoreGone(client.delete(resourcePath(R.pods, ns, pod.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 }));
        return;
      }
      if (!spec.nodeName) {
        const pinned = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchFields?.[0]?.values?.[0];
        const target = pinned ?? nodeNames[rr++ % nodeNames.length];
        await ignoreGone(client.create(resourcePath(R.pods, ns, pod.metadata.name, 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.metadata.name }, target: { apiVersion: 'v1', kind: 'Node', name: target } }));
        return;
      }
      if (autoRun.has(ns) && (pod.status as Json)?.phase === 'Pending') await markRunning(pod);
    })().catch((err) => console.error('simulated node:', err));
  };
  pods.on({ add: act, update: (_o, p) => act(p) });
}

test.before(async () => {
  srv = await startServer();
  client = RestClient.fromKubeconfig(srv.kubeconfig, 'workloads-test');
  const mine = [daemonSetController, jobController, cronJobController, statefulSetController];
  if (!mine.every((f) => controllerFactories.includes(f))) {
    // Until the server runs these controllers, run them here under a lease of their own. A short
    // first retry delay keeps the failing-Job test brief; the rules are those of Kubernetes.
    manager = new ControllerManager(client, {
      leaseName: 'workloads-test-controllers',
      factories: [daemonSetController, jobControllerWith({ backoffBaseMs: 500 }), cronJobController, statefulSetController],
      leaseDurationSeconds: 15,
      retryPeriodSeconds: 1,
    });
    manager.start();
  }
  pods = new Informer(client, R.pods);
  simulateNodes();
  await pods.start();
  stopSim.push(() => pods.stop());
  for (const n of ['wl-node-a', 'wl-node-b']) await addNode(n);
  for (const ns of ['wl-ds', 'wl-job', 'wl-job-fail', 'wl-job-ttl', 'wl-cron', 'wl-sts']) {
    await client.create(resourcePath(R.namespaces), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
});

test.after.always(async () => {
  for (const s of stopSim) s();
  await manager?.stop();
  client?.close();
  await srv?.stop();
});

const podsIn = (ns: string) => pods.listNamespace(ns);
const container = { name: 'main', image: 'busybox:1.36', command: ['sh', '-c', 'true'] };

test('DaemonSet runs one pod per eligible node, also on a node that joins later, and rolls an update', async (t) => {
  autoRun.add('wl-ds');
  await addNode('wl-node-tainted', { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] });
  await client.create(resourcePath(R.daemonsets, 'wl-ds'), {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent' },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } },
    },
  });
  const onNodes = () => podsIn('wl-ds').filter((p) => !p.metadata.deletionTimestamp).map((p) => (p.spec as Json).nodeName ?? '?').sort();
  await waitFor('a daemon pod on each of the two untainted nodes', () => JSON.stringify(onNodes()) === JSON.stringify(['wl-node-a', 'wl-node-b']));
  const first = podsIn('wl-ds')[0];
  const ps = first.spec as Json;
  t.deepEqual(ps.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key, 'metadata.name');
  t.true((ps.tolerations as Json[]).some((x) => x.key === 'node.kubernetes.io/unreachable' && x.effect === 'NoExecute'));
  t.truthy(first.metadata.labels?.['controller-revision-hash']);

  await addNode('wl-node-c');
  await waitFor('a daemon pod on the node that joined', () => JSON.stringify(onNodes()) === JSON.stringify(['wl-node-a', 'wl-node-b', 'wl-node-c']));
  const ds = await waitFor('DaemonSet status', async () => {
    const d = await client.get(resourcePath(R.daemonsets, 'wl-ds', 'agent'));
    const s = d.status as Json;
    return s?.desiredNumberScheduled === 3 && s.numberReady === 3 && s.numberAvailable === 3 && s.observedGeneration === d.metadata.generation && d;
  });
  t.is((ds.status as Json).numberMisscheduled, 0);
  t.is((ds.status as Json).currentNumberScheduled, 3);

  // Rolling update, maxUnavailable 1: at no moment do two nodes lack an available pod.
  const oldHash = first.metadata.labels!['controller-revision-hash'];
  let worst = 0;
  const probe = () => {
    const live = podsIn('wl-ds').filter((p) => !p.metadata.deletionTimestamp && ((p.status as Json)?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True'));
    const covered = new Set(live.map((p) => (p.spec as Json).nodeName));
    worst = Math.max(worst, 3 - covered.size);
  };
  pods.on({ add: probe, update: probe, delete: probe });
  await client.patch(resourcePath(R.daemonsets, 'wl-ds', 'agent'), { spec: { template: { spec: { containers: [{ name: 'main', image: 'busybox:1.37' }] } } } }, 'strategic');
  await waitFor(
    'the rolling update to finish',
    async () => {
      const d = await client.get(resourcePath(R.daemonsets, 'wl-ds', 'agent'));
      const s = d.status as Json;
      const live = podsIn('wl-ds').filter((p) => !p.metadata.deletionTimestamp);
      return s?.observedGeneration === d.metadata.generation && s.updatedNumberScheduled === 3 && s.numberAvailable === 3 && live.length === 3 && live.every((p) => p.metadata.labels!['controller-revision-hash'] !== oldHash);
    },
    60_000,
  );
  t.true(worst <= 1, `nodes without an available daemon pod reached ${worst}`);
});

test('Job with completions 5 and parallelism 2 completes, never more than 2 active', async (t) => {
  await client.create(resourcePath(R.jobs, 'wl-job'), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'work' },
    spec: { completions: 5, parallelism: 2, template: { spec: { restartPolicy: 'Never', containers: [container] } } },
  });
  const active = () => podsIn('wl-job').filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes((p.status as Json)?.phase));
  const finished = new Set<string>();
  let peak = 0;
  const probe = () => (peak = Math.max(peak, active().length));
  pods.on({ add: probe, update: probe });
  for (let done = 0; done < 5; done++) {
    const want = Math.min(2, 5 - done);
    const running = await waitFor(`${want} active pods (after ${done} succeeded)`, () => {
      // This test's cache may not show its own last finish yet: leave out what it finished.
      const a = active().filter((p) => (p.spec as Json).nodeName && !finished.has(p.metadata.name!));
      return a.length === want && a;
    });
    const pod = running[0];
    t.is(pod.metadata.labels?.['batch.kubernetes.io/job-name'], 'work');
    t.is(pod.metadata.labels?.['job-name'], 'work');
    t.truthy(pod.metadata.labels?.['batch.kubernetes.io/controller-uid']);
    await markRunning(pod);
    await markFinished(pod, 0);
    finished.add(pod.metadata.name!);
  }
  const job = await waitFor('the Job to complete', async () => {
    const j = await client.get(resourcePath(R.jobs, 'wl-job', 'work'));
    return ((j.status as Json)?.conditions ?? []).some((c: Json) => c.type === 'Complete' && c.status === 'True') && j;
  });
  const st = job.status as Json;
  t.is(st.succeeded, 5);
  t.falsy(st.failed);
  t.truthy(st.startTime);
  t.truthy(st.completionTime);
  t.true(st.conditions.some((c: Json) => c.type === 'SuccessCriteriaMet' && c.status === 'True'));
  t.true(peak <= 2, `saw ${peak} active pods`);
  t.is(podsIn('wl-job').length, 5);
  const events = await client.get<{ items: Json[] }>(resourcePath(R.events, 'wl-job'));
  t.true(events.items.some((e) => e.reason === 'Completed' && e.involvedObject.name === 'work'));
  t.true(events.items.some((e) => e.reason === 'SuccessfulCreate' && e.involvedObject.name === 'work'));
});

test('a failing Job stops at backoffLimit with the Failed condition', async (t) => {
  await client.create(resourcePath(R.jobs, 'wl-job-fail'), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'crash' },
    spec: { backoffLimit: 1, template: { spec: { restartPolicy: 'Never', containers: [container] } } },
  });
  const failedSoFar = () => podsIn('wl-job-fail').filter((p) => (p.status as Json)?.phase === 'Failed').length;
  // backoffLimit 1: the first failure is retried, the second fails the Job.
  for (let i = 0; i < 2; i++) {
    const pod = await waitFor(`pod attempt ${i + 1}`, () => podsIn('wl-job-fail').find((p) => (p.spec as Json).nodeName && !p.metadata.deletionTimestamp && (p.status as Json)?.phase === 'Pending'), 60_000);
    await markRunning(pod);
    await markFinished(pod, 1);
    await waitFor('the failure to be seen', () => failedSoFar() === i + 1);
  }
  const job = await waitFor('the Job to fail', async () => {
    const j = await client.get(resourcePath(R.jobs, 'wl-job-fail', 'crash'));
    return ((j.status as Json)?.conditions ?? []).some((c: Json) => c.type === 'Failed' && c.status === 'True') && j;
  });
  const st = job.status as Json;
  const failedCond = st.conditions.find((c: Json) => c.type === 'Failed');
  t.is(failedCond.reason, 'BackoffLimitExceeded');
  t.is(st.failed, 2);
  t.falsy(st.active);
  t.falsy(st.completionTime);
  // Nothing runs and nothing new is started.
  t.is(podsIn('wl-job-fail').filter((p) => (p.status as Json)?.phase !== 'Failed').length, 0);
  const events = await client.get<{ items: Json[] }>(resourcePath(R.events, 'wl-job-fail'));
  t.true(events.items.some((e) => e.reason === 'BackoffLimitExceeded'));
});

test('a finished Job with ttlSecondsAfterFinished is deleted', async (t) => {
  await client.create(resourcePath(R.jobs, 'wl-job-ttl'), {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'brief' },
    spec: { ttlSecondsAfterFinished: 1, template: { spec: { restartPolicy: 'Never', containers: [container] } } },
  });
  const pod = await waitFor('the pod to be bound', () => podsIn('wl-job-ttl').find((p) => (p.spec as Json).nodeName));
  await markRunning(pod);
  await markFinished(pod, 0);
  await waitFor('the Job to complete', async () => {
    const j = await client.get(resourcePath(R.jobs, 'wl-job-ttl', 'brief'));
    return ((j.status as Json)?.conditions ?? []).some((c: Json) => c.type === 'Complete' && c.status === 'True');
  });
  await waitFor('the Job to be deleted', async () => {
    try {
      await client.get(resourcePath(R.jobs, 'wl-job-ttl', 'brief'));
      return false;
    } catch (e) {
      return e instanceof ApiError && e.code === 404;
    }
  });
  // Its pod follows through the garbage collector (background propagation).
  await waitFor('the pod to be collected', () => podsIn('wl-job-ttl').length === 0);
  t.pass();
});

test('CronJob */1 * * * * creates a Job within the minute', async (t) => {
  t.timeout(120_000);
  await client.create(resourcePath(R.cronjobs, 'wl-cron'), {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'tick' },
    spec: { schedule: '*/1 * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [container] } } } } },
  });
  const job = await waitFor(
    'a Job of the CronJob',
    async () => (await client.get<{ items: KObject[] }>(resourcePath(R.jobs, 'wl-cron'))).items.find((j) => j.metadata.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === 'tick')),
    75_000,
  );
  const scheduled = job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'];
  t.truthy(scheduled);
  t.is(job.metadata.name, `tick-${Math.floor(Date.parse(scheduled!) / 60000)}`);
  t.is(Date.parse(scheduled!) % 60000, 0);
  const cj = await waitFor('CronJob status', async () => {
    const c = await client.get(resourcePath(R.cronjobs, 'wl-cron', 'tick'));
    return (c.status as Json)?.lastScheduleTime && c;
  });
  t.is((cj.status as Json).lastScheduleTime, scheduled);
  t.true(((cj.status as Json).active ?? []).some((a: Json) => a.name === job.metadata.name));
});

test('StatefulSet creates web-0, web-1, web-2 in order, each after the previous is Ready', async (t) => {
  await client.create(resourcePath(R.services, 'wl-sts'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80 }] },
  });
  // The order pods appear in, and which were Ready at that moment.
  const seen: { name: string; readyBefore: string[] }[] = [];
  const readyNames = () => podsIn('wl-sts').filter((p) => ((p.status as Json)?.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True')).map((p) => p.metadata.name!);
  pods.on({ add: (p) => p.metadata.namespace === 'wl-sts' && seen.push({ name: p.metadata.name!, readyBefore: readyNames() }) });
  const gone: string[] = [];
  pods.on({ delete: (p) => p.metadata.namespace === 'wl-sts' && gone.push(p.metadata.name!) });
  await client.create(resourcePath(R.statefulsets, 'wl-sts'), {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web' },
    spec: {
      serviceName: 'web',
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'nginx:1.27' }] } },
      volumeClaimTemplates: [{ metadata: { name: 'www' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  });
  for (const name of ['web-0', 'web-1', 'web-2']) {
    const pod = await waitFor(`${name} to be bound`, () => {
      const p = pods.get(`wl-sts/${name}`);
      return p && (p.spec as Json).nodeName && p;
    });
    // Nothing further was created while this one is not Ready.
    t.is(seen[seen.length - 1].name, name);
    const spec = pod.spec as Json;
    t.is(spec.hostname, name);
    t.is(spec.subdomain, 'web');
    t.is(pod.metadata.labels?.['statefulset.kubernetes.io/pod-name'], name);
    t.is(pod.metadata.labels?.['apps.kubernetes.io/pod-index'], name.slice(4));
    t.deepEqual((spec.volumes as Json[]).find((v) => v.name === 'www')?.persistentVolumeClaim, { claimName: `www-${name}` });
    await client.get(resourcePath({ group: '', version: 'v1', resource: 'persistentvolumeclaims' }, 'wl-sts', `www-${name}`));
    await markRunning(pod);
  }
  t.deepEqual(
    seen.map((s) => s.name),
    ['web-0', 'web-1', 'web-2'],
  );
  t.deepEqual(seen[1].readyBefore, ['web-0']);
  t.deepEqual(seen[2].readyBefore.sort(), ['web-0', 'web-1']);
  const sts = await waitFor('StatefulSet status', async () => {
    const s = await client.get(resourcePath(R.statefulsets, 'wl-sts', 'web'));
    return (s.status as Json)?.readyReplicas === 3 && s;
  });
  const st = sts.status as Json;
  t.is(st.replicas, 3);
  t.is(st.availableReplicas, 3);
  t.is(st.updatedReplicas, 3);
  t.is(st.currentRevision, st.updateRevision);

  // Scale down removes the highest ordinal first.
  await client.patch(resourcePath(R.statefulsets, 'wl-sts', 'web'), { spec: { replicas: 1 } });
  await waitFor('scale down to one pod', () => podsIn('wl-sts').length === 1 && podsIn('wl-sts')[0].metadata.name === 'web-0');
  t.deepEqual(gone, ['web-2', 'web-1']);
});
