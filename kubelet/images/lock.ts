// One writer at a time on a store, across processes (the agent and `skiff images` share a data
// dir): an exclusive lock file holding the owner's pid, taken over when that pid is gone. Inside
// one process a promise chain queues callers so they never poll against themselves.
import { promises as fsp } from 'node:fs';

const queues = new Map<string, Promise<unknown>>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await fsp.open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
    if (!owner || owner === process.pid || !alive(owner)) {
      // An empty file may be a writer between open and write; only a dead pid is surely stale.
      if (owner && owner !== process.pid) {
        await fsp.rm(path, { force: true });
        continue;
      }
    }
    if (Date.now() > deadline) throw new Error(`image store is locked by process ${owner || '?'} (${path}); gave up after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function withStoreLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const prev = queues.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = prev.then(() => mine);
  queues.set(path, chained);
  await prev.catch(() => undefined);
  try {
    await acquireFile(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await fsp.rm(path, { force: true });
    }
  } finally {
    release();
    if (queues.get(path) === chained) queues.delete(path);
  }
}
