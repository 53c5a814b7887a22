// The Sync controller: keeps the cluster equal to a git folder or a host directory. Each Sync is
// reconciled by one worker at a time: on a new spec, a changed directory, or every interval, the
// source is fetched and the whole revision is validated, applied and pruned through the shared
// engine (pkg/manifests/sync-engine.ts); between those, watches on every managed object bring
// hand edits and deletions back within moments, comparing only the fields the manifests declare.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import type { KObject } from '../../pkg/api/types.js';
import { Informer, keyOf } from '../../pkg/client/informer.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import { resourcePath, type GVR } from '../../pkg/client/rest.js';
import type { EventRecorder } from '../../pkg/client/events.js';
import { logger } from '../../pkg/log/logger.js';
import { loadManifests, ManifestError } from '../../pkg/manifests/load.js';
import { ApplyEngine, SyncFailure, notOlderThan, type AppliedObject, type EngineOptions, type PlannedObject } from '../../pkg/manifests/sync-engine.js';
import { describeEntry, ownerOf, OWNER_NAME_LABEL, type InventoryEntry } from '../../pkg/manifests/inventory.js';
import { diffPaths, driftShape, project } from '../../pkg/manifests/drift.js';
import { healthOf, HEALTH_CHECKED_KINDS } from '../../pkg/manifests/health.js';
import { GitCache } from './git.js';
import { fetchSource, SourceError } from './source.js';
import {
  FIELD_MANAGER,
  SYNCS,
  SYNC_API_VERSION,
  intervalMs,
  nowIso,
  readyCondition,
  removeCondition,
  setCondition,
  specProblem,
  timeoutMs,
  type Condition,
  type Sync,
  type SyncStatus,
} from './spec.js';

interface Managed {
  planned: PlannedObject;
  shape: unknown;
  /** the declared fields as the server returned them after our last apply */
  recorded: unknown;
  applied: KObject;
}

interface SyncState {
  uid: string;
  /** generation of the last full reconcile */
  generation?: number;
  nextFetchAt: number;
  sourceDirty: boolean;
  revision?: string;
  objects: Map<string, Managed>;
  /** managed objects a watch saw change, to compare with what we applied */
  candidates: Set<string>;
  /** wait:true — until when health may take */
  healthDeadline?: number;
  healthMessage?: string;
  watcher?: FSWatcher;
  watchedPath?: string;
  debounce?: NodeJS.Timeout;
}

const gvrKey = (g: GVR) => `${g.group}/${g.version}/${g.resource}`;

export class SyncController implements Controller {
  readonly name = 'gitops-sync';
  private readonly log = logger('gitops');
  private readonly queue: WorkQueue<string>;
  private readonly states = new Map<string, SyncState>();
  private readonly driftInformers = new Map<string, { informer: Informer<KObject>; kind: string; group: string }>();
  private readonly engine: ApplyEngine;
  private readonly recorder: EventRecorder;
  private syncs?: Informer<Sync>;
  private cache?: GitCache;
  private cacheDir?: string;
  private stopped = false;

  constructor(private readonly ctx: ControllerContext) {
    this.queue = new WorkQueue((k) => this.reconcile(k), { name: 'gitops-sync', workers: 4, maxDelayMs: 30_000 });
    this.engine = new ApplyEngine(ctx.client);
    this.recorder = ctx.recorder('gitops-controller');
  }

  setup(): void {
    // Not a shared informer: the manager waits for shared informers to sync before any controller
    // runs, and the Sync CRD may not be served yet — that must not hold the other controllers.
    this.syncs = new Informer<Sync>(this.ctx.client, SYNCS);
    this.syncs.on({
      add: (s) => this.queue.add(keyOf(s)),
      update: (old, s) => {
        if (old.metadata.generation !== s.metadata.generation || JSON.stringify(old.metadata.annotations) !== JSON.stringify(s.metadata.annotations)) this.queue.add(keyOf(s));
        if (readyCondition(old)?.status !== readyCondition(s)?.status) this.enqueueDependents(s);
      },
      delete: (s) => {
        this.queue.add(keyOf(s));
        this.enqueueDependents(s);
      },
    });
  }

  run(): void {
    void this.syncs!.start();
  }

  /** The git cache, made on first use: a controller with no git Sync leaves no directory. */
  private gitCache(): GitCache {
    if (this.cache) return this.cache;
    // Inside the server's data dir when there is one, so that nothing is left in /tmp when the
    // process is killed; a private temp dir otherwise (`skiff controller-manager` alone).
    const dataDir = this.ctx.options.dataDir;
    if (!process.env.SKIFF_GITOPS_CACHE_DIR && dataDir) {
      this.cacheDir = join(dataDir, 'gitops-cache');
      rmSync(this.cacheDir, { recursive: true, force: true });
      mkdirSync(this.cacheDir, { recursive: true, mode: 0o700 });
    } else {
      this.cacheDir = mkdtempSync(join(process.env.SKIFF_GITOPS_CACHE_DIR ?? tmpdir(), 'skiff-gitops-'));
    }
    this.cache = new GitCache(this.cacheDir);
    return this.cache;
  }

  stop(): void {
    this.stopped = true;
    this.queue.shutdown();
    this.syncs?.stop();
    for (const d of this.driftInformers.values()) d.informer.stop();
    for (const st of this.states.values()) this.closeWatcher(st);
    this.states.clear();
    if (this.cacheDir) rmSync(this.cacheDir, { recursive: true, force: true });
  }

  private enqueueDependents(s: Sync): void {
    for (const other of this.syncs?.list() ?? []) {
      if ((other.spec?.dependsOn ?? []).some((d) => d.name === s.metadata.name && (d.namespace ?? other.metadata.namespace) === s.metadata.namespace)) this.queue.add(keyOf(other));
    }
  }

  private withKind(s: Sync): Sync {
    return { ...s, apiVersion: SYNC_API_VERSION, kind: 'Sync' };
  }

  // ---- reconcile ------------------------------------------------------------------------------

  private async reconcile(key: string): Promise<void> {
    if (this.stopped) return;
    const sync = this.syncs?.get(key);
    let state = this.states.get(key);
    if (!sync || sync.metadata.deletionTimestamp) {
      if (state) this.closeWatcher(state);
      this.states.delete(key);
      return;
    }
    if (!state || state.uid !== sync.metadata.uid) {
      if (state) this.closeWatcher(state);
      state = { uid: sync.metadata.uid!, nextFetchAt: 0, sourceDirty: false, objects: new Map(), candidates: new Set() };
      this.states.set(key, state);
    }
    const spec = sync.spec ?? ({ source: {} } as Sync['spec']);
    if (spec.suspend) {
      state.candidates.clear();
      state.healthDeadline = undefined;
      await this.writeStatus(sync, (st) => {
        st.conditions = setCondition(st.conditions ?? [], { type: 'Reconciling', status: 'False', reason: 'Suspended', message: 'suspended: no fetching, applying or drift correction', observedGeneration: sync.metadata.generation });
      });
      return;
    }
    const problem = specProblem(spec);
    if (problem) {
      await this.fail(sync, 'InvalidSpec', problem, true);
      return;
    }
    this.ensureWatcher(key, state, spec.source.directory?.path);
    const waiting = this.unreadyDependency(sync);
    if (waiting) {
      await this.fail(sync, 'DependencyNotReady', waiting, false);
      this.queue.addAfter(key, 5000);
      return;
    }
    const full = state.generation !== sync.metadata.generation || Date.now() >= state.nextFetchAt || state.sourceDirty;
    if (full) await this.fullSync(key, sync, state);
    else await this.correctDrift(sync, state);
    if (state.healthDeadline !== undefined) await this.checkHealth(key, sync, state);
  }

  private unreadyDependency(sync: Sync): string | undefined {
    for (const d of sync.spec.dependsOn ?? []) {
      const ns = d.namespace ?? sync.metadata.namespace!;
      const dep = this.syncs!.get(`${ns}/${d.name}`);
      if (!dep) return `dependency ${ns}/${d.name} not found`;
      const ready = readyCondition(dep);
      if (ready?.status !== 'True' || dep.status?.observedGeneration !== dep.metadata.generation) return `dependency ${ns}/${d.name} is not ready`;
    }
    return undefined;
  }

  private engineOptions(sync: Sync): EngineOptions & { prune: boolean } {
    return {
      fieldManager: FIELD_MANAGER,
      owner: { name: sync.metadata.name!, namespace: sync.metadata.namespace! },
      targetNamespace: sync.spec.targetNamespace,
      prune: sync.spec.prune === true,
    };
  }

  private async fullSync(key: string, sync: Sync, state: SyncState): Promise<void> {
    const every = intervalMs(sync.spec);
    state.nextFetchAt = Date.now() + every;
    state.sourceDirty = false;
    state.generation = sync.metadata.generation;
    this.queue.addAfter(key, every);
    let artifact;
    try {
      artifact = await fetchSource(sync, this.ctx.client, this.gitCache());
    } catch (e) {
      const reason = e instanceof SourceError ? e.reason : 'ArtifactFailed';
      this.recorder.event(this.withKind(sync), 'Warning', reason, (e as Error).message);
      await this.fail(sync, reason, (e as Error).message, false);
      return;
    }
    const revision = artifact.revision;
    const opts = this.engineOptions(sync);
    const previous = sync.status?.inventory?.entries ?? [];
    let plan: PlannedObject[];
    let outcome;
    try {
      const manifests = await loadManifests([artifact.path], { base: artifact.root, confine: artifact.root });
      plan = await this.engine.plan(manifests, opts);
      await this.engine.validate(plan, opts);
      outcome = await this.engine.apply(plan, previous, opts);
    } catch (e) {
      const reason = e instanceof ManifestError ? 'BuildFailed' : e instanceof SyncFailure ? e.reason : 'ReconciliationFailed';
      const msg = `revision ${short(revision)}: nothing applied: ${(e as Error).message}`;
      this.recorder.event(this.withKind(sync), 'Warning', reason, msg);
      await this.fail(sync, reason, msg, e instanceof ManifestError || e instanceof SyncFailure, revision);
      return;
    } finally {
      artifact.cleanup();
    }
    this.record(state, outcome.applied, plan);
    const changed = outcome.applied.filter((a) => a.action !== 'unchanged');
    if (changed.length) this.recorder.event(this.withKind(sync), 'Normal', 'Applied', `revision ${short(revision)}: ${changed.map((a) => `${a.action} ${describeEntry(a.entry)}`).join(', ')}`);
    if (outcome.pruned.length) this.recorder.event(this.withKind(sync), 'Normal', 'Pruned', `revision ${short(revision)}: deleted ${outcome.pruned.map(describeEntry).join(', ')}`);
    if (outcome.failure) {
      const msg = `revision ${short(revision)}: ${outcome.failure.message}`;
      this.recorder.event(this.withKind(sync), 'Warning', outcome.failure.reason, msg);
      await this.fail(sync, outcome.failure.reason, msg, false, revision, outcome.inventory);
      return;
    }
    state.revision = revision;
    const waitFor = sync.spec.wait ? outcome.applied.filter((a) => HEALTH_CHECKED_KINDS.has(`${a.gvr.group}/${a.object.kind}`)) : [];
    if (sync.spec.wait && waitFor.length && (changed.length || state.healthDeadline !== undefined || readyCondition(sync)?.status !== 'True' || sync.status?.lastAppliedRevision !== revision)) {
      state.healthDeadline = Date.now() + timeoutMs(sync.spec);
      state.healthMessage = undefined;
    } else state.healthDeadline = undefined;
    const waiting = state.healthDeadline !== undefined;
    await this.writeStatus(sync, (st) => {
      st.lastAppliedRevision = revision;
      st.lastAttemptedRevision = revision;
      st.lastSyncTime = nowIso();
      st.inventory = { entries: outcome.inventory };
      let c = st.conditions ?? [];
      if (waiting) {
        c = setCondition(c, { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: `applied revision ${revision}; waiting for workloads to become available`, observedGeneration: sync.metadata.generation });
        c = setCondition(c, { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'waiting for workloads to become available', observedGeneration: sync.metadata.generation });
      } else {
        c = setCondition(c, { type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${revision}`, observedGeneration: sync.metadata.generation });
        c = removeCondition(c, 'Reconciling');
      }
      st.conditions = removeCondition(c, 'Stalled');
    });
    this.ensureDriftInformers(plan);
  }

  /** Remembers what was applied, for drift comparison; objects not applied keep their old record. */
  private record(state: SyncState, applied: AppliedObject[], plan: PlannedObject[]): void {
    const next = new Map<string, Managed>();
    const wanted = new Set(plan.map((p) => p.id));
    for (const a of applied) {
      const shape = driftShape(a.object as never);
      next.set(a.id, { planned: a, shape, recorded: project(shape, a.live), applied: a.live });
    }
    for (const [id, m] of state.objects) if (!next.has(id) && wanted.has(id)) next.set(id, m);
    state.objects = next;
    state.candidates.clear();
  }

  private ensureDriftInformers(plan: PlannedObject[]): void {
    for (const p of plan) {
      const k = gvrKey(p.gvr);
      if (this.driftInformers.has(k)) continue;
      const informer = new Informer<KObject>(this.ctx.client, p.gvr, { labelSelector: OWNER_NAME_LABEL });
      const entry = { informer, kind: p.object.kind!, group: p.gvr.group };
      const note = (o: KObject) => {
        const owner = ownerOf(o);
        if (!owner) return;
        const key = `${owner.namespace}/${owner.name}`;
        const state = this.states.get(key);
        const id = `${entry.group}/${entry.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        if (!state?.objects.has(id)) return;
        state.candidates.add(id);
        this.queue.add(key);
      };
      informer.on({ add: note, update: (old, o) => old.metadata.resourceVersion !== o.metadata.resourceVersion && note(o), delete: note });
      this.driftInformers.set(k, entry);
      void informer.start();
    }
  }

  private async correctDrift(sync: Sync, state: SyncState): Promise<void> {
    if (state.candidates.size === 0) return;
    const ids = [...state.candidates];
    state.candidates.clear();
    const drifted: { m: Managed; what: string }[] = [];
    for (const id of ids) {
      const m = state.objects.get(id);
      if (!m) continue;
      const d = this.driftInformers.get(gvrKey(m.planned.gvr));
      if (!d?.informer.hasSynced) continue;
      const o = m.planned.object;
      const live = d.informer.get(o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!);
      if (!live) {
        drifted.push({ m, what: 'deleted' });
        continue;
      }
      if (live.metadata.deletionTimestamp) continue; // its deletion completes first, then it is recreated
      if (live.metadata.uid === m.applied.metadata.uid && !notOlderThan(live, m.applied)) continue; // the watch has not caught up with our apply
      const paths = diffPaths(m.recorded, project(m.shape, live));
      if (paths.length) drifted.push({ m, what: `changed ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', ...' : ''}` });
    }
    if (!drifted.length) return;
    const { applied, problems } = await this.engine.reapply(
      drifted.map((d) => d.m.planned),
      this.engineOptions(sync),
    );
    for (const a of applied) {
      const m = state.objects.get(a.id)!;
      m.recorded = project(m.shape, a.live);
      m.applied = a.live;
    }
    const fixed = drifted.filter((d) => applied.some((a) => a.id === d.m.planned.id));
    if (fixed.length) {
      const msg = fixed.map((d) => `${describeEntry(d.m.planned.entry)} (${d.what})`).join('; ');
      this.recorder.event(this.withKind(sync), 'Normal', 'DriftCorrected', `reverted to revision ${short(state.revision ?? '')}: ${msg}`);
      this.log.info({ sync: keyOf(sync), drift: msg }, 'drift corrected');
    }
    if (problems.length) this.recorder.event(this.withKind(sync), 'Warning', 'DriftCorrectionFailed', problems.join('; '));
    // Health may change when a workload is scaled back.
    if (sync.spec.wait && fixed.some((d) => HEALTH_CHECKED_KINDS.has(`${d.m.planned.gvr.group}/${d.m.planned.object.kind}`))) {
      state.healthDeadline ??= Date.now() + timeoutMs(sync.spec);
    }
  }

  private async checkHealth(key: string, sync: Sync, state: SyncState): Promise<void> {
    const pending: string[] = [];
    const failed: string[] = [];
    for (const m of state.objects.values()) {
      if (!HEALTH_CHECKED_KINDS.has(`${m.planned.gvr.group}/${m.planned.object.kind}`)) continue;
      const o = m.planned.object;
      let live: KObject;
      try {
        live = await this.ctx.client.get<KObject>(resourcePath(m.planned.gvr, o.metadata.namespace, o.metadata.name));
      } catch (e) {
        pending.push(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
        continue;
      }
      live.kind ??= o.kind;
      const h = healthOf(live);
      if (h.state === 'failed') failed.push(h.message);
      else if (h.state === 'progressing') pending.push(h.message);
    }
    const gen = sync.metadata.generation;
    if (!failed.length && !pending.length) {
      state.healthDeadline = undefined;
      this.recorder.event(this.withKind(sync), 'Normal', 'HealthCheckSucceeded', `revision ${short(state.revision ?? '')}: all workloads available`);
      await this.writeStatus(sync, (st) => {
        st.conditions = removeCondition(
          setCondition(st.conditions ?? [], { type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${state.revision}`, observedGeneration: gen }),
          'Reconciling',
        );
      });
      return;
    }
    const timedOut = Date.now() > state.healthDeadline!;
    if (failed.length || timedOut) {
      state.healthDeadline = undefined;
      const msg = `health check failed for revision ${short(state.revision ?? '')}: ${[...failed, ...(timedOut ? [`timed out after ${sync.spec.timeout ?? '5m'}: ${pending.join('; ')}`] : [])].join('; ')}`;
      this.recorder.event(this.withKind(sync), 'Warning', 'HealthCheckFailed', msg);
      await this.fail(sync, 'HealthCheckFailed', msg, false);
      return;
    }
    const msg = `applied revision ${state.revision}; waiting for: ${pending.join('; ')}`;
    if (msg !== state.healthMessage) {
      state.healthMessage = msg;
      await this.writeStatus(sync, (st) => {
        st.conditions = setCondition(st.conditions ?? [], { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: msg, observedGeneration: gen });
      });
    }
    this.queue.addAfter(key, 1000);
  }

  // ---- status ---------------------------------------------------------------------------------

  private async fail(sync: Sync, reason: string, message: string, stalled: boolean, attempted?: string, inventory?: InventoryEntry[]): Promise<void> {
    await this.writeStatus(sync, (st) => {
      if (attempted) st.lastAttemptedRevision = attempted;
      if (inventory) st.inventory = { entries: inventory };
      let c = setCondition(st.conditions ?? [], { type: 'Ready', status: 'False', reason, message, observedGeneration: sync.metadata.generation });
      c = removeCondition(c, 'Reconciling');
      c = stalled ? setCondition(c, { type: 'Stalled', status: 'True', reason, message, observedGeneration: sync.metadata.generation }) : removeCondition(c, 'Stalled');
      st.conditions = c;
    });
  }

  private async writeStatus(sync: Sync, mutate: (st: SyncStatus) => void): Promise<void> {
    // Read the latest: another write of ours may not be in the informer yet.
    const path = resourcePath(SYNCS, sync.metadata.namespace, sync.metadata.name);
    let cur: Sync;
    try {
      cur = await this.ctx.client.get<Sync>(path);
    } catch {
      cur = sync;
    }
    if (cur.metadata.uid !== sync.metadata.uid) return;
    const st: SyncStatus = structuredClone(cur.status ?? {});
    mutate(st);
    st.observedGeneration = sync.metadata.generation;
    st.conditions = orderConditions(st.conditions ?? []);
    if (JSON.stringify(st) === JSON.stringify(cur.status ?? {})) return;
    await this.ctx.client.patch(`${path}/status`, { status: st }, 'merge');
  }

  // ---- directory sources ----------------------------------------------------------------------

  private ensureWatcher(key: string, state: SyncState, path: string | undefined): void {
    if (state.watchedPath === path) return;
    this.closeWatcher(state);
    if (!path) return;
    state.watchedPath = path;
    const w = chokidarWatch(path, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 20 } });
    w.on('all', () => {
      if (state.debounce) clearTimeout(state.debounce);
      state.debounce = setTimeout(() => {
        state.sourceDirty = true;
        this.queue.add(key);
      }, 50);
    });
    // Changes made while the first scan ran are not reported: look again once it is done.
    w.once('ready', () => {
      state.sourceDirty = true;
      this.queue.add(key);
    });
    w.on('error', (err) => this.log.warn({ err, path }, 'directory watch failed'));
    state.watcher = w;
  }

  private closeWatcher(state: SyncState): void {
    if (state.debounce) clearTimeout(state.debounce);
    void state.watcher?.close();
    state.watcher = undefined;
    state.watchedPath = undefined;
  }
}

const ORDER = ['Ready', 'Reconciling', 'Stalled'];
function orderConditions(c: Condition[]): Condition[] {
  return [...c].sort((a, b) => (ORDER.indexOf(a.type) + 1 || 99) - (ORDER.indexOf(b.type) + 1 || 99));
}

function short(rev: string): string {
  return /^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 12) : rev;
}

export const syncController: ControllerFactory = (ctx) => new SyncController(ctx);
