// The storage conformance suite against a real single-node nats-server with JetStream.
import test from 'ava';
import { natsServerAvailable, startNats, type NatsCluster } from '../../helpers/nats.js';
import { storeConformance } from './conformance.js';
import { natsFixtureFactory } from './nats-fixture.js';

if (!natsServerAvailable()) {
  test('nats: nats-server is not installed (apt-get install nats-server)', (t) => {
    t.fail('nats-server binary not found on PATH; the NATS storage tests need it');
  });
} else {
  let cluster: NatsCluster | undefined;
  test.before(async () => {
    cluster = await startNats({ nodes: 1 });
  });
  test.after.always(async () => {
    await cluster?.stop();
  });
  storeConformance('nats', natsFixtureFactory(() => cluster!));
}
