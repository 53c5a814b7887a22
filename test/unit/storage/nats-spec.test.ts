// The `--storage nats://...` spec, key-to-subject mapping, and openStore's dispatch.
import test from 'ava';
import { parseNatsSpec } from '../../../apiserver/storage/nats/spec.js';
import { subjectsFor } from '../../../apiserver/storage/nats/subjects.js';
import { View } from '../../../apiserver/storage/nats/view.js';

test('nats spec: servers, stream, options', (t) => {
  const o = parseNatsSpec('nats://h1:4222,h2:4222,nats://h3:4223');
  t.deepEqual(o.servers, ['nats://h1:4222', 'nats://h2:4222', 'nats://h3:4223']);
  t.is(o.stream, 'SKIFF');
  t.is(o.replicas, undefined);
  const p = parseNatsSpec('tls://a:4222/PROD?replicas=3&write-timeout-ms=5000', { credsFile: '/x.creds', tlsCaFile: '/ca.pem' });
  t.deepEqual(p.servers, ['tls://a:4222']);
  t.is(p.stream, 'PROD');
  t.is(p.replicas, 3);
  t.is(p.writeTimeoutMs, 5000);
  t.is(p.credsFile, '/x.creds');
  t.is(p.tlsCaFile, '/ca.pem');
});

test('nats spec: bad forms are refused with the expected form', (t) => {
  t.throws(() => parseNatsSpec('nats://'), { message: /expected nats:\/\/HOST:PORT/ });
  t.throws(() => parseNatsSpec('nats://h:4222/bad.name'), { message: /stream name/ });
  t.throws(() => parseNatsSpec('nats://h:4222?replicas=0'), { message: /positive integer/ });
  t.throws(() => parseNatsSpec('nats://h:4222?replicas=7'), { message: /1-5/ });
  t.throws(() => parseNatsSpec('nats://h:4222?color=red'), { message: /unknown option "color"/ });
});

test('nats subjects: every key maps to one legal subject and back', (t) => {
  const s = subjectsFor('skiff.SKIFF');
  for (const key of ['', '/registry/pods/default/web-1', '/registry/configmaps/kube-system/kube-root-ca.crt', '/a b/*/>/ü日本', '/x.y.z']) {
    const subject = s.forKey(key);
    t.regex(subject, /^skiff\.SKIFF\.k\.[A-Za-z0-9_-]+$/);
    t.is(s.keyOf(subject), key);
  }
  t.is(s.keyOf(s.compacted), undefined);
  t.not(s.forKey('/a'), s.forKey('/b'));
});

test('nats view: a write racing past a stale expectation is void, the same on every view', (t) => {
  const apply = (v: View) => {
    v.applyWrite(1, '/k', 'create', 'a', undefined, 0);
    // Two updates both expecting revision 1: only the first takes effect.
    v.applyWrite(2, '/k', 'update', 'b', 1, 1);
    v.applyWrite(3, '/k', 'update', 'c', 1, 1);
    // A create of a live key is void.
    v.applyWrite(4, '/k', 'create', 'd', undefined, 0);
  };
  const v1 = new View();
  const v2 = new View();
  apply(v1);
  apply(v2);
  for (const v of [v1, v2]) {
    t.is(v.latest('/k')?.value, 'b');
    t.is(v.latest('/k')?.rev, 2);
    t.is(v.applied, 4);
    t.deepEqual(
      v.history('/', 0, 10, 10).map((e) => e.kv.modRevision),
      [1, 2],
    );
  }
});

test('nats view: history purged under a lagging view is taken as written', (t) => {
  const v = new View();
  v.applyWrite(1, '/k', 'create', 'a', undefined, 0);
  // Revisions 2..9 of /k were purged before this view read them; 10 expects 9.
  v.applyWrite(10, '/k', 'update', 'z', 1, 9);
  t.is(v.latest('/k')?.value, 'z');
  t.is(v.latest('/k')?.createRev, 1);
});

test('nats view: compaction keeps the newest value of live keys and plans the purges', (t) => {
  const v = new View();
  v.applyWrite(1, '/a', 'create', 'a1', undefined, 0);
  v.applyWrite(2, '/a', 'update', 'a2', 1, 1);
  v.applyWrite(3, '/b', 'create', 'b1', undefined, 0);
  v.applyWrite(4, '/b', 'delete', '', 3, 3);
  v.applyWrite(5, '/a', 'update', 'a3', 1, 2);
  const plan = v.compact(4);
  t.deepEqual(plan.sort((x, y) => x.key.localeCompare(y.key)), [
    { key: '/a', below: 2 },
    { key: '/b', below: 5 },
  ]);
  t.deepEqual(v.list('/', 4, undefined, Infinity).kvs.map((kv) => [kv.key, kv.value]), [['/a', 'a2']]);
  t.deepEqual(v.history('/', 4, 10, 10).map((e) => [e.kv.modRevision, e.prevKv?.modRevision]), [[5, 2]]);
  t.is(v.count('/'), 1);
});

test('openStore: a nats:// spec with no server there fails with a clear message', async (t) => {
  const { openStore } = await import('../../../apiserver/storage/index.js');
  const { freePort } = await import('../../helpers/nats.js');
  const port = await freePort();
  await t.throwsAsync(openStore(`nats://127.0.0.1:${port}?open-timeout-ms=800`, '/nonexistent'), { message: /cannot connect to NATS at nats:\/\/127\.0\.0\.1/ });
  await t.throwsAsync(openStore('etcd', '/nonexistent'), { message: /unknown storage backend/ });
});
