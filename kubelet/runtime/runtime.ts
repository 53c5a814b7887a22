// The runtime seen by the pod worker: a pod sandbox (the pod's shared namespaces, network and
// volumes) and containers in it, in the shape CRI gives containerd and CRI-O. The simulated
// runtime pretends; the OCI runtime (conmon + crun/runc) runs real containers. The pod worker is
// the only caller and the only place that knows the order of steps.
import type { KObject } from '../../pkg/api/types.js';

/** The parts of a pod a runtime needs: identity, annotations and the spec. */
export type Pod = KObject;

export interface Probe {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  exec?: { command?: string[] };
  httpGet?: { path?: string; port: number | string; host?: string; scheme?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  ports?: { name?: string; containerPort: number; protocol?: string; hostPort?: number; hostIP?: string }[];
  [field: string]: unknown;
}

export interface SandboxConfig {
  /** the pod's address on the node's pod network (the node's address for hostNetwork pods); empty for a pod not on the default network */
  podIP: string;
  /** the node's pod CIDR the address comes from */
  podCIDR?: string;
}

export interface SandboxResult {
  /** the pod's primary address when it is not on the default network (its first network's) */
  podIP?: string;
  /** the pod's other addresses, one per further network (networking.skiff.dev/networks) */
  extraPodIPs?: string[];
}

export interface ContainerExit {
  exitCode: number;
  /** Completed, Error, OOMKilled, ... as kubelet reports them */
  reason: string;
  finishedAt: Date;
  message?: string;
}

export interface StartedContainer {
  /** runtime-specific id, shown as containerID (scheme://id) */
  containerID: string;
  imageID: string;
  startedAt: Date;
  /** the image reference as the node has it (containerStatuses[].image) */
  image?: string;
}

export interface StartOptions {
  init?: boolean;
  /** the container's restart count: a runtime that keeps containers across agent restarts finds the one of this attempt */
  attempt?: number;
}

/** A failure with the reason kubelet reports in the container's waiting state. */
export class ContainerStartError extends Error {
  constructor(
    /** ErrImagePull, ErrImageNeverPull, CreateContainerConfigError, CreateContainerError, RunContainerError */
    readonly reason: string,
    message: string,
    /** true when the error will not go away by retrying (ErrImageNeverPull, InvalidImageName) */
    readonly permanent = false,
  ) {
    super(message);
  }
}

/** The sandbox could not be made (a volume that cannot be mounted, the network): kubelet's FailedMount / FailedCreatePodSandBox. */
export class SandboxError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** A pod sandbox found on the node from before an agent restart. */
export interface SandboxRecord {
  uid: string;
  namespace: string;
  name: string;
  podIP: string;
}

/** A command run to its end in a container; output is stdout and stderr together (probe messages, hooks). */
export interface ExecResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export interface Runtime {
  /** what the Node reports as containerRuntimeVersion, e.g. simulated://0.1 */
  readonly version: string;
  /** Sets up the pod's network, volumes and files. Idempotent: a sandbox that exists is reused. */
  runPodSandbox(pod: Pod, config: SandboxConfig): Promise<void | SandboxResult>;
  /**
   * Creates and starts one container; resolves once it runs. onExit is called once when the
   * process ends on its own (not when stopped through stopPodSandbox). A runtime whose containers
   * outlive the agent returns the running container of this attempt instead of starting another.
   */
  startContainer(pod: Pod, container: Container, onExit: (exit: ContainerExit) => void, opts?: StartOptions): Promise<StartedContainer>;
  /** Stops one container (a failed liveness probe): its onExit fires as for any exit. */
  stopContainer?(pod: Pod, containerName: string, graceMs: number): Promise<void>;
  /** Runs a command in a running container (exec probes, preStop hooks). */
  execInContainer?(pod: Pod, containerName: string, command: string[], timeoutMs: number): Promise<ExecResult>;
  /** Stops every container of the pod (preStop, SIGTERM, then SIGKILL after graceMs) and releases the network. */
  stopPodSandbox(pod: Pod, graceMs: number): Promise<void>;
  /** Removes what stopPodSandbox left for `kubectl logs` (exited containers, logs, volumes); the pod is gone from the API. */
  removePodSandbox?(pod: Pod): Promise<void>;
  /** Sandboxes on this node, from before a restart too. */
  listPodSandboxes?(): Promise<SandboxRecord[]>;
}

export class RuntimeNotAvailableError extends Error {}

export const RUNTIMES = ['crun', 'runc', 'simulated'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
