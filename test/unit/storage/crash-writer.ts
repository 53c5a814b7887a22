// Child process of sqlite-crash.test.ts: writes to the store at argv[2] (keys tagged with the
// round argv[3], so rounds after a crash write fresh keys) until it is killed, and
// prints one line per acknowledged write the moment its promise resolves:
//   ack <key> <modRevision> <value>
// (stdout to a pipe is synchronous on Linux, so a printed ack has left this process.)
import { openSqliteStore } from '../../../apiserver/storage/sqlite/index.js';

const WORKERS = 16;

async function worker(store: Awaited<ReturnType<typeof openSqliteStore>>, round: string, id: number): Promise<never> {
  for (let n = 0; ; n++) {
    const key = `/crash/r${round}/w${id}/${n}`;
    const created = await store.create(key, `c-${id}-${n}`);
    process.stdout.write(`ack ${key} ${created.modRevision} ${created.value}\n`);
    if (n % 3 === 0) {
      const updated = await store.update(key, `u-${id}-${n}`, created.modRevision);
      process.stdout.write(`ack ${key} ${updated.modRevision} ${updated.value}\n`);
    }
  }
}

const [path, round] = process.argv.slice(2);
if (!path || !round) {
  process.stderr.write('usage: crash-writer.js STORE_FILE ROUND\n');
  process.exit(2);
}
const store = await openSqliteStore(path);
process.stdout.write('ready\n');
await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(store, round, i)));
