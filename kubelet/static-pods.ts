// Static pods: Pod manifests in a folder on the node (kubelet's staticPodPath), watched with
// chokidar. Each becomes a mirror pod in the API, named <name>-<node>, bound to this node and
// marked with kubernetes.io/config.mirror, which the agent then runs like any pod bound to it. A
// changed file replaces its pod; a removed file removes it; a mirror pod deleted through the API
// comes back on the next pass, as kubelet's do. Unlike kubelet, the pod runs only while the API
// answers: the mirror is the agent's one source of pods.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { KObject } from '../pkg/api/types.js';
import { manifestFiles, parseManifests } from '../pkg/manifests/load.js';
import { R } from '../pkg/client/informer-factory.js';
import { isAlreadyExists, isNotFound, resourcePath, type RestClient } from '../pkg/client/rest.js';
import type { Logger } from '../pkg/log/logger.js';

export const CONFIG_MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';
export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';

const RESYNC_MS = 5_000;

export interface StaticPodsOptions {
  client: RestClient;
  nodeName: string;
  dir: string;
  log: Logger;
}

/** The mirror pod of one manifest: named after the node, bound to it, hashed for change detection. */
export function mirrorPod(pod: KObject, nodeName: string): KObject {
  const hash = createHash('sha256').update(JSON.stringify(pod)).digest('hex').slice(0, 32);
  const name = `${pod.metadata.name}-${nodeName}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...pod.metadata,
      name,
      namespace: pod.metadata.namespace || 'default',
      annotations: { ...(pod.metadata.annotations ?? {}), [CONFIG_MIRROR_ANNOTATION]: hash, [CONFIG_HASH_ANNOTATION]: hash, [CONFIG_SOURCE_ANNOTATION]: 'file' },
    },
    spec: { ...(pod.spec ?? {}), nodeName },
  };
}

export class StaticPods {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private resync?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = false;
  /** problems of the last pass, logged once each */
  private reported = new Set<string>();

  constructor(private readonly o: StaticPodsOptions) {}

  async start(): Promise<void> {
    if (!existsSync(this.o.dir)) throw new Error(`--pod-manifest-path ${this.o.dir}: no such directory`);
    this.watcher = chokidarWatch(this.o.dir, { ignoreInitial: true, depth: 0, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
    this.watcher.on('all', () => {
      // Editors write in bursts (temp file, rename): act once the burst is over.
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.kick(), 50);
    });
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
    this.kick();
    const tick = () => {
      this.kick();
      this.resync = setTimeout(tick, RESYNC_MS);
      this.resync.unref();
    };
    this.resync = setTimeout(tick, RESYNC_MS);
    this.resync.unref();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.sync()
      .catch((err) => this.o.log.warn({ err: (err as Error).message }, 'static pods sync failed'))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** The manifests' pods, keyed namespace/name of their mirror; bad files are logged and skipped. */
  private desired(): Map<string, KObject> {
    const out = new Map<string, KObject>();
    const problems: string[] = [];
    let files: string[] = [];
    try {
      files = manifestFiles(this.o.dir);
    } catch (e) {
      problems.push((e as Error).message);
    }
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        problems.push(`${f}: ${(e as Error).message}`);
        continue;
      }
      for (const m of parseManifests(text, f, problems)) {
        if (m.object.kind !== 'Pod' || m.object.apiVersion !== 'v1') {
          problems.push(`${m.source}: only v1 Pods can be static pods, not ${m.object.apiVersion}/${m.object.kind}`);
          continue;
        }
        if (!m.object.metadata?.name) {
          problems.push(`${m.source}: metadata.name is required`);
          continue;
        }
        const mirror = mirrorPod(m.object, this.o.nodeName);
        out.set(`${mirror.metadata.namespace}/${mirror.metadata.name}`, mirror);
      }
    }
    for (const p of problems) {
      if (!this.reported.has(p)) this.o.log.warn({ problem: p }, 'static pod manifest skipped');
    }
    this.reported = new Set(problems);
    return out;
  }

  private async sync(): Promise<void> {
    const want = this.desired();
    const list = await this.o.client.get<{ items: KObject[] }>(resourcePath(R.pods), { fieldSelector: `spec.nodeName=${this.o.nodeName}` });
    const have = new Map<string, KObject>();
    for (const p of list.items) {
      if (p.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION] !== undefined) have.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
    }
    for (const [key, pod] of have) {
      const desired = want.get(key);
      if (desired && desired.metadata.annotations![CONFIG_MIRROR_ANNOTATION] === pod.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION]) continue;
      if (pod.metadata.deletionTimestamp) continue;
      // Gone from the folder, or changed: the old pod goes (gracefully); a changed one comes back below once it is gone.
      await this.o.client.delete(resourcePath(R.pods, pod.metadata.namespace, pod.metadata.name)).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
      this.o.log.info({ pod: key }, desired ? 'static pod changed; replacing its mirror pod' : 'static pod removed');
    }
    for (const [key, pod] of want) {
      if (have.has(key)) continue;
      try {
        await this.o.client.create(resourcePath(R.pods, pod.metadata.namespace), pod);
        this.o.log.info({ pod: key }, 'mirror pod created');
      } catch (e) {
        if (!isAlreadyExists(e)) this.o.log.warn({ pod: key, err: (e as Error).message }, 'creating a mirror pod failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resync) clearTimeout(this.resync);
    await this.watcher?.close();
  }
}
