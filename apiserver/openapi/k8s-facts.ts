// Facts about the Kubernetes API types that the client-node model classes do not carry: which
// package each group's types live in, which string fields are Quantities, the strategic-merge and
// list-type markers of list fields, a few enums, and one line of our own about each served kind.
// Shared by the generator (hack/gen-openapi-types.ts) and the schema builder.

export interface KindFact {
  group: string;
  version: string;
  kind: string;
  /** client-node model class */
  model: string;
  description: string;
  /** walked only so shared types get the package Kubernetes gives them; not served */
  namingOnly?: boolean;
}

/** Core kinds come first: the walk gives a shared model the package of the first kind reaching it. */
export const SERVED_KINDS: KindFact[] = [
  { group: '', version: 'v1', kind: 'Namespace', model: 'V1Namespace', description: 'A scope for names; most namespaced objects live in one.' },
  { group: '', version: 'v1', kind: 'Pod', model: 'V1Pod', description: 'A group of containers scheduled together onto one node.' },
  { group: '', version: 'v1', kind: 'Node', model: 'V1Node', description: 'A machine that runs pods.' },
  { group: '', version: 'v1', kind: 'Service', model: 'V1Service', description: 'A stable virtual address and port set in front of the pods a selector picks.' },
  { group: '', version: 'v1', kind: 'Endpoints', model: 'V1Endpoints', description: 'The addresses currently backing a service.' },
  { group: '', version: 'v1', kind: 'ConfigMap', model: 'V1ConfigMap', description: 'Non-secret configuration data as key/value pairs.' },
  { group: '', version: 'v1', kind: 'Secret', model: 'V1Secret', description: 'Sensitive data as key/value pairs, base64 encoded in data.' },
  { group: '', version: 'v1', kind: 'Event', model: 'CoreV1Event', description: 'A report of something that happened to an object.' },
  { group: '', version: 'v1', kind: 'ServiceAccount', model: 'V1ServiceAccount', description: 'An identity for processes running in pods.' },
  { group: '', version: 'v1', kind: 'PersistentVolumeClaim', model: 'V1PersistentVolumeClaim', description: 'A request for storage by a user.' },
  { group: '', version: 'v1', kind: 'Binding', model: 'V1Binding', description: 'Ties a pod to a node; posted by the scheduler.' },
  { group: '', version: 'v1', kind: 'PodTemplate', model: 'V1PodTemplate', description: 'A reusable pod template.', namingOnly: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', model: 'V1Deployment', description: 'Declarative updates for pods through replica sets.' },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', model: 'V1ReplicaSet', description: 'Keeps a given number of identical pods running.' },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', model: 'V1DaemonSet', description: 'Runs one copy of a pod on each eligible node.' },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', model: 'V1StatefulSet', description: 'Pods with stable identities and ordered rollout.' },
  { group: 'batch', version: 'v1', kind: 'Job', model: 'V1Job', description: 'Runs pods until a number of them complete successfully.' },
  { group: 'batch', version: 'v1', kind: 'CronJob', model: 'V1CronJob', description: 'Creates jobs on a repeating schedule.' },
  { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', model: 'V1Lease', description: 'A lease held by one holder at a time, used for heartbeats and leader election.' },
  { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', model: 'V1EndpointSlice', description: 'A slice of the endpoints backing a service.' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', model: 'V1Role', description: 'A namespaced set of permission rules.' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', model: 'V1ClusterRole', description: 'A cluster-wide set of permission rules.' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', model: 'V1RoleBinding', description: 'Grants the rules of a role to subjects within a namespace.' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', model: 'V1ClusterRoleBinding', description: 'Grants the rules of a cluster role to subjects cluster-wide.' },
  { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', model: 'V1CustomResourceDefinition', description: 'Defines a new kind served by the API server.' },
  { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', model: 'V2HorizontalPodAutoscaler', description: 'Scales a workload by observed metrics.' },
  { group: 'autoscaling', version: 'v1', kind: 'Scale', model: 'V1Scale', description: 'The scale subresource of a scalable workload.' },
  { group: 'events.k8s.io', version: 'v1', kind: 'Event', model: 'EventsV1Event', description: 'A report of something that happened to an object.' },
];

/** Types of metav1 (apimachinery), named io.k8s.apimachinery.pkg.apis.meta.v1.* */
export const META_MODELS: string[] = [
  'V1ObjectMeta',
  'V1ListMeta',
  'V1Status',
  'V1StatusDetails',
  'V1StatusCause',
  'V1DeleteOptions',
  'V1Preconditions',
  'V1OwnerReference',
  'V1ManagedFieldsEntry',
  'V1LabelSelector',
  'V1LabelSelectorRequirement',
  'V1Condition',
];

export function groupPackage(group: string): string {
  switch (group) {
    case '':
      return 'io.k8s.api.core';
    case 'apiextensions.k8s.io':
      return 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions';
    case 'meta':
      return 'io.k8s.apimachinery.pkg.apis.meta';
    default:
      return `io.k8s.api.${group.replace(/\.k8s\.io$/, '').replace(/\.authorization$/, '')}`;
  }
}

/** `Model.field` whose string values (or map values) are resource.Quantity: a string or a number. */
export const QUANTITY_FIELDS: Set<string> = new Set([
  'V1ResourceRequirements.limits',
  'V1ResourceRequirements.requests',
  'V1VolumeResourceRequirements.limits',
  'V1VolumeResourceRequirements.requests',
  'V1EmptyDirVolumeSource.sizeLimit',
  'V1NodeStatus.capacity',
  'V1NodeStatus.allocatable',
  'V1PersistentVolumeClaimStatus.capacity',
  'V1PersistentVolumeClaimStatus.allocatedResources',
  'V1ContainerStatus.allocatedResources',
  'V1PodSpec.overhead',
  'V1ResourceFieldSelector.divisor',
  'V2MetricTarget.averageValue',
  'V2MetricTarget.value',
  'V2MetricValueStatus.averageValue',
  'V2MetricValueStatus.value',
]);

export interface ListFact {
  mergeKey?: string;
  strategy?: string;
  listType?: 'map' | 'set' | 'atomic';
  mapKeys?: string[];
}

const containerLists: Record<string, ListFact> = {
  ports: { mergeKey: 'containerPort', strategy: 'merge', listType: 'map', mapKeys: ['containerPort', 'protocol'] },
  env: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
  volumeMounts: { mergeKey: 'mountPath', strategy: 'merge', listType: 'map', mapKeys: ['mountPath'] },
  volumeDevices: { mergeKey: 'devicePath', strategy: 'merge', listType: 'map', mapKeys: ['devicePath'] },
  resizePolicy: { listType: 'atomic' },
};

const byType: ListFact = { mergeKey: 'type', strategy: 'merge', listType: 'map', mapKeys: ['type'] };

/** Strategic-merge and list-type markers, by client-node model and JSON field name. */
export const LIST_FACTS: Record<string, Record<string, ListFact>> = {
  V1PodSpec: {
    volumes: { mergeKey: 'name', strategy: 'merge,retainKeys', listType: 'map', mapKeys: ['name'] },
    initContainers: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
    containers: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
    ephemeralContainers: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
    imagePullSecrets: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
    hostAliases: { mergeKey: 'ip', strategy: 'merge', listType: 'map', mapKeys: ['ip'] },
    topologySpreadConstraints: { mergeKey: 'topologyKey', strategy: 'merge', listType: 'map', mapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    resourceClaims: { mergeKey: 'name', strategy: 'merge,retainKeys', listType: 'map', mapKeys: ['name'] },
    schedulingGates: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] },
    tolerations: { listType: 'atomic' },
    readinessGates: { listType: 'atomic' },
  },
  V1Container: containerLists,
  V1EphemeralContainer: containerLists,
  V1PodStatus: {
    conditions: byType,
    podIPs: { mergeKey: 'ip', strategy: 'merge', listType: 'map', mapKeys: ['ip'] },
    hostIPs: { mergeKey: 'ip', strategy: 'merge', listType: 'atomic' },
    resourceClaimStatuses: { mergeKey: 'name', strategy: 'merge,retainKeys', listType: 'map', mapKeys: ['name'] },
  },
  V1ServiceSpec: {
    ports: { mergeKey: 'port', strategy: 'merge', listType: 'map', mapKeys: ['port', 'protocol'] },
    clusterIPs: { listType: 'atomic' },
  },
  V1ServiceStatus: { conditions: byType },
  V1NodeSpec: { podCIDRs: { strategy: 'merge', listType: 'set' }, taints: { listType: 'atomic' } },
  V1NodeStatus: { conditions: byType, addresses: { mergeKey: 'type', strategy: 'merge', listType: 'map', mapKeys: ['type'] } },
  V1ObjectMeta: {
    finalizers: { strategy: 'merge', listType: 'set' },
    ownerReferences: { mergeKey: 'uid', strategy: 'merge', listType: 'map', mapKeys: ['uid'] },
    managedFields: { listType: 'atomic' },
  },
  V1ServiceAccount: { secrets: { mergeKey: 'name', strategy: 'merge', listType: 'map', mapKeys: ['name'] }, imagePullSecrets: { listType: 'atomic' } },
  V1NamespaceStatus: { conditions: byType },
  V1PersistentVolumeClaimStatus: { conditions: byType },
  V1DeploymentStatus: { conditions: byType },
  V1ReplicaSetStatus: { conditions: byType },
  V1DaemonSetStatus: { conditions: byType },
  V1StatefulSetStatus: { conditions: byType },
  V1JobStatus: { conditions: { mergeKey: 'type', strategy: 'merge', listType: 'atomic' } },
  V1CronJobStatus: { active: { listType: 'atomic' } },
  V2HorizontalPodAutoscalerStatus: { conditions: byType, currentMetrics: { listType: 'atomic' } },
  V2HorizontalPodAutoscalerSpec: { metrics: { listType: 'atomic' } },
  V1CustomResourceDefinitionStatus: { conditions: { listType: 'map', mapKeys: ['type'] } },
  V1CustomResourceDefinitionSpec: { versions: { listType: 'atomic' } },
  V1EndpointSlice: { endpoints: { listType: 'atomic' }, ports: { listType: 'atomic' } },
  V1Role: { rules: { listType: 'atomic' } },
  V1ClusterRole: { rules: { listType: 'atomic' } },
  V1RoleBinding: { subjects: { listType: 'atomic' } },
  V1ClusterRoleBinding: { subjects: { listType: 'atomic' } },
  V1LabelSelector: { matchExpressions: { listType: 'atomic' } },
};

/** Enums shown by `kubectl explain`; not enforced here (the strategies validate values). */
export const ENUM_FACTS: Record<string, Record<string, string[]>> = {
  V1Container: { imagePullPolicy: ['Always', 'IfNotPresent', 'Never'], terminationMessagePolicy: ['FallbackToLogsOnError', 'File'] },
  V1PodSpec: { restartPolicy: ['Always', 'Never', 'OnFailure'], dnsPolicy: ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] },
  V1ContainerPort: { protocol: ['SCTP', 'TCP', 'UDP'] },
  V1ServicePort: { protocol: ['SCTP', 'TCP', 'UDP'] },
  V1ServiceSpec: { type: ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'], sessionAffinity: ['ClientIP', 'None'] },
  V1DeploymentStrategy: { type: ['Recreate', 'RollingUpdate'] },
  V1CronJobSpec: { concurrencyPolicy: ['Allow', 'Forbid', 'Replace'] },
  V1Toleration: { operator: ['Equal', 'Exists'], effect: ['NoExecute', 'NoSchedule', 'PreferNoSchedule'] },
  V1Taint: { effect: ['NoExecute', 'NoSchedule', 'PreferNoSchedule'] },
};
