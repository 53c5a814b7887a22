// core/v1 Node.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isQualifiedName, isValidCIDR, isValidLabelValue } from '../../../../pkg/api/validation.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, clone, col, isObj, type Json } from '../common.js';

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const ROLE_PREFIX = 'node-role.kubernetes.io/';

export function nodeStatusString(node: KObject): string {
  const spec: Json = node.spec ?? {};
  const conds: Json[] = Array.isArray((node.status as Json)?.conditions) ? (node.status as Json).conditions : [];
  const parts: string[] = [];
  const ready = conds.find((c) => isObj(c) && c.type === 'Ready');
  if (ready) parts.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  if (parts.length === 0) parts.push('Unknown');
  if (spec.unschedulable === true) parts.push('SchedulingDisabled');
  return parts.join(',');
}

export function nodeRoles(node: KObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith(ROLE_PREFIX) && k.length > ROLE_PREFIX.length) roles.add(k.slice(ROLE_PREFIX.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function address(node: KObject, type: string): string {
  const addrs: Json[] = Array.isArray((node.status as Json)?.addresses) ? (node.status as Json).addresses : [];
  return addrs.find((a) => isObj(a) && a.type === type)?.address || '<none>';
}

function validateTaints(taints: Json, path: string): FieldError[] {
  if (taints === undefined || taints === null) return [];
  if (!Array.isArray(taints)) return [fieldErrors.typeInvalid(path, taints, 'must be a list')];
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  taints.forEach((t: Json, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(t)) return;
    if (!t.key) errs.push(fieldErrors.required(`${p}.key`));
    else for (const m of isQualifiedName(String(t.key))) errs.push(fieldErrors.invalid(`${p}.key`, t.key, m));
    if (t.value) for (const m of isValidLabelValue(String(t.value))) errs.push(fieldErrors.invalid(`${p}.value`, t.value, m));
    if (!t.effect) errs.push(fieldErrors.required(`${p}.effect`));
    else if (!TAINT_EFFECTS.includes(t.effect)) errs.push(fieldErrors.notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS));
    const id = `${t.key}:${t.effect}`;
    if (seen.has(id)) errs.push(fieldErrors.duplicate(p, `${t.key}=${t.value ?? ''}:${t.effect}`));
    seen.add(id);
  });
  return errs;
}

export const nodeStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Node',
    listKind: 'NodeList',
    plural: 'nodes',
    singular: 'node',
    namespaced: false,
    shortNames: ['no'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1Node',
  },
  defaults(obj) {
    const status: Json = obj.status;
    // Allocatable defaults to capacity when the node does not reserve anything.
    if (isObj(status) && isObj(status.capacity) && !isObj(status.allocatable)) status.allocatable = clone(status.capacity);
  },
  validate(obj) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    if (spec.podCIDR) for (const m of isValidCIDR(String(spec.podCIDR))) errs.push(fieldErrors.invalid('spec.podCIDR', spec.podCIDR, m));
    if (Array.isArray(spec.podCIDRs)) {
      spec.podCIDRs.forEach((c: Json, i: number) => {
        for (const m of isValidCIDR(String(c))) errs.push(fieldErrors.invalid(`spec.podCIDRs[${i}]`, c, m));
      });
      if (spec.podCIDR && spec.podCIDRs.length && spec.podCIDRs[0] !== spec.podCIDR) {
        errs.push(fieldErrors.invalid('spec.podCIDRs', spec.podCIDRs, 'the first value must match `podCIDR`'));
      }
    }
    errs.push(...validateTaints(spec.taints, 'spec.taints'));
    return errs;
  },
  validateUpdate(obj, old) {
    const errs: FieldError[] = [];
    const spec: Json = obj.spec ?? {};
    const oldSpec: Json = old.spec ?? {};
    if (oldSpec.podCIDR && spec.podCIDR !== oldSpec.podCIDR) {
      errs.push(fieldErrors.forbidden('spec.podCIDR', 'node updates may not change podCIDR except from "" to valid'));
    }
    if (oldSpec.providerID && spec.providerID !== oldSpec.providerID) {
      errs.push(fieldErrors.forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
    }
    return errs;
  },
  selectableFields(obj) {
    return { 'spec.unschedulable': (obj.spec as Json)?.unschedulable === true ? 'true' : 'false' };
  },
  table: {
    columns: [
      NAME_COLUMN,
      col('Status', 'string', 'The status of the node'),
      col('Roles', 'string', 'The roles of the node'),
      AGE_COLUMN,
      col('Version', 'string', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
      col('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
      col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
      col('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
      col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
    ],
    cells(obj, now) {
      const info: Json = (obj.status as Json)?.nodeInfo ?? {};
      return [
        obj.metadata.name,
        nodeStatusString(obj),
        nodeRoles(obj),
        age(obj, now),
        info.kubeletVersion ?? '',
        address(obj, 'InternalIP'),
        address(obj, 'ExternalIP'),
        info.osImage || '<unknown>',
        info.kernelVersion || '<unknown>',
        info.containerRuntimeVersion || '<unknown>',
      ];
    },
  },
};
