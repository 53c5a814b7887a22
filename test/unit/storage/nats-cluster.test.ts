// The storage conformance suite against a 3-node nats-server cluster, every stream R3.
import test from 'ava';
import { natsServerAvailable, startNats, type NatsCluster } from '../../helpers/nats.js';
import { storeConformance } from './conformance.js';
import { natsFixtureFactory, openOn, uniqueStream, deleteStream } from './nats-fixture.js';

if (!natsServerAvailable()) {
  test('nats-cluster: nats-server is not installed (apt-get install nats-server)', (t) => {
    t.fail('nats-server binary not found on PATH; the NATS storage tests need it');
  });
} else {
  let cluster: NatsCluster | undefined;
  test.before(async () => {
    cluster = await startNats({ nodes: 3 });
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
  storeConformance('nats-r3', natsFixtureFactory(() => cluster!, '?replicas=3'));

  test('nats-r3: a stream created without ?replicas on a 3-node cluster is R3', async (t) => {
    const stream = uniqueStream();
    const store = await openOn(cluster!, stream);
    t.teardown(async () => {
      await store.close();
      await deleteStream(cluster!, stream);
    });
    t.is(store.replicas, 3);
  });

  test('nats-r3: a write on one store is seen by a watch on another', async (t) => {
    const stream = uniqueStream();
    const a = await openOn(cluster!, stream);
    const b = await openOn(cluster!, stream);
    t.teardown(async () => {
      await a.close();
      await b.close();
      await deleteStream(cluster!, stream);
    });
    const seen: number[] = [];
    let wake: (() => void) | undefined;
    const w = await b.watch('/x/', 0, (evs) => {
      for (const e of evs) seen.push(e.kv.modRevision);
      wake?.();
    });
    t.teardown(() => w.stop());
    const kv = await a.create('/x/1', 'v');
    const done = new Promise<void>((resolve) => (wake = () => seen.length >= 1 && resolve()));
    if (seen.length === 0) await done;
    t.deepEqual(seen, [kv.modRevision]);
    // A read on the other store right after the write sees it (reads catch up with the stream).
    t.deepEqual((await b.get('/x/1')).kv, kv);
    const upd = await b.update('/x/1', 'v2', kv.modRevision);
    const conflict = await t.throwsAsync(a.update('/x/1', 'v3', kv.modRevision));
    t.is(conflict?.constructor.name, 'ConflictError');
    t.deepEqual((await a.get('/x/1')).kv, upd);
  });
}
