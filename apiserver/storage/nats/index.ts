export { NatsStore } from './nats-store.js';
export { parseNatsSpec, DEFAULT_STREAM, type NatsAuthOptions, type NatsStoreOptions } from './spec.js';
import { NatsStore } from './nats-store.js';
import { parseNatsSpec, type NatsAuthOptions } from './spec.js';

/** Opens the NATS JetStream store named by a `--storage nats://...` spec. */
export async function openNatsStore(spec: string, auth: NatsAuthOptions = {}): Promise<NatsStore> {
  return NatsStore.open(parseNatsSpec(spec, auth));
}
