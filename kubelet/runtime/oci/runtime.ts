// Containers run by conmon + crun/runc, CRI-O style: create (bundle on disk, conmon launched, the
// runtime's create done), start, stop (SIGTERM, SIGKILL after the grace period), kill, remove,
// state, list and exec. All state is on disk under `root` and in the runtime's own state dir, so a
// new object over the same root (an agent restart) sees the same containers.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../../pkg/log/logger.js';
import { oomKillCount, removeCgroupTree, type CgroupLayout } from './cgroups.js';
import { launchConmon } from './conmon.js';
import { conmonPaths, containerDir, ensureLayout, layoutOf, listIds, readMeta, removeContainerFiles, writeJson, writeMeta, type ContainerMeta, type Layout } from './container-dir.js';
import { runExec, spawnExec, type ExecHandle, type ExecOptions, type ExecResult } from './exec.js';
import { ExitWatcher, readExitFile } from './exit-watcher.js';
import { detectOciBinary, findExecutable, OciRuntimeError, runRuntime, runtimeState, type OciBinary, type OciRuntimeName } from './oci-binary.js';
import { podCgroupParent } from './spec.js';
import type { OciSpec } from './spec-types.js';

export interface OciRuntimeOptions {
  /** container dirs, conmon's exit dir and sockets live here (e.g. <data>/containers) */
  root: string;
  /** crun or runc; detected when absent (crun preferred) */
  runtime?: OciRuntimeName;
  runtimePath?: string;
  conmonPath?: string;
  /** the runtime's --root; default <root>/state */
  stateRoot?: string;
  log?: Logger;
}

export interface PodRef {
  uid: string;
  name: string;
  namespace: string;
}

export interface CreateContainerRequest {
  /** default: a new random id (newContainerId) */
  id?: string;
  /** the Kubernetes container name */
  name: string;
  pod: PodRef;
  /** restart count, as in the CRI log path <attempt>.log */
  attempt?: number;
  /** from buildSpec; its cgroupsPath should come from containerCgroupPath(pod.uid, id) */
  spec: OciSpec;
  /** CRI log file; default <container dir>/container.log */
  logPath?: string;
  image?: string;
  imageID?: string;
  labels?: Record<string, string>;
  logSizeMax?: number;
  /** keep the container's stdin open for attach (Kubernetes' container.stdin) */
  stdin?: boolean;
  /** close stdin after the first attach session ends (Kubernetes' container.stdinOnce) */
  stdinOnce?: boolean;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  name: string;
  pod: PodRef;
  attempt: number;
  state: ContainerState;
  /** host pid of the container's process while it is created or running */
  pid?: number;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** Completed, Error, OOMKilled, or ContainerStatusUnknown */
  reason?: string;
  message?: string;
  logPath: string;
  cgroupsPath: string;
  image?: string;
  imageID?: string;
  labels: Record<string, string>;
}

export class ContainerNotFoundError extends Error {}

interface ExitInfo {
  exitCode: number;
  reason: string;
  finishedAt: string;
}

const EXIT_WAIT_AFTER_KILL_MS = 10_000;

export class OciContainerRuntime {
  private readonly layout: Layout;
  private readonly watcher: ExitWatcher;

  private constructor(
    readonly bin: OciBinary,
    private readonly conmonPath: string,
    root: string,
    private readonly log?: Logger,
  ) {
    this.layout = layoutOf(root);
    this.watcher = new ExitWatcher(this.layout.exits);
  }

  static async open(opts: OciRuntimeOptions): Promise<OciContainerRuntime> {
    const conmonPath = opts.conmonPath ?? findExecutable('conmon');
    if (!conmonPath) throw new OciRuntimeError('conmon not found on PATH (Debian: apt-get install conmon)');
    const stateRoot = opts.stateRoot ?? join(opts.root, 'state');
    const bin = await detectOciBinary({ runtime: opts.runtime, path: opts.runtimePath, stateRoot });
    await ensureLayout(layoutOf(opts.root));
    await mkdir(stateRoot, { recursive: true, mode: 0o700 });
    return new OciContainerRuntime(bin, conmonPath, opts.root, opts.log);
  }

  /** containerRuntimeVersion as a Node reports it */
  get version(): string {
    return `${this.bin.name}://${this.bin.version}`;
  }

  get cgroupLayout(): CgroupLayout {
    return this.bin.layout;
  }

  newContainerId(): string {
    return randomBytes(16).toString('hex');
  }

  /** The bundle directory of a container (config.json, conmon's files). */
  bundleOf(id: string): string {
    return containerDir(this.layout, id);
  }

  async create(req: CreateContainerRequest): Promise<ContainerStatus> {
    const id = req.id ?? this.newContainerId();
    if (!/^[\w][\w.-]{0,127}$/.test(id)) throw new OciRuntimeError(`invalid container id "${id}"`);
    const dir = containerDir(this.layout, id);
    if (existsSync(dir)) throw new OciRuntimeError(`container ${id} already exists`);
    const logPath = req.logPath ?? join(dir, 'container.log');
    const paths = conmonPaths(this.layout, id, logPath);
    await mkdir(paths.persistDir, { recursive: true, mode: 0o700 });
    await mkdir(dirname(logPath), { recursive: true });
    const meta: ContainerMeta = {
      id,
      name: req.name,
      pod: req.pod,
      attempt: req.attempt ?? 0,
      image: req.image,
      imageID: req.imageID,
      runtime: this.bin.name,
      cgroupsPath: req.spec.linux.cgroupsPath,
      logPath,
      createdAt: new Date().toISOString(),
      labels: req.labels,
    };
    await writeJson(join(dir, 'config.json'), req.spec);
    await writeMeta(this.layout, meta);
    try {
      const pid = await launchConmon({
        conmonPath: this.conmonPath,
        id,
        name: `${req.pod.namespace}_${req.pod.name}_${req.name}_${meta.attempt}`,
        bin: this.bin,
        paths,
        terminal: req.spec.process.terminal === true,
        stdin: req.stdin === true,
        leaveStdinOpen: req.stdinOnce !== true,
        logSizeMax: req.logSizeMax,
      });
      this.log?.debug({ id, pid, name: req.name }, 'container created');
    } catch (err) {
      await this.forceCleanup(id, meta.cgroupsPath);
      throw err;
    }
    // conmon returned only once the runtime's create succeeded and wrote the pid file: no need to
    // ask the runtime again (each `crun state` is a process start, ~7 ms of a pod's start-up).
    return { ...this.statusBase(meta), state: 'created', pid: readPid(paths.containerPidFile) };
  }

  /**
   * Starts a created container. The status returned says running as of the start; a process that
   * ended at once is reported by its exit (onExit / state), as with any other exit.
   */
  async start(id: string): Promise<ContainerStatus> {
    const meta = await this.meta(id);
    await runRuntime(this.bin, ['start', id]);
    meta.startedAt = new Date().toISOString();
    await writeMeta(this.layout, meta);
    return { ...this.statusBase(meta), state: 'running', pid: readPid(join(containerDir(this.layout, id), 'pidfile')) };
  }

  /** Sends a signal (name like SIGTERM/TERM or a number) to the container's main process. */
  async kill(id: string, signal: string | number = 'SIGKILL'): Promise<void> {
    await this.meta(id);
    if (readExitFile(this.layout.exits, id)) return;
    const sig = typeof signal === 'number' ? String(signal) : signal.replace(/^SIG/, '');
    try {
      await runRuntime(this.bin, ['kill', id, sig]);
    } catch (err) {
      // The process may have exited between the check and the kill.
      if (readExitFile(this.layout.exits, id) || (await this.waitExit(id, 1000))) return;
      throw err;
    }
  }

  /** SIGTERM, then SIGKILL once graceMs has passed; resolves with the exited status. */
  async stop(id: string, graceMs: number): Promise<ContainerStatus> {
    const st = await this.state(id);
    if (st.state === 'exited' || st.state === 'unknown') return st;
    if (graceMs > 0 && st.state === 'running') {
      await this.kill(id, 'TERM');
      if (await this.waitExit(id, graceMs)) return this.state(id);
    }
    await this.kill(id, 'KILL');
    if (!(await this.waitExit(id, EXIT_WAIT_AFTER_KILL_MS))) {
      throw new OciRuntimeError(`container ${id} did not exit ${EXIT_WAIT_AFTER_KILL_MS} ms after SIGKILL`);
    }
    return this.state(id);
  }

  /** Deletes the container from the runtime and its files; force stops it first. */
  async remove(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const meta = await readMeta(this.layout, id);
    if (!meta) {
      await this.forceCleanup(id);
      return;
    }
    const st = await this.state(id);
    if (st.state === 'running' || st.state === 'created') {
      if (!opts.force) throw new OciRuntimeError(`container ${id} is ${st.state}: stop it first or remove with force`);
      await this.stop(id, 0);
    }
    await this.forceCleanup(id, meta.cgroupsPath);
  }

  private async forceCleanup(id: string, cgroupsPath?: string): Promise<void> {
    try {
      await runRuntime(this.bin, ['delete', '--force', id]);
    } catch (err) {
      if (!(err instanceof OciRuntimeError && /does not exist|not found|no such file/i.test(err.stderr))) throw err;
    }
    await this.waitConmonGone(id);
    if (cgroupsPath) {
      const left = removeCgroupTree(this.bin.layout, cgroupsPath);
      if (left.length > 0) this.log?.warn({ id, left }, 'cgroups still busy after delete');
    }
    await removeContainerFiles(this.layout, id);
  }

  /** conmon exits right after writing the exit file; a conmon still there then is killed. */
  private async waitConmonGone(id: string): Promise<void> {
    const pid = readPid(join(containerDir(this.layout, id), 'conmon.pid'));
    if (!pid || !isConmon(pid)) return;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && isConmon(pid)) await new Promise((r) => setTimeout(r, 20));
    if (isConmon(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** Resolves true once the container has exited, false when timeoutMs passes first. */
  async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    return (await this.watcher.wait(id, timeoutMs)) !== undefined;
  }

  /** Calls fn with the exited status once the container exits; returns a cancel function. */
  onExit(id: string, fn: (status: ContainerStatus) => void): () => void {
    return this.watcher.onExit(id, () => {
      this.state(id).then(fn, (err) => this.log?.error({ id, err }, 'reading the status of an exited container failed'));
    });
  }

  async state(id: string): Promise<ContainerStatus> {
    const meta = await this.meta(id);
    const base = this.statusBase(meta);
    const exit = await this.exitInfo(meta);
    if (exit) return { ...base, state: 'exited', exitCode: exit.exitCode, reason: exit.reason, finishedAt: new Date(exit.finishedAt) };
    const rs = await runtimeState(this.bin, id);
    if (rs?.status === 'running' || rs?.status === 'paused') return { ...base, state: 'running', pid: rs.pid };
    if (rs?.status === 'created' || rs?.status === 'creating') return { ...base, state: 'created', pid: rs.pid };
    if (rs?.status === 'stopped' && (await this.waitExit(id, 2000))) return this.state(id);
    return {
      ...base,
      state: 'unknown',
      reason: 'ContainerStatusUnknown',
      message: rs ? `the runtime reports ${rs.status} but conmon wrote no exit code` : `the runtime does not know container ${id}`,
    };
  }

  async list(): Promise<ContainerStatus[]> {
    const out: ContainerStatus[] = [];
    for (const id of await listIds(this.layout)) {
      try {
        out.push(await this.state(id));
      } catch (err) {
        if (!(err instanceof ContainerNotFoundError)) throw err;
      }
    }
    return out;
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecResult> {
    await this.requireRunning(id);
    return runExec(this.bin, this.bundleOf(id), id, opts);
  }

  /** Streaming exec (kubectl exec): the caller wires the child's stdio and calls cleanup. */
  /** conmon's attach socket of a container (SOCK_SEQPACKET; see kubelet/runtime/oci/attach.ts) */
  attachSocket(id: string): string {
    return join(this.layout.sockets, id, 'attach');
  }

  /** conmon's control FIFO of a container (terminal resizes) */
  controlFifo(id: string): string {
    return join(containerDir(this.layout, id), 'ctl');
  }

  async spawnExec(id: string, opts: ExecOptions): Promise<ExecHandle> {
    await this.requireRunning(id);
    return spawnExec(this.bin, this.bundleOf(id), id, opts);
  }

  /** Removes the pod's cgroup parent once its containers are gone; returns cgroups still busy. */
  removePodCgroup(podUid: string): string[] {
    return removeCgroupTree(this.bin.layout, podCgroupParent(podUid));
  }

  close(): void {
    this.watcher.close();
  }

  private async requireRunning(id: string): Promise<void> {
    const st = await this.state(id);
    if (st.state !== 'running') throw new OciRuntimeError(`container ${id} is ${st.state}, not running`);
  }

  private async meta(id: string): Promise<ContainerMeta> {
    const meta = await readMeta(this.layout, id);
    if (!meta) throw new ContainerNotFoundError(`container ${id} not found`);
    return meta;
  }

  private statusBase(meta: ContainerMeta): Omit<ContainerStatus, 'state'> {
    return {
      id: meta.id,
      name: meta.name,
      pod: meta.pod,
      attempt: meta.attempt,
      createdAt: new Date(meta.createdAt),
      startedAt: meta.startedAt ? new Date(meta.startedAt) : undefined,
      logPath: meta.logPath,
      cgroupsPath: meta.cgroupsPath,
      image: meta.image,
      imageID: meta.imageID,
      labels: meta.labels ?? {},
    };
  }

  /**
   * The exit as first observed, kept in exit.json: the OOM evidence (conmon's oom file, the
   * cgroup's oom_kill counter) is gone once the container is deleted.
   */
  private async exitInfo(meta: ContainerMeta): Promise<ExitInfo | undefined> {
    const dir = containerDir(this.layout, meta.id);
    const file = join(dir, 'exit.json');
    try {
      return JSON.parse(await readFile(file, 'utf8')) as ExitInfo;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const rec = readExitFile(this.layout.exits, meta.id);
    if (!rec) return undefined;
    const oom =
      existsSync(join(dir, 'persist', 'oom')) || existsSync(join(dir, 'oom')) || oomKillCount(this.bin.layout, meta.cgroupsPath) > 0;
    const reason = rec.exitCode === 0 ? 'Completed' : oom ? 'OOMKilled' : 'Error';
    const info: ExitInfo = { exitCode: rec.exitCode, reason, finishedAt: rec.finishedAt.toISOString() };
    await writeJson(file, info);
    return info;
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True while pid is a live conmon (pids get reused; a zombie counts as gone). */
function isConmon(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const m = /^\d+ \((.*)\) (\S)/.exec(stat);
    return !!m && m[1] === 'conmon' && m[2] !== 'Z';
  } catch {
    return false;
  }
}
