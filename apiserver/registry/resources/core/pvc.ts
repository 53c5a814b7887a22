// core/v1 PersistentVolumeClaim (stored and printed; no provisioner binds it yet).
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { validateLabelSelector } from '../../../../pkg/api/labels.js';
import { validateQuantity } from '../../../../pkg/api/quantity.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, deepEqual, isObj, setDefault, str, type Json } from '../common.js';

const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];
const MODE_ABBREV: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };

function validatePvc(obj: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Json = obj.spec;
  if (!isObj(spec)) return [fieldErrors.required('spec')];
  const modes: Json[] = Array.isArray(spec.accessModes) ? spec.accessModes : [];
  if (modes.length === 0) errs.push(fieldErrors.required('spec.accessModes', 'at least 1 access mode is required'));
  for (const m of modes) if (!ACCESS_MODES.includes(m)) errs.push(fieldErrors.notSupported('spec.accessModes', m, ACCESS_MODES));
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) {
    errs.push(fieldErrors.forbidden('spec.accessModes', 'may not use ReadWriteOncePod with other access modes'));
  }
  const storage = spec.resources?.requests?.storage;
  if (storage === undefined) errs.push(fieldErrors.required('spec.resources[storage]'));
  else for (const m of validateQuantity(storage)) errs.push(fieldErrors.invalid('spec.resources.requests[storage]', storage, m));
  if (spec.volumeMode !== undefined && !['Filesystem', 'Block'].includes(spec.volumeMode)) {
    errs.push(fieldErrors.notSupported('spec.volumeMode', spec.volumeMode, ['Block', 'Filesystem']));
  }
  errs.push(...validateLabelSelector(spec.selector, 'spec.selector'));
  return errs;
}

export const pvcStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    listKind: 'PersistentVolumeClaimList',
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    namespaced: true,
    shortNames: ['pvc'],
    verbs: ALL_VERBS,
    subresources: ['status'],
    modelName: 'V1PersistentVolumeClaim',
  },
  defaults(obj) {
    if (isObj(obj.spec)) setDefault(obj.spec, 'volumeMode', 'Filesystem');
  },
  validate: validatePvc,
  validateUpdate(obj, old) {
    const spec: Json = { ...(isObj(obj.spec) ? obj.spec : {}) };
    const oldSpec: Json = { ...(isObj(old.spec) ? old.spec : {}) };
    // Only the requested size (expansion) and the attributes class may change after creation.
    for (const s of [spec, oldSpec]) {
      s.resources = { ...(isObj(s.resources) ? s.resources : {}), requests: undefined };
      delete s.volumeAttributesClassName;
    }
    // The binder fills volumeName once.
    if (!oldSpec.volumeName) delete spec.volumeName, delete oldSpec.volumeName;
    if (!deepEqual(spec, oldSpec)) {
      return [fieldErrors.forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims')];
    }
    return [];
  },
  prepareForCreate(obj) {
    obj.status = { phase: 'Pending' };
  },
  table: {
    columns: [
      NAME_COLUMN,
      col('Status', 'string', 'Phase represents the current phase of PersistentVolumeClaim.'),
      col('Volume', 'string', 'VolumeName is the binding reference to the PersistentVolume backing this claim.'),
      col('Capacity', 'string', 'Capacity represents the actual resources of the underlying volume.'),
      col('Access Modes', 'string', 'AccessModes contains the actual access modes the volume backing the PVC has.'),
      col('StorageClass', 'string', 'StorageClassName is the name of the StorageClass required by the claim.'),
      col('VolumeAttributesClass', 'string', 'VolumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.'),
      AGE_COLUMN,
      col('VolumeMode', 'string', 'volumeMode defines what type of volume is required by the claim.', 1),
    ],
    cells(obj, now) {
      const spec: Json = obj.spec ?? {};
      const status: Json = obj.status ?? {};
      const bound = !!spec.volumeName;
      const modes: string[] = Array.isArray(status.accessModes) ? status.accessModes : [];
      return [
        obj.metadata.name,
        str(status.phase),
        str(spec.volumeName),
        bound ? str(status.capacity?.storage) : '',
        bound ? modes.map((m) => MODE_ABBREV[m] ?? m).join(',') : '',
        spec.storageClassName ?? '<unset>',
        spec.volumeAttributesClassName ?? '<unset>',
        age(obj, now),
        spec.volumeMode ?? '<unset>',
      ];
    },
  },
};
