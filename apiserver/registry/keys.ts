// Storage keys: /registry/<group or "core">/<plural>/[<namespace>/]<name>. The cache groups objects
// by the first three segments, so every resource has its own prefix.
import type { ResourceInfo } from './strategy.js';

export function resourcePrefix(info: Pick<ResourceInfo, 'group' | 'plural'>): string {
  return `/registry/${info.group || 'core'}/${info.plural}/`;
}

export function objectKey(info: Pick<ResourceInfo, 'group' | 'plural' | 'namespaced'>, namespace: string | undefined, name: string): string {
  return info.namespaced ? `${resourcePrefix(info)}${namespace}/${name}` : `${resourcePrefix(info)}${name}`;
}
