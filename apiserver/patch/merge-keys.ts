// Which lists of the built-in Kubernetes types merge item by item, and by which key. Kubernetes
// reads this from struct tags (patchStrategy/patchMergeKey for strategic merge patch,
// listType/listMapKey for server-side apply); skiff has plain JSON objects without types, so the
// facts are keyed by the field path from the object's root, list indices removed, e.g.
// ['spec','template','spec','containers'].
//
// A caller may supply its own resolver (e.g. built from a CRD's OpenAPI x-kubernetes-* extensions);
// its answer wins, and `undefined` falls back to this table.

export type ListStrategy =
  /** items are maps merged by `key` (strategic merge patch); server-side apply keys them by `keys` (defaults to [key]) */
  | { strategy: 'merge'; key: string; keys?: string[]; keyDefaults?: Record<string, unknown> }
  /** a set of scalars: union on merge */
  | { strategy: 'merge-set' }
  /** the list is one value, replaced as a whole */
  | { strategy: 'replace' };

export type ListStrategyResolver = (path: string[]) => ListStrategy | undefined;

export type MapStrategy = 'granular' | 'atomic';
export type MapStrategyResolver = (path: string[]) => MapStrategy | undefined;

/** '*' matches one segment, '**' any number (including none). */
type Pattern = string[];

function matches(pattern: Pattern, path: string[], pi = 0, si = 0): boolean {
  if (pi === pattern.length) return si === path.length;
  const p = pattern[pi];
  if (p === '**') {
    for (let k = si; k <= path.length; k++) if (matches(pattern, path, pi + 1, k)) return true;
    return false;
  }
  if (si === path.length) return false;
  return (p === '*' || p === path[si]) && matches(pattern, path, pi + 1, si + 1);
}

const byName = (): ListStrategy => ({ strategy: 'merge', key: 'name' });
const containerPorts: ListStrategy = { strategy: 'merge', key: 'containerPort', keys: ['containerPort', 'protocol'], keyDefaults: { protocol: 'TCP' } };

// A PodSpec sits at `spec` (Pod), `template.spec` (PodTemplate), `spec.template.spec` (workloads)
// and `spec.jobTemplate.spec.template.spec` (CronJob); matching on the trailing field names covers
// all of them. Container fields are the same for containers, initContainers and ephemeralContainers.
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'];

const LIST_TABLE: [Pattern, ListStrategy][] = [
  [['metadata', 'finalizers'], { strategy: 'merge-set' }],
  [['metadata', 'ownerReferences'], { strategy: 'merge', key: 'uid' }],
  [['**', 'template', 'metadata', 'finalizers'], { strategy: 'merge-set' }],
  [['**', 'template', 'metadata', 'ownerReferences'], { strategy: 'merge', key: 'uid' }],
  ...CONTAINER_LISTS.flatMap((c): [Pattern, ListStrategy][] => [
    [['**', 'spec', c], byName()],
    [['**', 'spec', c, 'ports'], containerPorts],
    [['**', 'spec', c, 'env'], byName()],
    [['**', 'spec', c, 'volumeMounts'], { strategy: 'merge', key: 'mountPath' }],
    [['**', 'spec', c, 'volumeDevices'], { strategy: 'merge', key: 'devicePath' }],
    [['**', 'spec', c, 'resizePolicy'], { strategy: 'replace' }],
  ]),
  [['**', 'spec', 'volumes'], byName()],
  [['**', 'spec', 'imagePullSecrets'], byName()],
  [['**', 'spec', 'hostAliases'], { strategy: 'merge', key: 'ip' }],
  [['**', 'spec', 'topologySpreadConstraints'], { strategy: 'merge', key: 'topologyKey', keys: ['topologyKey', 'whenUnsatisfiable'] }],
  [['**', 'spec', 'resourceClaims'], byName()],
  [['**', 'spec', 'schedulingGates'], byName()],
  // Service
  [['spec', 'ports'], { strategy: 'merge', key: 'port', keys: ['port', 'protocol'], keyDefaults: { protocol: 'TCP' } }],
  // Node
  [['spec', 'podCIDRs'], { strategy: 'merge-set' }],
  [['status', 'addresses'], { strategy: 'merge', key: 'type' }],
  // Pod status
  [['status', 'podIPs'], { strategy: 'merge', key: 'ip' }],
  [['status', 'hostIPs'], { strategy: 'merge', key: 'ip' }],
  [['status', 'conditions'], { strategy: 'merge', key: 'type' }],
];

/** The built-in answer for a field path; lists not in the table are replaced as a whole. */
export function listStrategy(path: string[]): ListStrategy {
  for (const [pattern, s] of LIST_TABLE) if (matches(pattern, path)) return s;
  return { strategy: 'replace' };
}

// Structs Kubernetes marks +structType=atomic / +mapType=atomic: server-side apply owns and
// replaces them as one value. Strategic merge patch still merges them (it ignores these markers).
const ATOMIC_MAPS: Pattern[] = [
  ['spec', 'selector'], // LabelSelector of workloads; Service's selector map is atomic too
  ['**', 'labelSelector'],
  ['**', 'namespaceSelector'],
  ['**', 'valueFrom', 'configMapKeyRef'],
  ['**', 'valueFrom', 'secretKeyRef'],
  ['**', 'valueFrom', 'fieldRef'],
  ['**', 'valueFrom', 'resourceFieldRef'],
  ['**', 'configMapRef'],
  ['**', 'secretRef'],
  ['spec', 'jobTemplate', 'spec', 'selector'],
];

export function mapStrategy(path: string[]): MapStrategy {
  for (const pattern of ATOMIC_MAPS) if (matches(pattern, path)) return 'atomic';
  return 'granular';
}

export function resolveListStrategy(custom: ListStrategyResolver | undefined, path: string[]): ListStrategy {
  return custom?.(path) ?? listStrategy(path);
}

export function resolveMapStrategy(custom: MapStrategyResolver | undefined, path: string[]): MapStrategy {
  return custom?.(path) ?? mapStrategy(path);
}
