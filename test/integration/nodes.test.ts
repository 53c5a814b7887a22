// Simulated nodes against a real server: registration and heartbeats, pod CIDRs, the pod
// lifecycle on a node, Endpoints and EndpointSlices, a node that goes silent (Unknown, unreachable
// taint, evictions) and comes back.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startServer, repoRoot, skiffBin, type TestServer } from '../helpers/server.js';
import { RestClient, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { ControllerManager } from '../../controllers/manager.js';
import { controllerFactories } from '../../controllers/index.js';
import { nodeLifecycleController } from '../../controllers/nodelifecycle/node-lifecycle.js';
import { nodeIpamController } from '../../controllers/nodeipam/node-ipam.js';
import { endpointsController } from '../../controllers/endpoints/endpoints-controller.js';
import { endpointSliceController } from '../../controllers/endpointslice/endpointslice-controller.js';
import { cidrContains } from '../../kubelet/network/pod-ips.js';
import type { KObject } from '../../pkg/api/types.js';
import { setRootLogger } from '../../pkg/log/logger.js';
import { pino } from 'pino';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;
let client: RestClient;
let manager: ControllerManager | undefined;
let sim: ChildProcess | undefined;
const simLog: string[] = [];
const PREFIX = 'it-node-';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
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
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}\nsimulator:\n${simLog.join('').slice(-3000)}`);
}

function simulateCommand(): string[] {
  // Once `simulate` is wired into the main command line use it; until then run the module itself.
  const probe = spawnSync(process.execPath, [skiffBin, 'simulate', '--help'], { encoding: 'utf8' });
  if (probe.status === 0 && /--nodes/.test(probe.stdout)) return [skiffBin, 'simulate'];
  return [join(repoRoot, 'dist', 'cmd', 'simulate.js')];
}

async function startSimulator(): Promise<void> {
  const args = [
    ...simulateCommand(),
    ...['--nodes', '3', '--kubeconfig', srv.kubeconfig, '--name-prefix', PREFIX],
    ...['--heartbeat-interval', '500ms', '--node-status-interval', '5s', '--sim-start-delay', '100ms', '--restart-backoff', '200ms'],
  ];
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' } });
  p.stdout!.on('data', (d: Buffer) => simLog.push(d.toString()));
  p.stderr!.on('data', (d: Buffer) => simLog.push(d.toString()));
  sim = p;
  await until('the simulator to register its nodes', async () => /3 simulated nodes registered/.test(simLog.join('')) || (p.exitCode !== null ? Promise.reject(new Error(`simulator exited ${p.exitCode}`)) : false));
}

async function stopSimulator(): Promise<void> {
  const p = sim;
  sim = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGKILL');
  await gone;
}

const node = (name: string) => client.get<KObject>(resourcePath(R.nodes, undefined, name));
const pod = (name: string) => client.get<KObject>(resourcePath(R.pods, 'default', name));
const ready = (n: KObject) => ((n.status as Json)?.conditions as Json[] | undefined)?.find((c) => c.type === 'Ready')?.status;
const taintKeys = (n: KObject) => (((n.spec as Json)?.taints as Json[] | undefined) ?? []).map((t) => `${t.key}:${t.effect}`).sort();

function podManifest(name: string, nodeName: string, extra: Json = {}): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'web' }, ...(extra.metadata ?? {}) },
    spec: {
      nodeName,
      restartPolicy: extra.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'c', image: 'busybox', ports: [{ name: 'http', containerPort: 8080 }], ...(extra.container ?? {}) }],
    },
  };
}

test.before(async () => {
  setRootLogger(pino({ level: process.env.SKIFF_LOG_LEVEL ?? 'warn', base: undefined }));
  srv = await startServer({ args: ['--node-monitor-grace-period', '3s', '--default-unreachable-toleration', '2s'] });
  client = RestClient.fromKubeconfig(srv.kubeconfig, 'nodes-test');
  const mine = [nodeLifecycleController, nodeIpamController, endpointsController, endpointSliceController];
  // The server runs them once they are wired into its controller list; until then, run them here.
  if (!mine.every((f) => controllerFactories.includes(f))) {
    manager = new ControllerManager(client, {
      leaseName: 'nodes-test-controllers',
      factories: mine,
      options: { nodeMonitorGracePeriodMs: 3000, defaultUnreachableTolerationSeconds: 2 },
    });
    manager.start();
  }
  await startSimulator();
});

test.after.always(async () => {
  await stopSimulator();
  await manager?.stop();
  client?.close();
  await srv?.stop();
});

test.serial('nodes register Ready with capacity, labels, a lease and a pod CIDR', async (t) => {
  await until('3 Ready nodes with pod CIDRs', async () => {
    const list = await client.get<{ items: KObject[] }>(resourcePath(R.nodes));
    const mine = list.items.filter((n) => n.metadata.name!.startsWith(PREFIX));
    return mine.length === 3 && mine.every((n) => ready(n) === 'True' && (n.spec as Json).podCIDR);
  });
  const out = await srv.kubectl(['get', 'nodes']);
  t.is(out.code, 0, out.stderr);
  for (let i = 0; i < 3; i++) t.regex(out.stdout, new RegExp(`${PREFIX}${i}\\s+Ready\\s+<none>\\s+\\S+\\s+v1.32.2-skiff`));
  const n = await node(`${PREFIX}0`);
  t.is(n.metadata.labels!['kubernetes.io/hostname'], `${PREFIX}0`);
  t.is(n.metadata.labels!['kubernetes.io/os'], 'linux');
  t.is(n.metadata.labels!['kubernetes.io/arch'], 'amd64');
  const st = n.status as Json;
  t.like(st.capacity, { cpu: '8', memory: '32Gi', pods: '110' });
  t.truthy(st.allocatable['ephemeral-storage']);
  t.is(st.nodeInfo.containerRuntimeVersion, 'simulated://0.1');
  t.deepEqual(st.conditions.map((c: Json) => c.type).sort(), ['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
  t.true(st.addresses.some((a: Json) => a.type === 'InternalIP') && st.addresses.some((a: Json) => a.type === 'Hostname'));
  t.regex((n.spec as Json).podCIDR, /^10\.42\.\d+\.0\/24$/);
  t.deepEqual((n.spec as Json).podCIDRs, [(n.spec as Json).podCIDR]);
  const cidrs = new Set<string>();
  for (let i = 0; i < 3; i++) cidrs.add(((await node(`${PREFIX}${i}`)).spec as Json).podCIDR);
  t.is(cidrs.size, 3, 'every node has its own pod CIDR');
  const lease = await client.get<KObject>(resourcePath(R.leases, 'kube-node-lease', `${PREFIX}0`));
  const first = (lease.spec as Json).renewTime;
  t.is((lease.spec as Json).holderIdentity, `${PREFIX}0`);
  await until('the lease to be renewed', async () => ((await client.get<KObject>(resourcePath(R.leases, 'kube-node-lease', `${PREFIX}0`))).spec as Json).renewTime !== first);
});

test.serial('a pod bound to a node goes Pending → Running with an IP from the node CIDR; Endpoints and EndpointSlice follow', async (t) => {
  await client.create(resourcePath(R.pods, 'default'), podManifest('web-1', `${PREFIX}1`, { container: { readinessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 1 } } }));
  const running = await until('web-1 Running', async () => {
    const p = await pod('web-1');
    return (p.status as Json).phase === 'Running' && p;
  });
  const st = running.status as Json;
  const cidr = ((await node(`${PREFIX}1`)).spec as Json).podCIDR;
  t.true(cidrContains(cidr, st.podIP), `${st.podIP} in ${cidr}`);
  t.deepEqual(st.podIPs, [{ ip: st.podIP }]);
  t.is(st.hostIP, ((await node(`${PREFIX}1`)).status as Json).addresses[0].address);
  t.truthy(st.startTime);
  t.truthy(st.qosClass);
  t.truthy(st.containerStatuses[0].state.running.startedAt);
  for (const c of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) t.true(st.conditions.some((x: Json) => x.type === c && x.lastTransitionTime), c);
  // The readiness probe's initial delay holds readiness back, then it comes.
  const readyPod = await until('web-1 ready', async () => {
    const p = await pod('web-1');
    return (p.status as Json).containerStatuses?.[0]?.ready === true && p;
  });
  t.true((readyPod.status as Json).conditions.some((c: Json) => c.type === 'Ready' && c.status === 'True'));
  const out = await srv.kubectl(['get', 'pod', 'web-1', '-o', 'wide']);
  t.regex(out.stdout, /web-1\s+1\/1\s+Running\s+0/);

  await client.create(resourcePath(R.services, 'default'), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', labels: { tier: 'front' } },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  });
  const ep = await until('Endpoints with the pod', async () => {
    const e = await client.get<KObject>(resourcePath(R.endpoints, 'default', 'web'));
    return (e.subsets as Json[] | undefined)?.[0]?.addresses?.length === 1 && e;
  });
  const subset = (ep.subsets as Json[])[0]!;
  t.like(subset.addresses[0], { ip: st.podIP, nodeName: `${PREFIX}1`, targetRef: { kind: 'Pod', name: 'web-1', namespace: 'default' } });
  t.deepEqual(subset.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const slices = await until('an EndpointSlice with the pod', async () => {
    const l = await client.get<{ items: KObject[] }>(resourcePath(R.endpointslices, 'default'), { labelSelector: 'kubernetes.io/service-name=web' });
    return l.items.length === 1 && (l.items[0]!.endpoints as Json[]).length === 1 && l.items;
  });
  const slice = slices[0]!;
  t.is(slice.addressType, 'IPv4');
  t.is(slice.metadata.labels!['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  t.is(slice.metadata.labels!['tier'], 'front');
  t.like(slice.metadata.ownerReferences![0], { kind: 'Service', name: 'web', controller: true });
  t.like((slice.endpoints as Json[])[0], { addresses: [st.podIP], conditions: { ready: true, serving: true, terminating: false }, nodeName: `${PREFIX}1` });
  t.deepEqual(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  const kget = await srv.kubectl(['get', 'endpoints', 'web']);
  t.regex(kget.stdout, new RegExp(`web\\s+${st.podIP.replace(/\./g, '\\.')}:8080`));

  // A second pod that never gets ready shows under notReadyAddresses.
  await client.create(resourcePath(R.pods, 'default'), podManifest('web-2', `${PREFIX}2`, { container: { readinessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 3600 } } }));
  const ep2 = await until('web-2 under notReadyAddresses', async () => {
    const e = await client.get<KObject>(resourcePath(R.endpoints, 'default', 'web'));
    return (e.subsets as Json[] | undefined)?.[0]?.notReadyAddresses?.length === 1 && e;
  });
  t.is((ep2.subsets as Json[])[0].notReadyAddresses[0].targetRef.name, 'web-2');
});

test.serial('containers that exit: Succeeded, Failed, and CrashLoopBackOff under restartPolicy Always', async (t) => {
  const ann = (s: string, code: string) => ({ metadata: { annotations: { 'sim.skiff.dev/run-seconds': s, 'sim.skiff.dev/exit-code': code }, labels: { app: 'job' } } });
  await client.create(resourcePath(R.pods, 'default'), podManifest('job-ok', `${PREFIX}0`, { restartPolicy: 'Never', ...ann('0.3', '0') }));
  await client.create(resourcePath(R.pods, 'default'), podManifest('job-fail', `${PREFIX}0`, { restartPolicy: 'Never', ...ann('0.3', '3') }));
  await client.create(resourcePath(R.pods, 'default'), podManifest('crasher', `${PREFIX}0`, { restartPolicy: 'Always', ...ann('0.2', '1') }));
  const ok = await until('job-ok Succeeded', async () => ((await pod('job-ok')).status as Json).phase === 'Succeeded' && pod('job-ok'));
  t.like((ok.status as Json).containerStatuses[0].state.terminated, { exitCode: 0, reason: 'Completed' });
  const failed = await until('job-fail Failed', async () => ((await pod('job-fail')).status as Json).phase === 'Failed' && pod('job-fail'));
  t.like((failed.status as Json).containerStatuses[0].state.terminated, { exitCode: 3, reason: 'Error' });
  const crash = await until('crasher restarting', async () => {
    const p = await pod('crasher');
    const cs = (p.status as Json).containerStatuses?.[0];
    return cs && cs.restartCount >= 2 && p;
  });
  const cs = (crash.status as Json).containerStatuses[0];
  t.is((crash.status as Json).phase, 'Running');
  t.like(cs.lastState.terminated, { exitCode: 1, reason: 'Error' });
  const out = await until('kubectl to show CrashLoopBackOff', async () => {
    const r = await srv.kubectl(['get', 'pod', 'crasher']);
    return /CrashLoopBackOff/.test(r.stdout) && r.stdout;
  });
  t.regex(out, /crasher\s+0\/1\s+CrashLoopBackOff/);
  await client.delete(resourcePath(R.pods, 'default', 'crasher'), { gracePeriodSeconds: 0 });
});

test.serial('graceful deletion is confirmed by the node agent', async (t) => {
  await client.create(resourcePath(R.pods, 'default'), podManifest('short', `${PREFIX}2`, { metadata: { labels: { app: 'other' } } }));
  await until('short Running', async () => ((await pod('short')).status as Json).phase === 'Running');
  const r = await srv.kubectl(['delete', 'pod', 'short', '--wait=true', '--timeout=20s']);
  t.is(r.code, 0, r.stderr);
  await t.throwsAsync(pod('short'), { message: /not found/ });
});

test.serial('a silent node goes Unknown with the unreachable taint, its pods are evicted, and it comes back Ready', async (t) => {
  const before = await pod('web-1');
  await stopSimulator();
  const n = await until(
    'nodes Unknown and tainted',
    async () => {
      const x = await node(`${PREFIX}1`);
      return ready(x) === 'Unknown' && taintKeys(x).length === 2 && x;
    },
    15_000,
  );
  t.deepEqual(taintKeys(n), ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
  const cond = ((n.status as Json).conditions as Json[]).find((c) => c.type === 'Ready')!;
  t.is(cond.reason, 'NodeStatusUnknown');
  t.is(cond.message, 'Kubelet stopped posting node status.');
  const out = await srv.kubectl(['get', 'node', `${PREFIX}1`]);
  t.regex(out.stdout, /NotReady/);
  // No toleration: the default (2 s here) applies, then the pod is deleted.
  await until('web-1 evicted', async () => {
    try {
      const p = await pod('web-1');
      return p.metadata.uid !== before.metadata.uid;
    } catch (e) {
      return /not found/.test((e as Error).message);
    }
  }, 15_000);
  const events = await srv.kubectl(['get', 'events', '--field-selector', 'reason=TaintManagerEviction', '-o', 'name']);
  t.not(events.stdout.trim(), '');
  // The Endpoints no longer list the evicted pod.
  await until('Endpoints without web-1', async () => {
    const e = await client.get<KObject>(resourcePath(R.endpoints, 'default', 'web'));
    return !JSON.stringify(e.subsets ?? []).includes('"web-1"');
  });

  await startSimulator();
  const back = await until(
    'nodes Ready again without taints',
    async () => {
      const x = await node(`${PREFIX}1`);
      return ready(x) === 'True' && taintKeys(x).length === 0 && x;
    },
    15_000,
  );
  t.is(ready(back), 'True');
  t.is(((back.spec as Json).podCIDR), (n.spec as Json).podCIDR, 'the node keeps its pod CIDR');
});
