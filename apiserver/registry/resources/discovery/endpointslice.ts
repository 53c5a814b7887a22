// discovery.k8s.io/v1 EndpointSlice.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1123Label, isDns1123Subdomain, isIPv4, isIPv6, isValidPortNum } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, isObj, setDefault, str, type Json } from '../common.js';

const ADDRESS_TYPES = ['IPv4', 'IPv6', 'FQDN'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

function validateEndpointSlice(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const type = str(obj.addressType);
  if (!type) errs.push(fieldErrors.required('addressType'));
  else if (!ADDRESS_TYPES.includes(type)) errs.push(fieldErrors.notSupported('addressType', type, ADDRESS_TYPES));
  const endpoints: Json[] = Array.isArray(obj.endpoints) ? (obj.endpoints as Json[]) : [];
  if (endpoints.length > 1000) errs.push(fieldErrors.tooLong('endpoints', endpoints.length, 1000));
  endpoints.forEach((ep, i) => {
    const p = `endpoints[${i}]`;
    if (!isObj(ep)) return;
    const addrs: Json[] = Array.isArray(ep.addresses) ? ep.addresses : [];
    if (addrs.length === 0) errs.push(fieldErrors.required(`${p}.addresses`, 'must contain at least 1 address'));
    if (addrs.length > 100) errs.push(fieldErrors.tooLong(`${p}.addresses`, addrs.length, 100));
    addrs.forEach((a, j) => {
      const ap = `${p}.addresses[${j}]`;
      const s = String(a);
      if (type === 'IPv4' && !isIPv4(s)) errs.push(fieldErrors.invalid(ap, a, 'must be a valid IPv4 address'));
      if (type === 'IPv6' && !isIPv6(s)) errs.push(fieldErrors.invalid(ap, a, 'must be a valid IPv6 address'));
      if (type === 'FQDN') for (const m of isDns1123Subdomain(s)) errs.push(fieldErrors.invalid(ap, a, m));
    });
    if (ep.hostname) for (const m of isDns1123Label(String(ep.hostname))) errs.push(fieldErrors.invalid(`${p}.hostname`, ep.hostname, m));
    if (ep.nodeName) for (const m of isDns1123Subdomain(String(ep.nodeName))) errs.push(fieldErrors.invalid(`${p}.nodeName`, ep.nodeName, m));
  });
  const ports: Json[] = Array.isArray(obj.ports) ? (obj.ports as Json[]) : [];
  const names = new Set<string>();
  ports.forEach((pt, i) => {
    const p = `ports[${i}]`;
    if (!isObj(pt)) return;
    const name = str(pt.name);
    if (name) for (const m of isDns1123Label(name)) errs.push(fieldErrors.invalid(`${p}.name`, name, m));
    if (names.has(name)) errs.push(fieldErrors.duplicate(`${p}.name`, name));
    names.add(name);
    if (pt.port !== undefined && pt.port !== null) for (const m of isValidPortNum(pt.port)) errs.push(fieldErrors.invalid(`${p}.port`, pt.port, m));
    if (pt.protocol !== undefined && !PROTOCOLS.includes(pt.protocol)) errs.push(fieldErrors.notSupported(`${p}.protocol`, pt.protocol, PROTOCOLS));
  });
  return errs;
}

function portsCell(obj: KObject): string {
  const ports: Json[] = Array.isArray(obj.ports) ? (obj.ports as Json[]) : [];
  if (ports.length === 0) return '<unset>';
  const nums = ports.filter(isObj).map((p) => (p.port === undefined || p.port === null ? '<unset>' : String(p.port)));
  return nums.join(',');
}

function endpointsCell(obj: KObject): string {
  const all: string[] = [];
  for (const ep of Array.isArray(obj.endpoints) ? (obj.endpoints as Json[]) : []) {
    for (const a of isObj(ep) && Array.isArray(ep.addresses) ? ep.addresses : []) all.push(String(a));
  }
  if (all.length === 0) return '<unset>';
  const shown = all.slice(0, 3).join(',');
  return all.length > 3 ? `${shown} + ${all.length - 3} more...` : shown;
}

export const endpointSliceStrategy: Strategy = {
  info: {
    group: 'discovery.k8s.io',
    version: 'v1',
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    verbs: ALL_VERBS,
    modelName: 'V1EndpointSlice',
  },
  defaults(obj) {
    for (const p of Array.isArray(obj.ports) ? (obj.ports as Json[]) : []) {
      if (!isObj(p)) continue;
      setDefault(p, 'protocol', 'TCP');
      setDefault(p, 'name', '');
    }
  },
  validate: validateEndpointSlice,
  validateUpdate(obj, old) {
    return obj.addressType === old.addressType ? [] : [fieldErrors.immutable('addressType', obj.addressType)];
  },
  table: {
    columns: [
      NAME_COLUMN,
      col('AddressType', 'string', 'The IP protocol for this slice'),
      col('Ports', 'string', 'The ports of this slice'),
      col('Endpoints', 'string', 'The endpoints of this slice'),
      AGE_COLUMN,
    ],
    cells: (obj, now) => [obj.metadata.name, str(obj.addressType), portsCell(obj), endpointsCell(obj), age(obj, now)],
  },
};
