// A pod's volumes on this node: prepared under <podDir>/volumes/<plugin>/<name> in the directory
// layout kubelet uses, turned into bind mounts per container, refreshed when ConfigMaps/Secrets
// change, and torn down (unmounting first) when the pod goes away.
import { chmod, chown, mkdir, realpath, rm, stat } from 'node:fs/promises';
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import type { KObject } from '../../pkg/api/types.js';
import { intValue } from '../../pkg/api/quantity.js';
import { expandVars, type BindMount } from '../runtime/oci/spec.js';
import { writePayload } from './atomic-writer.js';
import type { Allocatable } from './downward.js';
import { checkHostPath } from './hostpath.js';
import { isMountPoint, mountsUnder, mountTmpfs, unmount } from './mounts.js';
import { checkRelativePath } from './paths.js';
import { volumePayload } from './projection.js';
import { VolumeError, type ObjectSource } from './sources.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

type ApiDataKind = 'configMap' | 'secret' | 'downwardAPI' | 'projected';
type Kind = 'emptyDir' | 'hostPath' | ApiDataKind;

/** kubelet's plugin directory names, so the on-disk layout is familiar. */
const PLUGIN_DIR: Record<Exclude<Kind, 'hostPath'>, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

const API_DATA_KINDS: readonly ApiDataKind[] = ['configMap', 'secret', 'downwardAPI', 'projected'];
/** kubelet keeps these on tmpfs so their contents never reach the node's disk */
const MEMORY_BACKED: readonly Kind[] = ['secret', 'downwardAPI', 'projected'];

const UNSUPPORTED_SOURCES = [
  'persistentVolumeClaim', 'ephemeral', 'csi', 'nfs', 'iscsi', 'rbd', 'cephfs', 'fc', 'flexVolume', 'gitRepo',
  'glusterfs', 'awsElasticBlockStore', 'gcePersistentDisk', 'azureDisk', 'azureFile', 'cinder', 'vsphereVolume',
  'portworxVolume', 'scaleIO', 'storageos', 'quobyte', 'photonPersistentDisk', 'flocker', 'image',
];

export interface PodVolumesOptions {
  /** <data>/pods/<uid> */
  podDir: string;
  sources: ObjectSource;
  nodeName: string;
  hostIP: string;
  /** node allocatable, the default of unset limits in downwardAPI resourceFieldRef items */
  allocatable?: Allocatable;
  /**
   * Put secret, downwardAPI and projected volumes on tmpfs as kubelet does (needs root).
   * Defaults to true when running as root.
   */
  secretsInMemory?: boolean;
}

function volumeKind(vol: Json): Kind {
  for (const k of ['emptyDir', 'hostPath', ...API_DATA_KINDS] as const) if (vol[k] !== undefined && vol[k] !== null) return k;
  const other = UNSUPPORTED_SOURCES.find((k) => vol[k] !== undefined) ?? Object.keys(vol).find((k) => k !== 'name');
  throw new VolumeError(
    other ? `${other} volumes are not supported by this node agent` : 'the volume has no source',
    { volume: String(vol.name), reason: 'FailedMount' },
  );
}

function podVolumes(pod: KObject): Json[] {
  return (((pod.spec ?? {}) as Json).volumes as Json[] | undefined) ?? [];
}

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

function fsGroupOf(pod: KObject): number | undefined {
  const g = ((pod.spec ?? {}) as Json).securityContext?.fsGroup;
  return g === undefined || g === null || !asRoot() ? undefined : Number(g);
}

/** tmpfs size of a memory-backed emptyDir: sizeLimit, capped by the pod's memory limit when every container has one. */
function emptyDirMemorySize(pod: KObject, emptyDir: Json): number | undefined {
  const containers = (((pod.spec ?? {}) as Json).containers as Json[] | undefined) ?? [];
  let podLimit: number | undefined;
  if (containers.length > 0 && containers.every((c) => c.resources?.limits?.memory !== undefined)) {
    podLimit = containers.reduce((sum, c) => sum + intValue(String(c.resources.limits.memory)), 0);
  }
  const sizeLimit = emptyDir.sizeLimit === undefined || emptyDir.sizeLimit === null ? undefined : intValue(String(emptyDir.sizeLimit));
  if (sizeLimit !== undefined && podLimit !== undefined) return Math.min(sizeLimit, podLimit);
  return sizeLimit ?? podLimit;
}

function wrap(e: unknown, volume: string): VolumeError {
  if (e instanceof VolumeError) {
    if (e.volume === undefined) e.volume = volume;
    return e;
  }
  return new VolumeError((e as Error).message, { volume });
}

export class PodVolumes {
  private readonly podDir: string;
  private readonly volumesDir: string;
  private readonly opts: PodVolumesOptions;
  private readonly secretsInMemory: boolean;
  /** set-up, refresh and tear-down run one at a time: a periodic refresh must not recreate what a tear-down removed */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: PodVolumesOptions) {
    this.opts = opts;
    this.podDir = resolve(opts.podDir);
    this.volumesDir = join(this.podDir, 'volumes');
    this.secretsInMemory = opts.secretsInMemory ?? asRoot();
  }

  /** Where a volume's contents live on the host (hostPath: the path itself). */
  volumePath(vol: Json): string {
    const kind = volumeKind(vol);
    if (kind === 'hostPath') return String(vol.hostPath.path ?? '');
    const name = String(vol.name ?? '');
    if (name.includes('/')) throw new VolumeError(`invalid volume name "${name}"`, { volume: name });
    checkRelativePath(name, 'volume name', name);
    return join(this.volumesDir, PLUGIN_DIR[kind], name);
  }

  /**
   * Prepares every volume of the pod. podIP is accepted for parity with the other pod set-up
   * steps; downwardAPI volumes may only project metadata and resources, never status fields.
   */
  setUp(pod: KObject, _podIP?: string): Promise<void> {
    return this.serialized(() => this.setUpAll(pod));
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async setUpAll(pod: KObject): Promise<void> {
    await mkdir(this.volumesDir, { recursive: true, mode: 0o750 });
    for (const vol of podVolumes(pod)) {
      const name = String(vol.name ?? '');
      try {
        await this.setUpOne(pod, vol);
      } catch (e) {
        throw wrap(e, name);
      }
    }
  }

  private async setUpOne(pod: KObject, vol: Json): Promise<boolean> {
    const kind = volumeKind(vol);
    const name = String(vol.name);
    if (kind === 'hostPath') {
      await checkHostPath(String(vol.hostPath.path ?? ''), vol.hostPath.type as string | undefined, name);
      return false;
    }
    const dir = this.volumePath(vol);
    await mkdir(dir, { recursive: true });
    if (kind === 'emptyDir') {
      await this.setUpEmptyDir(pod, vol, dir);
      return false;
    }
    if (this.secretsInMemory && MEMORY_BACKED.includes(kind) && !(await isMountPoint(await realpath(dir)))) {
      await mountTmpfs(await realpath(dir), { mode: 0o755 }, name);
    }
    const payload = await volumePayload(kind, vol[kind] as Json, {
      pod, sources: this.opts.sources, volume: name, allocatable: this.opts.allocatable, fsGroup: fsGroupOf(pod),
    });
    return writePayload(dir, payload);
  }

  private async setUpEmptyDir(pod: KObject, vol: Json, dir: string): Promise<void> {
    const medium = String(vol.emptyDir.medium ?? '');
    if (medium === 'Memory') {
      const real = await realpath(dir);
      if (!(await isMountPoint(real))) await mountTmpfs(real, { sizeBytes: emptyDirMemorySize(pod, vol.emptyDir as Json), mode: 0o777 }, String(vol.name));
    } else if (medium !== '') {
      throw new VolumeError(`emptyDir medium ${medium} is not supported by this node agent`, { volume: String(vol.name) });
    }
    const fsGroup = fsGroupOf(pod);
    if (fsGroup !== undefined) {
      await chown(dir, 0, fsGroup);
      // setgid so that files created inside inherit the group, as kubelet's SetVolumeOwnership does
      await chmod(dir, 0o2777);
    } else {
      // mkdir's mode is filtered by the umask; emptyDirs are world-writable in Kubernetes
      await chmod(dir, 0o777);
    }
  }

  /** container.volumeMounts as bind mounts. env (resolveEnv's result) expands subPathExpr. */
  mountsFor(pod: KObject, container: Record<string, unknown>, env?: { name: string; value: string }[]): BindMount[] {
    const cname = String(container.name ?? '');
    const byName = new Map(podVolumes(pod).map((v) => [String(v.name), v]));
    const out: BindMount[] = [];
    let vars: Map<string, string> | undefined;
    for (const vm of (container.volumeMounts as Json[] | undefined) ?? []) {
      const vname = String(vm.name ?? '');
      const vol = byName.get(vname);
      if (!vol) throw new VolumeError(`cannot find volume "${vname}" to mount into container "${cname}"`, { volume: vname });
      const kind = volumeKind(vol);
      const base = this.volumePath(vol);
      if (!existsSync(base)) throw new VolumeError(`volume "${vname}" is not set up (no ${base})`, { volume: vname });
      let subPath = String(vm.subPath ?? '');
      if (vm.subPathExpr !== undefined && vm.subPathExpr !== '') {
        if (subPath !== '') throw new VolumeError(`volumeMount "${vname}": subPath and subPathExpr are mutually exclusive`, { volume: vname });
        if (!vars) {
          vars = new Map();
          // the same sequential expansion buildSpec applies, so names resolve to their final values
          for (const e of env ?? []) vars.set(e.name, expandVars(e.value, vars));
        }
        subPath = expandVars(String(vm.subPathExpr), vars);
      }
      let source = base;
      if (subPath !== '') source = this.subPathSource(base, subPath, vname, kind === 'hostPath');
      const mountPath = String(vm.mountPath ?? '');
      if (mountPath === '') throw new VolumeError(`volumeMount "${vname}" of container "${cname}" has no mountPath`, { volume: vname });
      const mount: BindMount = {
        destination: isAbsolute(mountPath) ? mountPath : `/${mountPath}`,
        source,
        readOnly: vm.readOnly === true || (API_DATA_KINDS as readonly string[]).includes(kind),
      };
      const propagation = vm.mountPropagation as string | undefined;
      if (propagation !== undefined && propagation !== 'None') {
        if (propagation !== 'HostToContainer' && propagation !== 'Bidirectional') {
          throw new VolumeError(`invalid mountPropagation "${propagation}" for volume "${vname}"`, { volume: vname });
        }
        if (propagation === 'Bidirectional' && (container.securityContext as Json | undefined)?.privileged !== true) {
          throw new VolumeError(`Bidirectional mount propagation is available only to privileged containers (volume "${vname}", container "${cname}")`, { volume: vname });
        }
        mount.propagation = propagation;
      } else if (propagation === 'None') {
        mount.propagation = 'None';
      }
      out.push(mount);
    }
    return out;
  }

  /**
   * The host path for a subPath, created as a directory when missing (as kubelet does) and
   * resolved, so that a symlink planted inside the volume cannot point the runtime outside it.
   */
  private subPathSource(base: string, subPath: string, volume: string, hostPath: boolean): string {
    checkRelativePath(subPath, 'subPath', volume);
    const realBase = realpathSync(base);
    const target = join(realBase, subPath);
    if (!existsSync(target)) mkdirSync(target, { recursive: true, mode: 0o755 });
    const real = realpathSync(target);
    if (real !== realBase && !real.startsWith(realBase + sep)) {
      throw new VolumeError(`subPath "${subPath}" resolves to ${real}, outside the ${hostPath ? 'hostPath' : 'volume'} ${base}`, { volume });
    }
    return real;
  }

  /** Rewrites API-data volumes whose sources changed; true when any visible content changed. */
  refresh(pod: KObject, _podIP?: string): Promise<boolean> {
    return this.serialized(() => this.refreshAll(pod));
  }

  private async refreshAll(pod: KObject): Promise<boolean> {
    // not set up yet, or torn down: nothing to refresh, and nothing may be created
    if (!existsSync(this.volumesDir)) return false;
    let changed = false;
    let firstError: VolumeError | undefined;
    for (const vol of podVolumes(pod)) {
      let kind: Kind;
      try {
        kind = volumeKind(vol);
      } catch {
        continue;
      }
      if (!(API_DATA_KINDS as readonly string[]).includes(kind)) continue;
      try {
        // one failing source must not hold back the updates of the others
        if (await this.setUpOne(pod, vol)) changed = true;
      } catch (e) {
        firstError ??= wrap(e, String(vol.name));
      }
    }
    if (firstError) throw firstError;
    return changed;
  }

  /** Unmounts whatever is mounted below podDir/volumes, then removes it. */
  tearDown(): Promise<void> {
    return this.serialized(() => this.tearDownAll());
  }

  private async tearDownAll(): Promise<void> {
    let real: string;
    try {
      await stat(this.volumesDir);
      real = await realpath(this.volumesDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const mp of await mountsUnder(real)) await unmount(mp);
    const left = await mountsUnder(real);
    // never recurse into something still mounted: it could be a host directory
    if (left.length > 0) throw new VolumeError(`still mounted after unmount: ${left.join(', ')}`, { reason: 'FailedUnMount' });
    await rm(real, { recursive: true, force: true });
  }
}
