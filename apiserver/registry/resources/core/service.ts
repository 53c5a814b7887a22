// core/v1 Service. The cluster IP and node ports are allocated elsewhere; this module defaults,
// validates and prints.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { formatLabels, validateLabels } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isValidIP, isValidPortNum } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, isObj, setDefault, type Json } from '../common.js';
import { validatePortNumOrName } from './pod-spec.js';

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function defaultService(obj: KObject): void {
  if (!isObj(obj.spec)) obj.spec = {};
  const spec: Json = obj.spec;
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  if (spec.sessionAffinity === 'ClientIP') {
    if (!isObj(spec.sessionAffinityConfig)) spec.sessionAffinityConfig = {};
    if (!isObj(spec.sessionAffinityConfig.clientIP)) spec.sessionAffinityConfig.clientIP = {};
    setDefault(spec.sessionAffinityConfig.clientIP, 'timeoutSeconds', 10800);
  }
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isObj(p)) continue;
    setDefault(p, 'protocol', 'TCP');
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'ExternalName') return;
  setDefault(spec, 'internalTrafficPolicy', 'Cluster');
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') setDefault(spec, 'externalTrafficPolicy', 'Cluster');
  if (spec.type === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true);
  if (spec.clusterIP && !Array.isArray(spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
  setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
  if (!Array.isArray(spec.ipFamilies) || spec.ipFamilies.length === 0) {
    const ip = spec.clusterIP && spec.clusterIP !== 'None' ? String(spec.clusterIP) : '';
    spec.ipFamilies = [ip.includes(':') ? 'IPv6' : 'IPv4'];
  }
}

function validateService(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const type = spec.type ?? 'ClusterIP';
  if (!TYPES.includes(type)) errs.push(fieldErrors.notSupported('spec.type', type, TYPES));
  const headless = spec.clusterIP === 'None';
  const ports: Json[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (spec.ports !== undefined && spec.ports !== null && !Array.isArray(spec.ports)) errs.push(fieldErrors.typeInvalid('spec.ports', spec.ports, 'must be a list'));
  if (ports.length === 0 && type !== 'ExternalName' && !headless) errs.push(fieldErrors.required('spec.ports'));
  const names = new Set<string>();
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const pp = `spec.ports[${i}]`;
    if (!isObj(p)) {
      errs.push(fieldErrors.typeInvalid(pp, p, 'must be an object'));
      return;
    }
    if (ports.length > 1 && !p.name) errs.push(fieldErrors.required(`${pp}.name`));
    else if (p.name) {
      for (const m of isDns1123Label(String(p.name))) errs.push(fieldErrors.invalid(`${pp}.name`, p.name, m));
      if (names.has(p.name)) errs.push(fieldErrors.duplicate(`${pp}.name`, p.name));
      names.add(p.name);
    }
    if (p.port === undefined || p.port === null) errs.push(fieldErrors.required(`${pp}.port`));
    else for (const m of isValidPortNum(p.port)) errs.push(fieldErrors.invalid(`${pp}.port`, p.port, m));
    const proto = p.protocol ?? 'TCP';
    if (!PROTOCOLS.includes(proto)) errs.push(fieldErrors.notSupported(`${pp}.protocol`, proto, PROTOCOLS));
    const key = `${p.port}/${proto}`;
    if (portKeys.has(key)) errs.push(fieldErrors.duplicate(pp, { port: p.port, protocol: proto }));
    portKeys.add(key);
    if (p.targetPort !== undefined && p.targetPort !== null) errs.push(...validatePortNumOrName(p.targetPort, `${pp}.targetPort`));
    if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) {
      if (type === 'ClusterIP' || type === 'ExternalName') errs.push(fieldErrors.forbidden(`${pp}.nodePort`, `may not be used when \`type\` is '${type}'`));
      else for (const m of isValidPortNum(p.nodePort)) errs.push(fieldErrors.invalid(`${pp}.nodePort`, p.nodePort, m));
    }
  });
  errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (spec.sessionAffinity !== undefined && !['ClientIP', 'None'].includes(spec.sessionAffinity)) {
    errs.push(fieldErrors.notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']));
  }
  if (type === 'ExternalName') {
    if (!spec.externalName) errs.push(fieldErrors.required('spec.externalName'));
    else {
      const name = String(spec.externalName).replace(/\.$/, '');
      for (const m of isDns1123Subdomain(name)) errs.push(fieldErrors.invalid('spec.externalName', spec.externalName, m));
    }
    if (spec.clusterIP && spec.clusterIP !== '') errs.push(fieldErrors.forbidden('spec.clusterIP', 'may not be set for ExternalName services'));
  }
  if (spec.clusterIP && spec.clusterIP !== 'None') {
    for (const m of isValidIP(String(spec.clusterIP))) errs.push(fieldErrors.invalid('spec.clusterIP', spec.clusterIP, m));
  }
  if (headless && (type === 'NodePort' || type === 'LoadBalancer')) {
    errs.push(fieldErrors.invalid('spec.clusterIP', 'None', `may not be set to 'None' for ${type} services`));
  }
  if (Array.isArray(spec.externalIPs)) {
    spec.externalIPs.forEach((ip: Json, i: number) => {
      for (const m of isValidIP(String(ip))) errs.push(fieldErrors.invalid(`spec.externalIPs[${i}]`, ip, m));
    });
  }
  for (const [f, allowed] of [
    ['internalTrafficPolicy', ['Cluster', 'Local']],
    ['externalTrafficPolicy', ['Cluster', 'Local']],
    ['ipFamilyPolicy', ['SingleStack', 'PreferDualStack', 'RequireDualStack']],
  ] as const) {
    if (spec[f] !== undefined && spec[f] !== null && !(allowed as readonly string[]).includes(spec[f])) {
      errs.push(fieldErrors.notSupported(`spec.${f}`, spec[f], [...allowed]));
    }
  }
  if (spec.externalTrafficPolicy && type !== 'NodePort' && type !== 'LoadBalancer') {
    errs.push(fieldErrors.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  }
  return errs;
}

function portsString(spec: Json): string {
  const ports: Json[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (ports.length === 0) return '<none>';
  return ports
    .filter(isObj)
    .map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p.port}/${p.protocol ?? 'TCP'}`))
    .join(',');
}

function externalIP(svc: KObject): string {
  const spec: Json = svc.spec ?? {};
  const external: string[] = Array.isArray(spec.externalIPs) ? spec.externalIPs : [];
  switch (spec.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress: Json[] = Array.isArray((svc.status as Json)?.loadBalancer?.ingress) ? (svc.status as Json).loadBalancer.ingress : [];
      const ips = ingress.map((i) => (isObj(i) ? i.ip || i.hostname : '')).filter(Boolean);
      const all = [...ips, ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '<none>';
    default:
      return '<unknown>';
  }
}

export const serviceStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Service',
    listKind: 'ServiceList',
    plural: 'services',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1Service',
  },
  nameValidator: isDns1035Label,
  defaults: defaultService,
  validate: validateService,
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    const oldSpec: Json = old.spec ?? {};
    const oldType = oldSpec.type ?? 'ClusterIP';
    const newType = spec.type ?? 'ClusterIP';
    // Turning into (or out of) ExternalName frees or needs an IP; otherwise the IP is fixed.
    if (oldSpec.clusterIP && oldType !== 'ExternalName' && newType !== 'ExternalName' && spec.clusterIP !== oldSpec.clusterIP) {
      errs.push(fieldErrors.immutable('spec.clusterIP', spec.clusterIP ?? ''));
    }
    return errs;
  },
  prepareForUpdate(obj, old) {
    const spec: Json = obj.spec;
    const oldSpec: Json = old.spec;
    if (!isObj(spec) || !isObj(oldSpec)) return;
    const type = spec.type ?? 'ClusterIP';
    const oldType = oldSpec.type ?? 'ClusterIP';
    // A type change drops what only the old type needed, when the client left it as it was (a
    // patch of `type` alone carries the old node ports and cluster IP along), as Kubernetes does;
    // values the client changed stay and are validated.
    const external = (t: string) => t === 'NodePort' || t === 'LoadBalancer';
    if (external(oldType) && !external(type)) {
      const oldNodePorts = new Set((Array.isArray(oldSpec.ports) ? oldSpec.ports : []).filter(isObj).map((p: Json) => p.nodePort));
      for (const p of Array.isArray(spec.ports) ? spec.ports : []) if (isObj(p) && p.nodePort && oldNodePorts.has(p.nodePort)) delete p.nodePort;
      if (spec.externalTrafficPolicy === oldSpec.externalTrafficPolicy) delete spec.externalTrafficPolicy;
    }
    if (oldType === 'LoadBalancer' && type !== 'LoadBalancer' && spec.allocateLoadBalancerNodePorts === oldSpec.allocateLoadBalancerNodePorts) {
      delete spec.allocateLoadBalancerNodePorts;
    }
    if (type === 'ExternalName') {
      if (oldType !== 'ExternalName') {
        if (spec.clusterIP === oldSpec.clusterIP) delete spec.clusterIP;
        if (JSON.stringify(spec.clusterIPs) === JSON.stringify(oldSpec.clusterIPs)) delete spec.clusterIPs;
        if (JSON.stringify(spec.ipFamilies) === JSON.stringify(oldSpec.ipFamilies)) delete spec.ipFamilies;
        if (spec.ipFamilyPolicy === oldSpec.ipFamilyPolicy) delete spec.ipFamilyPolicy;
        if (spec.internalTrafficPolicy === oldSpec.internalTrafficPolicy) delete spec.internalTrafficPolicy;
      }
      return;
    }
    if (!spec.clusterIP && oldSpec.clusterIP) {
      spec.clusterIP = oldSpec.clusterIP;
      spec.clusterIPs = oldSpec.clusterIPs ?? [oldSpec.clusterIP];
    }
    if (type === 'NodePort' || type === 'LoadBalancer') {
      const oldPorts: Json[] = Array.isArray(oldSpec.ports) ? oldSpec.ports : [];
      for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
        if (!isObj(p) || p.nodePort) continue;
        const prev = oldPorts.find((o) => isObj(o) && o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
        if (prev?.nodePort) p.nodePort = prev.nodePort;
      }
    }
  },
  table: {
    columns: [
      NAME_COLUMN,
      col('Type', 'string', 'type determines how the Service is exposed.'),
      col('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
      col('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
      col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
      AGE_COLUMN,
      col('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
    ],
    cells(obj, now) {
      const spec: Json = obj.spec ?? {};
      const clusterIP = (Array.isArray(spec.clusterIPs) && spec.clusterIPs[0]) || spec.clusterIP || '<none>';
      return [obj.metadata.name, spec.type ?? 'ClusterIP', clusterIP, externalIP(obj), portsString(spec), age(obj, now), formatLabels(spec.selector)];
    },
  },
};
