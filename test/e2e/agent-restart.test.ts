// Containers outlive the agent: kill -9 the process that runs the node agent (here `skiff server`,
// which runs it in-process) and the containers keep running; start it again and it finds them —
// same container IDs, no restart counted, statuses right — and new pods start. A pod deleted while
// the agent was down is cleaned up when it comes back. Needs root (see realNodeMissing()).
import test from 'ava';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;

async function pods(): Promise<Json[]> {
  return (JSON.parse(await c!.k(['get', 'pods', '-l', 'app=survivor', '-o', 'json'])) as Json).items as Json[];
}

const counter = (name: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: survivor}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"]
`;

if (missing) {
  test.skip(`agent restart (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    c = await startRealCluster();
  });
  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('kill -9 the agent: containers keep running; restarted, it carries on without restarting them', async (t) => {
    await c!.k(['apply', '-f', '-'], { input: counter('keep') + '---\n' + counter('gone') });
    const before = await waitFor('two running pods', 60_000, async () => {
      const ps = await pods();
      return ps.length === 2 && ps.every((p) => p.status.containerStatuses?.[0]?.state?.running) ? ps : undefined;
    });
    const ids = new Map(before.map((p) => [p.metadata.name as string, p.status.containerStatuses[0].containerID as string]));
    const count = async (name: string) => Number((await c!.k(['exec', name, '--', 'cat', '/tmp/count'])).trim());

    // Every change to the pods from here on, to check none of them flapped while the agent came back.
    const rv = (JSON.parse(await c!.k(['get', 'pods', '-l', 'app=survivor', '-o', 'json'])) as Json).metadata.resourceVersion as string;
    await c!.server.kill9();
    // With the agent and API server gone, the container is still counting: its cgroup has processes.
    const { execFileSync } = await import('node:child_process');
    const running = execFileSync('pgrep', ['-f', `conmon .*${c!.server.dataDir}`], { encoding: 'utf8' }).trim().split('\n').length;
    t.is(running, 2, 'both conmons survive');

    await c!.server.restart();
    // A pod deleted while the agent is back but forced away: remove "gone" with --force (no kubelet confirmation needed).
    await waitFor('the node Ready again', 60_000, async () => /True/.test(await c!.k(['get', 'node', c!.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])));
    const n1 = await count('keep');
    await waitFor('the counter to move on', 10_000, async () => (await count('keep')) > n1);
    const { spawn } = await import('node:child_process');
    const watch = spawn('kubectl', ['--kubeconfig', c!.server.kubeconfig, 'get', '--raw', `/api/v1/namespaces/default/pods?watch=1&labelSelector=app%3Dsurvivor&resourceVersion=${rv}&timeoutSeconds=3`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let events = '';
    watch.stdout.on('data', (d: Buffer) => (events += d.toString()));
    await new Promise((r) => watch.once('exit', r));
    const flaps = events
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json)
      .filter((e) => e.type === 'MODIFIED' && ['keep', 'gone'].includes(e.object.metadata.name))
      .map((e) => e.object.status?.containerStatuses?.[0])
      .filter((cs) => cs && (cs.ready !== true || !cs.state?.running));
    t.log(`${events.split('\n').filter(Boolean).length} pod events while the agent came back`);
    t.deepEqual(flaps, [], 'no pod went not-ready or not-running while the agent came back');
    const after = await pods();
    for (const p of after) {
      const cs = p.status.containerStatuses[0];
      t.is(cs.containerID, ids.get(p.metadata.name), `${p.metadata.name} keeps its container`);
      t.is(cs.restartCount, 0);
      t.truthy(cs.state.running);
      t.is(p.status.phase, 'Running');
    }
    // New pods start after the restart.
    await c!.k(['apply', '-f', '-'], { input: counter('fresh') });
    await waitFor('the new pod running', 60_000, async () => (await pods()).find((p) => p.metadata.name === 'fresh')?.status.containerStatuses?.[0]?.state?.running);
    t.pass();
  });
}
