// Turns what the pod worker knows about a pod's containers into the API's PodStatus: phase,
// conditions with transition times, container statuses, addresses. Pure functions.

export interface TerminatedState {
  exitCode: number;
  reason: string;
  startedAt?: string;
  finishedAt: string;
  containerID?: string;
  message?: string;
}

export interface ContainerRun {
  name: string;
  image: string;
  init: boolean;
  /** an ephemeral container (kubectl debug): run once, never restarted, no part of the phase or readiness */
  ephemeral?: boolean;
  state: 'waiting' | 'running' | 'terminated';
  /** waiting reason (ContainerCreating, PodInitializing, CrashLoopBackOff, CreateContainerError) */
  reason?: string;
  message?: string;
  startedAt?: string;
  terminated?: TerminatedState;
  lastTerminated?: TerminatedState;
  containerID?: string;
  imageID?: string;
  restartCount: number;
  ready: boolean;
  /** has run at least once */
  everStarted: boolean;
  /** false while a startup probe has not passed yet */
  started?: boolean;
  /** running per the API before an agent restart; the runtime has yet to be asked for it */
  adopted?: boolean;
  /** hash of the definition the container was last started (or tried) with */
  specHash?: string;
  /** being stopped because its definition changed: it starts again at once when it ends */
  killedForChange?: boolean;
}

export type Json = Record<string, unknown>;

export function isoSeconds(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stateOf(c: ContainerRun): Json {
  if (c.state === 'running') return { running: { startedAt: c.startedAt } };
  if (c.state === 'terminated' && c.terminated) return { terminated: { ...c.terminated } };
  return { waiting: { reason: c.reason ?? 'ContainerCreating', ...(c.message ? { message: c.message } : {}) } };
}

export function containerStatus(c: ContainerRun): Json {
  return {
    name: c.name,
    image: c.image,
    imageID: c.imageID ?? '',
    ...(c.containerID ? { containerID: c.containerID } : {}),
    ready: c.ready,
    started: c.state === 'running' && c.started !== false,
    restartCount: c.restartCount,
    state: stateOf(c),
    lastState: c.lastTerminated ? { terminated: { ...c.lastTerminated } } : {},
  };
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** The phase from the containers, as kubelet's getPhase computes it. */
export function podPhase(containers: ContainerRun[], restartPolicy: string): PodPhase {
  const regular = containers.filter((c) => !c.init && !c.ephemeral);
  const inits = containers.filter((c) => c.init);
  if (inits.some((c) => c.state === 'terminated' && c.terminated && c.terminated.exitCode !== 0 && restartPolicy === 'Never')) return 'Failed';
  if (inits.some((c) => !(c.state === 'terminated' && c.terminated?.exitCode === 0))) return 'Pending';
  if (regular.some((c) => !c.everStarted)) return 'Pending';
  const running = regular.filter((c) => c.state === 'running' || c.state === 'waiting').length;
  if (running > 0) return 'Running';
  const failed = regular.some((c) => c.terminated && c.terminated.exitCode !== 0);
  return failed ? 'Failed' : 'Succeeded';
}

export interface ConditionClock {
  /** type → [status, lastTransitionTime] */
  times: Map<string, { status: string; time: string }>;
}

/** Sets a condition, keeping its transition time when its status did not change. */
export function condition(clock: ConditionClock, type: string, status: boolean, reason?: string): Json {
  const s = status ? 'True' : 'False';
  const prev = clock.times.get(type);
  let time = prev?.time;
  if (!prev || prev.status !== s) {
    time = isoSeconds();
    clock.times.set(type, { status: s, time });
  }
  return { type, status: s, lastProbeTime: null, lastTransitionTime: time, ...(reason && !status ? { reason } : {}) };
}

export interface PodStatusInput {
  containers: ContainerRun[];
  restartPolicy: string;
  podIP?: string;
  /** addresses on further networks (networking.skiff.dev/networks), after podIP */
  extraPodIPs?: string[];
  hostIP: string;
  startTime: string;
  qosClass?: string;
  readinessGates: string[];
  /** the pod's conditions as the API has them (for readiness gates set by others) */
  existingConditions: Json[];
  clock: ConditionClock;
  /** the kubelet ended the pod itself (activeDeadlineSeconds): phase Failed with this reason */
  failure?: PodFailure;
}

export interface PodFailure {
  reason: string;
  message: string;
}

export const DEADLINE_EXCEEDED: PodFailure = { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' };

/**
 * Milliseconds left until spec.activeDeadlineSeconds runs out, counted from status.startTime as
 * kubelet does; undefined without a deadline, 0 or less once it has passed.
 */
export function activeDeadlineLeftMs(startTime: string, activeDeadlineSeconds: unknown, now = Date.now()): number | undefined {
  if (typeof activeDeadlineSeconds !== 'number' || !Number.isFinite(activeDeadlineSeconds)) return undefined;
  const start = Date.parse(startTime);
  if (Number.isNaN(start)) return undefined;
  return start + activeDeadlineSeconds * 1000 - now;
}

export function buildPodStatus(inp: PodStatusInput): Json {
  const phase = inp.failure ? 'Failed' : podPhase(inp.containers, inp.restartPolicy);
  const regular = inp.containers.filter((c) => !c.init && !c.ephemeral);
  const inits = inp.containers.filter((c) => c.init);
  const ephemeral = inp.containers.filter((c) => c.ephemeral);
  const initialized = inits.every((c) => c.state === 'terminated' && c.terminated?.exitCode === 0);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = !terminal && regular.every((c) => c.ready);
  const gatesOk = inp.readinessGates.every((g) => inp.existingConditions.some((c) => c.type === g && c.status === 'True'));
  const conds = [
    condition(inp.clock, 'PodReadyToStartContainers', inp.podIP !== undefined),
    condition(inp.clock, 'Initialized', initialized, 'ContainersNotInitialized'),
    condition(inp.clock, 'Ready', containersReady && gatesOk, terminal ? 'PodCompleted' : 'ContainersNotReady'),
    condition(inp.clock, 'ContainersReady', containersReady, terminal ? 'PodCompleted' : 'ContainersNotReady'),
    condition(inp.clock, 'PodScheduled', true),
  ];
  // Conditions others own (readiness gates, DisruptionTarget) are carried over untouched.
  const mine = new Set(conds.map((c) => c.type));
  for (const c of inp.existingConditions) if (!mine.has(String(c.type))) conds.push(c);
  const status: Json = {
    phase,
    conditions: conds,
    hostIP: inp.hostIP,
    hostIPs: [{ ip: inp.hostIP }],
    startTime: inp.startTime,
    containerStatuses: regular.map(containerStatus),
  };
  if (inits.length) status.initContainerStatuses = inits.map(containerStatus);
  if (ephemeral.length) status.ephemeralContainerStatuses = ephemeral.map(containerStatus);
  if (inp.podIP) {
    status.podIP = inp.podIP;
    status.podIPs = [{ ip: inp.podIP }, ...(inp.extraPodIPs ?? []).map((ip) => ({ ip }))];
  }
  if (inp.qosClass) status.qosClass = inp.qosClass;
  if (inp.failure) {
    status.reason = inp.failure.reason;
    status.message = inp.failure.message;
  }
  return status;
}
