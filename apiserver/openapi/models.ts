// The generated field facts of the built-in models, and the lookups the schema builder and the
// strict field checker share.
import generated from './types.generated.json' with { type: 'json' };
import { SERVED_KINDS, type KindFact } from './k8s-facts.js';

export interface ModelFacts {
  /** Kubernetes schema name, e.g. io.k8s.api.apps.v1.Deployment */
  name: string;
  /** JSON field name → encoded type: scalar[:format] | ref:Model | []T | map:T | Quantity | IntOrString | Time | MicroTime | any */
  fields: Record<string, string>;
  required?: string[];
}

export const MODELS: Readonly<Record<string, ModelFacts>> = (generated as { models: Record<string, ModelFacts> }).models;

export function gvkKey(group: string, version: string, kind: string): string {
  return `${group}/${version}/${kind}`;
}

const kindByGvk = new Map<string, KindFact>();
for (const k of SERVED_KINDS) kindByGvk.set(gvkKey(k.group, k.version, k.kind), k);

/** The served kind for a group/version/kind, if it is one of the built-in kinds. */
export function builtinKind(group: string, version: string, kind: string): KindFact | undefined {
  return kindByGvk.get(gvkKey(group, version, kind));
}
