// Pods as real containers, driven by the real kubectl against `skiff server` with its node agent:
// a Deployment whose pods reach each other, exec/hostname/ps, an OOM kill, logs/exec -it/
// port-forward/cp, probes, init containers, volumes and env, graceful deletion with preStop, and
// the errors a user sees for a missing image or command. Needs root and the packages listed by
// realNodeMissing(); every pod, mount, link and table is gone after the file.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { registryMissing, skopeoPush, startTestRegistry } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';
import { cgroupDirs, readCgroupLayout, readMemoryLimit } from '../../kubelet/runtime/oci/cgroups.js';
import { containerCgroupPath } from '../../kubelet/runtime/oci/spec.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'skiff-e2e-pods-'));

async function pod(name: string, ns = 'default'): Promise<Json> {
  return JSON.parse(await c!.k(['get', 'pod', name, '-n', ns, '-o', 'json'])) as Json;
}

async function podsOf(selector: string): Promise<Json[]> {
  return (JSON.parse(await c!.k(['get', 'pods', '-l', selector, '-o', 'json'])) as Json).items as Json[];
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

if (missing) {
  test.skip(`real pods (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    mkdirSync(join(scratch, 'static'));
    c = await startRealCluster({ args: ['--pod-manifest-path', join(scratch, 'static')] });
  });
  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    rmSync(scratch, { recursive: true, force: true });
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('a 3-replica Deployment: pods Running with IPs, exec hostname and ps, pod to pod over HTTP', async (t) => {
    await apply(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
`);
    await c!.k(['rollout', 'status', 'deployment/web', '--timeout=120s'], { timeoutMs: 130_000 });
    const pods = await waitFor('3 web pods running with IPs', 60_000, async () => {
      const ps = await podsOf('app=web');
      return ps.length === 3 && ps.every((p) => p.status.phase === 'Running' && p.status.podIP) ? ps : undefined;
    });
    const ips = pods.map((p) => p.status.podIP as string);
    t.is(new Set(ips).size, 3);
    for (const p of pods) {
      t.like(p.status.podIPs?.[0], { ip: p.status.podIP });
      t.regex(p.status.containerStatuses[0].containerID, /^(crun|runc):\/\/[0-9a-f]{32}$/);
      t.true(p.status.conditions.some((x: Json) => x.type === 'Ready' && x.status === 'True'));
    }
    const [a, b] = pods as [Json, Json];
    t.is((await c!.k(['exec', a.metadata.name, '--', 'hostname'])).trim(), a.metadata.name);
    // Its own pid namespace: httpd as pid 1 and ps itself.
    const ps = (await c!.k(['exec', a.metadata.name, '--', 'ps', '-o', 'pid,comm'])).trim().split('\n').slice(1);
    t.deepEqual(ps.map((l) => l.trim().split(/\s+/)[1]).sort(), ['httpd', 'ps'], ps.join('\n'));
    const got = await c!.k(['exec', a.metadata.name, '--', 'wget', '-qO-', `http://${b.status.podIP}:8080/`]);
    t.is(got.trim(), `hello from ${b.metadata.name}`);
    const code = await c!.server.kubectl(['exec', a.metadata.name, '--', 'sh', '-c', 'exit 3']);
    t.is(code.code, 3);
  });

  test.serial('a 16Mi memory limit is in the cgroup; going over it is OOMKilled and restarted', async (t) => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hog
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 1; a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done"]
    resources: {limits: {memory: 16Mi}}
`);
    const first = await running('hog');
    const id = String(first.status.containerStatuses[0].containerID).replace(/^\w+:\/\//, '');
    const layout = readCgroupLayout();
    t.is(readMemoryLimit(layout, containerCgroupPath(first.metadata.uid, id)), 16 * 1024 * 1024);
    t.true(cgroupDirs(layout, containerCgroupPath(first.metadata.uid, id)).length > 0);
    const p = await waitFor('an OOM kill and a restart', 60_000, async () => {
      const x = await pod('hog');
      const cs = x.status.containerStatuses?.[0];
      return cs?.restartCount >= 1 && cs.lastState?.terminated?.reason === 'OOMKilled' ? x : undefined;
    });
    t.is(p.status.containerStatuses[0].lastState.terminated.exitCode, 137);
    const wide = await c!.k(['get', 'pod', 'hog']);
    t.regex(wide, /hog\s+\S+\s+\S+\s+[1-9]/, 'RESTARTS shows the restart');
    t.regex(await c!.k(['describe', 'pod', 'hog']), /Reason:\s+OOMKilled/);
    await c!.k(['delete', 'pod', 'hog', '--grace-period=1']);
  });

  test.serial('the OOM score follows the QoS class: BestEffort 1000, Burstable by its memory request, Guaranteed -997 (or the lowest the node may set)', async (t) => {
    const qosPod = (name: string, resources: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: main, image: busybox:latest, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"], resources: ${resources}}]
`;
    await c!.k(['apply', '-f', '-'], {
      input: [qosPod('qos-be', '{}'), qosPod('qos-bu', '{requests: {memory: 64Mi}}'), qosPod('qos-gu', '{limits: {memory: 32Mi, cpu: 100m}}')].join('---\n'),
    });
    const adj: Record<string, number> = {};
    for (const name of ['qos-be', 'qos-bu', 'qos-gu']) {
      await running(name).catch(async (e: Error) => {
        throw new Error(`${e.message}\n${await c!.k(['describe', 'pod', name]).catch((x: Error) => x.message)}`);
      });
      adj[name] = Number((await c!.k(['exec', name, '--', 'cat', '/proc/1/oom_score_adj'])).trim());
    }
    const { totalmem } = await import('node:os');
    t.is(adj['qos-be'], 1000);
    t.is(adj['qos-bu'], Math.max(3, Math.min(999, 1000 - Math.floor((1000 * 64 * 1024 * 1024) / totalmem()))));
    // Below its own value only with CAP_SYS_RESOURCE (missing where the node itself is in a container).
    const { lowestOomScoreAdj } = await import('../../kubelet/runtime/oci-pod-runtime.js');
    t.is(adj['qos-gu'], Math.max(-997, lowestOomScoreAdj()));
    t.log(`oom_score_adj: BestEffort ${adj['qos-be']}, Burstable (64Mi) ${adj['qos-bu']}, Guaranteed ${adj['qos-gu']}`);
    t.is((await pod('qos-gu')).status.qosClass, 'Guaranteed');
    await c!.k(['delete', 'pod', 'qos-be', 'qos-bu', 'qos-gu', '--grace-period=0']);
  });

  test.serial('logs -f and --previous, exec -it with a tty, port-forward and cp', async (t) => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo run; i=0; while [ $i -lt 3 ]; do echo tick $i; i=$((i+1)); sleep 0.3; done; exit 1"]
  - name: web
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo forwarded > /www/index.html && exec httpd -f -p 8081 -h /www"]
`);
    // The first run ends with 1 and is restarted: its output is then the previous log.
    await waitFor('a restart of main', 60_000, async () => (await pod('talker')).status.containerStatuses?.find((s: Json) => s.name === 'main')?.restartCount >= 1);
    const prev = await c!.k(['logs', 'talker', '-c', 'main', '--previous']);
    t.regex(prev, /run\ntick 0\ntick 1\ntick 2/);
    const tail = await c!.k(['logs', 'talker', '-c', 'main', '--previous', '--tail=1']);
    t.is(tail, 'tick 2\n');

    // -f streams until the container ends, then kubectl exits 0.
    await waitFor('main running again', 30_000, async () => (await pod('talker')).status.containerStatuses?.find((s: Json) => s.name === 'main')?.state?.running);
    const follow = await c!.server.kubectl(['logs', '-f', 'talker', '-c', 'main'], { timeoutMs: 30_000 });
    t.is(follow.code, 0, follow.stderr);
    t.regex(follow.stdout, /tick 2/);

    // exec -it, under `script` so that kubectl has a terminal.
    const tty = await runWithTty(`kubectl --kubeconfig ${c!.server.kubeconfig} exec -it talker -c web -- sh -c 'tty; echo in-tty'`);
    t.regex(tty, /\/dev\/pts\/\d+/);
    t.regex(tty, /in-tty/);

    // port-forward: a local port reaches the pod's port 8081.
    const pf = spawn('kubectl', ['--kubeconfig', c!.server.kubeconfig, 'port-forward', 'pod/talker', ':8081'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const port = await waitFor('port-forward to listen', 20_000, async () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      t.is(body.trim(), 'forwarded');
    } finally {
      pf.kill();
    }

    // cp both ways.
    const local = join(scratch, 'in.txt');
    writeFileSync(local, 'copied in\n');
    await c!.k(['cp', local, 'talker:/tmp/in.txt', '-c', 'web']);
    t.is(await c!.k(['exec', 'talker', '-c', 'web', '--', 'cat', '/tmp/in.txt']), 'copied in\n');
    const back = join(scratch, 'back.txt');
    await c!.k(['cp', 'talker:/tmp/in.txt', back, '-c', 'web']);
    t.is(readFileSync(back, 'utf8'), 'copied in\n');
    await c!.k(['delete', 'pod', 'talker', '--grace-period=1']);
  });

  test.serial('attach to a container with stdin twice (stdin stays open), and kubectl run -it --rm', async (t) => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: main, image: busybox:latest, imagePullPolicy: IfNotPresent, stdin: true, tty: true, command: ["sh"]}]
`);
    await running('shell');
    for (const n of [1, 2]) {
      // kubectl attach ends when the container does; this session is cut by the timeout once answered.
      const r = await c!.server.kubectl(['attach', '-i', 'shell'], { input: `echo round-${n}-$((40+${n}))\n`, timeoutMs: 6000 });
      t.regex(r.stdout, new RegExp(`round-${n}-${40 + n}`), `attach ${n}: ${r.stdout} ${r.stderr}`);
    }
    const run = await c!.server.kubectl(['run', 'oneshot', '-i', '--rm', '--restart=Never', '--image=busybox:latest', '--image-pull-policy=IfNotPresent', '--', 'sh'], { input: 'echo from-run-$((6*7))\nexit\n', timeoutMs: 60_000 });
    t.regex(run.stdout, /from-run-42/, run.stderr);
    t.regex(run.stdout + run.stderr, /pod "oneshot" deleted/);
    await c!.k(['delete', 'pod', 'shell', '--grace-period=0']);
  });

  test.serial('init containers first; configMap and secret volumes and env; readiness and liveness probes', async (t) => {
    await apply(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {color: blue, "app.conf": "level=debug\\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec:
  selector: {app: probed}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: probed, labels: {app: probed}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: init
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo from-init > /work/init.txt"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    env:
    - {name: COLOR, valueFrom: {configMapKeyRef: {name: cfg, key: color}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: sec, mountPath: /etc/sec, readOnly: true}
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
  volumes:
  - {name: work, emptyDir: {}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec}}
`);
    const p = await running('probed');
    t.is(p.status.initContainerStatuses[0].state.terminated.reason, 'Completed');
    t.is(await c!.k(['exec', 'probed', '--', 'cat', '/work/init.txt']), 'from-init\n');
    t.is(await c!.k(['exec', 'probed', '--', 'cat', '/etc/cfg/color']), 'blue');
    t.is(await c!.k(['exec', 'probed', '--', 'cat', '/etc/sec/password']), 'hunter2');
    t.is(await c!.k(['exec', 'probed', '--', 'sh', '-c', 'echo $COLOR $PASSWORD $MY_POD']), 'blue hunter2 probed\n');
    // Not ready until the readiness probe passes.
    t.is((await pod('probed')).status.containerStatuses[0].ready, false);
    await c!.k(['exec', 'probed', '--', 'touch', '/tmp/ready']);
    await waitFor('ready', 20_000, async () => (await pod('probed')).status.containerStatuses[0].ready === true);
    const endpoints = async () => JSON.parse(await c!.k(['get', 'endpoints', 'probed', '-o', 'json'])) as Json;
    await waitFor('the ready pod in the Service endpoints', 20_000, async () => (await endpoints()).subsets?.[0]?.addresses?.[0]?.ip === p.status.podIP);
    await c!.k(['exec', 'probed', '--', 'rm', '/tmp/ready']);
    await waitFor('not ready again', 20_000, async () => (await pod('probed')).status.containerStatuses[0].ready === false);
    await waitFor('out of the ready endpoints', 20_000, async () => {
      const s = (await endpoints()).subsets?.[0];
      return !s?.addresses?.length && s?.notReadyAddresses?.[0]?.ip === p.status.podIP;
    });
    // The liveness probe fails once /healthz is gone: the container is restarted.
    await c!.k(['exec', 'probed', '--', 'rm', '/www/healthz']);
    await waitFor('a liveness restart', 30_000, async () => (await pod('probed')).status.containerStatuses[0].restartCount >= 1);
    const events = await c!.k(['get', 'events', '--field-selector', 'involvedObject.name=probed', '-o', 'jsonpath={range .items[*]}{.reason}:{.message}{"\\n"}{end}']);
    t.regex(events, /Unhealthy:Liveness probe failed: HTTP probe failed with statuscode: 404/);
    t.regex(events, /Killing:Container main failed liveness probe, will be restarted/);
    await c!.k(['delete', 'pod', 'probed', '--grace-period=1']);
  });

  test.serial('deleting a pod runs preStop, then SIGTERM, then SIGKILL after the grace period', async (t) => {
    const dir = join(scratch, 'grace');
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo term >> /data/log' TERM; echo started >> /data/log; while true; do sleep 0.1; done"]
    lifecycle:
      preStop: {exec: {command: ["sh", "-c", "echo prestop >> /data/log"]}}
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - {name: data, hostPath: {path: ${dir}, type: DirectoryOrCreate}}
`);
    await running('graceful');
    await waitFor('the container to start', 10_000, async () => existsSync(join(dir, 'log')) && readFileSync(join(dir, 'log'), 'utf8').includes('started'));
    const t0 = Date.now();
    await c!.k(['delete', 'pod', 'graceful'], { timeoutMs: 60_000 });
    const took = Date.now() - t0;
    t.deepEqual(readFileSync(join(dir, 'log'), 'utf8').trim().split('\n'), ['started', 'prestop', 'term']);
    // The shell ignores SIGTERM (its trap only logs): only SIGKILL at the end of the grace period ends it.
    t.true(took >= 2500, `deletion took ${took} ms`);
  });

  test.serial('static pods: a manifest in the folder runs as a mirror pod, follows edits, comes back when deleted, goes with its file', async (t) => {
    const file = join(scratch, 'static', 'static-web.yaml');
    const manifest = (word: string) => `apiVersion: v1
kind: Pod
metadata: {name: static-web, labels: {app: static-web}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo ${word}; exec sleep 3600"]
`;
    const name = `static-web-${c!.nodeName}`;
    writeFileSync(file, manifest('first'));
    const first = await running(name);
    t.truthy(first.metadata.annotations['kubernetes.io/config.mirror']);
    t.is(first.spec.nodeName, c!.nodeName);
    t.regex(await c!.k(['logs', name]), /first/);
    writeFileSync(file, manifest('second'));
    await waitFor('the edited static pod', 60_000, async () => {
      const p = await pod(name).catch(() => undefined);
      return p && p.metadata.uid !== first.metadata.uid && p.status?.phase === 'Running' && /second/.test(await c!.k(['logs', name]));
    });
    const before = (await pod(name)).metadata.uid;
    await c!.k(['delete', 'pod', name, '--wait=false']);
    await waitFor('the mirror pod back', 60_000, async () => {
      const p = await pod(name).catch(() => undefined);
      return p && p.metadata.uid !== before && p.status?.phase === 'Running';
    });
    unlinkSync(file);
    await waitFor('the static pod gone with its file', 60_000, async () => !(await c!.k(['get', 'pods', '-o', 'name'])).includes(name));
    t.pass();
  });

  test.serial('an image pulled from a local registry (skopeo-pushed), by tag and by digest', async (t) => {
    const missingRegistry = registryMissing();
    if (missingRegistry) {
      t.log(`skipped: ${missingRegistry}`);
      t.pass();
      return;
    }
    const reg = await startTestRegistry(join(scratch, 'registry'));
    try {
      const digest = await skopeoPush(`oci:${join(c!.server.dataDir, 'busybox-oci')}:busybox:latest`, `docker://${reg.host}/e2e/bb:1`, join(scratch, 'digest'));
      t.regex(digest, /^sha256:[0-9a-f]{64}$/);
      const podYaml = (name: string, image: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: main, image: "${image}", command: ["sleep", "3600"]}]
`;
      await apply(podYaml('by-tag', `${reg.host}/e2e/bb:1`) + '---' + podYaml('by-digest', `${reg.host}/e2e/bb@${digest}`));
      const tagged = await running('by-tag');
      const pinned = await running('by-digest');
      t.is(tagged.status.containerStatuses[0].imageID.split('@')[1], digest);
      t.is(pinned.status.containerStatuses[0].imageID.split('@')[1], digest);
      const events = await c!.k(['get', 'events', '--field-selector', 'involvedObject.name=by-tag', '-o', 'jsonpath={range .items[*]}{.reason}:{.message}{"\\n"}{end}']);
      t.regex(events, /Pulling:Pulling image/);
      t.regex(events, /Pulled:Successfully pulled image/);
      await c!.k(['delete', 'pod', 'by-tag', 'by-digest', '--grace-period=0']);
    } finally {
      await reg.stop();
    }
  });

  test.serial('a missing image shows ErrImagePull then ImagePullBackOff; a missing command RunContainerError', async (t) => {
    await apply(`
apiVersion: v1
kind: Pod
metadata: {name: noimage}
spec:
  containers: [{name: main, image: "127.0.0.1:9/missing/image:1"}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  containers: [{name: main, image: "busybox:latest", imagePullPolicy: IfNotPresent, command: ["/no/such/binary"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: novolume}
spec:
  containers: [{name: main, image: "busybox:latest", imagePullPolicy: IfNotPresent, command: ["sleep", "3600"], volumeMounts: [{name: cfg, mountPath: /cfg}]}]
  volumes: [{name: cfg, configMap: {name: does-not-exist}}]
`);
    const seen = new Set<string>();
    await waitFor('ErrImagePull and ImagePullBackOff', 60_000, async () => {
      const r = (await pod('noimage')).status.containerStatuses?.[0]?.state?.waiting?.reason;
      if (r) seen.add(r);
      return seen.has('ErrImagePull') && seen.has('ImagePullBackOff');
    });
    t.pass();
    const cs = await waitFor('nocmd to fail to start', 60_000, async () => {
      const s = (await pod('nocmd')).status.containerStatuses?.[0];
      const reason = s?.state?.waiting?.reason ?? s?.lastState?.terminated?.reason;
      return reason && reason !== 'ContainerCreating' ? s : undefined;
    });
    t.regex(JSON.stringify(cs), /no\/such\/binary/);
    t.regex(await c!.k(['get', 'pod', 'noimage']), /ErrImagePull|ImagePullBackOff/);
    // A volume that cannot be mounted: FailedMount, and the pod waits in ContainerCreating.
    await waitFor('a FailedMount event', 30_000, async () => /FailedMount.*configmap "does-not-exist" not found/.test(await c!.k(['get', 'events', '--field-selector', 'involvedObject.name=novolume', '-o', 'jsonpath={range .items[*]}{.reason} {.message}{"\\n"}{end}'])));
    t.is((await pod('novolume')).status.containerStatuses?.[0]?.state?.waiting?.reason ?? 'ContainerCreating', 'ContainerCreating');
    await c!.k(['delete', 'pod', 'noimage', 'nocmd', 'novolume', '--grace-period=1']);
  });
}

/** Runs a shell command under `script`, which gives it a pseudo-terminal; resolves with its output. */
function runWithTty(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}
