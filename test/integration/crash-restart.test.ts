// Acceptance: kill -9 the server during a stream of writes and start it again: every acknowledged
// object is there with the resourceVersion it was acknowledged with, revisions keep growing, a
// watch resumes from a revision acknowledged before the crash, and `kubectl get -w` works.
import test from 'ava';
import { spawn } from 'node:child_process';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiClient, waitFor, type ApiClient, type WatchStream } from '../helpers/api-client.js';

const WRITERS = 4;
/** kill -9 once this many writes have been acknowledged */
const ACKS_BEFORE_CRASH = 300;
const NS = 'default';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

interface Acked {
  rv: number;
  /** an update of this object was in flight when the server died: it may or may not have landed */
  uncertain: boolean;
  data: Record<string, string>;
}

let srv: TestServer;
let api: ApiClient;
const acked = new Map<string, Acked>();
/** acknowledged writes in acknowledgement order: name and revision */
const ackLog: { name: string; rv: number; type: 'ADDED' | 'MODIFIED' }[] = [];
let maxAckedRv = 0;

/** Writes until the server dies: creates, and every third step an update of an earlier object. */
async function writer(client: ApiClient, w: number, isCrashed: () => boolean, onAck: () => void): Promise<void> {
  const mine: string[] = [];
  for (let i = 0; !isCrashed(); i++) {
    try {
      if (i % 3 === 2 && mine.length) {
        const name = mine[(i * 7) % mine.length]!;
        const cur = acked.get(name)!;
        const data = { ...cur.data, step: String(i) };
        cur.uncertain = true;
        const res = await client.request('PUT', `${CM}/${name}`, {
          body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels: { crash: 'yes' }, resourceVersion: String(cur.rv) }, data }),
        });
        if (res.status !== 200) throw new Error(`update ${name}: ${res.status} ${res.text}`);
        const rv = Number(res.json().metadata.resourceVersion);
        acked.set(name, { rv, uncertain: false, data });
        ackLog.push({ name, rv, type: 'MODIFIED' });
        maxAckedRv = Math.max(maxAckedRv, rv);
      } else {
        const name = `crash-w${w}-${i}`;
        const data = { writer: String(w), step: String(i), payload: 'x'.repeat(200) };
        const res = await client.request('POST', CM, { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { crash: 'yes' } }, data }) });
        if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${res.text}`);
        const rv = Number(res.json().metadata.resourceVersion);
        acked.set(name, { rv, uncertain: false, data });
        ackLog.push({ name, rv, type: 'ADDED' });
        mine.push(name);
        maxAckedRv = Math.max(maxAckedRv, rv);
      }
      onAck();
    } catch (e) {
      // Connection errors are expected once the server is gone; anything else is a failure.
      if (isCrashed()) return;
      throw e;
    }
  }
}

test.before(async () => {
  srv = await startServer();
  api = apiClient(srv.kubeconfig, { maxSockets: WRITERS });
  let crashed = false;
  let crash: Promise<void> | undefined;
  const onAck = () => {
    if (!crash && ackLog.length >= ACKS_BEFORE_CRASH) {
      crashed = true;
      crash = srv.kill9();
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(api, w, () => crashed, onAck)));
  await crash;
  api.close();
  await srv.restart();
  api = apiClient(srv.kubeconfig, { maxSockets: 8 });
});

test.after.always(async () => {
  api?.close();
  await srv?.stop();
});

test.serial('every acknowledged object survives kill -9 with the resourceVersion it was acknowledged with', async (t) => {
  t.true(ackLog.length >= ACKS_BEFORE_CRASH, `only ${ackLog.length} writes were acknowledged`);
  const list = (await api.request('GET', `${CM}?labelSelector=crash%3Dyes`)).json();
  const stored = new Map<string, any>(list.items.map((o: any) => [o.metadata.name, o]));
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [name, a] of acked) {
    const o = stored.get(name);
    if (!o) {
      missing.push(name);
      continue;
    }
    const rv = Number(o.metadata.resourceVersion);
    if (a.uncertain ? rv < a.rv : rv !== a.rv) wrong.push(`${name}: acknowledged ${a.rv}, stored ${rv}`);
    else if (!a.uncertain) t.deepEqual(o.data, a.data, name);
    // A single GET must agree with the list.
  }
  t.deepEqual(missing, [], `acknowledged objects lost in the crash (${missing.length} of ${acked.size}; the list has ${stored.size}, list resourceVersion ${list.metadata.resourceVersion}, highest acknowledged ${maxAckedRv})`);
  t.deepEqual(wrong, [], 'acknowledged objects with another resourceVersion');
  // Spot-check single reads too (they are served from the same cache, but by another path).
  for (const name of [...acked.keys()].filter((_, i) => i % 25 === 0)) {
    const res = await api.request('GET', `${CM}/${name}`);
    t.is(res.status, 200, name);
    const a = acked.get(name)!;
    if (!a.uncertain) t.is(Number(res.json().metadata.resourceVersion), a.rv, name);
  }
  // Whatever was not acknowledged may exist or not, but anything stored is whole.
  for (const o of stored.values()) {
    t.truthy(o.metadata.uid);
    t.truthy(o.metadata.creationTimestamp);
    t.is(o.data?.payload?.length, 200, o.metadata.name);
  }
});

test.serial('after the restart revisions keep growing past every acknowledged one', async (t) => {
  const res = await api.request('POST', CM, { body: JSON.stringify({ metadata: { name: 'after-restart-rv' }, data: { a: 'b' } }) });
  t.is(res.status, 201, res.text);
  t.true(Number(res.json().metadata.resourceVersion) > maxAckedRv);
  const list = (await api.request('GET', CM)).json();
  t.true(Number(list.metadata.resourceVersion) > maxAckedRv);
});

/** Opens a raw watch and checks it did not end with an error. */
async function openWatch(t: { is: (a: unknown, b: unknown, m?: string) => void }, rv: number): Promise<WatchStream> {
  const w = await api.watch(`${CM}?watch=true&resourceVersion=${rv}`);
  t.is(w.status, 200, `watch from ${rv}`);
  return w;
}

test.serial('a watch from the highest acknowledged resourceVersion resumes and delivers later writes', async (t) => {
  const w = await openWatch(t, maxAckedRv);
  try {
    const res = await api.request('POST', CM, { body: JSON.stringify({ metadata: { name: 'after-crash-watch' }, data: { a: 'b' } }) });
    t.is(res.status, 201, res.text);
    await waitFor(
      () => w.ended || w.events.some((e) => e.type === 'ADDED' && e.object?.metadata?.name === 'after-crash-watch'),
      10_000,
      () => `events: ${JSON.stringify(w.events.map((e) => [e.type, e.object?.metadata?.name, e.object?.code]))}`,
    );
    const errors = w.events.filter((e) => e.type === 'ERROR');
    t.deepEqual(errors.map((e) => e.object), [], `resuming from ${maxAckedRv} after the restart failed`);
    t.false(w.ended, 'the watch must stay open');
    t.true(w.events.every((e) => Number(e.object.metadata.resourceVersion) > maxAckedRv), 'a resumed watch only sends later events');
    t.true(w.events.some((e) => e.object.metadata.name === 'after-crash-watch'));
    t.deepEqual(w.garbage, []);
  } finally {
    w.close();
  }
});

test.serial('a watch from an earlier acknowledged resourceVersion replays the acknowledged writes after it', async (t) => {
  // Well inside the default window of 10,000 events.
  const from = ackLog[Math.floor(ackLog.length / 2)]!.rv;
  const later = ackLog.filter((a) => a.rv > from);
  const w = await openWatch(t, from);
  try {
    await waitFor(
      () => w.ended || later.every((a) => w.events.some((e) => Number(e.object?.metadata?.resourceVersion) === a.rv)),
      10_000,
      () => `got ${w.events.length} events, want at least ${later.length}`,
    );
    t.deepEqual(w.events.filter((e) => e.type === 'ERROR').map((e) => e.object), [], `resuming from ${from} after the restart failed`);
    for (const a of later) {
      const e = w.events.find((x) => Number(x.object?.metadata?.resourceVersion) === a.rv);
      t.truthy(e, `no event for ${a.name}@${a.rv}`);
      if (e) {
        t.is(e.object.metadata.name, a.name);
        t.is(e.type, a.type);
      }
    }
    const revs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    t.deepEqual(revs, [...revs].sort((a, b) => a - b), 'events arrive in revision order');
  } finally {
    w.close();
  }
});

test.serial('kubectl get cm -w works after the restart', async (t) => {
  const child = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'get', 'cm', '-n', NS, '-w', '--output-watch-events', '-l', 'phase=after'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await api.request('POST', CM, { body: JSON.stringify({ metadata: { name: 'kubectl-seen-0', labels: { phase: 'after' } } }) });
    await waitFor(() => /kubectl-seen-0/.test(out), 15_000, () => `kubectl printed: ${out} ${err}`);
    await api.request('POST', CM, { body: JSON.stringify({ metadata: { name: 'kubectl-seen-1', labels: { phase: 'after' } } }) });
    await waitFor(() => /ADDED\s+kubectl-seen-1/.test(out), 15_000, () => `kubectl printed: ${out} ${err}`);
    await api.request('DELETE', `${CM}/kubectl-seen-0`);
    await waitFor(() => /DELETED\s+kubectl-seen-0/.test(out), 15_000, () => `kubectl printed: ${out} ${err}`);
    t.pass();
  } finally {
    child.kill();
  }
});
