// Entry point of the storage worker thread: owns the SQLite connection (so COMMIT's fsync and the
// WAL checkpoints never block the API server's event loop) and answers the main thread's requests.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEngine } from './engine.js';
import { toWire, type Reply, type Request } from './protocol.js';

if (!parentPort) throw new Error('sqlite-worker.js must run as a worker thread (it is loaded by openSqliteStore)');
const port = parentPort;
const { path } = workerData as { path: string };

function send(reply: Reply): void {
  port.postMessage(reply);
}

function answer(id: number, read: () => unknown): void {
  let value: unknown;
  try {
    value = read();
  } catch (err) {
    send({ t: 'done', id, error: toWire(err) });
    return;
  }
  send({ t: 'done', id, value });
}

function open(): SqliteEngine | undefined {
  try {
    return SqliteEngine.open(path, {
      batch: (revision, committed, results) => send({ t: 'batch', revision, committed, results }),
      failed: (id, error) => send({ t: 'done', id, error }),
    });
  } catch (err) {
    // Nothing listens after this, so the thread ends once the message is out.
    send({ t: 'openFailed', message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

function handle(engine: SqliteEngine, r: Request): void {
  switch (r.op) {
    case 'create':
      return engine.create(r.id, r.key, r.value);
    case 'update':
      return engine.update(r.id, r.key, r.value, r.expected);
    case 'delete':
      return engine.delete(r.id, r.key, r.expected);
    case 'get':
      return answer(r.id, () => engine.get(r.key, r.at));
    case 'list':
      return answer(r.id, () => engine.list(r.prefix, r.at, r.opts));
    case 'count':
      return answer(r.id, () => engine.count(r.prefix, r.at));
    case 'history':
      return answer(r.id, () => engine.history(r.prefix, r.after, r.upTo, r.limit));
    case 'compact':
      engine.compact(r.revision).then(
        () => send({ t: 'done', id: r.id }),
        (err: unknown) => send({ t: 'done', id: r.id, error: toWire(err) }),
      );
      return;
    case 'failNextCommit':
      return answer(r.id, () => engine.failNextCommit(r.message));
    case 'close':
      // Commits the open batch first, so its outcomes are posted before the close is answered;
      // the main thread then terminates this thread.
      return answer(r.id, () => engine.close());
  }
}

const engine = open();
if (engine) {
  send({ t: 'ready', revision: engine.committedRevision, compacted: engine.compactedRevision });
  port.on('message', (requests: Request[]) => {
    for (const r of requests) {
      try {
        handle(engine, r);
      } catch (err) {
        send({ t: 'done', id: r.id, error: toWire(err) });
      }
    }
  });
}
