// Realistic manifests of built-in kinds, written the way users write them (numbers for
// quantities, port names as strings, probes, volumes, affinity).
import type { ResourceInfo } from '../../../apiserver/registry/strategy.js';
import { SERVED_KINDS } from '../../../apiserver/openapi/k8s-facts.js';

export const podSpec = {
  restartPolicy: 'Always',
  serviceAccountName: 'web',
  terminationGracePeriodSeconds: 30,
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  securityContext: { runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } },
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }],
      },
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } }],
    },
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } } },
      ],
    },
  },
  tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } }],
  initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'echo hi'] }],
  containers: [
    {
      name: 'web',
      image: 'nginx:1.27',
      imagePullPolicy: 'IfNotPresent',
      args: ['--port', '8080'],
      ports: [
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { containerPort: 9090, hostPort: 9090 },
      ],
      env: [
        { name: 'A', value: '1' },
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'KEY', valueFrom: { secretKeyRef: { name: 's', key: 'k', optional: true } } },
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: 1 } } },
      ],
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: 1, memory: 134217728 } },
      livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP', httpHeaders: [{ name: 'X', value: 'y' }] }, initialDelaySeconds: 3, periodSeconds: 10 },
      readinessProbe: { tcpSocket: { port: 8080 }, failureThreshold: 3 },
      startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, timeoutSeconds: 1 },
      lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } },
      volumeMounts: [
        { name: 'data', mountPath: '/data' },
        { name: 'config', mountPath: '/etc/config', readOnly: true, subPath: 'a' },
      ],
    },
  ],
  volumes: [
    { name: 'data', emptyDir: { sizeLimit: '1Gi', medium: 'Memory' } },
    { name: 'config', configMap: { name: 'cm', items: [{ key: 'a', path: 'a.conf', mode: 420 }], defaultMode: 420 } },
    { name: 'secret', secret: { secretName: 's', optional: false } },
    { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
    { name: 'claim', persistentVolumeClaim: { claimName: 'pvc', readOnly: false } },
    { name: 'proj', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }, { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }] } },
  ],
  dnsPolicy: 'ClusterFirst',
  hostAliases: [{ ip: '10.0.0.1', hostnames: ['db'] }],
  imagePullSecrets: [{ name: 'reg' }],
};

export const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'default',
    labels: { app: 'web' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u', controller: true, blockOwnerDeletion: true }],
    finalizers: ['example.com/f'],
    creationTimestamp: '2024-01-01T00:00:00Z',
    managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', time: '2024-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }],
  },
  spec: {
    replicas: 3,
    revisionHistoryLimit: 5,
    progressDeadlineSeconds: 600,
    selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
    template: { metadata: { labels: { app: 'web' } }, spec: podSpec },
  },
  status: {
    replicas: 3,
    readyReplicas: 3,
    observedGeneration: 2,
    conditions: [{ type: 'Available', status: 'True', lastUpdateTime: '2024-01-01T00:00:00Z', lastTransitionTime: '2024-01-01T00:00:00Z', reason: 'MinimumReplicasAvailable', message: 'ok' }],
  },
};

export const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', generateName: 'p-', labels: { app: 'web' } },
  spec: { ...podSpec, nodeName: 'n1', priority: 0, schedulerName: 'default-scheduler' },
  status: {
    phase: 'Running',
    podIP: '10.1.0.5',
    podIPs: [{ ip: '10.1.0.5' }],
    hostIP: '192.168.1.2',
    startTime: '2024-01-01T00:00:00Z',
    qosClass: 'Burstable',
    conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2024-01-01T00:00:00Z' }],
    containerStatuses: [
      {
        name: 'web',
        ready: true,
        restartCount: 0,
        image: 'nginx:1.27',
        imageID: 'sha256:abc',
        containerID: 'crun://abc',
        started: true,
        state: { running: { startedAt: '2024-01-01T00:00:00Z' } },
        lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2024-01-01T00:00:00Z', finishedAt: '2024-01-01T00:00:01Z' } },
      },
    ],
  },
};

export const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: {
    type: 'NodePort',
    selector: { app: 'web' },
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10'],
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    sessionAffinity: 'None',
    externalTrafficPolicy: 'Cluster',
    ports: [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', nodePort: 30080 },
      { name: 'metrics', port: 9090, targetPort: 9090 },
    ],
  },
  status: { loadBalancer: {} },
};

export const cronJob = {
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'backup' },
  spec: {
    schedule: '*/5 * * * *',
    timeZone: 'Etc/UTC',
    concurrencyPolicy: 'Forbid',
    startingDeadlineSeconds: 100,
    successfulJobsHistoryLimit: 3,
    failedJobsHistoryLimit: 1,
    suspend: false,
    jobTemplate: {
      metadata: { labels: { job: 'backup' } },
      spec: {
        backoffLimit: 2,
        completions: 1,
        parallelism: 1,
        activeDeadlineSeconds: 600,
        ttlSecondsAfterFinished: 100,
        template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'b', image: 'busybox', command: ['sh', '-c', 'date'] }] } },
      },
    },
  },
  status: { active: [{ kind: 'Job', name: 'backup-1', namespace: 'default', uid: 'u' }], lastScheduleTime: '2024-01-01T00:00:00Z' },
};

export const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: 'b' }, binaryData: { c: 'AAEC' }, immutable: false };

export const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        additionalPrinterColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, default: 1 },
                  color: { type: 'string', enum: ['red', 'blue'] },
                  anything: { 'x-kubernetes-preserve-unknown-fields': true },
                  port: { 'x-kubernetes-int-or-string': true },
                  items: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

export const builtinFixtures: Record<string, { group: string; version: string; kind: string; obj: unknown }> = {
  deployment: { group: 'apps', version: 'v1', kind: 'Deployment', obj: deployment },
  pod: { group: '', version: 'v1', kind: 'Pod', obj: pod },
  service: { group: '', version: 'v1', kind: 'Service', obj: service },
  cronJob: { group: 'batch', version: 'v1', kind: 'CronJob', obj: cronJob },
  configMap: { group: '', version: 'v1', kind: 'ConfigMap', obj: configMap },
  crd: { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', obj: crd },
};

const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

/** ResourceInfo of every served built-in kind, as the apiserver's strategies would give them. */
export function servedResources(): ResourceInfo[] {
  return SERVED_KINDS.filter((k) => !k.namingOnly && k.kind !== 'Scale').map((k) => {
    const lower = k.kind.toLowerCase();
    const plural = lower.endsWith('s') ? `${lower}es` : lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : `${lower}s`;
    const subresources = k.kind === 'Pod' ? ['status', 'binding', 'log', 'exec'] : ['Deployment', 'ReplicaSet', 'StatefulSet'].includes(k.kind) ? ['status', 'scale'] : ['status'];
    return {
      group: k.group,
      version: k.version,
      kind: k.kind,
      listKind: `${k.kind}List`,
      plural: k.kind === 'Endpoints' ? 'endpoints' : plural,
      singular: lower,
      namespaced: !CLUSTER_SCOPED.has(k.kind),
      verbs: k.kind === 'Binding' ? ['create'] : ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      subresources: k.kind === 'Binding' ? [] : subresources,
      modelName: k.model,
    };
  });
}
