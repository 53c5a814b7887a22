// core/v1 Pod.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import type { PartialWrite } from '../../generic.js';
import { errors } from '../../../status.js';
import { ALL_VERBS, clone, deepEqual, isObj, str, type Json } from '../common.js';
import { podTable } from './pod-printing.js';
import { defaultPodSpec, qosClass, validatePodSpec } from './pod-spec.js';

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** The spec with the fields a pod update may change replaced by the old values. */
function mutableFieldsMasked(spec: Json, old: Json): Json {
  const s = clone(spec) ?? {};
  for (const list of ['containers', 'initContainers']) {
    if (!Array.isArray(s[list]) || !Array.isArray(old[list])) continue;
    s[list].forEach((c: Json, i: number) => {
      if (isObj(c) && isObj(old[list][i])) c.image = old[list][i].image;
    });
  }
  s.activeDeadlineSeconds = old.activeDeadlineSeconds;
  s.terminationGracePeriodSeconds = old.terminationGracePeriodSeconds;
  // Tolerations may only be added, so the old ones must be a prefix-free subset of the new.
  const oldTols: Json[] = Array.isArray(old.tolerations) ? old.tolerations : [];
  const newTols: Json[] = Array.isArray(s.tolerations) ? s.tolerations : [];
  if (oldTols.every((t) => newTols.some((n) => deepEqual(n, t)))) s.tolerations = old.tolerations;
  // Scheduling gates may only be removed.
  const oldGates: Json[] = Array.isArray(old.schedulingGates) ? old.schedulingGates : [];
  const newGates: Json[] = Array.isArray(s.schedulingGates) ? s.schedulingGates : [];
  if (newGates.every((g) => oldGates.some((o) => deepEqual(o, g)))) s.schedulingGates = old.schedulingGates;
  // The binding subresource assigns the node once; it writes through the same update path.
  if (!old.nodeName) s.nodeName = old.nodeName;
  return s;
}

export function validatePodUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Json = obj.spec ?? {};
  const oldSpec: Json = old.spec ?? {};
  const n = (x: Json) => (Array.isArray(x) ? x.length : 0);
  if (n(spec.containers) !== n(oldSpec.containers) || n(spec.initContainers) !== n(oldSpec.initContainers)) {
    errs.push(fieldErrors.forbidden('spec', POD_UPDATE_FORBIDDEN));
    return errs;
  }
  if (oldSpec.activeDeadlineSeconds !== undefined && oldSpec.activeDeadlineSeconds !== null) {
    if (spec.activeDeadlineSeconds === undefined || spec.activeDeadlineSeconds === null) {
      errs.push(fieldErrors.invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds ?? null, 'must not update from a positive integer to nil value'));
    } else if (spec.activeDeadlineSeconds > oldSpec.activeDeadlineSeconds) {
      errs.push(fieldErrors.invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be less than or equal to previous value'));
    }
  }
  if (!deepEqual(mutableFieldsMasked(spec, oldSpec), oldSpec)) errs.push(fieldErrors.forbidden('spec', POD_UPDATE_FORBIDDEN));
  return errs;
}

/**
 * The pods/ephemeralcontainers subresource: only spec.ephemeralContainers of the request is kept,
 * and the list may only grow (what was added stays as it is, for the record of what was done to
 * the pod).
 */
export const ephemeralContainersWrite: PartialWrite = {
  prepare(next, old) {
    const out = clone(old) as KObject;
    const spec: Json = out.spec ?? (out.spec = {});
    const eph = isObj(next.spec) ? (next.spec as Json).ephemeralContainers : undefined;
    if (eph === undefined || eph === null) delete spec.ephemeralContainers;
    else spec.ephemeralContainers = clone(eph);
    return out;
  },
  validate(obj, old) {
    if (old.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) {
      return [fieldErrors.forbidden('', 'static pods do not support ephemeral containers')];
    }
    const errs: FieldError[] = [];
    const path = 'spec.ephemeralContainers';
    const now = new Map<string, Json>();
    const list: Json[] = Array.isArray((obj.spec as Json | undefined)?.ephemeralContainers) ? (obj.spec as Json).ephemeralContainers : [];
    for (const c of list) if (isObj(c) && typeof c.name === 'string') now.set(c.name, c);
    const before: Json[] = Array.isArray((old.spec as Json | undefined)?.ephemeralContainers) ? (old.spec as Json).ephemeralContainers : [];
    for (const c of before) {
      if (!isObj(c)) continue;
      const cur = now.get(c.name);
      // Kubernetes ends both messages with a newline (the second one with a diff after it).
      if (!cur) errs.push(fieldErrors.forbidden(path, `existing ephemeral containers ${JSON.stringify(c.name)} may not be removed\n`));
      else if (!deepEqual(cur, c)) errs.push(fieldErrors.forbidden(`${path}[${c.name}]`, `existing ephemeral containers ${JSON.stringify(c.name)} may not be changed\n`));
    }
    return errs;
  },
};

export const podStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'Pod',
    listKind: 'PodList',
    plural: 'pods',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    verbs: ALL_VERBS,
    subresources: ['status', 'binding', 'ephemeralcontainers', 'log', 'exec', 'attach', 'portforward', 'eviction'],
    modelName: 'V1Pod',
  },
  defaults(obj) {
    if (!isObj(obj.spec)) return;
    defaultPodSpec(obj.spec);
  },
  validate(obj) {
    return validatePodSpec(obj.spec, 'spec');
  },
  validateUpdate: validatePodUpdate,
  prepareForCreate(obj) {
    const eph = isObj(obj.spec) ? (obj.spec as Json).ephemeralContainers : undefined;
    if (Array.isArray(eph) && eph.length > 0) {
      throw errors.invalid('Pod', '', obj.metadata.name ?? '', [fieldErrors.forbidden('spec.ephemeralContainers', 'cannot be set on create')]);
    }
    obj.status = { phase: 'Pending', qosClass: qosClass(obj.spec) };
  },
  selectableFields(obj) {
    const spec: Json = obj.spec ?? {};
    const status: Json = obj.status ?? {};
    return {
      'spec.nodeName': str(spec.nodeName),
      'spec.restartPolicy': str(spec.restartPolicy),
      'spec.schedulerName': str(spec.schedulerName),
      'spec.serviceAccountName': str(spec.serviceAccountName),
      'spec.hostNetwork': spec.hostNetwork === true ? 'true' : 'false',
      'status.phase': str(status.phase),
      'status.podIP': str(status.podIP),
      'status.nominatedNodeName': str(status.nominatedNodeName),
    };
  },
  table: podTable,
};
