// A fresh stream per test on a shared nats-server (or cluster), for the conformance suite.
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { NatsStore, parseNatsSpec } from '../../../apiserver/storage/nats/index.js';
import type { Store } from '../../../apiserver/storage/store.js';
import type { NatsCluster } from '../../helpers/nats.js';
import type { StoreFixture } from './conformance.js';

export function uniqueStream(): string {
  return `T${randomBytes(6).toString('hex')}`;
}

export async function openOn(cluster: NatsCluster, stream: string, query = ''): Promise<NatsStore> {
  return NatsStore.open(parseNatsSpec(`nats://${cluster.urls.replace(/nats:\/\//g, '')}/${stream}${query}`));
}

/** Deletes a stream (tests clean up what they create even when the server lives on). */
export async function deleteStream(cluster: NatsCluster, stream: string): Promise<void> {
  const nc = await connect({ servers: cluster.urls.split(','), timeout: 2000 });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
  } finally {
    await nc.close();
  }
}

export function natsFixtureFactory(cluster: () => NatsCluster, query = ''): () => Promise<StoreFixture> {
  return async () => {
    const c = cluster();
    const stream = uniqueStream();
    const opened: Store[] = [await openOn(c, stream, query)];
    return {
      store: opened[0]!,
      reopen: async () => {
        const s = await openOn(c, stream, query);
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened) await s.close();
        await deleteStream(c, stream);
      },
    };
  };
}
