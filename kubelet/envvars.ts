// A container's environment as kubelet computes it: the service variables (the API server's
// `kubernetes` Service always, the pod namespace's Services when enableServiceLinks), then envFrom
// (ConfigMaps/Secrets, optional prefix), then env with valueFrom resolved (downward API fields,
// resources, ConfigMap/Secret keys). A service variable the container sets itself is left out.
//
// $(VAR) references are left to the OCI spec builder, which expands every value it is given in
// order, as Kubernetes expands `value` entries. Kubernetes never expands values that come from
// valueFrom or envFrom, so those have each `$` doubled here: the builder's expansion turns `$$`
// back into `$` and the container sees them unchanged.
import type { KObject } from '../pkg/api/types.js';
import { resourcePath, type RestClient } from '../pkg/client/rest.js';
import { R } from '../pkg/client/informer-factory.js';
import { expandVars } from './runtime/oci/spec.js';
import { containerResourceValue, DownwardError, podFieldValue, type Allocatable } from './volumes/downward.js';
import { secretEntries, type ObjectSource } from './volumes/sources.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** The container cannot be configured; `reason` is the waiting reason kubelet reports. */
export class EnvError extends Error {
  reason: string;
  constructor(message: string, reason = 'CreateContainerConfigError') {
    super(message);
    this.name = 'EnvError';
    this.reason = reason;
  }
}

export interface ResolveEnvOptions {
  nodeName: string;
  hostIP: string;
  podIP: string;
  hostIPs?: string[];
  podIPs?: string[];
  /** node allocatable: the value of unset limits in resourceFieldRef (defaults: the host's CPUs and memory) */
  allocatable?: { cpu: string; memory: string; ephemeralStorage?: string };
  /** double `$` in valueFrom/envFrom values so the spec builder's expansion leaves them literal (default true) */
  escapeLiterals?: boolean;
  /** envFrom keys that are not valid variable names (skipped), for an InvalidEnvironmentVariableNames event */
  onInvalidKeys?: (keys: string[], source: string) => void;
}

const ENV_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function isEnvVarName(name: string): boolean {
  return ENV_NAME_RE.test(name);
}

/** Kubernetes' final values of a resolveEnv result: `$(VAR)` expanded in order, `$$` unescaped. */
export function finalEnv(env: { name: string; value: string }[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const e of env) vars.set(e.name, expandVars(e.value, vars));
  return vars;
}

/** Per-call lookups, so a ConfigMap named by several entries is read once and seen consistently. */
class Lookups {
  private readonly cms = new Map<string, Promise<KObject | undefined>>();
  private readonly secrets = new Map<string, Promise<KObject | undefined>>();
  constructor(private readonly sources: ObjectSource, private readonly namespace: string) {}
  configMap(name: string): Promise<KObject | undefined> {
    let p = this.cms.get(name);
    if (!p) this.cms.set(name, (p = this.sources.configMap(this.namespace, name)));
    return p;
  }
  secret(name: string): Promise<KObject | undefined> {
    let p = this.secrets.get(name);
    if (!p) this.secrets.set(name, (p = this.sources.secret(this.namespace, name)));
    return p;
  }
}

/** The Services whose variables every pod gets, wherever it runs: they live in `default`. */
export const MASTER_SERVICES = ['kubernetes'];
const MASTER_NAMESPACE = 'default';

const envName = (s: string): string => s.replaceAll('-', '_').toUpperCase();

function hasClusterIP(svc: KObject): boolean {
  const ip = (svc.spec as Json | undefined)?.clusterIP;
  return typeof ip === 'string' && ip !== '' && ip !== 'None';
}

/** The docker-link style variables of Services (kubelet's envvars.FromServices), in the given order. */
export function serviceLinkVars(services: KObject[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const svc of services) {
    if (!hasClusterIP(svc)) continue;
    const spec = svc.spec as Json;
    const ip = String(spec.clusterIP);
    const ports = (Array.isArray(spec.ports) ? spec.ports : []) as Json[];
    if (ports.length === 0) continue;
    const prefix = envName(String(svc.metadata.name));
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip });
    out.push({ name: `${prefix}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports) if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(String(p.name))}`, value: String(p.port) });
    const hostPort = (port: unknown) => (ip.includes(':') ? `[${ip}]:${String(port)}` : `${ip}:${String(port)}`);
    ports.forEach((p, i) => {
      const proto = String(p.protocol || 'TCP');
      const url = `${proto.toLowerCase()}://${hostPort(p.port)}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      const pp = `${prefix}_PORT_${String(p.port)}_${proto.toUpperCase()}`;
      out.push({ name: pp, value: url }, { name: `${pp}_PROTO`, value: proto.toLowerCase() }, { name: `${pp}_PORT`, value: String(p.port) }, { name: `${pp}_ADDR`, value: ip });
    });
  }
  return out;
}

/**
 * The service variables of a pod (kubelet's getServiceEnvVarMap): the master Services from
 * `default` always, the pod namespace's Services when enableServiceLinks is not false; a
 * namespace's own Service of a master name wins over the master one.
 */
export function serviceEnvVars(pod: KObject, services: KObject[]): { name: string; value: string }[] {
  const ns = String(pod.metadata.namespace ?? 'default');
  const links = (pod.spec as Json | undefined)?.enableServiceLinks !== false;
  const chosen = new Map<string, KObject>();
  for (const svc of services) {
    const name = String(svc.metadata.name);
    if (!hasClusterIP(svc)) continue;
    if (svc.metadata.namespace === MASTER_NAMESPACE && MASTER_SERVICES.includes(name)) {
      if (!chosen.has(name)) chosen.set(name, svc);
    } else if (svc.metadata.namespace === ns && links) {
      chosen.set(name, svc);
    }
  }
  return serviceLinkVars([...chosen.values()].sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name))));
}

/** ObjectSource.services over the API. */
export function apiServiceLister(client: RestClient): (namespace: string) => Promise<KObject[]> {
  return async (namespace) => (await client.get<{ items?: KObject[] }>(resourcePath(R.services, namespace))).items ?? [];
}

async function podServices(pod: KObject, sources: ObjectSource): Promise<KObject[]> {
  if (!sources.services) return [];
  const ns = String(pod.metadata.namespace ?? 'default');
  const links = (pod.spec as Json | undefined)?.enableServiceLinks !== false;
  const lists = await Promise.all([sources.services(MASTER_NAMESPACE), ...(links && ns !== MASTER_NAMESPACE ? [sources.services(ns)] : [])]);
  // A list answer does not always repeat the namespace on each item.
  return lists.flatMap((l, i) => l.map((s) => (s.metadata.namespace ? s : { ...s, metadata: { ...s.metadata, namespace: i === 0 ? MASTER_NAMESPACE : ns } })));
}

function findContainer(pod: KObject, name: string): Json | undefined {
  const spec = (pod.spec ?? {}) as Json;
  return [...((spec.containers as Json[]) ?? []), ...((spec.initContainers as Json[]) ?? [])].find((c) => c.name === name);
}

export async function resolveEnv(
  pod: KObject,
  container: Record<string, unknown>,
  sources: ObjectSource,
  opts: ResolveEnvOptions,
): Promise<{ name: string; value: string }[]> {
  const namespace = String(pod.metadata.namespace ?? 'default');
  const lookups = new Lookups(sources, namespace);
  const escape = opts.escapeLiterals !== false;
  const literal = (v: string): string => (escape ? v.replaceAll('$', '$$$$') : v);
  const out: { name: string; value: string }[] = [];
  const allocatable: Allocatable | undefined = opts.allocatable;

  for (const from of (container.envFrom as Json[] | undefined) ?? []) {
    const prefix = String(from.prefix ?? '');
    let entries: Map<string, string>;
    let source: string;
    if (from.configMapRef) {
      const name = String(from.configMapRef.name ?? '');
      source = `ConfigMap ${namespace}/${name}`;
      const cm = await lookups.configMap(name);
      if (!cm) {
        if (from.configMapRef.optional === true) continue;
        throw new EnvError(`configmap "${name}" not found`);
      }
      // binaryData is not offered as environment, as in kubelet
      entries = new Map(Object.entries((cm.data as Record<string, string> | undefined) ?? {}).map(([k, v]) => [k, String(v)]));
    } else if (from.secretRef) {
      const name = String(from.secretRef.name ?? '');
      source = `Secret ${namespace}/${name}`;
      const secret = await lookups.secret(name);
      if (!secret) {
        if (from.secretRef.optional === true) continue;
        throw new EnvError(`secret "${name}" not found`);
      }
      entries = new Map([...secretEntries(secret)].map(([k, v]) => [k, v.toString('utf8')]));
    } else {
      throw new EnvError(`envFrom entry of container "${String(container.name)}" names neither configMapRef nor secretRef`);
    }
    const invalid: string[] = [];
    for (const key of [...entries.keys()].sort()) {
      const name = prefix + key;
      if (!isEnvVarName(name)) {
        invalid.push(name);
        continue;
      }
      out.push({ name, value: literal(entries.get(key)!) });
    }
    if (invalid.length > 0) opts.onInvalidKeys?.(invalid, source);
  }

  for (const e of (container.env as Json[] | undefined) ?? []) {
    const name = String(e.name ?? '');
    if (e.value !== undefined && e.value !== null && e.value !== '') {
      out.push({ name, value: String(e.value) });
      continue;
    }
    const from = e.valueFrom as Json | undefined;
    if (!from) {
      out.push({ name, value: '' });
      continue;
    }
    let value: string | undefined;
    try {
      if (from.fieldRef) {
        value = podFieldValue(pod, String(from.fieldRef.fieldPath ?? ''), {
          nodeName: opts.nodeName, hostIP: opts.hostIP, hostIPs: opts.hostIPs, podIP: opts.podIP, podIPs: opts.podIPs,
        });
      } else if (from.resourceFieldRef) {
        const ref = from.resourceFieldRef as Json;
        const cname = ref.containerName ? String(ref.containerName) : '';
        const target = cname === '' ? (container as Json) : findContainer(pod, cname);
        if (!target) throw new EnvError(`env ${name}: container "${cname}" not found in the pod`);
        value = containerResourceValue(target, String(ref.resource ?? ''), ref.divisor, allocatable);
      } else if (from.configMapKeyRef) {
        const ref = from.configMapKeyRef as Json;
        const cmName = String(ref.name ?? '');
        const optional = ref.optional === true;
        const cm = await lookups.configMap(cmName);
        if (!cm) {
          if (optional) continue;
          throw new EnvError(`configmap "${cmName}" not found`);
        }
        const data = (cm.data as Record<string, string> | undefined) ?? {};
        if (!Object.hasOwn(data, ref.key)) {
          if (optional) continue;
          throw new EnvError(`couldn't find key ${String(ref.key)} in ConfigMap ${namespace}/${cmName}`);
        }
        value = String(data[ref.key]);
      } else if (from.secretKeyRef) {
        const ref = from.secretKeyRef as Json;
        const secretName = String(ref.name ?? '');
        const optional = ref.optional === true;
        const secret = await lookups.secret(secretName);
        if (!secret) {
          if (optional) continue;
          throw new EnvError(`secret "${secretName}" not found`);
        }
        const bytes = secretEntries(secret).get(String(ref.key));
        if (bytes === undefined) {
          if (optional) continue;
          throw new EnvError(`couldn't find key ${String(ref.key)} in Secret ${namespace}/${secretName}`);
        }
        value = bytes.toString('utf8');
      } else {
        throw new EnvError(`env ${name}: valueFrom names no supported source`);
      }
    } catch (err) {
      if (err instanceof DownwardError) throw new EnvError(`env ${name}: ${err.message}`);
      throw err;
    }
    out.push({ name, value: literal(value) });
  }
  const own = new Set(out.map((e) => e.name));
  // First, so that $(VAR) in the container's values can name them.
  const services = serviceEnvVars(pod, await podServices(pod, sources)).filter((e) => !own.has(e.name));
  return [...services, ...out];
}
