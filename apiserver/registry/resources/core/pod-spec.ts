// PodSpec and PodTemplateSpec: the defaults and checks shared by Pods and every workload kind
// that embeds a pod template.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { validateLabels } from '../../../../pkg/api/labels.js';
import { compareQuantities, formatQuantity, validateQuantity } from '../../../../pkg/api/quantity.js';
import type { FieldError } from '../../../../pkg/api/types.js';
import {
  isConfigMapKey,
  isDns1123Label,
  isDns1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidIP,
  isValidPortName,
  isValidPortNum,
} from '../../../../pkg/api/validation.js';
import { validateAnnotations } from '../../meta-validation.js';
import { checkMin, ensureObj, isInt, isObj, notFound, setDefault, type Json } from '../common.js';

// ---- defaults ----

/** `:latest` or no tag means the image can change under the same name, so it is always pulled. */
export function defaultPullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const tagSep = image.indexOf(':', lastSlash + 1);
  if (tagSep < 0) return 'Always';
  return image.slice(tagSep + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: unknown): void {
  if (!isObj(p)) return;
  setDefault(p, 'timeoutSeconds', 1);
  setDefault(p, 'periodSeconds', 10);
  setDefault(p, 'successThreshold', 1);
  setDefault(p, 'failureThreshold', 3);
  if (isObj(p.httpGet)) setDefault(p.httpGet, 'scheme', 'HTTP');
  if (isObj(p.grpc)) setDefault(p.grpc, 'service', '');
}

function defaultContainer(c: Json, hostNetwork: boolean): void {
  if (!isObj(c)) return;
  if (typeof c.image === 'string' && c.image) setDefault(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  const res = ensureObj(c, 'resources');
  // A container that names only limits requests exactly that much.
  if (isObj(res.limits)) {
    const req = ensureObj(res, 'requests');
    for (const [k, v] of Object.entries(res.limits)) setDefault(req, k, v);
  }
  if (Array.isArray(c.ports)) {
    for (const p of c.ports) {
      if (!isObj(p)) continue;
      setDefault(p, 'protocol', 'TCP');
      if (hostNetwork && p.hostPort === undefined && p.containerPort !== undefined) p.hostPort = p.containerPort;
    }
  }
  if (Array.isArray(c.env)) {
    for (const e of c.env) {
      if (isObj(e) && isObj(e.valueFrom) && isObj(e.valueFrom.fieldRef)) setDefault(e.valueFrom.fieldRef, 'apiVersion', 'v1');
    }
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

function defaultVolume(v: Json): void {
  if (!isObj(v)) return;
  if (isObj(v.configMap)) setDefault(v.configMap, 'defaultMode', 420);
  if (isObj(v.secret)) setDefault(v.secret, 'defaultMode', 420);
  if (isObj(v.downwardAPI)) {
    setDefault(v.downwardAPI, 'defaultMode', 420);
    for (const item of v.downwardAPI.items ?? []) if (isObj(item) && isObj(item.fieldRef)) setDefault(item.fieldRef, 'apiVersion', 'v1');
  }
  if (isObj(v.projected)) setDefault(v.projected, 'defaultMode', 420);
  if (isObj(v.hostPath)) setDefault(v.hostPath, 'type', '');
}

/** SetDefaults_PodSpec plus the nested container/volume defaults, as `kubectl get -o yaml` shows them. */
export function defaultPodSpec(spec: Json): void {
  if (!isObj(spec)) return;
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'enableServiceLinks', true);
  // serviceAccount is the deprecated twin of serviceAccountName; Kubernetes keeps both in step.
  if (spec.serviceAccountName && !spec.serviceAccount) spec.serviceAccount = spec.serviceAccountName;
  else if (spec.serviceAccount && !spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of Array.isArray(spec.containers) ? spec.containers : []) defaultContainer(c, hostNetwork);
  for (const c of Array.isArray(spec.initContainers) ? spec.initContainers : []) defaultContainer(c, hostNetwork);
  for (const c of Array.isArray(spec.ephemeralContainers) ? spec.ephemeralContainers : []) defaultContainer(c, hostNetwork);
  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) defaultVolume(v);
  if (Array.isArray(spec.tolerations)) {
    for (const t of spec.tolerations) if (isObj(t) && t.key && !t.operator) t.operator = 'Equal';
  }
}

export function defaultPodTemplate(template: Json): void {
  if (!isObj(template)) return;
  ensureObj(template, 'metadata');
  defaultPodSpec(ensureObj(template, 'spec'));
}

// ---- validation ----

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const VOLUME_SOURCES = [
  'emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected', 'persistentVolumeClaim', 'nfs', 'csi', 'ephemeral', 'image',
  'iscsi', 'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'fc', 'azureFile', 'azureDisk', 'vsphereVolume', 'quobyte',
  'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo',
];
const STANDARD_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

export function validateResourceRequirements(res: Json, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (res === undefined || res === null) return errs;
  if (!isObj(res)) return [fieldErrors.typeInvalid(path, res, 'must be an object')];
  const checkMap = (m: Json, p: string) => {
    if (m === undefined || m === null) return;
    if (!isObj(m)) {
      errs.push(fieldErrors.typeInvalid(p, m, 'must be a map of resource name to quantity'));
      return;
    }
    for (const [name, q] of Object.entries(m)) {
      const kp = `${p}[${name}]`;
      if (!STANDARD_RESOURCES.includes(name) && !name.startsWith('hugepages-') && !name.includes('/')) {
        errs.push(fieldErrors.invalid(kp, name, 'must be a standard resource for containers'));
      } else if (name.includes('/')) {
        for (const msg of isQualifiedName(name)) errs.push(fieldErrors.invalid(kp, name, msg));
      }
      const qm = validateQuantity(q);
      if (qm.length) {
        for (const msg of qm) errs.push(fieldErrors.invalid(kp, q, msg));
      } else if (compareQuantities(String(q), '0') < 0) {
        errs.push(fieldErrors.invalid(kp, q, 'must be greater than or equal to 0'));
      }
    }
  };
  checkMap(res.limits, `${path}.limits`);
  checkMap(res.requests, `${path}.requests`);
  if (isObj(res.requests) && isObj(res.limits)) {
    for (const [name, q] of Object.entries(res.requests)) {
      const lim = res.limits[name];
      if (lim === undefined || validateQuantity(q).length || validateQuantity(lim).length) continue;
      if (compareQuantities(String(q), String(lim)) > 0) {
        errs.push(fieldErrors.invalid(`${path}.requests`, formatQuantity(String(q)), `must be less than or equal to ${name} limit of ${formatQuantity(String(lim))}`));
      }
    }
  }
  return errs;
}

function validateProbe(p: Json, path: string): FieldError[] {
  if (p === undefined || p === null) return [];
  if (!isObj(p)) return [fieldErrors.typeInvalid(path, p, 'must be an object')];
  const errs: FieldError[] = [];
  const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => p[h] !== undefined && p[h] !== null);
  if (handlers.length === 0) errs.push(fieldErrors.required(path, 'must specify a handler type'));
  if (handlers.length > 1) errs.push(fieldErrors.forbidden(`${path}.${handlers[1]}`, 'may not specify more than 1 handler type'));
  checkMin(errs, p.initialDelaySeconds, `${path}.initialDelaySeconds`, 0);
  checkMin(errs, p.timeoutSeconds, `${path}.timeoutSeconds`, 1);
  checkMin(errs, p.periodSeconds, `${path}.periodSeconds`, 1);
  checkMin(errs, p.successThreshold, `${path}.successThreshold`, 1);
  checkMin(errs, p.failureThreshold, `${path}.failureThreshold`, 1);
  const port = isObj(p.httpGet) ? p.httpGet.port : isObj(p.tcpSocket) ? p.tcpSocket.port : undefined;
  const portPath = isObj(p.httpGet) ? `${path}.httpGet.port` : `${path}.tcpSocket.port`;
  if ((isObj(p.httpGet) || isObj(p.tcpSocket)) && port === undefined) errs.push(fieldErrors.required(portPath));
  else if (port !== undefined) errs.push(...validatePortNumOrName(port, portPath));
  if (isObj(p.exec) && p.exec.command === undefined) errs.push(fieldErrors.required(`${path}.exec.command`));
  return errs;
}

export function validatePortNumOrName(port: unknown, path: string): FieldError[] {
  if (isInt(port)) return isValidPortNum(port).map((m) => fieldErrors.invalid(path, port, m));
  if (typeof port === 'string') {
    if (/^\d+$/.test(port)) return isValidPortNum(Number(port)).map((m) => fieldErrors.invalid(path, port, m));
    return isValidPortName(port).map((m) => fieldErrors.invalid(path, port, m));
  }
  return [fieldErrors.typeInvalid(path, port, 'must be an integer or a string')];
}

function validateEnv(env: Json, path: string): FieldError[] {
  if (env === undefined || env === null) return [];
  if (!Array.isArray(env)) return [fieldErrors.typeInvalid(path, env, 'must be a list')];
  const errs: FieldError[] = [];
  env.forEach((e: Json, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(e)) {
      errs.push(fieldErrors.typeInvalid(p, e, 'must be an object'));
      return;
    }
    if (!e.name) errs.push(fieldErrors.required(`${p}.name`));
    else for (const m of isEnvVarName(String(e.name))) errs.push(fieldErrors.invalid(`${p}.name`, e.name, m));
    if (e.valueFrom !== undefined && e.valueFrom !== null) {
      const vf = e.valueFrom;
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((k) => isObj(vf) && vf[k]);
      if (e.value) errs.push(fieldErrors.invalid(`${p}.valueFrom`, '', 'may not be specified when `value` is not empty'));
      if (sources.length === 0) errs.push(fieldErrors.invalid(`${p}.valueFrom`, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      else if (sources.length > 1) errs.push(fieldErrors.invalid(`${p}.valueFrom`, '', 'may not have more than one field specified at a time'));
      for (const k of ['configMapKeyRef', 'secretKeyRef']) {
        const ref = isObj(vf) ? vf[k] : undefined;
        if (!isObj(ref)) continue;
        if (!ref.key) errs.push(fieldErrors.required(`${p}.valueFrom.${k}.key`));
        else for (const m of isConfigMapKey(String(ref.key))) errs.push(fieldErrors.invalid(`${p}.valueFrom.${k}.key`, ref.key, m));
        if (!ref.name && ref.optional !== true) errs.push(fieldErrors.required(`${p}.valueFrom.${k}.name`));
      }
      if (isObj(vf) && isObj(vf.fieldRef) && !vf.fieldRef.fieldPath) errs.push(fieldErrors.required(`${p}.valueFrom.fieldRef.fieldPath`));
    }
  });
  return errs;
}

type ContainerKind = 'regular' | 'init' | 'ephemeral';

function validateContainer(c: Json, path: string, volumes: Set<string>, kind: ContainerKind): FieldError[] {
  const isInit = kind === 'init';
  if (!isObj(c)) return [fieldErrors.typeInvalid(path, c, 'must be an object')];
  const errs: FieldError[] = [];
  if (!c.name) errs.push(fieldErrors.required(`${path}.name`));
  else for (const m of isDns1123Label(String(c.name))) errs.push(fieldErrors.invalid(`${path}.name`, c.name, m));
  if (!c.image || typeof c.image !== 'string') errs.push(fieldErrors.required(`${path}.image`));
  else if (c.image.trim() !== c.image) errs.push(fieldErrors.invalid(`${path}.image`, c.image, 'must not have leading or trailing whitespace'));
  if (c.imagePullPolicy !== undefined && !PULL_POLICIES.includes(c.imagePullPolicy)) {
    errs.push(fieldErrors.notSupported(`${path}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
  }
  if (c.terminationMessagePolicy !== undefined && !['File', 'FallbackToLogsOnError'].includes(c.terminationMessagePolicy)) {
    errs.push(fieldErrors.notSupported(`${path}.terminationMessagePolicy`, c.terminationMessagePolicy, ['File', 'FallbackToLogsOnError']));
  }
  for (const f of ['command', 'args']) {
    if (c[f] !== undefined && c[f] !== null && !(Array.isArray(c[f]) && c[f].every((x: unknown) => typeof x === 'string'))) {
      errs.push(fieldErrors.typeInvalid(`${path}.${f}`, c[f], 'must be a list of strings'));
    }
  }
  if (c.ports !== undefined && c.ports !== null) {
    if (!Array.isArray(c.ports)) errs.push(fieldErrors.typeInvalid(`${path}.ports`, c.ports, 'must be a list'));
    else {
      const names = new Set<string>();
      c.ports.forEach((p: Json, i: number) => {
        const pp = `${path}.ports[${i}]`;
        if (!isObj(p)) {
          errs.push(fieldErrors.typeInvalid(pp, p, 'must be an object'));
          return;
        }
        if (p.name !== undefined && p.name !== '') {
          for (const m of isValidPortName(String(p.name))) errs.push(fieldErrors.invalid(`${pp}.name`, p.name, m));
          if (names.has(p.name)) errs.push(fieldErrors.duplicate(`${pp}.name`, p.name));
          names.add(p.name);
        }
        if (p.containerPort === undefined || p.containerPort === null) errs.push(fieldErrors.required(`${pp}.containerPort`));
        else for (const m of isValidPortNum(p.containerPort)) errs.push(fieldErrors.invalid(`${pp}.containerPort`, p.containerPort, m));
        if (p.hostPort !== undefined && p.hostPort !== null && p.hostPort !== 0) {
          for (const m of isValidPortNum(p.hostPort)) errs.push(fieldErrors.invalid(`${pp}.hostPort`, p.hostPort, m));
        }
        if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) errs.push(fieldErrors.notSupported(`${pp}.protocol`, p.protocol, PROTOCOLS));
        if (p.hostIP !== undefined && p.hostIP !== '') for (const m of isValidIP(String(p.hostIP))) errs.push(fieldErrors.invalid(`${pp}.hostIP`, p.hostIP, m));
      });
    }
  }
  errs.push(...validateEnv(c.env, `${path}.env`));
  if (Array.isArray(c.envFrom)) {
    c.envFrom.forEach((e: Json, i: number) => {
      const p = `${path}.envFrom[${i}]`;
      const refs = ['configMapRef', 'secretRef'].filter((k) => isObj(e) && e[k]);
      if (refs.length !== 1) errs.push(fieldErrors.invalid(p, '', 'must specify one of: `configMapRef` or `secretRef`'));
      if (isObj(e) && e.prefix) for (const m of isEnvVarName(String(e.prefix))) errs.push(fieldErrors.invalid(`${p}.prefix`, e.prefix, m));
    });
  }
  errs.push(...validateResourceRequirements(c.resources, `${path}.resources`));
  if (c.volumeMounts !== undefined && c.volumeMounts !== null) {
    if (!Array.isArray(c.volumeMounts)) errs.push(fieldErrors.typeInvalid(`${path}.volumeMounts`, c.volumeMounts, 'must be a list'));
    else {
      const paths = new Set<string>();
      c.volumeMounts.forEach((m: Json, i: number) => {
        const mp = `${path}.volumeMounts[${i}]`;
        if (!isObj(m)) return;
        if (!m.name) errs.push(fieldErrors.required(`${mp}.name`));
        else if (!volumes.has(m.name)) errs.push(notFound(`${mp}.name`, m.name));
        if (!m.mountPath) errs.push(fieldErrors.required(`${mp}.mountPath`));
        else if (paths.has(m.mountPath)) errs.push(fieldErrors.invalid(`${mp}.mountPath`, m.mountPath, 'must be unique'));
        else paths.add(m.mountPath);
      });
    }
  }
  if (isInit) {
    // Only sidecar-style (restartPolicy Always) init containers may have these probes.
    const sidecar = c.restartPolicy === 'Always';
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (!sidecar && c[probe]) errs.push(fieldErrors.forbidden(`${path}.${probe}`, 'may not be set for init containers without restartPolicy=Always'));
    }
    if (c.restartPolicy !== undefined && c.restartPolicy !== 'Always') errs.push(fieldErrors.notSupported(`${path}.restartPolicy`, c.restartPolicy, ['Always']));
  } else if (c.restartPolicy !== undefined && kind === 'regular') {
    errs.push(fieldErrors.forbidden(`${path}.restartPolicy`, 'may not be set for non-init containers'));
  }
  errs.push(...validateProbe(c.livenessProbe, `${path}.livenessProbe`));
  errs.push(...validateProbe(c.readinessProbe, `${path}.readinessProbe`));
  errs.push(...validateProbe(c.startupProbe, `${path}.startupProbe`));
  if (!isInit && isObj(c.livenessProbe) && c.livenessProbe.successThreshold !== undefined && c.livenessProbe.successThreshold !== 1) {
    errs.push(fieldErrors.invalid(`${path}.livenessProbe.successThreshold`, c.livenessProbe.successThreshold, 'must be 1'));
  }
  return errs;
}

function validateVolumes(volumes: Json, path: string): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  if (volumes === undefined || volumes === null) return { errs, names };
  if (!Array.isArray(volumes)) return { errs: [fieldErrors.typeInvalid(path, volumes, 'must be a list')], names };
  volumes.forEach((v: Json, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(v)) {
      errs.push(fieldErrors.typeInvalid(p, v, 'must be an object'));
      return;
    }
    if (!v.name) errs.push(fieldErrors.required(`${p}.name`));
    else {
      for (const m of isDns1123Label(String(v.name))) errs.push(fieldErrors.invalid(`${p}.name`, v.name, m));
      if (names.has(v.name)) errs.push(fieldErrors.duplicate(`${p}.name`, v.name));
      names.add(v.name);
    }
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined && v[s] !== null);
    if (sources.length === 0) errs.push(fieldErrors.required(p, 'must specify a volume type'));
    else if (sources.length > 1) errs.push(fieldErrors.forbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type'));
    if (isObj(v.hostPath) && !v.hostPath.path) errs.push(fieldErrors.required(`${p}.hostPath.path`));
    if (isObj(v.configMap) && !v.configMap.name && v.configMap.optional !== true) errs.push(fieldErrors.required(`${p}.configMap.name`));
    if (isObj(v.secret) && !v.secret.secretName && v.secret.optional !== true) errs.push(fieldErrors.required(`${p}.secret.secretName`));
    if (isObj(v.persistentVolumeClaim) && !v.persistentVolumeClaim.claimName) errs.push(fieldErrors.required(`${p}.persistentVolumeClaim.claimName`));
    if (isObj(v.emptyDir) && v.emptyDir.sizeLimit !== undefined) {
      for (const m of validateQuantity(v.emptyDir.sizeLimit)) errs.push(fieldErrors.invalid(`${p}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit, m));
    }
    for (const key of ['configMap', 'secret']) {
      const src = v[key];
      if (!isObj(src) || !Array.isArray(src.items)) continue;
      src.items.forEach((it: Json, j: number) => {
        const ip = `${p}.${key}.items[${j}]`;
        if (!isObj(it)) return;
        if (!it.key) errs.push(fieldErrors.required(`${ip}.key`));
        if (!it.path) errs.push(fieldErrors.required(`${ip}.path`));
        else if (String(it.path).startsWith('/')) errs.push(fieldErrors.invalid(`${ip}.path`, it.path, 'must be a relative path'));
        else if (String(it.path).split('/').includes('..')) errs.push(fieldErrors.invalid(`${ip}.path`, it.path, "must not contain '..'"));
      });
    }
  });
  return { errs, names };
}

function validateTolerations(tols: Json, path: string): FieldError[] {
  if (tols === undefined || tols === null) return [];
  if (!Array.isArray(tols)) return [fieldErrors.typeInvalid(path, tols, 'must be a list')];
  const errs: FieldError[] = [];
  tols.forEach((t: Json, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(t)) return;
    if (t.key) for (const m of isQualifiedName(String(t.key))) errs.push(fieldErrors.invalid(`${p}.key`, t.key, m));
    const op = t.operator ?? 'Equal';
    if (!t.key && op !== 'Exists') errs.push(fieldErrors.invalid(`${p}.operator`, op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    if (op === 'Exists' && t.value) errs.push(fieldErrors.invalid(`${p}.operator`, t.value, 'value must be empty when `operator` is \'Exists\''));
    if (op !== 'Exists' && op !== 'Equal') errs.push(fieldErrors.notSupported(`${p}.operator`, op, ['Equal', 'Exists']));
    if (t.effect && !TAINT_EFFECTS.includes(t.effect)) errs.push(fieldErrors.notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS));
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && t.effect !== 'NoExecute') {
      errs.push(fieldErrors.invalid(`${p}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set'));
    }
  });
  return errs;
}

export function validatePodSpec(spec: Json, path: string): FieldError[] {
  if (spec === undefined || spec === null) return [fieldErrors.required(path)];
  if (!isObj(spec)) return [fieldErrors.typeInvalid(path, spec, 'must be an object')];
  const errs: FieldError[] = [];
  const { errs: volErrs, names: volumes } = validateVolumes(spec.volumes, `${path}.volumes`);
  errs.push(...volErrs);
  const containerNames = new Set<string>();
  const checkNames = (list: Json[], p: string) =>
    list.forEach((c, i) => {
      if (!isObj(c) || !c.name) return;
      if (containerNames.has(c.name)) errs.push(fieldErrors.duplicate(`${p}[${i}].name`, c.name));
      containerNames.add(c.name);
    });
  if (spec.containers === undefined || spec.containers === null || (Array.isArray(spec.containers) && spec.containers.length === 0)) {
    errs.push(fieldErrors.required(`${path}.containers`));
  } else if (!Array.isArray(spec.containers)) {
    errs.push(fieldErrors.typeInvalid(`${path}.containers`, spec.containers, 'must be a list'));
  } else {
    spec.containers.forEach((c: Json, i: number) => errs.push(...validateContainer(c, `${path}.containers[${i}]`, volumes, 'regular')));
  }
  if (spec.initContainers !== undefined && spec.initContainers !== null) {
    if (!Array.isArray(spec.initContainers)) errs.push(fieldErrors.typeInvalid(`${path}.initContainers`, spec.initContainers, 'must be a list'));
    else {
      spec.initContainers.forEach((c: Json, i: number) => errs.push(...validateContainer(c, `${path}.initContainers[${i}]`, volumes, 'init')));
      checkNames(spec.initContainers, `${path}.initContainers`);
    }
  }
  if (Array.isArray(spec.containers)) checkNames(spec.containers, `${path}.containers`);
  errs.push(...validateEphemeralContainers(spec, path, volumes));
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy)) {
    errs.push(fieldErrors.notSupported(`${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  }
  if (spec.dnsPolicy !== undefined && !DNS_POLICIES.includes(spec.dnsPolicy)) errs.push(fieldErrors.notSupported(`${path}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES));
  if (spec.dnsPolicy === 'None' && !isObj(spec.dnsConfig)) errs.push(fieldErrors.required(`${path}.dnsConfig`, 'must provide `dnsConfig` when `dnsPolicy` is None'));
  checkMin(errs, spec.terminationGracePeriodSeconds, `${path}.terminationGracePeriodSeconds`, 0);
  checkMin(errs, spec.activeDeadlineSeconds, `${path}.activeDeadlineSeconds`, 1);
  errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  if (spec.nodeName) for (const m of isDns1123Subdomain(String(spec.nodeName))) errs.push(fieldErrors.invalid(`${path}.nodeName`, spec.nodeName, m));
  if (spec.serviceAccountName) {
    for (const m of isDns1123Subdomain(String(spec.serviceAccountName))) errs.push(fieldErrors.invalid(`${path}.serviceAccountName`, spec.serviceAccountName, m));
  }
  if (spec.hostname) for (const m of isDns1123Label(String(spec.hostname))) errs.push(fieldErrors.invalid(`${path}.hostname`, spec.hostname, m));
  if (spec.subdomain) for (const m of isDns1123Label(String(spec.subdomain))) errs.push(fieldErrors.invalid(`${path}.subdomain`, spec.subdomain, m));
  errs.push(...validateTolerations(spec.tolerations, `${path}.tolerations`));
  if (Array.isArray(spec.imagePullSecrets)) {
    spec.imagePullSecrets.forEach((s: Json, i: number) => {
      if (!isObj(s) || !s.name) errs.push(fieldErrors.required(`${path}.imagePullSecrets[${i}].name`));
    });
  }
  if (spec.hostNetwork === true && Array.isArray(spec.containers)) {
    spec.containers.forEach((c: Json, i: number) => {
      (isObj(c) && Array.isArray(c.ports) ? c.ports : []).forEach((p: Json, j: number) => {
        if (isObj(p) && p.hostPort !== undefined && p.hostPort !== p.containerPort) {
          errs.push(fieldErrors.invalid(`${path}.containers[${i}].ports[${j}].containerPort`, p.containerPort, 'must match `hostPort` when `hostNetwork` is true'));
        }
      });
    });
  }
  return errs;
}

// What an ephemeral container may have: it serves no one (no ports, probes or hooks) and the
// pod's resources are fixed once it runs. Every other container field is forbidden when set.
const EPHEMERAL_ALLOWED = new Set([
  'name', 'image', 'command', 'args', 'workingDir', 'env', 'envFrom', 'volumeMounts', 'volumeDevices', 'terminationMessagePath',
  'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty', 'targetContainerName',
]);

/** Go's zero value test for the JSON of a field: absent, null, false, 0, '', [] or {} (resources: {} is what defaulting leaves). */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isObj(v)) return Object.values(v).every(isZero);
  return false;
}

/**
 * spec.ephemeralContainers: container checks, names unique among all of the pod's containers, a
 * targetContainerName naming a regular or init container, and only the allowed fields.
 */
export function validateEphemeralContainers(spec: Json, path: string, volumes: Set<string>): FieldError[] {
  const list = spec.ephemeralContainers;
  const p = `${path}.ephemeralContainers`;
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) return [fieldErrors.typeInvalid(p, list, 'must be a list')];
  const errs: FieldError[] = [];
  const others = new Set<string>();
  for (const k of ['containers', 'initContainers']) {
    for (const c of Array.isArray(spec[k]) ? spec[k] : []) if (isObj(c) && typeof c.name === 'string') others.add(c.name);
  }
  const all = new Set(others);
  list.forEach((c: Json, i: number) => {
    const cp = `${p}[${i}]`;
    errs.push(...validateContainer(c, cp, volumes, 'ephemeral'));
    if (!isObj(c)) return;
    if (c.name) {
      if (all.has(c.name)) errs.push(fieldErrors.duplicate(`${cp}.name`, c.name));
      else all.add(c.name);
    }
    if (c.targetContainerName !== undefined && c.targetContainerName !== '' && !others.has(String(c.targetContainerName))) {
      errs.push(notFound(`${cp}.targetContainerName`, c.targetContainerName));
    }
    for (const [k, v] of Object.entries(c)) {
      if (!EPHEMERAL_ALLOWED.has(k) && !isZero(v)) errs.push(fieldErrors.forbidden(`${cp}.${k}`, 'cannot be set for an Ephemeral Container'));
    }
    (Array.isArray(c.volumeMounts) ? c.volumeMounts : []).forEach((m: Json, j: number) => {
      if (!isObj(m)) return;
      for (const f of ['subPath', 'subPathExpr']) if (m[f]) errs.push(fieldErrors.forbidden(`${cp}.volumeMounts[${j}].${f}`, 'cannot be set for an Ephemeral Container'));
    });
  });
  return errs;
}

export function validatePodTemplateSpec(template: Json, path: string): FieldError[] {
  if (template === undefined || template === null) return [fieldErrors.required(path)];
  if (!isObj(template)) return [fieldErrors.typeInvalid(path, template, 'must be an object')];
  const errs: FieldError[] = [];
  const meta = isObj(template.metadata) ? template.metadata : {};
  errs.push(...validateLabels(meta.labels, `${path}.metadata.labels`));
  errs.push(...validateAnnotations(meta.annotations, `${path}.metadata.annotations`));
  errs.push(...validatePodSpec(template.spec, `${path}.spec`));
  if (isObj(template.spec) && Array.isArray(template.spec.ephemeralContainers) && template.spec.ephemeralContainers.length > 0) {
    errs.push(fieldErrors.forbidden(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}

export { qosClass } from '../../../../pkg/api/qos.js';
