// What an apply-and-prune owner (a Sync, or `skiff up`) has applied: entries identify an object
// independently of the API version it was applied in, so a manifest moving from v1beta1 to v1 is
// not pruned as if it had gone.
import { parseApiVersion, type KObject } from '../api/types.js';

export interface InventoryEntry {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export function entryOf(o: KObject): InventoryEntry {
  const e: InventoryEntry = { apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata.name! };
  if (o.metadata.namespace) e.namespace = o.metadata.namespace;
  return e;
}

export function entryId(e: InventoryEntry): string {
  return `${parseApiVersion(e.apiVersion).group}/${e.kind}/${e.namespace ?? ''}/${e.name}`;
}

/** `deployment/web -n shop`, as a user would type it. */
export function describeEntry(e: InventoryEntry): string {
  const { group } = parseApiVersion(e.apiVersion);
  return `${e.kind.toLowerCase()}${group ? '.' + group : ''}/${e.name}${e.namespace ? ` -n ${e.namespace}` : ''}`;
}

/** Labels put on every applied object: prune deletes only what still carries its owner's. */
export const OWNER_NAME_LABEL = 'gitops.skiff.dev/name';
export const OWNER_NAMESPACE_LABEL = 'gitops.skiff.dev/namespace';

export interface Owner {
  name: string;
  namespace: string;
}

export function ownedBy(o: KObject, owner: Owner): boolean {
  const l = o.metadata.labels ?? {};
  return l[OWNER_NAME_LABEL] === owner.name && l[OWNER_NAMESPACE_LABEL] === owner.namespace;
}

export function ownerOf(o: KObject): Owner | undefined {
  const l = o.metadata.labels ?? {};
  const name = l[OWNER_NAME_LABEL];
  const namespace = l[OWNER_NAMESPACE_LABEL];
  return name && namespace ? { name, namespace } : undefined;
}
