// Pods as real containers, the kubelet's "kuberuntime" part: a sandbox per pod (a pinned network
// namespace on the node's bridge, the pod's volumes and /etc files), and per container an image
// from the node's store, an overlay root filesystem, an OCI spec and a conmon + crun/runc process.
// Everything is recorded on disk (DIR/pods/<uid>/sandbox.json, the OCI runtime's container
// records, CRI logs under DIR/logs), so an agent that restarts finds its pods and their running
// containers again and restarts none of them.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { oomScoreAdjust } from '../../pkg/api/qos.js';
import type { KObject } from '../../pkg/api/types.js';
import { isNotFound, resourcePath, type GVR, type RestClient } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import type { Logger } from '../../pkg/log/logger.js';
import { ImageStore, familiarName, mountRootfs, unmountRootfs, type ImageRecord } from '../images/index.js';
import { credentialsFromPullSecrets, defaultPullPolicy, ensureImage, type PullPolicy } from '../images/pull.js';
import { PodNetwork, type HostPortMapping } from '../network/pod-network.js';
import { intToIp, ipToInt } from '../network/pod-ips.js';
import { runTool } from '../network/cni.js';
import { PodVolumes } from '../volumes/pod-volumes.js';
import { writePodEtcFiles } from '../volumes/etc-files.js';
import type { ObjectSource } from '../volumes/sources.js';
import { apiServiceLister, resolveEnv } from '../envvars.js';
import { apiTokenRequester, ServiceAccountTokenCache } from '../volumes/service-account-token.js';
import { DEFAULT_NETWORK, podNetworks } from '../../pkg/api/networks.js';
import { StreamTargetError, type ContainerLogs, type ContainerRef, type ExecRequest, type ExecSession, type StreamingRuntime } from '../server/streaming.js';
import { OciContainerRuntime, type ContainerStatus } from './oci/runtime.js';
import { buildSpec, containerCgroupPath, type BindMount } from './oci/spec.js';
import { resolveImageUser } from './oci/image-user.js';
import { spawnAttach } from './oci/attach.js';
import { resolvePort } from '../prober/probe-spec.js';
import { writeJson } from './oci/container-dir.js';
import type { OciRuntimeName } from './oci/oci-binary.js';
import { ContainerStartError, SandboxError, type SandboxResult, type Container, type ContainerExit, type ExecResult, type Pod, type Runtime, type SandboxConfig, type SandboxRecord, type StartedContainer, type StartOptions } from './runtime.js';

export interface OciPodRuntimeOptions {
  /** the agent's data dir: images/, runtime/, pods/, logs/, network/ below it */
  dataDir: string;
  runtime?: OciRuntimeName;
  nodeName: string;
  hostIP: string;
  /** reads ConfigMaps, Secrets and pull secrets for the pods of this node */
  client: RestClient;
  /** the cluster's pod range (not masqueraded between pods); default the node's pod CIDR */
  clusterCIDR?: string;
  bridge?: string;
  netnsPrefix?: string;
  /** MTU of the pods' interfaces (the overlay's: underlay − 50) */
  mtu?: number;
  /** nameservers for ClusterFirst pods; a function of the node's pod CIDR when the node serves the DNS itself (on the bridge gateway) */
  clusterDNS?: string[] | ((podCIDR: string | undefined) => string[] | undefined);
  clusterDomain?: string;
  insecureRegistries?: string[];
  allocatable?: { cpu: string; memory: string };
  /** puts the pod on its further networks (annotation networking.skiff.dev/networks); returns its addresses there */
  attachNetworks?: (pod: { uid: string; namespace: string; name: string }, netnsPath: string, networks: string[]) => Promise<{ ip: string; prefix: number; interface: string }[]>;
  detachNetworks?: (uid: string) => Promise<void>;
  /** kubelet events (Pulling, Pulled, Created, Started, Killing, FailedPreStopHook, ...) */
  event?: (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  log?: Logger;
}

interface SandboxFile {
  uid: string;
  namespace: string;
  name: string;
  podIP: string;
  hostNetwork: boolean;
  netnsPath?: string;
  /** the node's pod CIDR when the sandbox was made (to release it after an agent restart) */
  podCIDR?: string;
}

interface Sandbox extends SandboxFile {
  dir: string;
  stopped: boolean;
  volumes: PodVolumes;
  etcMounts: BindMount[];
  /** containers by Kubernetes name, oldest attempt first */
  containers: Map<string, ContainerRec[]>;
}

interface ContainerRec {
  id: string;
  name: string;
  attempt: number;
  /** its exit was handed to the pod worker (or it was stopped on purpose) */
  settled: boolean;
  cancelExit?: () => void;
}

// kubelet keeps the previous container of each name for `kubectl logs --previous`.
const KEEP_EXITED_PER_NAME = 1;
const EXEC_STOP_GRACE_MS = 2000;
// Without CAP_SYS_RESOURCE in the agent's user namespace a container cannot be given more open
// files than the agent may have (runtime-notes pitfall 2): take the agent's own hard limit.
const NOFILE_HARD = readNofileHard();

function readNofileHard(): number {
  try {
    const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const n = m && m[1] !== 'unlimited' ? Number(m[1]) : 1_048_576;
    return Number.isFinite(n) && n > 0 ? n : 1_048_576;
  } catch {
    return 1_048_576;
  }
}

export class OciPodRuntime implements Runtime, StreamingRuntime {
  private readonly sandboxes = new Map<string, Sandbox>();
  private networkP?: Promise<PodNetwork>;
  private networkCIDR?: string;
  private readonly sources: ObjectSource;
  /** tokens of the pods' projected serviceAccountToken sources, until their pod goes */
  private readonly tokens: ServiceAccountTokenCache;

  private constructor(
    readonly oci: OciContainerRuntime,
    readonly images: ImageStore,
    private readonly opts: OciPodRuntimeOptions,
  ) {
    const get = async (gvr: GVR, ns: string, name: string): Promise<KObject | undefined> => {
      try {
        return await opts.client.get(resourcePath(gvr, ns, name));
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    };
    this.tokens = new ServiceAccountTokenCache(apiTokenRequester(opts.client));
    this.sources = {
      configMap: (ns, n) => get(R.configmaps, ns, n),
      secret: (ns, n) => get(R.secrets, ns, n),
      services: apiServiceLister(opts.client),
      serviceAccountToken: (pod, src) => this.tokens.get(pod, src),
    };
  }

  static async open(opts: OciPodRuntimeOptions): Promise<OciPodRuntime> {
    const oci = await OciContainerRuntime.open({ root: join(opts.dataDir, 'runtime'), runtime: opts.runtime, log: opts.log });
    const images = await ImageStore.open(join(opts.dataDir, 'images'));
    const rt = new OciPodRuntime(oci, images, opts);
    await rt.recover();
    return rt;
  }

  get version(): string {
    return this.oci.version;
  }

  private get podsDir(): string {
    return join(this.opts.dataDir, 'pods');
  }

  /** the CRI log dir of a pod, as /var/log/pods/<ns>_<name>_<uid> */
  private logDir(ns: string, name: string, uid: string): string {
    return join(this.opts.dataDir, 'logs', `${ns}_${name}_${uid}`);
  }

  private newSandbox(f: SandboxFile): Sandbox {
    const dir = join(this.podsDir, f.uid);
    return {
      ...f,
      dir,
      stopped: false,
      volumes: new PodVolumes({ podDir: dir, sources: this.sources, nodeName: this.opts.nodeName, hostIP: this.opts.hostIP }),
      etcMounts: [],
      containers: new Map(),
    };
  }

  /** Reads the sandboxes and containers a previous agent left on disk. */
  private async recover(): Promise<void> {
    let uids: string[] = [];
    try {
      uids = await readdir(this.podsDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const uid of uids) {
      try {
        const f = JSON.parse(await readFile(join(this.podsDir, uid, 'sandbox.json'), 'utf8')) as SandboxFile;
        this.sandboxes.set(f.uid, this.newSandbox(f));
      } catch {
        // A pod dir without a record never got a sandbox: nothing runs from it.
        await rm(join(this.podsDir, uid), { recursive: true, force: true }).catch(() => undefined);
      }
    }
    for (const c of await this.oci.list()) {
      const sb = this.sandboxes.get(c.pod.uid);
      if (!sb) {
        // A container whose pod record is gone cannot be served: remove it.
        this.opts.log?.warn({ id: c.id, pod: `${c.pod.namespace}/${c.pod.name}` }, 'removing a container without a pod sandbox');
        await this.removeContainer(c.id).catch(() => undefined);
        continue;
      }
      const list = sb.containers.get(c.name) ?? [];
      list.push({ id: c.id, name: c.name, attempt: c.attempt, settled: false });
      list.sort((a, b) => a.attempt - b.attempt);
      sb.containers.set(c.name, list);
    }
    // Only the newest container of a name may still be news to the pod worker.
    for (const sb of this.sandboxes.values()) for (const list of sb.containers.values()) list.slice(0, -1).forEach((r) => (r.settled = true));
  }

  async listPodSandboxes(): Promise<SandboxRecord[]> {
    return [...this.sandboxes.values()].map((s) => ({ uid: s.uid, namespace: s.namespace, name: s.name, podIP: s.podIP }));
  }

  /** The node's pod network (bridge, NAT), opened once for the node's pod CIDR. */
  openNetwork(podCIDR: string): Promise<PodNetwork> {
    if (this.networkP && this.networkCIDR === podCIDR) return this.networkP;
    this.networkCIDR = podCIDR;
    this.networkP = PodNetwork.open({
      stateDir: join(this.opts.dataDir, 'network'),
      podCIDR,
      clusterCIDR: this.opts.clusterCIDR,
      bridge: this.opts.bridge,
      netnsPrefix: this.opts.netnsPrefix,
      mtu: this.opts.mtu,
    });
    this.networkP.catch(() => {
      this.networkP = undefined;
    });
    return this.networkP;
  }

  async runPodSandbox(pod: Pod, config: SandboxConfig): Promise<SandboxResult> {
    const uid = pod.metadata.uid!;
    const spec = (pod.spec ?? {}) as { hostNetwork?: boolean; containers?: Container[]; initContainers?: Container[] };
    let sb = this.sandboxes.get(uid);
    if (!sb) {
      sb = this.newSandbox({ uid, namespace: pod.metadata.namespace!, name: pod.metadata.name!, podIP: config.podIP, hostNetwork: spec.hostNetwork === true });
      this.sandboxes.set(uid, sb);
    }
    sb.stopped = false;
    await mkdir(sb.dir, { recursive: true, mode: 0o750 });
    let nets: string[];
    try {
      nets = podNetworks(pod);
    } catch (e) {
      throw new SandboxError('FailedCreatePodSandBox', (e as Error).message);
    }
    const onDefault = nets.includes(DEFAULT_NETWORK);
    const extra = nets.filter((n) => n !== DEFAULT_NETWORK);
    // A pod on the default network alone has its address already: its volumes and /etc files are
    // prepared while its network is set up (a start-up's two slowest independent steps).
    const early = extra.length ? undefined : this.podFiles(pod, sb, undefined);
    early?.catch(() => undefined);
    if (!sb.hostNetwork) {
      if (!config.podCIDR) throw new SandboxError('FailedCreatePodSandBox', 'the node has no pod CIDR yet');
      try {
        const net = await this.openNetwork(config.podCIDR);
        // A pod only on its own networks gets a namespace with lo here and its interfaces below.
        const st = await net.setUp({ uid, namespace: sb.namespace, name: sb.name }, onDefault ? sb.podIP : null, onDefault ? hostPorts(spec.containers ?? []) : []);
        sb.netnsPath = st.netnsPath;
        sb.podCIDR = config.podCIDR;
      } catch (e) {
        throw new SandboxError('FailedCreatePodSandBox', `failed to set up the pod network: ${(e as Error).message}`);
      }
    }
    // Recorded before anything else can fail, so a restarted agent finds (and can release) the namespace.
    await saveSandbox(sb);
    let extraPodIPs: string[] | undefined;
    if (extra.length) {
      if (sb.hostNetwork || !sb.netnsPath) throw new SandboxError('FailedCreatePodSandBox', `a hostNetwork pod cannot join networks (${extra.join(', ')})`);
      if (!this.opts.attachNetworks) throw new SandboxError('FailedCreatePodSandBox', `this node does not attach pods to further networks (${extra.join(', ')})`);
      try {
        const att = await this.opts.attachNetworks({ uid, namespace: sb.namespace, name: sb.name }, sb.netnsPath, extra);
        const ips = new Map(extra.map((n, i) => [n, att[i]!]));
        // The default route goes out on the first network the pod names.
        if (nets[0] !== DEFAULT_NETWORK) {
          const first = ips.get(nets[0]!)!;
          await setDefaultRoute(sb.netnsPath, first.ip, first.prefix, first.interface);
          sb.podIP = first.ip;
        }
        extraPodIPs = nets.map((n) => (n === DEFAULT_NETWORK ? config.podIP : ips.get(n)!.ip)).filter((ip) => ip !== sb.podIP);
      } catch (e) {
        throw new SandboxError('FailedCreatePodSandBox', `failed to attach the pod to its networks: ${(e as Error).message}`);
      }
      await saveSandbox(sb);
    }
    sb.etcMounts = await (early ?? this.podFiles(pod, sb, extraPodIPs));
    return { podIP: sb.podIP, extraPodIPs };
  }

  /** The pod's volumes and its /etc/hosts, /etc/hostname and /etc/resolv.conf; returns the latter's mounts. */
  private async podFiles(pod: Pod, sb: Sandbox, extraPodIPs: string[] | undefined): Promise<BindMount[]> {
    try {
      await sb.volumes.setUp(pod, sb.podIP);
    } catch (e) {
      throw new SandboxError('FailedMount', `MountVolume.SetUp failed: ${(e as Error).message}`);
    }
    return writePodEtcFiles(sb.dir, pod, sb.podIP, {
      podIPs: extraPodIPs ? [sb.podIP, ...extraPodIPs] : undefined,
      clusterDomain: this.opts.clusterDomain,
      clusterDNS: typeof this.opts.clusterDNS === 'function' ? this.opts.clusterDNS(sb.podCIDR ?? this.networkCIDR) : this.opts.clusterDNS,
    });
  }

  /**
   * Rewrites the configMap, secret, downwardAPI and projected volumes of a pod whose sandbox runs
   * from what the API has now (subPath mounts keep what they had, as in Kubernetes); true when a
   * file changed. Nothing happens to a pod without a running sandbox.
   */
  async refreshVolumes(pod: Pod): Promise<boolean> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    if (!sb || sb.stopped) return false;
    try {
      return await sb.volumes.refresh(pod, sb.podIP);
    } catch (e) {
      const volume = (e as { volume?: string }).volume;
      throw new Error(`MountVolume.SetUp failed${volume ? ` for volume "${volume}"` : ''} : ${(e as Error).message}`);
    }
  }

  private sandboxOf(pod: Pod): Sandbox {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    if (!sb || sb.stopped) throw new ContainerStartError('CreateContainerError', `pod ${pod.metadata.namespace}/${pod.metadata.name} has no running sandbox`);
    return sb;
  }

  async startContainer(pod: Pod, container: Container, onExit: (exit: ContainerExit) => void, opts: StartOptions = {}): Promise<StartedContainer> {
    const sb = this.sandboxOf(pod);
    const attempt = opts.attempt ?? 0;
    const list = sb.containers.get(container.name) ?? [];
    sb.containers.set(container.name, list);
    const same = list.find((r) => r.attempt === attempt && !r.settled);
    if (same) {
      // The container of this attempt exists (the agent restarted): carry on with it.
      const st = await this.oci.state(same.id).catch(() => undefined);
      if (st && (st.state === 'running' || st.state === 'exited')) return this.follow(sb, same, st, onExit);
      await this.removeContainer(same.id).catch(() => undefined);
      list.splice(list.indexOf(same), 1);
    }
    // Older attempts are history now (their exits were seen before the agent restarted).
    for (const r of list) if (r.attempt < attempt) r.settled = true;
    await this.pruneExited(list);

    const image = await this.pullImage(pod, container);
    let env: { name: string; value: string }[];
    let mounts: BindMount[];
    try {
      env = await resolveEnv(pod, container, this.sources, { nodeName: this.opts.nodeName, hostIP: this.opts.hostIP, podIP: sb.podIP, allocatable: this.opts.allocatable });
      mounts = [...sb.volumes.mountsFor(pod, container, env), ...sb.etcMounts.filter((m) => !mountsTarget(container, m.destination))];
    } catch (e) {
      throw new ContainerStartError('CreateContainerConfigError', (e as Error).message);
    }
    if (sb.stopped) throw new ContainerStartError('CreateContainerError', 'the pod was stopped');
    const pidNamespacePath = await this.targetPidNamespace(pod, sb, container);

    const id = this.oci.newContainerId();
    const rootDir = join(sb.dir, 'containers', id);
    const holder = `container-${id}`;
    let created = false;
    try {
      await this.images.acquire(image.manifestDigest, holder);
      const rootfs = await mountRootfs(this.images, image, rootDir);
      const user = image.config.User;
      const imageUser = user && !/^\d+(:\d+)?$/.test(user) ? await resolveImageUser(rootfs.rootfs, user) : undefined;
      const spec = buildSpec({
        pod,
        container,
        image: image.config,
        rootfs: rootfs.rootfs,
        netnsPath: sb.hostNetwork ? undefined : sb.netnsPath,
        pidNamespacePath,
        cgroupsPath: containerCgroupPath(sb.uid, id),
        env,
        mounts,
        imageUser,
        nofileHard: NOFILE_HARD,
        // The machine's memory, as kubelet's machine info has it (not the --memory the node reports).
        oomScoreAdj: Math.max(oomScoreAdjust(pod, container, totalmem()), lowestOomScoreAdj()),
      });
      const logPath = join(this.logDir(sb.namespace, sb.name, sb.uid), container.name, `${attempt}.log`);
      await this.oci.create({
        id,
        name: container.name,
        pod: { uid: sb.uid, name: sb.name, namespace: sb.namespace },
        attempt,
        spec,
        logPath,
        image: container.image,
        imageID: image.manifestDigest,
        labels: { 'skiff.dev/init': opts.init ? 'true' : 'false' },
        stdin: container.stdin === true,
        stdinOnce: container.stdinOnce === true,
      });
      created = true;
      this.opts.event?.(pod, 'Normal', 'Created', `Created container ${container.name}`);
    } catch (e) {
      await this.discard(id, rootDir, holder, created);
      throw new ContainerStartError('CreateContainerError', (e as Error).message);
    }
    const rec: ContainerRec = { id, name: container.name, attempt, settled: false };
    list.push(rec);
    let st: ContainerStatus;
    try {
      st = await this.oci.start(id);
    } catch (e) {
      list.splice(list.indexOf(rec), 1);
      await this.discard(id, rootDir, holder, true);
      throw new ContainerStartError('RunContainerError', startErrorMessage((e as Error).message));
    }
    this.opts.event?.(pod, 'Normal', 'Started', `Started container ${container.name}`);
    return this.follow(sb, rec, st, onExit);
  }

  /**
   * The PID namespace an ephemeral container with targetContainerName joins: the one of the
   * target's running process (each container has its own otherwise), so `ps` there shows the
   * target's processes. Undefined without a target or when the pod shares the host's.
   */
  private async targetPidNamespace(pod: Pod, sb: Sandbox, container: Container): Promise<string | undefined> {
    const target = container.targetContainerName;
    if (typeof target !== 'string' || !target) return undefined;
    if ((pod.spec as { hostPID?: boolean } | undefined)?.hostPID === true) return undefined;
    const rec = this.latest(sb, target);
    const st = rec && !rec.settled ? await this.oci.state(rec.id).catch(() => undefined) : undefined;
    if (!st || st.state !== 'running' || !st.pid) {
      throw new ContainerStartError('CreateContainerError', `target container "${target}" is not running`);
    }
    return `/proc/${st.pid}/ns/pid`;
  }

  /** Hands the container's exit to onExit once (at once when it has exited already). */
  private follow(sb: Sandbox, rec: ContainerRec, st: ContainerStatus, onExit: (exit: ContainerExit) => void): StartedContainer {
    const deliver = (s: ContainerStatus) => {
      if (rec.settled || sb.stopped) return;
      rec.settled = true;
      rec.cancelExit = undefined;
      onExit({ exitCode: s.exitCode ?? 255, reason: s.reason ?? 'Error', finishedAt: s.finishedAt ?? new Date(), message: s.message });
    };
    if (st.state === 'exited') queueMicrotask(() => deliver(st));
    else rec.cancelExit = this.oci.onExit(rec.id, deliver);
    return {
      containerID: `${this.oci.bin.name}://${rec.id}`,
      imageID: st.imageID ? imageIdFor(st.image, st.imageID) : '',
      image: st.image,
      startedAt: st.startedAt ?? st.createdAt,
    };
  }

  private async pullImage(pod: Pod, container: Container): Promise<ImageRecord> {
    const ref = container.image;
    if (!ref) throw new ContainerStartError('InvalidImageName', `container ${container.name} has no image`, true);
    let policy: PullPolicy;
    try {
      policy = (container.imagePullPolicy as PullPolicy | undefined) ?? defaultPullPolicy(ref);
    } catch (e) {
      throw new ContainerStartError('InvalidImageName', `Failed to apply default image tag "${ref}": couldn't parse image name "${ref}": ${(e as Error).message}`, true);
    }
    const have = await this.images.lookup(ref).catch(() => undefined);
    if (have && policy !== 'Always') {
      this.opts.event?.(pod, 'Normal', 'Pulled', `Container image "${ref}" already present on machine`);
      return have;
    }
    try {
      const secrets: KObject[] = [];
      for (const s of ((pod.spec as { imagePullSecrets?: { name?: string }[] }).imagePullSecrets ?? [])) {
        const obj = s.name ? await this.sources.secret(pod.metadata.namespace!, s.name) : undefined;
        if (obj) secrets.push(obj);
      }
      if (policy !== 'Never') this.opts.event?.(pod, 'Normal', 'Pulling', `Pulling image "${ref}"`);
      const started = Date.now();
      const img = await ensureImage(this.images, ref, policy, { auth: credentialsFromPullSecrets(secrets), insecureRegistries: this.opts.insecureRegistries });
      if (policy !== 'Never') this.opts.event?.(pod, 'Normal', 'Pulled', `Successfully pulled image "${ref}" in ${Date.now() - started}ms`);
      return img;
    } catch (e) {
      const msg = (e as Error).message;
      // An image the store has is good enough when the registry cannot be reached (kubelet too
      // keeps running pods whose registry is down).
      if (have) {
        this.opts.event?.(pod, 'Normal', 'Pulled', `Container image "${ref}" already present on machine (pulling it failed: ${msg})`);
        return have;
      }
      if (policy === 'Never') throw new ContainerStartError('ErrImageNeverPull', msg, true);
      throw new ContainerStartError('ErrImagePull', `failed to pull image "${ref}": ${msg}`);
    }
  }

  /** Removes exited containers of one name beyond the one kept for `logs --previous`. */
  private async pruneExited(list: ContainerRec[]): Promise<void> {
    const exited = list.filter((r) => r.settled);
    for (const r of exited.slice(0, Math.max(0, exited.length - KEEP_EXITED_PER_NAME))) {
      list.splice(list.indexOf(r), 1);
      await this.removeContainer(r.id).catch((e) => this.opts.log?.warn({ id: r.id, err: (e as Error).message }, 'removing an old container failed'));
    }
  }

  /** Undoes a container that never ran. */
  private async discard(id: string, rootDir: string, holder: string, created: boolean): Promise<void> {
    if (created) await this.oci.remove(id, { force: true }).catch(() => undefined);
    await unmountRootfs(rootDir, { remove: true }).catch(() => undefined);
    await rm(rootDir, { recursive: true, force: true }).catch(() => undefined);
    await this.images.release(holder).catch(() => undefined);
  }

  /** Deletes a container: runtime state, root filesystem, image lease. Its log stays until the pod goes. */
  private async removeContainer(id: string): Promise<void> {
    let podUid: string | undefined;
    try {
      podUid = (await this.oci.state(id)).pod.uid;
    } catch {
      /* no record: only files may be left */
    }
    await this.oci.remove(id, { force: true });
    if (podUid) {
      const rootDir = join(this.podsDir, podUid, 'containers', id);
      await unmountRootfs(rootDir, { remove: true });
      await rm(rootDir, { recursive: true, force: true });
    }
    await this.images.release(`container-${id}`);
  }

  private latest(sb: Sandbox, name: string): ContainerRec | undefined {
    const list = sb.containers.get(name);
    return list?.[list.length - 1];
  }

  async stopContainer(pod: Pod, containerName: string, graceMs: number): Promise<void> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    const rec = sb && this.latest(sb, containerName);
    if (!sb || !rec || rec.settled) return;
    const deadline = Date.now() + graceMs;
    await this.runPreStop(pod, sb, rec, graceMs);
    await this.oci.stop(rec.id, Math.max(0, deadline - Date.now()));
  }

  async execInContainer(pod: Pod, containerName: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    const rec = sb && this.latest(sb, containerName);
    if (!rec) throw new Error(`container ${containerName} is not running`);
    const r = await this.oci.exec(rec.id, { command, timeoutMs });
    return { exitCode: r.exitCode, output: (r.stdout + r.stderr).trim(), timedOut: r.timedOut };
  }

  /** kubelet's preStop: an exec or httpGet handler, bounded by the grace period. */
  private async runPreStop(pod: Pod, sb: Sandbox, rec: ContainerRec, graceMs: number): Promise<void> {
    const spec = ((pod.spec as { containers?: Container[] }).containers ?? []).find((c) => c.name === rec.name);
    const hook = (spec?.lifecycle as { preStop?: { exec?: { command?: string[] }; httpGet?: { path?: string; port: number | string; host?: string; scheme?: string } } } | undefined)?.preStop;
    if (!hook || graceMs <= 0) return;
    try {
      if (hook.exec?.command?.length) {
        const r = await this.oci.exec(rec.id, { command: hook.exec.command, timeoutMs: graceMs });
        if (r.exitCode !== 0 && !r.timedOut) throw new Error(`command '${hook.exec.command.join(' ')}' exited with ${r.exitCode}: ${(r.stdout + r.stderr).trim()}`);
      } else if (hook.httpGet) {
        // Named ports resolve as for probes (a number, a container port's name, or digits).
        const port = resolvePort(hook.httpGet.port, spec ?? { name: rec.name });
        const url = `${(hook.httpGet.scheme ?? 'HTTP').toLowerCase()}://${hook.httpGet.host ?? sb.podIP}:${port}${hook.httpGet.path ?? '/'}`;
        const ctl = new AbortController();
        const t = setTimeout(() => ctl.abort(), graceMs);
        try {
          await fetch(url, { signal: ctl.signal }).then((r) => r.arrayBuffer());
        } finally {
          clearTimeout(t);
        }
      }
    } catch (e) {
      this.opts.event?.(pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${(e as Error).message}`);
    }
  }

  async stopPodSandbox(pod: Pod, graceMs: number): Promise<void> {
    const sb = this.sandboxes.get(pod.metadata.uid!);
    if (!sb) return;
    sb.stopped = true;
    const deadline = Date.now() + graceMs;
    const running: ContainerRec[] = [];
    for (const list of sb.containers.values()) {
      for (const rec of list) {
        rec.cancelExit?.();
        rec.cancelExit = undefined;
        if (!rec.settled) running.push(rec);
        rec.settled = true;
      }
    }
    await Promise.all(
      running.map(async (rec) => {
        try {
          const st = await this.oci.state(rec.id);
          if (st.state !== 'running' && st.state !== 'created') return;
          this.opts.event?.(pod, 'Normal', 'Killing', `Stopping container ${rec.name}`);
          await this.runPreStop(pod, sb, rec, Math.max(0, deadline - Date.now()));
          await this.oci.stop(rec.id, Math.max(0, deadline - Date.now()));
        } catch (e) {
          this.opts.log?.warn({ id: rec.id, err: (e as Error).message }, 'stopping a container failed');
        }
      }),
    );
    // The processes are gone: free what they held (rootfs, runtime state, the address), keep logs.
    for (const list of sb.containers.values()) {
      for (const rec of list) await this.removeContainer(rec.id).catch((e) => this.opts.log?.warn({ id: rec.id, err: (e as Error).message }, 'removing a container failed'));
    }
    sb.containers.clear();
    const busy = this.oci.removePodCgroup(sb.uid);
    if (busy.length) this.opts.log?.warn({ pod: `${sb.namespace}/${sb.name}`, busy }, 'pod cgroups still busy');
    await this.opts.detachNetworks?.(sb.uid).catch((e) => this.opts.log?.warn({ pod: `${sb.namespace}/${sb.name}`, err: (e as Error).message }, 'detaching from networks failed'));
    if (!sb.hostNetwork && sb.podCIDR) {
      // After an agent restart the network is opened again just to release this pod.
      const net = await this.openNetwork(sb.podCIDR);
      await net.tearDown(sb.uid);
    }
  }

  async removePodSandbox(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid!;
    const sb = this.sandboxes.get(uid);
    if (!sb) return;
    if (!sb.stopped || sb.containers.size) await this.stopPodSandbox(pod, 0);
    await sb.volumes.tearDown();
    await rm(sb.dir, { recursive: true, force: true });
    await rm(this.logDir(sb.namespace, sb.name, sb.uid), { recursive: true, force: true });
    this.tokens.forgetPod(uid);
    this.sandboxes.delete(uid);
  }

  // ---- StreamingRuntime: what the node server serves -------------------------------------

  private findSandbox(namespace: string, name: string): Sandbox {
    let found: Sandbox | undefined;
    for (const sb of this.sandboxes.values()) if (sb.namespace === namespace && sb.name === name && (!found || !sb.stopped)) found = sb;
    if (!found) throw new StreamTargetError(`pod ${namespace}/${name} is not on this node`, 404);
    return found;
  }

  async logs(ref: ContainerRef): Promise<ContainerLogs> {
    const sb = this.findSandbox(ref.namespace, ref.pod);
    const dir = join(this.logDir(sb.namespace, sb.name, sb.uid), ref.container);
    let attempts: number[] = [];
    try {
      attempts = (await readdir(dir))
        .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!attempts.length) throw new StreamTargetError(`container "${ref.container}" in pod "${ref.pod}" is waiting to start: ContainerCreating`, 400);
    const file = (n: number | undefined) => (n === undefined ? undefined : join(dir, `${n}.log`));
    const rec = this.latest(sb, ref.container);
    let running = false;
    if (rec && !rec.settled && !sb.stopped) running = (await this.oci.state(rec.id).catch(() => undefined))?.state === 'running';
    // Between a crash and the restart (CrashLoopBackOff) the last run is both the current log and
    // the "previous" one, as kubelet shows it.
    const restarting = !running && rec?.settled === true && !sb.stopped;
    const previous = restarting ? attempts[attempts.length - 1] : attempts[attempts.length - 2];
    return { current: file(attempts[attempts.length - 1]), previous: file(previous), running };
  }

  async exec(ref: ContainerRef, req: ExecRequest): Promise<ExecSession> {
    const sb = this.findSandbox(ref.namespace, ref.pod);
    const rec = this.latest(sb, ref.container);
    if (!rec || rec.settled || sb.stopped) throw new StreamTargetError(`container ${ref.container} is not running`, 400);
    let h;
    try {
      h = await this.oci.spawnExec(rec.id, { command: req.command, tty: req.tty, env: req.tty ? ['TERM=xterm'] : [] });
    } catch (e) {
      throw new StreamTargetError((e as Error).message, 400);
    }
    const child = h.child;
    if (!req.stdin && !req.tty) child.stdin!.end();
    child.stdin!.on('error', () => undefined);
    const exited = new Promise<number>((resolve) => {
      child.on('close', (code, sig) => {
        void h.cleanup();
        resolve(code ?? (sig ? 128 + (sig === 'SIGKILL' ? 9 : 15) : 255));
      });
      child.on('error', () => resolve(126));
    });
    const handle = h;
    return {
      stdin: req.stdin ? child.stdin! : undefined,
      stdout: child.stdout!,
      stderr: req.tty ? undefined : child.stderr!,
      resize: (width, height) => void resizeTty(child.pid, width, height),
      exited,
      kill: () => {
        void handle.pid().then((pid) => {
          if (pid) killQuietly(pid);
          setTimeout(() => child.kill('SIGKILL'), EXEC_STOP_GRACE_MS).unref();
        });
      },
    };
  }

  async attach(ref: ContainerRef, req: { tty: boolean; stdin: boolean }): Promise<ExecSession> {
    const sb = this.findSandbox(ref.namespace, ref.pod);
    const rec = this.latest(sb, ref.container);
    if (!rec || rec.settled || sb.stopped) throw new StreamTargetError(`container ${ref.container} is not running`, 400);
    let h;
    try {
      h = spawnAttach(this.oci.attachSocket(rec.id), this.oci.controlFifo(rec.id), req.stdin);
    } catch (e) {
      throw new StreamTargetError((e as Error).message, 400);
    }
    const child = h.child;
    child.stdin!.on('error', () => undefined);
    if (!req.stdin) child.stdin!.end();
    const exited = new Promise<number>((resolve) => {
      child.on('close', () => resolve(0));
      child.on('error', () => resolve(126));
    });
    return {
      stdin: req.stdin ? child.stdin! : undefined,
      stdout: child.stdout!,
      stderr: req.tty ? undefined : child.stderr!,
      resize: (width, height) => void h.resize(height, width).catch(() => undefined),
      exited,
      kill: () => child.kill('SIGKILL'),
    };
  }

  async podAddress(namespace: string, name: string): Promise<string> {
    const sb = this.findSandbox(namespace, name);
    if (sb.stopped) throw new StreamTargetError(`pod ${namespace}/${name} is not running`, 400);
    return sb.hostNetwork ? '127.0.0.1' : sb.podIP;
  }

  close(): void {
    for (const sb of this.sandboxes.values()) for (const list of sb.containers.values()) for (const r of list) r.cancelExit?.();
    this.oci.close();
  }

}

/** Points the pod's default route at the gateway (first host address) of the given interface's subnet. */
async function setDefaultRoute(netnsPath: string, ip: string, prefix: number, dev: string): Promise<void> {
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  const gateway = intToIp(((ipToInt(ip) & mask) >>> 0) + 1);
  const ns = netnsPath.split('/').pop()!;
  await runTool('ip', ['-n', ns, 'route', 'replace', 'default', 'via', gateway, 'dev', dev]);
}

/** The sandbox's record on disk, what a restarted agent recovers it from. */
function saveSandbox(sb: Sandbox): Promise<void> {
  const f: SandboxFile = { uid: sb.uid, namespace: sb.namespace, name: sb.name, podIP: sb.podIP, hostNetwork: sb.hostNetwork, netnsPath: sb.netnsPath, podCIDR: sb.podCIDR };
  return writeJson(join(sb.dir, 'sandbox.json'), f);
}

function hostPorts(containers: Container[]): HostPortMapping[] {
  const out: HostPortMapping[] = [];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP') as HostPortMapping['protocol'], ...(p.hostIP ? { hostIP: p.hostIP } : {}) });
    }
  }
  return out;
}

/** A volumeMount at /etc/hosts (or resolv.conf) replaces the pod's own file there. */
function mountsTarget(container: Container, destination: string): boolean {
  return ((container.volumeMounts as { mountPath?: string }[] | undefined) ?? []).some((m) => m.mountPath === destination);
}

/** imageID as kubelet shows it: the repository with the manifest digest. */
function imageIdFor(image: string | undefined, manifestDigest: string): string {
  if (!image) return manifestDigest;
  const f = familiarName(image.includes('/') || image.includes(':') ? image : image);
  const repo = f.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  return `${repo}@${manifestDigest}`;
}

/** crun's and runc's "exec failed" messages, shortened to what a user needs. */
function startErrorMessage(msg: string): string {
  const m = /executable file `?([^`'"]+)`? not found|exec: "([^"]+)": executable file not found|(\S+): No such file or directory/.exec(msg);
  if (m) return `failed to start container: exec: "${m[1] ?? m[2] ?? m[3]}": executable file not found in $PATH`;
  return `failed to start container: ${msg.split('\n').filter(Boolean).slice(-1)[0] ?? msg}`;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** The tty of `script`'s child is the exec's terminal: stty on it resizes and signals SIGWINCH. */
async function resizeTty(scriptPid: number | undefined, width: number, height: number): Promise<void> {
  if (!scriptPid || !(width > 0 && height > 0)) return;
  try {
    const children = (await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
    for (const c of children) {
      await new Promise<void>((res) => execFile('stty', ['-F', `/proc/${c}/fd/0`, 'rows', String(height), 'cols', String(width)], () => res()));
    }
  } catch {
    /* the process ended */
  }
}

const CAP_SYS_RESOURCE = 24;
let oomFloor: number | undefined;

/**
 * The lowest oom_score_adj the runtime may give a container: going below one's own value needs
 * CAP_SYS_RESOURCE, which a node in a container or user namespace may lack (kubelet clamps the
 * same way there); without it Guaranteed pods get the agent's own value instead of -997.
 */
export function lowestOomScoreAdj(): number {
  if (oomFloor !== undefined) return oomFloor;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    oomFloor = (eff >> BigInt(CAP_SYS_RESOURCE)) & 1n ? -1000 : Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim());
  } catch {
    oomFloor = -1000;
  }
  return oomFloor;
}
