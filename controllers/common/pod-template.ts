// A new pod from a workload's pod template: labels, annotations and finalizers of the template,
// its spec, generateName "<owner>-" and the owner as controller.
import type { KObject } from '../../pkg/api/types.js';
import { newControllerRef, type OwnerKind } from './controller-ref.js';

interface Template {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] };
  spec?: Record<string, unknown>;
}

export function podFromTemplate(owner: KObject, ownerKind: OwnerKind, template: Template, generateName = `${owner.metadata.name}-`): KObject {
  const tm = template.metadata ?? {};
  const metadata: KObject['metadata'] = {
    generateName,
    namespace: owner.metadata.namespace,
    ownerReferences: [newControllerRef(owner, ownerKind)],
  };
  if (tm.labels) metadata.labels = { ...tm.labels };
  if (tm.annotations) metadata.annotations = { ...tm.annotations };
  if (tm.finalizers?.length) metadata.finalizers = [...tm.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(template.spec ?? {}) };
}
