// Several `skiff server` processes on one 3-node NATS JetStream cluster (DESIGN §5): a write
// through one is seen by a watch through the other; the controllers and scheduler run on whichever
// server holds their Lease, and the other takes over within 15 s when that server dies; NATS node
// failures under a stream of writes through the API lose nothing acknowledged.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { startServer, skiffBin, type TestServer } from '../helpers/server.js';
import { natsServerAvailable, startNats, streamLeader, type NatsCluster } from '../helpers/nats.js';
import { apiClient, type ApiClient } from '../helpers/api-client.js';

async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const deployment = (name: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec: {containers: [{name: c, image: nginx}]}
`;

if (!natsServerAvailable()) {
  test('multi-server: nats-server is not installed (apt-get install nats-server)', (t) => {
    t.fail('nats-server binary not found on PATH');
  });
} else {
  let nats: NatsCluster;
  const servers: TestServer[] = [];
  const procs: ChildProcess[] = [];

  test.before(async () => {
    nats = await startNats({ nodes: 3 });
    const storage = `--storage=nats://${nats.urls.replace(/nats:\/\//g, '')}`;
    const env = { SKIFF_LOG_LEVEL: 'info' };
    // One after the other, so both bootstrap paths (the first creates, the second finds) run.
    servers.push(await startServer({ args: [storage, '--log-level', 'info'], env }));
    servers.push(await startServer({ args: [storage, '--log-level', 'info'], env }));
  });

  test.after.always(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const s of servers) await s.stop().catch(() => {});
    await nats?.stop();
  });

  async function holder(srv: TestServer, lease: string): Promise<string | undefined> {
    const r = await srv.kubectl(['get', 'lease', lease, '-n', 'kube-system', '-o', 'jsonpath={.spec.holderIdentity}']);
    return r.code === 0 && r.stdout ? r.stdout : undefined;
  }

  test.serial('kubectl apply through one server shows up in kubectl get -w through the other', async (t) => {
    const [a, b] = servers as [TestServer, TestServer];
    const sentinel = await b.kubectl(['create', 'configmap', 'sentinel', '-n', 'default']);
    t.is(sentinel.code, 0, sentinel.stderr);
    const watch = spawn('kubectl', ['--kubeconfig', b.kubeconfig, 'get', 'configmaps', '-n', 'default', '-w', '--output-watch-events', '-o', 'name'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(watch);
    let out = '';
    watch.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    watch.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // The watch is established once it has listed the objects that exist (the sentinel).
    await until('the watch to start', 20_000, () => /configmap\/sentinel/.test(out));
    const started = Date.now();
    const r = await a.kubectl(['apply', '-f', '-'], { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: through-a, namespace: default}\ndata: {k: v}\n' });
    t.is(r.code, 0, r.stderr);
    await until('the watch on b to see the ConfigMap created through a', 20_000, () => /configmap\/through-a/.test(out)).catch((e: Error) => {
      throw new Error(`${e.message}; kubectl get -w printed:\n${out}`);
    });
    t.log(`seen through the other server ${Date.now() - started} ms after kubectl apply started`);
    watch.kill('SIGTERM');
    const got = await b.kubectl(['get', 'configmap', 'through-a', '-o', 'jsonpath={.data.k}']);
    t.is(got.stdout, 'v');
  });

  test.serial('consistent reads: a write acknowledged by one server is seen at once by a get and a list through the other', async (t) => {
    const [a, b] = servers as [TestServer, TestServer];
    const ca = apiClient(a.kubeconfig);
    const cb = apiClient(b.kubeconfig);
    for (let i = 0; i < 20; i++) {
      const name = `consistent-${i}`;
      const created = await ca.request('POST', '/api/v1/namespaces/default/configmaps', { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } }), contentType: 'application/json' });
      t.is(created.status, 201, created.text);
      const got = await cb.request('GET', `/api/v1/namespaces/default/configmaps/${name}`);
      t.is(got.status, 200, `get ${name} through the other server right after the create: ${got.text}`);
      const listed = await cb.request('GET', '/api/v1/namespaces/default/configmaps');
      t.true((listed.json().items as { metadata: { name: string } }[]).some((c) => c.metadata.name === name), `list through the other server has ${name}`);
      const patched = await ca.request('PATCH', `/api/v1/namespaces/default/configmaps/${name}`, { body: JSON.stringify({ data: { i: 'changed' } }), contentType: 'application/merge-patch+json' });
      t.is(patched.status, 200, patched.text);
      const after = await cb.request('GET', `/api/v1/namespaces/default/configmaps/${name}`);
      t.is(after.json().data.i, 'changed', 'the update is seen through the other server at once');
    }
    // Racing replaces through both servers: the loser's message takes a revision without an event.
    // A consistent read must not wait for an event that never comes.
    let slowest = 0;
    for (let i = 0; i < 10; i++) {
      const path = '/api/v1/namespaces/default/configmaps/consistent-0';
      const cur = (await ca.request('GET', path)).json();
      const put = (c: typeof ca, v: string) => c.request('PUT', path, { body: JSON.stringify({ ...cur, data: { i: v } }), contentType: 'application/json' });
      const codes = (await Promise.all([put(ca, `a${i}`), put(cb, `b${i}`)])).map((r) => r.status).sort();
      t.true(codes[0] === 200 && (codes[1] === 409 || codes[1] === 200), `codes ${codes.join(',')}`);
      const t0 = Date.now();
      t.is((await cb.request('GET', path)).status, 200);
      slowest = Math.max(slowest, Date.now() - t0);
    }
    t.log(`slowest consistent get after racing writes: ${slowest} ms`);
    t.true(slowest < 1500, `a consistent get took ${slowest} ms`);
    // A pod created through one server right after its namespace was created through the other:
    // the namespace and its default ServiceAccount are there for admission.
    for (let i = 0; i < 5; i++) {
      const ns = `consistent-ns-${i}`;
      const made = await ca.request('POST', '/api/v1/namespaces', { body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }), contentType: 'application/json' });
      t.is(made.status, 201, made.text);
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
      const r = await cb.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: JSON.stringify(pod), contentType: 'application/json' });
      t.is(r.status, 201, `pod in ${ns} through the other server: ${r.text}`);
      t.is(r.json().spec.serviceAccountName, 'default');
    }
  });

  test.serial('one controller manager leads across both servers; a Deployment converges; killing the leader hands over within 15 s', async (t) => {
    const [a, b] = servers as [TestServer, TestServer];
    const cm = await until('a controller-manager lease holder', 30_000, () => holder(a, 'kube-controller-manager'));
    t.is(await holder(b, 'kube-controller-manager'), cm, 'both servers see the same holder');
    const sched = await until('a scheduler lease holder', 30_000, () => holder(b, 'kube-scheduler'));
    const leaderIdx = await leaderServer(t.log, cm);
    const leader = servers[leaderIdx]!;
    const survivor = servers[1 - leaderIdx]!;

    // The simulated nodes talk to the server that will survive.
    const sim = spawn(process.execPath, [skiffBin, 'simulate', '--nodes', '2', '--kubeconfig', survivor.kubeconfig, '--name-prefix', 'ms-', '--heartbeat-interval', '1s', '--sim-start-delay', '50ms'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(sim);
    let simLog = '';
    sim.stdout!.on('data', (d: Buffer) => (simLog += d.toString()));
    sim.stderr!.on('data', (d: Buffer) => (simLog += d.toString()));

    const r = await leader.kubectl(['apply', '-f', '-'], { input: deployment('web', 3) });
    t.is(r.code, 0, r.stderr);
    const ready = async (srv: TestServer, name: string, n: number) => {
      const res = await srv.kubectl(['get', 'deployment', name, '-o', 'jsonpath={.status.readyReplicas}']);
      return res.code === 0 && Number(res.stdout) === n;
    };
    await until('web to have 3 ready replicas', 60_000, () => ready(survivor, 'web', 3)).catch((e: Error) => {
      throw new Error(`${e.message}\nsimulator:\n${simLog.slice(-2000)}`);
    });
    const pods = await survivor.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].spec.nodeName}']);
    t.regex(pods.stdout, /ms-/, 'pods are scheduled onto the simulated nodes');

    const killedAt = Date.now();
    await leader.kill9();
    const next = await until('the other server to take the controller lease', 30_000, async () => {
      const h = await holder(survivor, 'kube-controller-manager');
      return h && h !== cm ? h : undefined;
    });
    const took = Date.now() - killedAt;
    t.log(`controller lease ${cm} -> ${next} in ${took} ms (scheduler lease was ${sched})`);
    t.true(took <= 15_000, `takeover took ${took} ms`);
    // The cluster keeps converging through the survivor.
    const scale = await survivor.kubectl(['scale', 'deployment', 'web', '--replicas', '5']);
    t.is(scale.code, 0, scale.stderr);
    await until('web to have 5 ready replicas after the takeover', 60_000, () => ready(survivor, 'web', 5));
    sim.kill('SIGTERM');
    await leader.restart();
  });

  test.serial('NATS nodes failing under 1,000 writes through the API: nothing acknowledged is lost; without quorum 503, reads go on', async (t) => {
    const [a, b] = servers as [TestServer, TestServer];
    const ca: ApiClient = apiClient(a.kubeconfig);
    const cb: ApiClient = apiClient(b.kubeconfig);
    t.teardown(() => {
      ca.close();
      cb.close();
    });
    const ns = await ca.request('POST', '/api/v1/namespaces', { body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'flood' } }) });
    t.is(ns.status, 201, ns.text);
    const watch = await cb.watch('/api/v1/namespaces/flood/configmaps?watch=true');
    t.teardown(() => watch.close());

    const acked = new Map<string, string>();
    let retried503 = 0;
    const create = async (name: string, deadline: number): Promise<void> => {
      for (;;) {
        const r = await ca.request('POST', '/api/v1/namespaces/flood/configmaps', {
          body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { n: name } }),
          timeoutMs: 30_000,
        });
        if (r.status === 201) {
          acked.set(name, r.json().metadata.uid);
          return;
        }
        if (r.status === 409 && retried503 > 0) {
          // An attempt answered 503 may still have landed (its outcome was unknown).
          const g = await ca.request('GET', `/api/v1/namespaces/flood/configmaps/${name}`);
          if (g.status === 200) {
            acked.set(name, g.json().metadata.uid);
            return;
          }
        }
        if (r.status !== 503 || Date.now() > deadline) throw new Error(`create ${name}: ${r.status} ${r.text}`);
        retried503++;
      }
    };
    const writeRange = async (from: number, to: number, onProgress?: (done: number) => Promise<void>) => {
      for (let i = from; i < to; i += 10) {
        await Promise.all(Array.from({ length: Math.min(10, to - i) }, (_, j) => create(`cm-${String(i + j).padStart(5, '0')}`, Date.now() + 60_000)));
        await onProgress?.(i + 10 - from);
      }
    };

    let killed = -1;
    const started = Date.now();
    await writeRange(0, 1000, async (done) => {
      if (killed < 0 && done >= 300) {
        killed = await streamLeader(nats, 'SKIFF');
        await nats.kill(killed);
      }
    });
    t.log(`1,000 creates through the API in ${Date.now() - started} ms; NATS node ${killed} (the stream leader) killed after 300; ${retried503} answered 503 and were retried`);
    t.is(acked.size, 1000);
    // The other server's cache follows the stream; it may trail the last writes for a moment.
    const items = await until('the other server to list all 1,000', 30_000, async () => {
      const r = await cb.request('GET', '/api/v1/namespaces/flood/configmaps');
      // Every namespace also holds kube-root-ca.crt, as in Kubernetes: count only what the test wrote.
      const got = r.status === 200 ? (r.json().items as { metadata: { name: string; uid: string } }[]).filter((i) => i.metadata.name.startsWith('cm-')) : [];
      return got.length >= 1000 ? got : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\nserver b log:\n${b.output().slice(-4000)}`);
    });
    t.is(items.length, 1000);
    for (const it of items) t.is(acked.get(it.metadata.name), it.metadata.uid);

    await nats.restart(killed);
    await streamLeader(nats, 'SKIFF');
    await nats.kill(0);
    await nats.kill(1);
    const outageStart = Date.now();
    const refused = await ca.request('POST', '/api/v1/namespaces/flood/configmaps', {
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-outage' } }),
      timeoutMs: 60_000,
    });
    t.is(refused.status, 503, refused.text);
    t.regex(refused.json().message, /unavailable/i);
    t.log(`without quorum: ${refused.status} after ${Date.now() - outageStart} ms: ${refused.json().message}`);
    const cached = await cb.request('GET', '/api/v1/namespaces/flood/configmaps');
    t.is(cached.status, 200, 'reads from the watch cache go on');
    t.true((cached.json().items as unknown[]).length >= 1000);

    await nats.restart(0);
    await nats.restart(1);
    await writeRange(1000, 1100);
    // Server B follows the stream on its own; like above, let it catch up with A's last writes.
    const names = await until('the other server to list all 1,100', 30_000, async () => {
      const r = await cb.request('GET', '/api/v1/namespaces/flood/configmaps');
      const got = r.status === 200 ? (r.json().items as { metadata: { name: string } }[]).map((i) => i.metadata.name).filter((n) => n !== 'during-outage' && n !== 'kube-root-ca.crt') : [];
      return got.length >= 1100 ? got : undefined;
    });
    t.is(names.length, 1100);
    t.is(new Set(names).size, 1100);
    for (const name of acked.keys()) t.true(names.includes(name), name);
    await waitForCount(watch, 1100);
    const added = watch.events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name as string);
    t.is(new Set(added).size, added.length, 'no object is added twice on the watch');
  });

  async function waitForCount(w: { events: { type: string }[] }, n: number): Promise<void> {
    await until(`${n} ADDED events`, 30_000, () => w.events.filter((e) => e.type === 'ADDED').length >= n);
  }

  /** The index of the server whose controller manager holds the lease (its log names the identity). */
  async function leaderServer(log: (s: string) => void, identity: string): Promise<number> {
    const i = servers.findIndex((s) => s.output().includes(identity));
    if (i < 0) {
      log(servers.map((s) => s.output().slice(-1500)).join('\n----\n'));
      throw new Error(`cannot tell which server holds ${identity}`);
    }
    return i;
  }
}
