// core/v1 Endpoints.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1123Label, isValidIP, isValidPortNum } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, isObj, setDefault, type Json } from '../common.js';

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];

/** kubectl's formatEndpoints: at most three ip:port pairs, then "+ N more...". */
export function formatEndpoints(obj: KObject): string {
  const subsets: Json[] = Array.isArray(obj.subsets) ? (obj.subsets as Json[]) : [];
  const max = 3;
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    if (!isObj(ss)) continue;
    const addrs: Json[] = Array.isArray(ss.addresses) ? ss.addresses : [];
    const ports: Json[] = Array.isArray(ss.ports) ? ss.ports : [];
    if (ports.length === 0) {
      for (const a of addrs) {
        if (list.length < max) list.push(String(a?.ip));
        count++;
      }
      continue;
    }
    for (const p of ports) {
      for (const a of addrs) {
        if (list.length < max) list.push(`${a?.ip}:${p?.port}`);
        count++;
      }
    }
  }
  if (count === 0) return '<none>';
  let out = list.join(',');
  if (count > list.length) out += ` + ${count - list.length} more...`;
  return out;
}

function validateEndpoints(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  if (obj.subsets === undefined || obj.subsets === null) return errs;
  if (!Array.isArray(obj.subsets)) return [fieldErrors.typeInvalid('subsets', obj.subsets, 'must be a list')];
  (obj.subsets as Json[]).forEach((ss, i) => {
    const sp = `subsets[${i}]`;
    if (!isObj(ss)) return;
    for (const list of ['addresses', 'notReadyAddresses']) {
      (Array.isArray(ss[list]) ? ss[list] : []).forEach((a: Json, j: number) => {
        const ap = `${sp}.${list}[${j}]`;
        if (!isObj(a) || !a.ip) errs.push(fieldErrors.required(`${ap}.ip`));
        else for (const m of isValidIP(String(a.ip))) errs.push(fieldErrors.invalid(`${ap}.ip`, a.ip, m));
      });
    }
    const ports: Json[] = Array.isArray(ss.ports) ? ss.ports : [];
    ports.forEach((p, j) => {
      const pp = `${sp}.ports[${j}]`;
      if (!isObj(p)) return;
      if (ports.length > 1 && !p.name) errs.push(fieldErrors.required(`${pp}.name`));
      else if (p.name) for (const m of isDns1123Label(String(p.name))) errs.push(fieldErrors.invalid(`${pp}.name`, p.name, m));
      for (const m of isValidPortNum(p.port)) errs.push(fieldErrors.invalid(`${pp}.port`, p.port, m));
      if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) errs.push(fieldErrors.notSupported(`${pp}.protocol`, p.protocol, PROTOCOLS));
    });
  });
  return errs;
}

export const endpointsStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Endpoints',
    listKind: 'EndpointsList',
    plural: 'endpoints',
    singular: 'endpoints',
    namespaced: true,
    shortNames: ['ep'],
    verbs: ALL_VERBS,
    modelName: 'V1Endpoints',
  },
  defaults(obj) {
    for (const ss of Array.isArray(obj.subsets) ? (obj.subsets as Json[]) : []) {
      for (const p of isObj(ss) && Array.isArray(ss.ports) ? ss.ports : []) if (isObj(p)) setDefault(p, 'protocol', 'TCP');
    }
  },
  validate: validateEndpoints,
  table: {
    columns: [NAME_COLUMN, col('Endpoints', 'string', 'Endpoints is the list of endpoints of this service'), AGE_COLUMN],
    cells: (obj, now) => [obj.metadata.name, formatEndpoints(obj), age(obj, now)],
  },
};
