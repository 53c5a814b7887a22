// One pod's life on a node: address, sandbox, init containers, containers, readiness, exits and
// restarts (restartPolicy with CrashLoopBackOff back-off), graceful termination. It composes the
// network (pod addresses), the runtime and the prober, and reports every change as a PodStatus.
import type { KObject } from '../pkg/api/types.js';
import type { Logger } from '../pkg/log/logger.js';
import { ContainerStartError, SandboxError, type Container, type ContainerExit, type Runtime } from './runtime/runtime.js';
import type { Prober } from './prober/prober.js';
import { DEFAULT_NETWORK, podNetworks } from '../pkg/api/networks.js';
import { activeDeadlineLeftMs, buildPodStatus, DEADLINE_EXCEEDED, isoSeconds, type ConditionClock, type ContainerRun, type Json, type PodFailure, type TerminatedState, podPhase } from './pod-status.js';
import { containerHash } from './container-hash.js';
import { hasDownwardAPIVolume, podMetadataChanged } from './volumes/object-refs.js';

export interface PodWorkerDeps {
  runtime: Runtime;
  prober: Prober;
  hostIP: string;
  /** an address for the pod, or undefined while the node has no pod CIDR yet */
  allocateIP(uid: string): string | undefined;
  /** takes an address the pod already had (agent restart); false when it is not ours to take */
  reserveIP(ip: string, uid: string): boolean;
  releaseIP(uid: string): void;
  reportStatus(pod: KObject, status: Json): void;
  /** DELETE with gracePeriodSeconds 0 and the uid precondition: the kubelet's confirmation */
  confirmDeletion(pod: KObject): Promise<void>;
  /** first CrashLoopBackOff delay (ms), doubled per restart up to 5 minutes */
  restartBackoffMs: number;
  log: Logger;
  /** the node's pod CIDR (for the runtime's network) */
  podCIDR?(): string | undefined;
  /** an address a runtime still holds for this pod from before an agent restart */
  recoveredIP?: string;
  /** kubelet events on the pod */
  event?(pod: KObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
  /**
   * Rewrites the pod's configMap, secret, downwardAPI and projected volumes from what the API has
   * now; true when a file changed. Absent: this node's volumes are never refreshed (simulated).
   */
  refreshVolumes?(pod: KObject): Promise<boolean>;
}

const MAX_BACKOFF_MS = 300_000;
const SANDBOX_BACKOFF_MS = 1000;
const MAX_SANDBOX_BACKOFF_MS = 30_000;
/** how long a container stopped at the active deadline may take to report its exit */
const DEADLINE_EXIT_WAIT_MS = 5000;
/** setTimeout's longest delay; a longer deadline is checked again when it fires */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Per container: start failures in a row (image pulls, config errors) and a pending retry. */
interface Retry {
  failures: number;
  pending: boolean;
  /** bumped by each scheduled retry: a retry cancelled (the spec changed) does not fire */
  gen: number;
}

type Stage = 'new' | 'waiting-network' | 'starting' | 'running' | 'terminating' | 'gone';

export class PodWorker {
  private pod: KObject;
  private stage: Stage = 'new';
  private containers: ContainerRun[] = [];
  private podIP?: string;
  private extraPodIPs?: string[];
  private startTime = isoSeconds();
  private readonly clock: ConditionClock = { times: new Map() };
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly probes = new Map<string, () => void>();
  private lastFull = '';
  private readonly retries = new Map<string, Retry>();
  /** containers whose start is in flight; an exit that arrives meanwhile waits here */
  private readonly starting = new Map<string, ContainerExit | undefined>();
  private sandboxFailures = 0;
  private sandboxReady = false;
  private runInFlight = false;
  private runAgain = false;
  /** signatures of the statuses sent lately: the informer shows them with some lag */
  private readonly recent: string[] = [];
  /** the pod reached Succeeded or Failed through its containers (or was so when we took it over) */
  private finished = false;
  /** the kubelet ended the pod itself (activeDeadlineSeconds) */
  private failure?: PodFailure;
  private deadlineTimer?: NodeJS.Timeout;
  /** containers stopped at the active deadline, until their exit arrives */
  private readonly exitWaiters = new Map<string, () => void>();
  private refreshing = false;
  private refreshAgain = false;
  private refreshError?: string;

  constructor(
    pod: KObject,
    private readonly deps: PodWorkerDeps,
  ) {
    this.pod = pod;
  }

  get uid(): string {
    return this.pod.metadata.uid!;
  }

  get key(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  private get spec(): { containers?: Container[]; initContainers?: Container[]; ephemeralContainers?: Container[]; restartPolicy?: string; readinessGates?: { conditionType: string }[]; terminationGracePeriodSeconds?: number; hostNetwork?: boolean; activeDeadlineSeconds?: number } {
    return (this.pod.spec ?? {}) as never;
  }

  private get apiStatus(): Json {
    return (this.pod.status ?? {}) as Json;
  }

  /** Starts the pod, or takes it over when the API says it already runs here. */
  start(): void {
    const st = this.apiStatus;
    const phase = st.phase as string | undefined;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.stage = 'running';
      this.finished = true;
      if (this.pod.metadata.deletionTimestamp) void this.terminate();
      return;
    }
    for (const c of (st.conditions as Json[] | undefined) ?? []) {
      if (typeof c.lastTransitionTime === 'string') this.clock.times.set(String(c.type), { status: String(c.status), time: c.lastTransitionTime });
    }
    if (typeof st.startTime === 'string') this.startTime = st.startTime;
    this.containers = [
      ...(this.spec.initContainers ?? []).map((c) => this.freshRun(c, true)),
      ...(this.spec.containers ?? []).map((c) => this.freshRun(c, false)),
      ...(this.spec.ephemeralContainers ?? []).map((c) => this.freshRun(c, false, true)),
    ];
    const adopted = phase === 'Running' && typeof st.podIP === 'string' && (this.spec.hostNetwork || this.deps.reserveIP(st.podIP, this.uid));
    if (adopted) this.adopt(st);
    else if (this.deps.recoveredIP && this.deps.reserveIP(this.deps.recoveredIP, this.uid)) this.podIP = this.deps.recoveredIP;
    if (this.pod.metadata.deletionTimestamp) {
      void this.terminate();
      return;
    }
    if (!adopted) this.report();
    this.proceed();
    this.armDeadline();
  }

  private freshRun(c: Container, init: boolean, ephemeral = false): ContainerRun {
    const run: ContainerRun = { name: c.name, image: c.image ?? '', init, state: 'waiting', reason: init ? 'PodInitializing' : 'ContainerCreating', restartCount: 0, ready: false, everStarted: false };
    if (ephemeral) run.ephemeral = true;
    return run;
  }

  /**
   * Ephemeral containers added to the pod since we last looked (the ephemeralcontainers
   * subresource only ever appends): each is run once, even if the pod is still initializing.
   */
  private addEphemeralContainers(): void {
    const known = new Set(this.containers.filter((c) => c.ephemeral).map((c) => c.name));
    const added = (this.spec.ephemeralContainers ?? []).filter((c) => !known.has(c.name));
    if (!added.length) return;
    this.containers.push(...added.map((c) => this.freshRun(c, false, true)));
    this.report();
    if (this.stage === 'starting' || this.stage === 'running') this.kick();
  }

  /**
   * The agent restarted while the pod ran: keep what the API shows (address, start times, restart
   * counts) and start the containers again in the runtime. A runtime that keeps containers across
   * agent restarts (conmon) will recover them instead.
   */
  private adopt(st: Json): void {
    this.podIP = st.podIP as string;
    const statuses = new Map<string, Json>();
    for (const cs of [...((st.initContainerStatuses as Json[]) ?? []), ...((st.containerStatuses as Json[]) ?? []), ...((st.ephemeralContainerStatuses as Json[]) ?? [])]) {
      statuses.set(String(cs.name), cs);
    }
    for (const c of this.containers) {
      const cs = statuses.get(c.name);
      if (!cs) continue;
      c.restartCount = Number(cs.restartCount ?? 0);
      const running = (cs.state as Json | undefined)?.running as Json | undefined;
      const terminated = (cs.state as Json | undefined)?.terminated as TerminatedState | undefined;
      const last = (cs.lastState as Json | undefined)?.terminated as TerminatedState | undefined;
      if (last) c.lastTerminated = { ...last };
      if (c.init) {
        c.state = 'terminated';
        c.terminated = terminated ? { ...terminated } : { exitCode: 0, reason: 'Completed', finishedAt: isoSeconds() };
        c.everStarted = true;
      } else if (c.ephemeral && terminated) {
        // It ran once; it is not run again.
        c.state = 'terminated';
        c.terminated = { ...terminated };
        c.containerID = cs.containerID as string | undefined;
        c.imageID = cs.imageID as string | undefined;
        c.everStarted = true;
      } else if (running) {
        c.startedAt = String(running.startedAt);
        c.containerID = cs.containerID as string | undefined;
        c.imageID = cs.imageID as string | undefined;
        // Shown as running (and ready, unless a readiness probe must say so again, as kubelet
        // does after a restart) while the runtime is asked for it: an agent restart must not make
        // its pods flap out of their Services.
        c.state = 'running';
        c.adopted = true;
        c.ready = cs.ready === true && !this.containerSpec(c).readinessProbe;
      }
    }
  }

  /** A newer version of the pod from the API. */
  update(pod: KObject): void {
    if (this.stage === 'gone') return;
    const old = this.pod;
    this.pod = pod;
    if (pod.metadata.deletionTimestamp && this.stage !== 'terminating') {
      void this.terminate();
      return;
    }
    if (this.live()) {
      // activeDeadlineSeconds may be set or shortened on a running pod, and images changed.
      this.armDeadline();
      this.applySpecChanges();
      this.addEphemeralContainers();
      if (podMetadataChanged(old, pod) && hasDownwardAPIVolume(pod)) this.refreshVolumes();
    }
    // Someone else changed the status (the node lifecycle controller marks pods of an
    // unreachable node not ready): say again what is true.
    if (this.stage !== 'terminating' && this.recent.length && !this.recent.includes(this.signature(pod.status as Json))) this.report(true);
  }

  /** The node got its pod CIDR. */
  networkReady(): void {
    if (this.stage === 'waiting-network') this.proceed();
  }

  /** The pod is gone from the API: drop everything. */
  remove(): void {
    if (this.stage === 'gone') return;
    const wasTerminating = this.stage === 'terminating';
    this.stage = 'gone';
    this.cancelAll();
    if (!wasTerminating) {
      const pod = this.pod;
      void this.deps.runtime
        .stopPodSandbox(pod, 0)
        .then(() => this.deps.runtime.removePodSandbox?.(pod))
        .catch((err) => this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping sandbox failed'))
        .finally(() => this.deps.releaseIP(this.uid));
    }
  }

  /** The agent stops: forget the pod without touching the API (containers would outlive us). */
  abandon(): void {
    this.stage = 'gone';
    this.cancelAll();
  }

  private cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.deadlineTimer = undefined;
    for (const stop of this.probes.values()) stop();
    this.probes.clear();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    // Back-offs and retries never keep a process alive on their own: the agent's connections do.
    t.unref();
    this.timers.add(t);
  }

  private proceed(): void {
    if (!this.podIP && this.onDefaultNetwork()) {
      const ip = this.spec.hostNetwork ? this.deps.hostIP : this.deps.allocateIP(this.uid);
      if (!ip) {
        this.stage = 'waiting-network';
        return;
      }
      this.podIP = ip;
    }
    this.stage = 'starting';
    this.kick();
  }

  /** Runs the next steps; one pass at a time, and another pass when asked while one runs. */
  private kick(): void {
    if (this.stopping()) return;
    if (this.runInFlight) {
      this.runAgain = true;
      return;
    }
    this.runInFlight = true;
    void this.run()
      .catch((err) => this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'pod start failed'))
      .finally(() => {
        this.runInFlight = false;
        if (this.runAgain) {
          this.runAgain = false;
          this.kick();
        }
      });
  }

  /**
   * One pass over the pod: the sandbox, then the init containers in order (each must end with
   * 0 before the next), then every app container that is not running. Idempotent: exits and
   * retries call it again.
   */
  private async run(): Promise<void> {
    if (!this.sandboxReady) {
      try {
        const res = await this.deps.runtime.runPodSandbox(this.pod, { podIP: this.podIP ?? '', podCIDR: this.deps.podCIDR?.() });
        if (res?.podIP) this.podIP = res.podIP;
        if (res?.extraPodIPs?.length) this.extraPodIPs = res.extraPodIPs;
        this.sandboxReady = true;
        this.sandboxFailures = 0;
      } catch (err) {
        if (this.stopping()) return;
        const reason = err instanceof SandboxError ? err.reason : 'FailedCreatePodSandBox';
        this.deps.event?.(this.pod, 'Warning', reason, (err as Error).message);
        this.sandboxFailures++;
        this.report();
        this.later(Math.min(MAX_SANDBOX_BACKOFF_MS, SANDBOX_BACKOFF_MS * 2 ** (this.sandboxFailures - 1)), () => this.kick());
        return;
      }
    }
    if (this.stopping()) return;
    this.report();
    await Promise.all(this.containers.filter((x) => x.ephemeral && (x.state === 'waiting' || x.adopted) && !this.retries.get(x.name)?.pending).map((c) => this.startOne(c)));
    if (this.stopping()) return;
    for (const c of this.containers.filter((x) => x.init)) {
      if (c.state === 'terminated' && c.terminated?.exitCode === 0) continue;
      // Running, failed for good, or waiting for a back-off: its exit or retry comes back here.
      if (c.state !== 'waiting' || this.retries.get(c.name)?.pending) return;
      await this.startOne(c);
      return;
    }
    await Promise.all(this.containers.filter((x) => !x.init && !x.ephemeral && (x.state === 'waiting' || x.adopted) && !this.retries.get(x.name)?.pending).map((c) => this.startOne(c)));
    if (this.stage === 'starting') this.stage = 'running';
  }

  /** Whether the pod's address comes from the node's pod CIDR (it is on the default network). */
  private onDefaultNetwork(): boolean {
    if (this.spec.hostNetwork) return true;
    try {
      return podNetworks(this.pod).includes(DEFAULT_NETWORK);
    } catch {
      // A malformed annotation: the sandbox reports it; until then the pod is treated as a default one.
      return true;
    }
  }

  private stopping(): boolean {
    return this.stage === 'terminating' || this.stage === 'gone' || this.failure !== undefined;
  }

  /** Neither ending nor ended: what a running pod's changes (deadline, images, volumes) still apply to. */
  private live(): boolean {
    return !this.stopping() && !this.finished;
  }

  private containerSpec(c: ContainerRun): Container {
    const list = c.init ? this.spec.initContainers : c.ephemeral ? this.spec.ephemeralContainers : this.spec.containers;
    return list?.find((x) => x.name === c.name) ?? { name: c.name, image: c.image };
  }

  private async startOne(c: ContainerRun): Promise<boolean> {
    const spec = this.containerSpec(c);
    const retry = this.retries.get(c.name) ?? { failures: 0, pending: false, gen: 0 };
    this.retries.set(c.name, retry);
    c.specHash = containerHash(spec);
    try {
      c.started = spec.startupProbe ? false : undefined;
      this.starting.set(c.name, undefined);
      const started = await this.deps.runtime.startContainer(this.pod, spec, (exit) => this.onExit(c, exit), { init: c.init, attempt: c.restartCount });
      const early = this.starting.get(c.name);
      this.starting.delete(c.name);
      if (this.stopping()) return false;
      if (!(c.startedAt && c.containerID && !c.everStarted)) {
        c.startedAt = isoSeconds(started.startedAt);
        c.containerID = started.containerID;
      }
      c.imageID = started.imageID;
      // A container the runtime kept from before an agent restart runs the image it was created
      // with (recorded with it on disk), which the pod may no longer ask for.
      if (started.image && spec.image !== undefined && started.image !== spec.image) c.specHash = containerHash({ ...spec, image: started.image });
      if (started.image) c.image = started.image;
      c.state = 'running';
      c.adopted = false;
      c.reason = c.message = undefined;
      c.everStarted = true;
      retry.failures = 0;
      // A process that ended before we heard it started (a quick init container) ends now.
      if (early) this.onExit(c, early);
      else if (!c.ephemeral) this.watchProbes(c, spec);
      this.report();
      // The pod may have changed while the container started.
      this.applySpecChanges();
      return true;
    } catch (err) {
      this.starting.delete(c.name);
      if (this.stopping()) return false;
      const e = err as Error;
      const reason = err instanceof ContainerStartError ? err.reason : 'CreateContainerError';
      c.adopted = false;
      // What it waits to run is the image the pod asks for now.
      if (spec.image) c.image = spec.image;
      retry.failures++;
      const delay = Math.min(MAX_BACKOFF_MS, this.deps.restartBackoffMs * 2 ** (retry.failures - 1));
      c.state = 'waiting';
      c.reason = reason;
      c.message = e.message;
      this.deps.event?.(this.pod, 'Warning', 'Failed', `Error: ${e.message}`);
      this.report();
      retry.pending = true;
      const gen = ++retry.gen;
      this.later(delay, () => {
        if (retry.gen !== gen) return;
        retry.pending = false;
        this.kick();
      });
      // kubelet shows the pull error once, then the back-off while it waits to try again.
      if (reason === 'ErrImagePull') {
        this.later(Math.min(delay, 1000), () => {
          if (c.state !== 'waiting' || c.reason !== 'ErrImagePull' || !retry.pending || retry.gen !== gen) return;
          c.reason = 'ImagePullBackOff';
          c.message = `Back-off pulling image "${spec.image ?? ''}"`;
          this.deps.event?.(this.pod, 'Normal', 'BackOff', c.message);
          this.report();
        });
      }
      return false;
    }
  }

  private watchProbes(c: ContainerRun, spec: Container): void {
    this.probes.get(c.name)?.();
    const runtime = this.deps.runtime;
    const stop = this.deps.prober.watch(
      {
        pod: this.pod,
        container: spec,
        podIP: this.podIP ?? '',
        exec: (command, timeoutMs) => {
          if (!runtime.execInContainer) return Promise.reject(new Error('this runtime cannot run exec probes'));
          return runtime.execInContainer(this.pod, c.name, command, timeoutMs);
        },
      },
      {
        readiness: (ready) => {
          if (c.state !== 'running' || c.ready === ready) return;
          c.ready = ready;
          this.report();
        },
        started: () => {
          if (c.state !== 'running' || c.started !== false) return;
          c.started = true;
          this.report();
        },
        failed: (kind, message) => {
          if (c.state !== 'running') return;
          this.deps.event?.(this.pod, 'Normal', 'Killing', `Container ${c.name} failed ${kind.toLowerCase()} probe, will be restarted`);
          void message;
          const grace = (this.pod.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30;
          void runtime.stopContainer?.(this.pod, c.name, grace * 1000).catch((err) => this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping a container failed'));
        },
        unhealthy: (_kind, message) => this.deps.event?.(this.pod, 'Warning', 'Unhealthy', message),
      },
    );
    this.probes.set(c.name, stop);
  }

  private onExit(c: ContainerRun, exit: ContainerExit): void {
    if (this.stage === 'terminating' || this.stage === 'gone') return;
    if (this.starting.has(c.name)) {
      this.starting.set(c.name, exit);
      return;
    }
    this.probes.get(c.name)?.();
    this.probes.delete(c.name);
    const term = { exitCode: exit.exitCode, reason: exit.reason, startedAt: c.startedAt, finishedAt: isoSeconds(exit.finishedAt), containerID: c.containerID };
    c.ready = false;
    if (this.failure) {
      // Stopped at the active deadline: it stays ended.
      c.state = 'terminated';
      c.terminated = term;
      this.exitWaiters.get(c.name)?.();
      this.exitWaiters.delete(c.name);
      this.report();
      return;
    }
    if (c.ephemeral) {
      // Never restarted, whatever the pod's restart policy; the pod's phase does not depend on it.
      c.state = 'terminated';
      c.terminated = term;
      this.report();
      return;
    }
    if (c.killedForChange) {
      // kubelet starts a container whose definition changed again at once, whatever the restart policy.
      c.killedForChange = false;
      c.lastTerminated = term;
      c.restartCount++;
      c.state = 'waiting';
      c.reason = 'ContainerCreating';
      c.message = undefined;
      this.report();
      this.kick();
      return;
    }
    const policy = this.spec.restartPolicy ?? 'Always';
    const restart = !c.init && (policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0));
    const initRestart = c.init && exit.exitCode !== 0 && policy !== 'Never';
    if (restart || initRestart) {
      c.lastTerminated = term;
      c.restartCount++;
      c.state = 'waiting';
      c.reason = 'CrashLoopBackOff';
      const delay = Math.min(MAX_BACKOFF_MS, this.deps.restartBackoffMs * 2 ** (c.restartCount - 1));
      c.message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`;
      this.deps.event?.(this.pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`);
      this.report();
      const retry = this.retries.get(c.name) ?? { failures: 0, pending: false, gen: 0 };
      this.retries.set(c.name, retry);
      retry.pending = true;
      const gen = ++retry.gen;
      this.later(delay, () => {
        if (retry.gen !== gen) return;
        retry.pending = false;
        this.kick();
      });
      return;
    }
    c.state = 'terminated';
    c.terminated = term;
    this.report();
    // An init container that succeeded lets the next step go.
    if (c.init && exit.exitCode === 0) this.kick();
    const phase = podPhase(this.containers, policy);
    if (phase === 'Succeeded' || phase === 'Failed') {
      // A finished pod keeps its status (and podIP) but holds no sandbox or address any more.
      this.finished = true;
      this.cancelAll();
      this.sandboxReady = false;
      void this.deps.runtime
        .stopPodSandbox(this.pod, 0)
        .catch((err) => this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping sandbox failed'))
        .then(() => this.deps.releaseIP(this.uid));
    }
  }

  private async terminate(): Promise<void> {
    this.stage = 'terminating';
    this.cancelAll();
    const grace = this.pod.metadata.deletionGracePeriodSeconds ?? this.spec.terminationGracePeriodSeconds ?? 30;
    try {
      await this.deps.runtime.stopPodSandbox(this.pod, grace * 1000);
      await this.deps.runtime.removePodSandbox?.(this.pod);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping sandbox failed');
    } finally {
      this.deps.releaseIP(this.uid);
    }
    if ((this.stage as Stage) === 'gone') return;
    await this.deps.confirmDeletion(this.pod);
  }

  private signature(st: Json | undefined): string {
    if (!st) return '';
    const ready = ((st.conditions as Json[]) ?? []).find((c) => c.type === 'Ready')?.status;
    const cs = [...((st.containerStatuses as Json[]) ?? []), ...((st.ephemeralContainerStatuses as Json[]) ?? [])].map(
      (c) => `${c.name}:${c.ready}:${c.restartCount}:${Object.keys((c.state as Json) ?? {})[0]}`,
    );
    return `${st.phase}|${st.podIP ?? ''}|${ready}|${cs.join(',')}`;
  }

  private report(force = false): void {
    if (this.stage === 'gone') return;
    const status = buildPodStatus({
      containers: this.containers,
      restartPolicy: this.spec.restartPolicy ?? 'Always',
      podIP: this.podIP,
      extraPodIPs: this.extraPodIPs,
      hostIP: this.deps.hostIP,
      startTime: this.startTime,
      qosClass: this.apiStatus.qosClass as string | undefined,
      readinessGates: (this.spec.readinessGates ?? []).map((g) => g.conditionType),
      existingConditions: ((this.apiStatus.conditions as Json[]) ?? []).filter((c) => typeof c.type === 'string'),
      clock: this.clock,
      failure: this.failure,
    });
    const full = JSON.stringify(status);
    if (!force && full === this.lastFull) return;
    this.lastFull = full;
    this.recent.push(this.signature(status));
    if (this.recent.length > 8) this.recent.shift();
    this.deps.reportStatus(this.pod, status);
  }

  /** For tests: the phase the worker would report now. */
  get phase(): string {
    return this.failure ? 'Failed' : podPhase(this.containers, this.spec.restartPolicy ?? 'Always');
  }

  /**
   * Brings the pod's API-data volumes up to date (a ConfigMap or Secret it mounts changed, its
   * labels changed, or the periodic resync). One refresh at a time; a failure is reported as an
   * event and the volume keeps its last contents, as kubelet does.
   */
  refreshVolumes(): void {
    const refresh = this.deps.refreshVolumes;
    if (!refresh || !this.sandboxReady || !this.live()) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    void refresh(this.pod)
      .then((changed) => {
        if (changed) this.deps.log.debug({ pod: this.key }, 'volumes refreshed');
        this.refreshError = undefined;
      })
      .catch((err) => {
        const msg = (err as Error).message;
        // The same failure on every resync would flood the events.
        if (msg !== this.refreshError && !this.stopping()) {
          this.deps.log.warn({ err: msg, pod: this.key }, 'refreshing volumes failed');
          this.deps.event?.(this.pod, 'Warning', 'FailedMount', msg);
        }
        this.refreshError = msg;
      })
      .finally(() => {
        this.refreshing = false;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refreshVolumes();
        }
      });
  }

  /** (Re)schedules the active deadline check: at start and whenever the pod changes. */
  private armDeadline(): void {
    if (this.deadlineTimer) {
      clearTimeout(this.deadlineTimer);
      this.timers.delete(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    if (!this.live()) return;
    const left = activeDeadlineLeftMs(this.startTime, this.spec.activeDeadlineSeconds);
    if (left === undefined) return;
    if (left <= 0) {
      void this.exceedDeadline();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.deadlineTimer = undefined;
      this.armDeadline();
    }, Math.min(left, MAX_TIMER_MS));
    t.unref();
    this.timers.add(t);
    this.deadlineTimer = t;
  }

  /**
   * kubelet's active deadline: the pod fails with DeadlineExceeded, its containers are stopped
   * (with the pod's grace period) and not restarted, and its sandbox and address are released.
   */
  private async exceedDeadline(): Promise<void> {
    if (!this.live()) return;
    this.failure = DEADLINE_EXCEEDED;
    this.deps.log.info({ pod: this.key }, 'active deadline exceeded; stopping the pod');
    this.deps.event?.(this.pod, 'Normal', DEADLINE_EXCEEDED.reason, DEADLINE_EXCEEDED.message);
    this.cancelAll();
    for (const c of this.containers) c.ready = false;
    this.report();
    const runtime = this.deps.runtime;
    const graceMs = (this.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    if (runtime.stopContainer) {
      await Promise.all(
        this.containers
          .filter((c) => c.state === 'running')
          .map(async (c) => {
            const exited = new Promise<void>((resolve) => this.exitWaiters.set(c.name, resolve));
            this.deps.event?.(this.pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
            try {
              await runtime.stopContainer!(this.pod, c.name, graceMs);
            } catch (err) {
              this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping a container failed');
            }
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, DEADLINE_EXIT_WAIT_MS)))]);
            clearTimeout(timer);
            this.exitWaiters.delete(c.name);
          }),
      );
    }
    if (this.stage === 'gone' || this.stage === 'terminating') return;
    this.sandboxReady = false;
    try {
      // Containers stopped one by one above have had their grace period; otherwise it applies here.
      await runtime.stopPodSandbox(this.pod, runtime.stopContainer ? 0 : graceMs);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping sandbox failed');
    }
    this.deps.releaseIP(this.uid);
    // A container whose end we did not hear of (the runtime stops only whole pods, an exit got
    // lost) is shown the way kubelet shows one it could not find.
    for (const c of this.containers) {
      if (c.state !== 'running') continue;
      c.state = 'terminated';
      c.terminated = { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: c.startedAt, finishedAt: isoSeconds() };
    }
    this.report();
  }

  /**
   * Running containers whose definition no longer matches the pod (a new image) are stopped and
   * started again; one waiting out a failed start's back-off tries the new definition at once.
   */
  private applySpecChanges(): void {
    if (!this.live()) return;
    let retryNow = false;
    for (const c of this.containers) {
      // A completed init container is not run again for a new image (nor is a running one replaced).
      if (c.init || c.ephemeral || c.specHash === undefined) continue;
      const spec = this.containerSpec(c);
      if (containerHash(spec) === c.specHash) continue;
      if (c.state === 'running' && !c.adopted && !this.starting.has(c.name)) {
        if (c.killedForChange) continue;
        const stop = this.deps.runtime.stopContainer;
        if (!stop) continue;
        c.killedForChange = true;
        this.deps.event?.(this.pod, 'Normal', 'Killing', `Container ${c.name} definition changed, will be restarted`);
        const graceMs = (this.spec.terminationGracePeriodSeconds ?? 30) * 1000;
        void stop.call(this.deps.runtime, this.pod, c.name, graceMs).catch((err) => {
          c.killedForChange = false;
          this.deps.log.warn({ err: (err as Error).message, pod: this.key }, 'stopping a changed container failed');
        });
      } else if (c.state === 'waiting') {
        const retry = this.retries.get(c.name);
        if (retry?.pending) {
          retry.pending = false;
          retry.failures = 0;
          retry.gen++;
          retryNow = true;
        }
      }
    }
    if (retryNow) this.kick();
  }
}
