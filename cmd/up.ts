// `skiff up [-f PATH]...`: the newcomer's one command — `skiff server` with the same flags, whose
// -f paths are applied at start and again on every change (watch on by default; --watch=false
// applies once). Applying, pruning and the inventory are cmd/apply-at-start.ts, the Sync engine.
import type { FlagSpec, FlagValues } from './flags.js';
import { runServer, serverFlags } from './server.js';

export const upFlags: FlagSpec[] = serverFlags.map((f) =>
  f.name === 'watch' ? { ...f, default: true, help: 're-apply -f paths when they change, pruning what was removed (on by default for up; --watch=false applies once)' } : f,
);

export async function runUp(v: FlagValues): Promise<void> {
  await runServer(v);
}
