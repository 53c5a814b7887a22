// Changes to running pods reach their containers, driven by the real kubectl against `skiff server`
// with its node agent: ConfigMap/Secret/projected/downwardAPI volumes follow edits (through the
// watches, well before the periodic resync), activeDeadlineSeconds fails a pod with
// DeadlineExceeded (also when patched onto a running one), and a new container image restarts the
// container with it, also across an agent restart. Needs root (see realNodeMissing()).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;
const tag = randomBytes(2).toString('hex');
/** well under the agent's 1 min periodic resync: a change seen sooner came through a watch */
const WATCH_MS = 20_000;

async function pod(name: string): Promise<Json> {
  return JSON.parse(await c!.k(['get', 'pod', name, '-o', 'json'])) as Json;
}

function apply(yaml: string): Promise<string> {
  return c!.k(['apply', '-f', '-'], { input: yaml });
}

async function running(name: string, ms = 60_000): Promise<Json> {
  return waitFor(`pod ${name} running`, ms, async () => {
    const p = await pod(name);
    return p.status?.phase === 'Running' && p.status.containerStatuses?.every((s: Json) => s.state?.running) ? p : undefined;
  });
}

async function cat(name: string, path: string): Promise<string> {
  return c!.k(['exec', name, '--', 'cat', path]);
}

async function events(name: string): Promise<string> {
  return c!.k(['get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}']);
}

if (missing) {
  test.skip(`pod updates (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    c = await startRealCluster();
  });
  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('ConfigMap, Secret, projected and downwardAPI volumes follow changes; subPath mounts do not', async (t) => {
    const cm = `pu-cm-${tag}`;
    const sec = `pu-sec-${tag}`;
    const name = `pu-vol-${tag}`;
    await apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: ${cm}}
data: {k: one}
---
apiVersion: v1
kind: Secret
metadata: {name: ${sec}}
stringData: {s: first}
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {stage: a}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
    - {name: proj, mountPath: /proj}
    - {name: dw, mountPath: /dw}
    - {name: cfg, mountPath: /sub/k, subPath: k}
  volumes:
  - {name: cfg, configMap: {name: ${cm}}}
  - {name: sec, secret: {secretName: ${sec}}}
  - name: proj
    projected:
      sources:
      - configMap: {name: ${cm}, items: [{key: k, path: cm-k}]}
      - secret: {name: ${sec}, items: [{key: s, path: sec-s}]}
      - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: dw
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: anns, fieldRef: {fieldPath: metadata.annotations}}]}
`);
    const before = await running(name);
    t.is(await cat(name, '/cfg/k'), 'one');
    t.is(await cat(name, '/sec/s'), 'first');
    t.is(await cat(name, '/proj/cm-k'), 'one');
    t.regex(await cat(name, '/dw/labels'), /stage="a"/);

    await c!.k(['patch', 'configmap', cm, '--type=merge', '-p', '{"data":{"k":"two"}}']);
    await waitFor('the ConfigMap change in the configMap and projected volumes', WATCH_MS, async () => (await cat(name, '/cfg/k')) === 'two' && (await cat(name, '/proj/cm-k')) === 'two');
    t.is(await cat(name, '/sub/k'), 'one', 'a subPath mount keeps what it had');

    await c!.k(['patch', 'secret', sec, '--type=merge', '-p', JSON.stringify({ data: { s: Buffer.from('second').toString('base64') } })]);
    await waitFor('the Secret change in the secret and projected volumes', WATCH_MS, async () => (await cat(name, '/sec/s')) === 'second' && (await cat(name, '/proj/sec-s')) === 'second');

    await c!.k(['label', 'pod', name, 'stage=b', '--overwrite']);
    await c!.k(['annotate', 'pod', name, 'note=hello']);
    await waitFor('the new label and annotation in the downwardAPI volumes', WATCH_MS, async () => {
      return /stage="b"/.test(await cat(name, '/dw/labels')) && /note="hello"/.test(await cat(name, '/dw/anns')) && /stage="b"/.test(await cat(name, '/proj/labels'));
    });

    // A ConfigMap that goes away: the volume keeps its last contents and the pod runs on, with an event.
    await c!.k(['delete', 'configmap', cm]);
    await waitFor('a FailedMount event for the deleted ConfigMap', WATCH_MS, async () => new RegExp(`FailedMount: MountVolume.SetUp failed for volume "(cfg|proj)" : configmap "${cm}" not found`).test(await events(name)));
    t.is(await cat(name, '/cfg/k'), 'two');
    const after = await pod(name);
    t.is(after.status.phase, 'Running');
    t.is(after.status.containerStatuses[0].containerID, before.status.containerStatuses[0].containerID, 'no container was restarted');
    t.is(after.status.containerStatuses[0].restartCount, 0);
    // It comes back: the volumes follow again.
    await apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: ${cm}}
data: {k: three}
`);
    await waitFor('the re-created ConfigMap in the volume', WATCH_MS, async () => (await cat(name, '/cfg/k')) === 'three');
    await c!.k(['delete', 'pod', name, '--grace-period=1']);
    await c!.k(['delete', 'configmap', cm]);
    await c!.k(['delete', 'secret', sec]);
  });

  test.serial('activeDeadlineSeconds: the pod fails with DeadlineExceeded, also when set on a running pod', async (t) => {
    const early = `pu-dl-${tag}`;
    const late = `pu-dl-late-${tag}`;
    const yaml = (name: string, deadline?: number) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Always
  ${deadline ? `activeDeadlineSeconds: ${deadline}` : ''}
  containers: [{name: main, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
`;
    await apply(yaml(early, 4) + '---' + yaml(late));
    const failed = async (name: string) =>
      waitFor(`${name} to fail with DeadlineExceeded`, 30_000, async () => {
        const p = await pod(name);
        return p.status?.phase === 'Failed' && p.status.containerStatuses?.[0]?.state?.terminated ? p : undefined;
      });
    const p = await failed(early);
    t.is(p.status.reason, 'DeadlineExceeded');
    t.is(p.status.message, 'Pod was active on the node longer than the specified deadline');
    t.is(p.status.containerStatuses[0].restartCount, 0, 'a stopped container is not restarted');
    const ran = Date.parse(p.status.containerStatuses[0].state.terminated.finishedAt) - Date.parse(p.status.startTime);
    t.true(ran >= 3000 && ran < 15_000, `ended ${ran} ms after its start`);
    t.regex(await events(early), /DeadlineExceeded: Pod was active on the node longer than the specified deadline/);

    await running(late);
    // The API lets the deadline be set and shortened, never lengthened or removed.
    await c!.k(['patch', 'pod', late, '-p', '{"spec":{"activeDeadlineSeconds":600}}']);
    const longer = await c!.server.kubectl(['patch', 'pod', late, '-p', '{"spec":{"activeDeadlineSeconds":700}}']);
    t.not(longer.code, 0);
    t.regex(longer.stderr, /must be less than or equal to previous value/);
    await c!.k(['patch', 'pod', late, '-p', '{"spec":{"activeDeadlineSeconds":2}}']);
    const q = await failed(late);
    t.is(q.status.reason, 'DeadlineExceeded');
    await c!.k(['delete', 'pod', early, late, '--grace-period=1']);
  });

  test.serial('a new image restarts the container with it; a missing one shows ErrImagePull; an agent restart restarts nothing', async (t) => {
    const name = `pu-img-${tag}`;
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers: [{name: main, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
`);
    const before = await running(name);
    const id0 = before.status.containerStatuses[0].containerID as string;
    // The same local image by its full name: a different definition, so a new container.
    const full = 'docker.io/library/busybox:latest';
    await c!.k(['set', 'image', `pod/${name}`, `main=${full}`]);
    const restarted = await waitFor('the container restarted with the new image', 30_000, async () => {
      const s = (await pod(name)).status.containerStatuses?.[0];
      return s?.state?.running && s.containerID !== id0 ? s : undefined;
    });
    t.is(restarted.image, full);
    t.is(restarted.restartCount, 1, 'restarted even with restartPolicy Never');
    t.truthy(restarted.lastState?.terminated);
    t.regex(await events(name), /Killing: Container main definition changed, will be restarted/);

    await c!.k(['set', 'image', `pod/${name}`, 'main=127.0.0.1:9/missing/image:1']);
    const seen = new Set<string>();
    await waitFor('ErrImagePull and ImagePullBackOff for the missing image', 60_000, async () => {
      const r = (await pod(name)).status.containerStatuses?.[0]?.state?.waiting?.reason;
      if (r) seen.add(r);
      return seen.has('ErrImagePull') && seen.has('ImagePullBackOff');
    });
    t.is((await pod(name)).status.containerStatuses[0].restartCount, 2);

    // Back to an image the node has: it runs again without waiting out the back-off.
    await c!.k(['set', 'image', `pod/${name}`, `main=${full}`]);
    const back = await running(name, 30_000);
    const id2 = back.status.containerStatuses[0].containerID as string;
    t.is(back.status.containerStatuses[0].restartCount, 2);

    // The agent comes back to a container started with the image it has now: nothing restarts.
    await c!.server.kill9();
    await c!.server.restart();
    await waitFor('the node Ready again', 60_000, async () => /True/.test(await c!.k(['get', 'node', c!.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])));
    // A fresh pod started after the restart shows the agent is syncing pods again.
    const probe = `pu-probe-${tag}`;
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: ${probe}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}]
`);
    await running(probe);
    const after = await running(name);
    t.is(after.status.containerStatuses[0].containerID, id2, 'the adopted container was kept');
    t.is(after.status.containerStatuses[0].restartCount, 2);
    t.is(after.status.containerStatuses[0].image, full);
    await c!.k(['delete', 'pod', name, probe, '--grace-period=1']);
  });
}
