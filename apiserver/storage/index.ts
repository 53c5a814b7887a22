// Picks the storage backend named by `--storage` (DESIGN.md section 3).
import { join } from 'node:path';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

/** The SQLite file inside the data dir. */
export const SQLITE_FILE = 'state.db';

export async function openStore(spec: string, dataDir: string): Promise<Store> {
  if (spec === 'sqlite') return openSqliteStore(join(dataDir, SQLITE_FILE));
  if (spec.startsWith('nats://')) {
    throw new Error(`storage backend ${spec}: the NATS backend is not available yet; use --storage sqlite`);
  }
  throw new Error(`unknown storage backend "${spec}": expected "sqlite" or "nats://HOST:PORT[,HOST:PORT]"`);
}
