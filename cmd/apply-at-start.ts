// `-f PATH` on `skiff server` / `skiff up`: the cluster follows those files. They are applied once
// the API is up and, with --watch, again whenever a file under them changes; objects applied
// before and no longer declared are pruned. This is the Sync engine (pkg/manifests/sync-engine.ts)
// with the paths as a directory source; its inventory lives in the ConfigMap
// kube-system/skiff-apply-inventory, so a restart with a file removed prunes its objects too.
import { watch as chokidarWatch } from 'chokidar';
import { resolve } from 'node:path';
import { isNotFound, resourcePath, type RestClient } from '../pkg/client/rest.js';
import { ApplyEngine, SyncFailure } from '../pkg/manifests/sync-engine.js';
import { loadManifests, ManifestError } from '../pkg/manifests/load.js';
import { describeEntry, type InventoryEntry, type Owner } from '../pkg/manifests/inventory.js';
import { logger } from '../pkg/log/logger.js';
import type { KObject } from '../pkg/api/types.js';

export interface ManifestSync {
  stop(): Promise<void>;
  /** resolves once the latest change seen has been applied (tests, shutdown) */
  settled(): Promise<void>;
}

export const APPLY_OWNER: Owner = { namespace: 'kube-system', name: 'skiff-apply' };
export const APPLY_FIELD_MANAGER = 'skiff-apply';
const INVENTORY = resourcePath({ group: '', version: 'v1', resource: 'configmaps' }, APPLY_OWNER.namespace, 'skiff-apply-inventory');

async function readInventory(client: RestClient): Promise<InventoryEntry[]> {
  try {
    const cm = await client.get<KObject & { data?: Record<string, string> }>(INVENTORY);
    return JSON.parse(cm.data?.inventory ?? '[]') as InventoryEntry[];
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

async function writeInventory(client: RestClient, entries: InventoryEntry[], paths: string[]): Promise<void> {
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'skiff-apply-inventory', namespace: APPLY_OWNER.namespace, labels: { 'app.kubernetes.io/managed-by': 'skiff' } },
    data: { inventory: JSON.stringify(entries), paths: JSON.stringify(paths) },
  };
  await client.patch(INVENTORY, cm, 'apply', { fieldManager: APPLY_FIELD_MANAGER, force: true });
}

/** One pass: load, validate everything, apply, prune. Problems go to stderr; nothing throws. */
export async function applyPaths(client: RestClient, engine: ApplyEngine, paths: string[]): Promise<boolean> {
  const log = logger('apply');
  const out = (s: string) => process.stdout.write(`skiff: ${s}\n`);
  const err = (s: string) => process.stderr.write(`skiff: ${s}\n`);
  try {
    const manifests = await loadManifests(paths);
    const previous = await readInventory(client);
    const outcome = await engine.sync(manifests, previous, { fieldManager: APPLY_FIELD_MANAGER, owner: APPLY_OWNER, prune: true });
    await writeInventory(client, outcome.inventory, paths);
    for (const a of outcome.applied) if (a.action !== 'unchanged') out(`${a.action} ${describeEntry(a.entry)}`);
    for (const e of outcome.pruned) out(`pruned ${describeEntry(e)}`);
    for (const p of outcome.problems) err(p);
    log.info({ applied: outcome.applied.length, pruned: outcome.pruned.length, problems: outcome.problems.length }, 'manifests applied');
    return outcome.problems.length === 0;
  } catch (e) {
    const problems = e instanceof SyncFailure || e instanceof ManifestError ? e.problems : [(e as Error).message];
    err(`nothing applied: ${problems.length} problem${problems.length > 1 ? 's' : ''} in ${paths.join(', ')}`);
    for (const p of problems) err(`  ${p}`);
    log.error({ problems }, 'manifests not applied');
    return false;
  }
}

export async function applyAtStart(client: RestClient, paths: string[], watch: boolean): Promise<ManifestSync> {
  const abs = paths.map((p) => resolve(p));
  const engine = new ApplyEngine(client);
  if (!watch) {
    const once = applyPaths(client, engine, abs);
    await once;
    return { stop: async () => {}, settled: () => once.then(() => undefined) };
  }
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let again = false;
  let busy = false;
  const run = () => {
    // One pass at a time; changes seen during a pass cause exactly one more.
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    running = applyPaths(client, engine, abs).finally(() => {
      busy = false;
      if (again) {
        again = false;
        run();
      }
    });
  };
  // Watch first, apply second: a change made while the first pass runs is not lost.
  const watcher = chokidarWatch(abs, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
  watcher.on('all', () => {
    // Editors write in bursts (temp file, rename): apply once the burst is over.
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, 50);
  });
  await new Promise<void>((r) => watcher.once('ready', () => r()));
  run();
  await running;
  return {
    stop: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
      await running;
    },
    settled: () => running.then(() => undefined),
  };
}
