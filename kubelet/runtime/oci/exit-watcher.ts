// Learns about container exits from conmon's exit dir (conmon writes <exit-dir>/<id> holding the
// exit code), as CRI-O does with inotify. Waiters register before looking at the disk, so an exit
// that lands between the two is never missed.
import { watch, existsSync, readFileSync, statSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export interface ExitRecord {
  exitCode: number;
  finishedAt: Date;
}

/** Reads <exitDir>/<id>; undefined when there is no (complete) exit file yet. */
export function readExitFile(exitDir: string, id: string): ExitRecord | undefined {
  const file = join(exitDir, id);
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (!/^-?\d+$/.test(text)) return undefined;
    return { exitCode: Number(text), finishedAt: statSync(file).mtime };
  } catch {
    return undefined;
  }
}

export class ExitWatcher {
  private watcher?: FSWatcher;
  private readonly waiters = new Map<string, Set<() => void>>();
  private poll?: NodeJS.Timeout;

  constructor(private readonly exitDir: string) {}

  private ensureWatching(): void {
    if (this.watcher) return;
    this.watcher = watch(this.exitDir, (_event, filename) => {
      if (filename) this.check(String(filename));
    });
    this.watcher.on('error', () => this.checkAll());
    // A file whose create event arrived before its content was written is picked up here.
    this.poll = setInterval(() => this.checkAll(), 250);
    this.poll.unref();
  }

  private check(id: string): void {
    const set = this.waiters.get(id);
    if (!set || !readExitFile(this.exitDir, id)) return;
    this.waiters.delete(id);
    for (const fn of set) fn();
    this.maybeStop();
  }

  private checkAll(): void {
    for (const id of [...this.waiters.keys()]) this.check(id);
  }

  private maybeStop(): void {
    if (this.waiters.size > 0) return;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Calls fn once when the container has exited; returns a function that cancels the wait. */
  onExit(id: string, fn: (exit: ExitRecord) => void): () => void {
    let fired = false;
    const cb = () => {
      if (fired) return;
      fired = true;
      fn(readExitFile(this.exitDir, id)!);
    };
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(cb);
    this.ensureWatching();
    if (existsSync(join(this.exitDir, id))) this.check(id);
    return () => {
      const s = this.waiters.get(id);
      s?.delete(cb);
      if (s && s.size === 0) this.waiters.delete(id);
      this.maybeStop();
    };
  }

  /** Resolves with the exit, or undefined when timeoutMs passes first. */
  wait(id: string, timeoutMs: number): Promise<ExitRecord | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        cancel();
        resolve(undefined);
      }, timeoutMs);
      const cancel = this.onExit(id, (exit) => {
        clearTimeout(timer);
        resolve(exit);
      });
    });
  }

  close(): void {
    this.waiters.clear();
    this.maybeStop();
  }
}
