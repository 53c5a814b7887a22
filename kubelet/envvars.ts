// A container's environment as kubelet computes it: envFrom (ConfigMaps/Secrets, optional prefix),
// then env with valueFrom resolved (downward API fields, resources, ConfigMap/Secret keys).
//
// $(VAR) references are left to the OCI spec builder, which expands every value it is given in
// order, as Kubernetes expands `value` entries. Kubernetes never expands values that come from
// valueFrom or envFrom, so those have each `$` doubled here: the builder's expansion turns `$$`
// back into `$` and the container sees them unchanged.
import type { KObject } from '../pkg/api/types.js';
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
  return out;
}
