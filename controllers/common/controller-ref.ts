// Controller references: the one ownerReference with controller=true says which workload manages
// an object. Adoption and release rewrite that list with the object's resourceVersion as a
// precondition, so a concurrent writer makes the patch fail with 409 instead of being overwritten.
import type { KObject, OwnerReference } from '../../pkg/api/types.js';

export interface OwnerKind {
  apiVersion: string;
  kind: string;
}

export function controllerRefOf(obj: KObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function isControlledBy(obj: KObject, owner: KObject): boolean {
  const ref = controllerRefOf(obj);
  return ref !== undefined && ref.uid === owner.metadata.uid;
}

export function newControllerRef(owner: KObject, kind: OwnerKind): OwnerReference {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The merge patch that makes owner the controller of obj (keeping its other owners). */
export function adoptPatch(obj: KObject, owner: KObject, kind: OwnerKind): Record<string, unknown> {
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
  refs.push(newControllerRef(owner, kind));
  return { metadata: { ownerReferences: refs, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid } };
}

/** The merge patch that drops owner from obj's owners. */
export function releasePatch(obj: KObject, owner: KObject): Record<string, unknown> {
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
  return { metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid } };
}
