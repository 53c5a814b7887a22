// Ephemeral containers on a real node, driven by the real kubectl: `kubectl debug --target` adds a
// container that sees the target's processes, reports ephemeralContainerStatuses, serves logs and
// exec, is never restarted, and may not be removed or given ports. Needs root and what
// realNodeMissing() lists; every pod, mount and namespace is gone after the file.
import test from 'ava';
import { spawn } from 'node:child_process';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';
import { apiClient } from '../helpers/api-client.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;

async function pod(name: string): Promise<Json> {
  return JSON.parse(await c!.k(['get', 'pod', name, '-o', 'json'])) as Json;
}

function ephemeralStatus(p: Json, name: string): Json | undefined {
  return ((p.status?.ephemeralContainerStatuses as Json[] | undefined) ?? []).find((s) => s.name === name);
}

if (missing) {
  test.skip(`ephemeral containers (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    c = await startRealCluster();
    await c.k(['apply', '-f', '-'], {
      input: `
apiVersion: v1
kind: Pod
metadata: {name: target}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exec sleep 7777"]
`,
    });
    await waitFor('pod target running', 60_000, async () => {
      const p = await pod('target');
      return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running;
    });
  });
  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('kubectl debug --target: the ephemeral container runs in the target process namespace, with status, logs and exec', async (t) => {
    await c!.k(['debug', 'target', '--image=busybox:latest', '--image-pull-policy=IfNotPresent', '--target=main', '-c', 'dbg', '--', 'sh', '-c', 'ps; sleep 3600']);
    const p = await waitFor('dbg running', 60_000, async () => {
      const p = await pod('target');
      return ephemeralStatus(p, 'dbg')?.state?.running ? p : undefined;
    });
    const st = ephemeralStatus(p, 'dbg')!;
    t.is(st.restartCount, 0);
    t.is(st.image, 'busybox:latest');
    t.regex(String(st.containerID), /^(crun|runc):\/\//);
    t.truthy(st.imageID);
    t.is(p.status.phase, 'Running');
    t.is(p.status.containerStatuses.length, 1, 'the ephemeral container is not a regular one');
    t.is(p.spec.ephemeralContainers[0].targetContainerName, 'main');
    const logs = await waitFor('ps output in the debug container log', 30_000, async () => {
      const out = await c!.k(['logs', 'target', '-c', 'dbg']);
      return /sleep 7777/.test(out) ? out : undefined;
    });
    t.regex(logs, /sleep 7777/, "ps shows the target's process");
    const exec = await c!.k(['exec', 'target', '-c', 'dbg', '--', 'sh', '-c', 'ps']);
    t.regex(exec, /sleep 7777/);
    t.regex(exec, /sleep 3600/);
    // The pod stays Ready: an ephemeral container is no part of readiness.
    t.is((p.status.conditions as Json[]).find((x) => x.type === 'Ready')?.status, 'True');
  });

  test.serial('an ephemeral container that ends is not restarted', async (t) => {
    await c!.k(['debug', 'target', '--image=busybox:latest', '--image-pull-policy=IfNotPresent', '-c', 'once', '--', 'sh', '-c', 'echo done; exit 3']);
    const p = await waitFor('once terminated', 60_000, async () => {
      const p = await pod('target');
      return ephemeralStatus(p, 'once')?.state?.terminated ? p : undefined;
    });
    const st = ephemeralStatus(p, 'once')!;
    t.is(st.state.terminated.exitCode, 3);
    t.is(st.restartCount, 0);
    t.is(p.status.phase, 'Running');
    t.regex(await c!.k(['logs', 'target', '-c', 'once']), /done/);
    // Another status round trip later it is still the same single run.
    await c!.k(['label', 'pod', 'target', 'poke=1']);
    const again = ephemeralStatus(await pod('target'), 'once')!;
    t.is(again.restartCount, 0);
    t.truthy(again.state.terminated);
  });

  test.serial('kubectl debug -i attaches to the ephemeral container', async (t) => {
    const r = await c!.server.kubectl(['debug', '-i', 'target', '--image=busybox:latest', '--image-pull-policy=IfNotPresent', '--target=main', '-c', 'inter', '--', 'sh'], {
      input: 'echo hi-from-$((6*7))\nps\nexit 5\n',
      timeoutMs: 60_000,
    });
    t.regex(r.stdout, /hi-from-42/, r.stderr);
    t.regex(r.stdout, /sleep 7777/);
    const st = await waitFor('inter terminated', 30_000, async () => ephemeralStatus(await pod('target'), 'inter')?.state?.terminated);
    t.is(st.exitCode, 5);
  });

  test.serial('kubectl debug -it gives the ephemeral container a terminal', async (t) => {
    const out = await runWithTty(
      `kubectl --kubeconfig ${c!.server.kubeconfig} debug -it target --image=busybox:latest --image-pull-policy=IfNotPresent --target=main -c term -- sh`,
      'tty; echo in-tty-$((3*3)); exit\n',
    );
    t.regex(out, /\/dev\/pts\/\d+/, out);
    t.regex(out, /in-tty-9/, out);
    const st = await waitFor('term terminated', 30_000, async () => ephemeralStatus(await pod('target'), 'term')?.state?.terminated);
    t.is(st.exitCode, 0);
  });

  test.serial('kubectl attach -i reaches an ephemeral container with stdin', async (t) => {
    const api = apiClient(c!.server.kubeconfig);
    try {
      const r = await api.request('PATCH', '/api/v1/namespaces/default/pods/target/ephemeralcontainers', {
        body: JSON.stringify({ spec: { ephemeralContainers: [{ name: 'att', image: 'busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sh'], stdin: true }] } }),
        contentType: 'application/strategic-merge-patch+json',
      });
      t.is(r.status, 200, r.text);
    } finally {
      api.close();
    }
    await waitFor('att running', 60_000, async () => ephemeralStatus(await pod('target'), 'att')?.state?.running);
    const a = await c!.server.kubectl(['attach', '-i', 'target', '-c', 'att'], { input: 'echo attached-$((2+3))\nexit 0\n', timeoutMs: 30_000 });
    t.regex(a.stdout, /attached-5/, a.stderr);
    const st = await waitFor('att terminated', 30_000, async () => ephemeralStatus(await pod('target'), 'att')?.state?.terminated);
    t.is(st.exitCode, 0);
  });

  test.serial('after an agent restart the running ephemeral container is adopted, not started again', async (t) => {
    const before = ephemeralStatus(await pod('target'), 'dbg')!;
    t.truthy(before.state.running);
    await c!.server.kill9();
    await c!.server.restart();
    await waitFor('the node Ready again', 60_000, async () => /True/.test(await c!.k(['get', 'node', c!.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])));
    // The agent reports the pod again once it has looked at its containers.
    const exec = await waitFor('exec into dbg after the restart', 30_000, async () => {
      const r = await c!.server.kubectl(['exec', 'target', '-c', 'dbg', '--', 'sh', '-c', 'ps']);
      return r.code === 0 ? r.stdout : undefined;
    });
    t.regex(exec, /sleep 7777/);
    const after = ephemeralStatus(await pod('target'), 'dbg')!;
    t.is(after.containerID, before.containerID, 'same container');
    t.is(after.restartCount, 0);
    t.is(after.state.running?.startedAt, before.state.running.startedAt);
    t.truthy(ephemeralStatus(await pod('target'), 'once')?.state?.terminated, 'an ended one stays ended');
    t.regex(await c!.k(['logs', 'target', '-c', 'dbg']), /sleep 7777/);
    // Only one ps ran in dbg's log: it was not started twice.
    t.is((await c!.k(['logs', 'target', '-c', 'dbg'])).split('\n').filter((l) => /PID/.test(l)).length, 1);
  });

  test.serial('removing or changing ephemeral containers and bad ones are refused with the field path', async (t) => {
    const api = apiClient(c!.server.kubeconfig);
    try {
      const path = '/api/v1/namespaces/default/pods/target/ephemeralcontainers';
      const patch = async (type: string, body: unknown) => {
        const r = await api.request('PATCH', path, { body: JSON.stringify(body), contentType: type });
        return { status: r.status, causes: ((r.json().details?.causes as Json[] | undefined) ?? []).map((x) => `${x.field}: ${x.message}`) };
      };
      const removal = await patch('application/json-patch+json', [{ op: 'remove', path: '/spec/ephemeralContainers/0' }]);
      t.is(removal.status, 422);
      t.deepEqual(removal.causes, ['spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed\n']);
      const change = await patch('application/json-patch+json', [{ op: 'replace', path: '/spec/ephemeralContainers/0/image', value: 'busybox:other' }]);
      t.is(change.status, 422);
      t.regex(change.causes.join('|'), /^spec\.ephemeralContainers\[dbg\]: Forbidden: existing ephemeral containers "dbg" may not be changed/);
      const ports = await patch('application/strategic-merge-patch+json', { spec: { ephemeralContainers: [{ name: 'bad', image: 'busybox:latest', ports: [{ containerPort: 80 }] }] } });
      t.is(ports.status, 422);
      t.true(ports.causes.includes('spec.ephemeralContainers[5].ports: Forbidden: cannot be set for an Ephemeral Container'), ports.causes.join('|'));
      const target = await patch('application/strategic-merge-patch+json', { spec: { ephemeralContainers: [{ name: 'lost', image: 'busybox:latest', targetContainerName: 'nope' }] } });
      t.is(target.status, 422);
      t.deepEqual(target.causes, ['spec.ephemeralContainers[5].targetContainerName: Not found: "nope"']);
      const clash = await patch('application/strategic-merge-patch+json', { spec: { ephemeralContainers: [{ name: 'main', image: 'busybox:latest' }] } });
      t.deepEqual(clash.causes, ['spec.ephemeralContainers[5].name: Duplicate value: "main"']);
      // A plain pod update may not touch them either.
      const plain = await api.request('PATCH', '/api/v1/namespaces/default/pods/target', { body: JSON.stringify([{ op: 'remove', path: '/spec/ephemeralContainers/0' }]), contentType: 'application/json-patch+json' });
      t.is(plain.status, 422);
      t.regex(plain.text, /pod updates may not change fields/);
      t.is((await pod('target')).spec.ephemeralContainers.length, 5);
      const disc = (JSON.parse(await c!.k(['get', '--raw', '/api/v1'])).resources as Json[]).find((r) => r.name === 'pods/ephemeralcontainers');
      t.deepEqual(disc?.verbs, ['get', 'patch', 'update']);
      // GET on the subresource is the pod.
      const got = (await api.request('GET', path)).json();
      t.is(got.kind, 'Pod');
      t.is(got.spec.ephemeralContainers.length, 5);
    } finally {
      api.close();
    }
  });

  test.serial('the ephemeral container stops with the pod', async (t) => {
    await c!.k(['delete', 'pod', 'target', '--grace-period=1', '--wait=true'], { timeoutMs: 60_000 });
    t.is((await c!.k(['get', 'pods', '-o', 'name'])).trim(), '');
  });
}

/** Runs a shell command under `script` (a pseudo-terminal for kubectl), typing input into it; resolves with its output. */
function runWithTty(command: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.stdin.write(input);
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}
