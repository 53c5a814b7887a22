// What the generic registry needs to know about one resource (the role of a Kubernetes
// "strategy"): its names and scope, defaulting, validation, how its status and spec are split,
// which fields can be selected, and how it prints as a Table.
import type { FieldError, KObject } from '../../pkg/api/types.js';

export interface ResourceInfo {
  group: string; // '' for core
  version: string;
  kind: string;
  listKind: string;
  plural: string; // 'deployments'
  singular: string; // 'deployment'
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[]; // ['all'] makes `kubectl get all` include it
  verbs: string[]; // create delete deletecollection get list patch update watch
  /** subresources served, e.g. ['status', 'scale'] for deployments; ['status', 'binding'] for pods */
  subresources?: string[];
  /** client-node model name of the kind, used to find its OpenAPI schema: 'V1Deployment' */
  modelName?: string;
}

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string; // 'name' for the name column
  description?: string;
  priority?: number; // 1 = only with -o wide
}

export interface Table {
  columns: TableColumn[];
  /** cells for one object; `now` is Date.now() of the request, for AGE columns */
  cells(obj: KObject, now: number): unknown[];
}

/** Paths of the scale subresource (Deployment, ReplicaSet, StatefulSet). */
export interface ScaleInfo {
  /** label selector for Scale.status.selector, as a string */
  selector(obj: KObject): string;
  /** where the desired and observed replica counts live (default .spec.replicas / .status.replicas) */
  specReplicasPath?: string;
  statusReplicasPath?: string;
}

export interface Strategy {
  info: ResourceInfo;
  /** Fills in defaults, mutating obj. Runs on create, update, patch and apply. */
  defaults?(obj: KObject): void;
  /** Validation of a new object. metadata (name, labels, annotations) is validated generically. */
  validate?(obj: KObject): FieldError[];
  /** Validation of an update (immutable fields...). Runs in addition to validate(). */
  validateUpdate?(obj: KObject, old: KObject): FieldError[];
  /** Extra work on create, e.g. set initial status (pod phase Pending). */
  prepareForCreate?(obj: KObject): void;
  /**
   * Extra work on update of the main resource, before validation: carries over values the
   * server allocated that a client's full replace may omit (a Service's clusterIP, a Job's
   * generated selector). Runs after defaults().
   */
  prepareForUpdate?(obj: KObject, old: KObject): void;
  /** Check of metadata.name (and generateName), for validateObjectMeta; DNS-1123 subdomain when absent. */
  nameValidator?: (name: string) => string[];
  /** Field selector values this kind supports, beyond metadata.name / metadata.namespace. */
  selectableFields?(obj: KObject): Record<string, string | undefined>;
  table?: Table;
  scale?: ScaleInfo;
  /** true if spec changes must bump metadata.generation (kinds with a spec) */
  hasGeneration?: boolean;
}
