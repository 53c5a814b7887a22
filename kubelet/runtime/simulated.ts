// A runtime that starts no processes: containers "run" after a configurable delay and, when the
// pod carries sim.skiff.dev/run-seconds, "exit" after that long with sim.skiff.dev/exit-code.
// Thousands of hollow nodes can run on one machine with it (DESIGN §6, simulated runtime).
import { randomBytes } from 'node:crypto';
import type { Container, ContainerExit, Pod, Runtime, SandboxConfig, StartedContainer } from './runtime.js';

export const RUN_SECONDS_ANNOTATION = 'sim.skiff.dev/run-seconds';
export const EXIT_CODE_ANNOTATION = 'sim.skiff.dev/exit-code';

export interface SimulatedRuntimeOptions {
  /** how long a container takes to start (ms) */
  startDelayMs: number;
  /** the longest a container takes to stop (ms); the grace period bounds it too */
  stopDelayMs: number;
}

export const defaultSimulatedRuntimeOptions: SimulatedRuntimeOptions = { startDelayMs: 200, stopDelayMs: 100 };

function wait(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    timers.add(t);
  });
}

/** Reads the simulated run time of a pod's containers, or undefined when they run forever. */
export function simulatedRun(pod: Pod): { runMs: number; exitCode: number } | undefined {
  const a = pod.metadata.annotations ?? {};
  const raw = a[RUN_SECONDS_ANNOTATION];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`annotation ${RUN_SECONDS_ANNOTATION}="${raw}" must be a non-negative number of seconds`);
  const codeRaw = a[EXIT_CODE_ANNOTATION] ?? '0';
  const exitCode = Number(codeRaw);
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) throw new Error(`annotation ${EXIT_CODE_ANNOTATION}="${codeRaw}" must be an integer 0-255`);
  return { runMs: seconds * 1000, exitCode };
}

interface SimSandbox {
  timers: Set<NodeJS.Timeout>;
  stopped: boolean;
}

export class SimulatedRuntime implements Runtime {
  readonly version = 'simulated://0.1';
  private readonly sandboxes = new Map<string, SimSandbox>();

  constructor(private readonly opts: SimulatedRuntimeOptions = defaultSimulatedRuntimeOptions) {}

  /** Pods with a sandbox (for tests and stats). */
  get sandboxCount(): number {
    return this.sandboxes.size;
  }

  async runPodSandbox(pod: Pod, _config: SandboxConfig): Promise<void> {
    const uid = pod.metadata.uid!;
    if (!this.sandboxes.has(uid)) this.sandboxes.set(uid, { timers: new Set(), stopped: false });
  }

  async startContainer(pod: Pod, container: Container, onExit: (exit: ContainerExit) => void, opts: { init?: boolean } = {}): Promise<StartedContainer> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    if (!sb || sb.stopped) throw new Error(`pod ${pod.metadata.namespace}/${pod.metadata.name} has no running sandbox`);
    // Init containers finish at once: they only gate the app containers.
    const run = opts.init ? { runMs: 0, exitCode: 0 } : simulatedRun(pod);
    await wait(this.opts.startDelayMs, sb.timers);
    if (sb.stopped) throw new Error(`pod ${pod.metadata.namespace}/${pod.metadata.name} was stopped while starting ${container.name}`);
    const startedAt = new Date();
    if (run) {
      const t = setTimeout(() => {
        sb.timers.delete(t);
        if (!sb.stopped) onExit({ exitCode: run.exitCode, reason: run.exitCode === 0 ? 'Completed' : 'Error', finishedAt: new Date() });
      }, run.runMs);
      sb.timers.add(t);
    }
    return {
      containerID: `simulated://${randomBytes(16).toString('hex')}`,
      imageID: `simulated://${container.image ?? ''}`,
      startedAt,
    };
  }

  async stopPodSandbox(pod: Pod, graceMs: number): Promise<void> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    if (!sb) return;
    sb.stopped = true;
    for (const t of sb.timers) clearTimeout(t);
    sb.timers.clear();
    await wait(Math.min(Math.max(0, graceMs), this.opts.stopDelayMs), sb.timers);
    this.sandboxes.delete(pod.metadata.uid!);
  }
}
