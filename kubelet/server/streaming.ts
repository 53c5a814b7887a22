// What the node server needs of the container runtime to serve kubectl logs, exec, attach and
// port-forward: the CRI log files of a container, a process started in it with its stdio as
// streams, and the pod's address. The real runtime (conmon + crun) implements it; the node server
// knows nothing of containers beyond this.
import type { Readable, Writable } from 'node:stream';

export interface ContainerRef {
  namespace: string;
  pod: string;
  container: string;
}

export interface ContainerLogs {
  /** CRI log file of the current (or last) run of the container */
  current?: string;
  /** CRI log file of the run before it (`kubectl logs --previous`) */
  previous?: string;
  /** whether the current run is still going (`-f` ends once it is not) */
  running: boolean;
}

export interface ExecRequest {
  command: string[];
  tty: boolean;
  stdin: boolean;
}

export interface ExecSession {
  /** present when the request asked for stdin */
  stdin?: Writable;
  stdout: Readable;
  /** absent with a tty (stdout and stderr are one stream then) */
  stderr?: Readable;
  /** a tty's new size */
  resize(width: number, height: number): void;
  /** the exit code once the process ends */
  exited: Promise<number>;
  /** ends the process (the client went away) */
  kill(): void;
}

/** The request names something that is not there or not running: the node server answers 404 / 400. */
export class StreamTargetError extends Error {
  constructor(
    message: string,
    readonly code: 400 | 404 = 400,
  ) {
    super(message);
  }
}

export interface StreamingRuntime {
  /** throws StreamTargetError when the pod or container is unknown on this node */
  logs(ref: ContainerRef): Promise<ContainerLogs>;
  /** throws StreamTargetError when the container is not running or the command cannot start */
  exec(ref: ContainerRef, req: ExecRequest): Promise<ExecSession>;
  /** attaches to the container's own stdio (kubectl attach, kubectl run -it); a runtime without it gets output-only attach from the log */
  attach?(ref: ContainerRef, req: { tty: boolean; stdin: boolean }): Promise<ExecSession>;
  /** the pod's IP port-forward connects to; throws StreamTargetError when the pod is not running here */
  podAddress(namespace: string, pod: string): Promise<string>;
}
