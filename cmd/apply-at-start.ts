// `-f PATH` on `skiff server` / `skiff up`: apply manifests once the API is up, and with --watch
// again whenever a file under those paths changes.
import { watch as chokidarWatch } from 'chokidar';
import type { RestClient } from '../pkg/client/rest.js';
import { KindResolver, applyManifests } from '../pkg/manifests/apply.js';
import { loadManifests } from '../pkg/manifests/load.js';
import { logger } from '../pkg/log/logger.js';

export interface ManifestSync {
  stop(): Promise<void>;
}

async function applyOnce(client: RestClient, resolver: KindResolver, paths: string[]): Promise<void> {
  const log = logger('apply');
  let manifests;
  try {
    manifests = loadManifests(paths);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'manifests not applied');
    process.stderr.write(`skiff: ${(e as Error).message}\n`);
    return;
  }
  const results = await applyManifests(client, resolver, manifests, { fieldManager: 'skiff-apply' });
  for (const r of results) {
    const name = `${r.object.kind?.toLowerCase()}/${r.object.metadata.name}`;
    if (r.error) process.stderr.write(`skiff: ${r.source}: ${name}: ${r.error}\n`);
    else process.stdout.write(`skiff: applied ${name}${r.object.metadata.namespace ? ` -n ${r.object.metadata.namespace}` : ''}\n`);
  }
}

export async function applyAtStart(client: RestClient, paths: string[], watch: boolean): Promise<ManifestSync> {
  const resolver = new KindResolver(client);
  await applyOnce(client, resolver, paths);
  if (!watch) return { stop: async () => {} };
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const watcher = chokidarWatch(paths, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
  watcher.on('all', () => {
    // Editors write in bursts: apply once the burst is over.
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(() => {
        resolver.invalidate();
        return applyOnce(client, resolver, paths);
      });
    }, 300);
  });
  return {
    stop: async () => {
      if (timer) clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}
