// Label and field selection of objects for list, watch and deletecollection.
import type { KObject } from '../../pkg/api/types.js';
import { compileLabelSelector } from '../../pkg/api/labels.js';
import { compileFieldSelector } from '../../pkg/api/fields.js';
import type { Strategy } from './strategy.js';

export type ObjectMatcher = (obj: KObject) => boolean;

export function labelSelectorMatcher(selector: string): ObjectMatcher {
  const m = compileLabelSelector(selector);
  return (o) => m(o.metadata.labels);
}

const knownFields = new WeakMap<Strategy, string[]>();

/** The fields a kind can be selected by, beyond metadata.name and metadata.namespace. */
function selectable(strategy: Strategy): string[] {
  let k = knownFields.get(strategy);
  if (!k) {
    k = Object.keys(strategy.selectableFields?.({ metadata: {}, spec: {}, status: {} } as KObject) ?? {});
    knownFields.set(strategy, k);
  }
  return k;
}

export function fieldsOf(strategy: Strategy, o: KObject): Record<string, string | undefined> {
  return { 'metadata.name': o.metadata.name, 'metadata.namespace': o.metadata.namespace ?? '', ...strategy.selectableFields?.(o) };
}

export function fieldSelectorMatcher(selector: string, strategy: Strategy): ObjectMatcher {
  const m = compileFieldSelector(selector, selectable(strategy));
  return (o) => m(fieldsOf(strategy, o));
}
