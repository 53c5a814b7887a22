// Picks the storage backend named by `--storage` (DESIGN.md section 3).
import { join } from 'node:path';
import { openNatsStore, type NatsAuthOptions } from './nats/index.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

export type { NatsAuthOptions } from './nats/index.js';

/** The SQLite file inside the data dir. */
export const SQLITE_FILE = 'state.db';

export interface StoreOptions {
  /** credentials and TLS for a nats:// spec (from --nats-* flags) */
  nats?: NatsAuthOptions;
}

export async function openStore(spec: string, dataDir: string, opts: StoreOptions = {}): Promise<Store> {
  if (spec === 'sqlite') return openSqliteStore(join(dataDir, SQLITE_FILE));
  if (spec.startsWith('nats://') || spec.startsWith('tls://')) return openNatsStore(spec, opts.nats);
  throw new Error(`unknown storage backend "${spec}": expected "sqlite" or "nats://HOST:PORT[,HOST:PORT...][/STREAM]"`);
}
