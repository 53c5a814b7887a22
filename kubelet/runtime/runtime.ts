// The runtime seen by the pod worker: a pod sandbox (the pod's shared namespaces) and containers
// in it, in the shape CRI gives containerd and CRI-O. The simulated runtime pretends; a conmon +
// crun runtime will implement the same interface. The pod worker is the only caller and the only
// place that knows the order of steps.
import type { KObject } from '../../pkg/api/types.js';

/** The parts of a pod a runtime needs: identity, annotations and the spec. */
export type Pod = KObject;

export interface Container {
  name: string;
  image?: string;
  readinessProbe?: { initialDelaySeconds?: number; periodSeconds?: number };
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  [field: string]: unknown;
}

export interface SandboxConfig {
  /** the pod's address on the node's pod network */
  podIP: string;
}

export interface ContainerExit {
  exitCode: number;
  /** Completed, Error, OOMKilled, ... as kubelet reports them */
  reason: string;
  finishedAt: Date;
}

export interface StartedContainer {
  /** runtime-specific id, shown as containerID (scheme://id) */
  containerID: string;
  imageID: string;
  startedAt: Date;
}

export interface Runtime {
  /** what the Node reports as containerRuntimeVersion, e.g. simulated://0.1 */
  readonly version: string;
  runPodSandbox(pod: Pod, config: SandboxConfig): Promise<void>;
  /**
   * Creates and starts one container; resolves once it runs. onExit is called once when the
   * process ends on its own (not when stopped through stopPodSandbox).
   */
  startContainer(pod: Pod, container: Container, onExit: (exit: ContainerExit) => void, opts?: { init?: boolean }): Promise<StartedContainer>;
  /** Stops every container of the pod (SIGTERM, then SIGKILL after graceMs) and removes the sandbox. */
  stopPodSandbox(pod: Pod, graceMs: number): Promise<void>;
}

export class RuntimeNotAvailableError extends Error {}

export const RUNTIMES = ['crun', 'simulated'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
