// Turns a Kubernetes container of a pod into an OCI runtime spec. A pure function: everything that
// needs the host (the rootfs mount, the pod's netns path, resolved env values, volume sources,
// host limits) is handed in by the caller, so the result can be checked in unit tests.
import { milliValue, intValue } from '../../../pkg/api/quantity.js';
import type { Container, Pod } from '../runtime.js';
import type { OciCapabilities, OciDeviceRule, OciMount, OciNamespace, OciResources, OciSpec, OciUser } from './spec-types.js';

/** The runtime-relevant part of an OCI image config (`config` of the image config blob). */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface BindMount {
  /** path inside the container */
  destination: string;
  /** path on the host */
  source: string;
  readOnly?: boolean;
  /** Kubernetes mountPropagation; default None (rprivate) */
  propagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

export interface SpecInput {
  pod: Pod;
  container: Container;
  image?: ImageConfig;
  /** the container's root filesystem (the overlay mount), absolute */
  rootfs: string;
  /** the pod's pinned network namespace, e.g. /run/netns/skiff-<uid>; ignored for hostNetwork */
  netnsPath?: string;
  /** pod-shared IPC/UTS namespaces when the caller pins them too */
  ipcNamespacePath?: string;
  /** another container's PID namespace to join (an ephemeral container's target), e.g. /proc/<pid>/ns/pid */
  pidNamespacePath?: string;
  /** e.g. /skiff/pod<uid>/<container id>, see containerCgroupPath */
  cgroupsPath: string;
  /** values of container.env with valueFrom resolved, in container.env order; defaults to env[].value */
  env?: { name: string; value: string }[];
  /** volumes, /etc/hosts, /etc/resolv.conf, /etc/hostname */
  mounts?: BindMount[];
  /** numeric uid/gid for a named image User (see resolveImageUser); needed only then */
  imageUser?: { uid: number; gid: number };
  /** pids.max for the container (the kubelet's podPidsLimit) */
  pidsLimit?: number;
  /** the hard RLIMIT_NOFILE the runtime may grant (without CAP_SYS_RESOURCE: the agent's own) */
  nofileHard?: number;
  oomScoreAdj?: number;
}

/** Docker's and containerd's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

/** Every capability up to CAP_CHECKPOINT_RESTORE (Linux 5.9), for privileged containers and "ALL". */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** containerd's defaults. */
export const DEFAULT_MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
const MIN_QUOTA_US = 1_000;

export class SpecError extends Error {}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export function podCgroupParent(podUid: string): string {
  return `/skiff/pod${podUid}`;
}

export function containerCgroupPath(podUid: string, containerId: string): string {
  return `${podCgroupParent(podUid)}/${containerId}`;
}

/** Kubernetes' MilliCPUToShares. */
export function milliCpuToShares(milli: number): number {
  if (milli <= 0) return MIN_SHARES;
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.floor((milli * 1024) / 1000)));
}

/** Kubernetes' MilliCPUToQuota for a 100 ms period; 0 means no limit. */
export function milliCpuToQuota(milli: number, period = CPU_PERIOD_US): number {
  if (milli <= 0) return 0;
  return Math.max(MIN_QUOTA_US, Math.floor((milli * period) / 1000));
}

/**
 * Kubernetes' $(VAR) expansion in command, args and env values: $(NAME) becomes the value when
 * NAME is known and stays as written otherwise; $$ is a literal $.
 */
export function expandVars(input: string, vars: Map<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      const value = vars.get(name);
      out += value ?? input.slice(i, end + 1);
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Image Env, then the container's env (later names replace earlier ones, order of first appearance kept). */
function buildEnv(input: SpecInput, hostname: string): { list: string[]; vars: Map<string, string> } {
  const vars = new Map<string, string>();
  for (const e of input.image?.Env ?? []) {
    const eq = e.indexOf('=');
    vars.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  if (!vars.has('PATH')) vars.set('PATH', DEFAULT_PATH);
  vars.set('HOSTNAME', hostname);
  const containerEnv = input.env ?? ((input.container.env as Json[] | undefined) ?? []).map((e) => {
    if (e.valueFrom !== undefined && e.value === undefined) {
      throw new SpecError(`env ${e.name}: valueFrom must be resolved by the caller before building the spec`);
    }
    return { name: String(e.name), value: String(e.value ?? '') };
  });
  for (const { name, value } of containerEnv) vars.set(name, expandVars(value, vars));
  const list = [...vars].map(([k, v]) => `${k}=${v}`);
  return { list, vars };
}

/** Kubernetes: command replaces Entrypoint (and drops Cmd), args replaces Cmd. */
function buildArgs(input: SpecInput, vars: Map<string, string>): string[] {
  const command = input.container.command as string[] | undefined;
  const args = input.container.args as string[] | undefined;
  const entrypoint = input.image?.Entrypoint ?? [];
  const cmd = input.image?.Cmd ?? [];
  let argv: string[];
  if (command && command.length > 0) argv = [...command.map((s) => expandVars(s, vars)), ...(args ?? []).map((s) => expandVars(s, vars))];
  else if (args && args.length > 0) argv = [...entrypoint, ...args.map((s) => expandVars(s, vars))];
  else argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new SpecError(`container ${input.container.name}: no command given and the image has no Entrypoint or Cmd`);
  return argv;
}

/** Parses a numeric image User ("1000", "1000:1000"); named users need resolveImageUser. */
export function parseNumericUser(user: string): { uid: number; gid?: number } | undefined {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return undefined;
  return { uid: Number(m[1]), gid: m[2] === undefined ? undefined : Number(m[2]) };
}

function buildUser(input: SpecInput, sc: Json, psc: Json): OciUser {
  let uid = 0;
  let gid = 0;
  const imageUser = input.image?.User;
  if (imageUser) {
    const numeric = parseNumericUser(imageUser);
    if (numeric) {
      uid = numeric.uid;
      gid = numeric.gid ?? 0;
    } else if (input.imageUser) {
      uid = input.imageUser.uid;
      gid = input.imageUser.gid;
    } else {
      throw new SpecError(`image user "${imageUser}" is not numeric: resolve it against the image's /etc/passwd (resolveImageUser) and pass imageUser`);
    }
  }
  const runAsUser = sc.runAsUser ?? psc.runAsUser;
  const runAsGroup = sc.runAsGroup ?? psc.runAsGroup;
  if (runAsUser !== undefined) uid = Number(runAsUser);
  if (runAsGroup !== undefined) gid = Number(runAsGroup);
  if ((sc.runAsNonRoot ?? psc.runAsNonRoot) === true && uid === 0) {
    throw new SpecError(`container ${input.container.name}: runAsNonRoot is set but the container would run as uid 0`);
  }
  const extra = new Set<number>();
  for (const g of (psc.supplementalGroups as number[] | undefined) ?? []) extra.add(Number(g));
  if (psc.fsGroup !== undefined) extra.add(Number(psc.fsGroup));
  extra.delete(gid);
  const user: OciUser = { uid, gid };
  if (extra.size > 0) user.additionalGids = [...extra];
  return user;
}

function normalizeCap(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

function buildCapabilities(sc: Json, privileged: boolean): OciCapabilities {
  let caps: string[];
  if (privileged) {
    caps = [...ALL_CAPABILITIES];
  } else {
    const set = new Set<string>(DEFAULT_CAPABILITIES);
    const add = ((sc.capabilities?.add as string[] | undefined) ?? []).map(normalizeCap);
    const drop = ((sc.capabilities?.drop as string[] | undefined) ?? []).map(normalizeCap);
    if (add.includes('CAP_ALL')) for (const c of ALL_CAPABILITIES) set.add(c);
    else for (const c of add) set.add(c);
    if (drop.includes('CAP_ALL')) set.clear();
    for (const c of drop) set.delete(c);
    // containerd applies drop after add, except that an explicitly added cap survives "drop: ALL".
    if (drop.includes('CAP_ALL')) for (const c of add) if (c !== 'CAP_ALL') set.add(c);
    caps = [...set];
  }
  return { bounding: [...caps], effective: [...caps], permitted: [...caps] };
}

function resourceQuantity(container: Container, kind: 'requests' | 'limits', name: string): string | undefined {
  const res = container.resources as Json | undefined;
  const v = res?.[kind]?.[name];
  return v === undefined || v === null ? undefined : String(v);
}

function buildResources(input: SpecInput, privileged: boolean): OciResources {
  const c = input.container;
  const resources: OciResources = {};
  resources.devices = privileged ? [{ allow: true, access: 'rwm' }] : defaultDeviceRules();
  const memLimit = resourceQuantity(c, 'limits', 'memory');
  if (memLimit !== undefined) resources.memory = { limit: intValue(memLimit) };
  const cpuRequest = resourceQuantity(c, 'requests', 'cpu') ?? resourceQuantity(c, 'limits', 'cpu');
  const cpuLimit = resourceQuantity(c, 'limits', 'cpu');
  const cpu: { shares?: number; quota?: number; period?: number } = {
    shares: milliCpuToShares(cpuRequest === undefined ? 0 : milliValue(cpuRequest)),
  };
  if (cpuLimit !== undefined) {
    const quota = milliCpuToQuota(milliValue(cpuLimit));
    if (quota > 0) {
      cpu.quota = quota;
      cpu.period = CPU_PERIOD_US;
    }
  }
  resources.cpu = cpu;
  if (input.pidsLimit !== undefined && input.pidsLimit > 0) resources.pids = { limit: input.pidsLimit };
  return resources;
}

function defaultDeviceRules(): OciDeviceRule[] {
  const allow = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access: string): OciDeviceRule => {
    const rule: OciDeviceRule = { allow: true, type, access };
    if (major !== undefined) rule.major = major;
    if (minor !== undefined) rule.minor = minor;
    return rule;
  };
  return [
    { allow: false, access: 'rwm' },
    allow('c', undefined, undefined, 'm'),
    allow('b', undefined, undefined, 'm'),
    allow('c', 1, 3, 'rwm'), // null
    allow('c', 1, 5, 'rwm'), // zero
    allow('c', 1, 7, 'rwm'), // full
    allow('c', 1, 8, 'rwm'), // random
    allow('c', 1, 9, 'rwm'), // urandom
    allow('c', 5, 0, 'rwm'), // tty
    allow('c', 5, 1, 'rwm'), // console
    allow('c', 5, 2, 'rwm'), // ptmx
    allow('c', 136, undefined, 'rwm'), // pts
    allow('c', 10, 200, 'rwm'), // tun
  ];
}

function defaultMounts(privileged: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
  ];
}

function bindMount(m: BindMount): OciMount {
  const propagation = m.propagation === 'Bidirectional' ? 'rshared' : m.propagation === 'HostToContainer' ? 'rslave' : 'rprivate';
  return { destination: m.destination, type: 'bind', source: m.source, options: ['rbind', propagation, m.readOnly ? 'ro' : 'rw'] };
}

function buildNamespaces(input: SpecInput, spec: Json): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'mount' }];
  if (spec.hostPID !== true) ns.push(input.pidNamespacePath ? { type: 'pid', path: input.pidNamespacePath } : { type: 'pid' });
  if (spec.hostIPC !== true) ns.push(input.ipcNamespacePath ? { type: 'ipc', path: input.ipcNamespacePath } : { type: 'ipc' });
  if (spec.hostNetwork !== true) {
    ns.push({ type: 'uts' });
    if (!input.netnsPath) throw new SpecError('netnsPath is required for a pod without hostNetwork');
    ns.push({ type: 'network', path: input.netnsPath });
  }
  return ns;
}

/** The hostname Kubernetes gives a pod: spec.hostname or the pod name, at most 63 characters. */
export function podHostname(pod: Pod): string {
  const spec = (pod.spec ?? {}) as Json;
  const name = String(spec.hostname ?? pod.metadata.name ?? '');
  return name.length > 63 ? name.slice(0, 63).replace(/[-.]+$/, '') : name;
}

export function buildSpec(input: SpecInput): OciSpec {
  const { pod, container } = input;
  if (!input.rootfs.startsWith('/')) throw new SpecError(`rootfs must be an absolute path, got "${input.rootfs}"`);
  const podSpec = (pod.spec ?? {}) as Json;
  const sc = (container.securityContext ?? {}) as Json;
  const psc = (podSpec.securityContext ?? {}) as Json;
  const privileged = sc.privileged === true;
  const hostname = podHostname(pod);
  const { list: env, vars } = buildEnv(input, hostname);
  const cwd = (container.workingDir as string | undefined) || input.image?.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new SpecError(`workingDir must be absolute, got "${cwd}"`);
  const nofileHard = Math.min(input.nofileHard ?? 1_048_576, 1_048_576);
  const noNewPrivileges = !privileged && sc.allowPrivilegeEscalation === false;

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: container.tty === true,
      user: buildUser(input, sc, psc),
      args: buildArgs(input, vars),
      env,
      cwd,
      capabilities: buildCapabilities(sc, privileged),
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofileHard, soft: Math.min(1024, nofileHard) }],
      noNewPrivileges,
    },
    root: { path: input.rootfs, readonly: sc.readOnlyRootFilesystem === true },
    mounts: [...defaultMounts(privileged), ...(input.mounts ?? []).map(bindMount)],
    annotations: {
      'io.kubernetes.pod.name': String(pod.metadata.name ?? ''),
      'io.kubernetes.pod.namespace': String(pod.metadata.namespace ?? ''),
      'io.kubernetes.pod.uid': String(pod.metadata.uid ?? ''),
      'io.kubernetes.container.name': container.name,
    },
    linux: {
      namespaces: buildNamespaces(input, podSpec),
      cgroupsPath: input.cgroupsPath,
      resources: buildResources(input, privileged),
    },
  };
  if (input.oomScoreAdj !== undefined) spec.process.oomScoreAdj = input.oomScoreAdj;
  if (podSpec.hostNetwork !== true) spec.hostname = hostname;
  const sysctls = (psc.sysctls as { name: string; value: string }[] | undefined) ?? [];
  if (sysctls.length > 0) spec.linux.sysctl = Object.fromEntries(sysctls.map((s) => [s.name, String(s.value)]));
  if (!privileged) {
    spec.linux.maskedPaths = [...DEFAULT_MASKED_PATHS];
    spec.linux.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  }
  return spec;
}
