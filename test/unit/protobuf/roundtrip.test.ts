import test from 'ava';
import { decodeKubernetesProtobuf } from '../../../apiserver/protobuf/decode.js';
import { canEncodeProtobuf, encodeKubernetesProtobuf } from '../../../apiserver/protobuf/encode.js';
import { StatusError } from '../../../apiserver/status.js';

/** Objects in canonical JSON form (no zero values in omitempty fields), so a round trip is the identity. */
const OBJECTS: Record<string, unknown>[] = [
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'web-0',
      namespace: 'prod',
      uid: '6f1c0a52-0000-4000-8000-000000000001',
      resourceVersion: '42',
      generation: 3,
      creationTimestamp: '2026-01-02T03:04:05Z',
      deletionTimestamp: '2026-01-02T03:05:00Z',
      deletionGracePeriodSeconds: 0,
      labels: { app: 'web', 'example.com/tier': 'front' },
      annotations: { note: 'ünïcødé ✓' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u1', controller: true, blockOwnerDeletion: true }],
      finalizers: ['example.com/f'],
      managedFields: [
        { manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-02T03:04:05Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } } },
      ],
    },
    spec: {
      volumes: [
        { name: 'data', persistentVolumeClaim: { claimName: 'data-web-0' } },
        { name: 'cfg', configMap: { name: 'cfg', items: [{ key: 'a', path: 'a.txt', mode: 420 }], defaultMode: 420 } },
        { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      ],
      initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'], resources: {} }],
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          args: ['-g', 'daemon off;'],
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          env: [
            { name: 'A', value: '1' },
            { name: 'POD', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
          resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } },
          volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cfg', mountPath: '/etc/cfg', readOnly: true }],
          livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' }, initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 3 },
          readinessProbe: { tcpSocket: { port: 80 }, timeoutSeconds: 1 },
          startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, terminationGracePeriodSeconds: 30 },
          lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
          securityContext: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          stdin: true,
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: 'node-1',
      securityContext: { fsGroup: 2000, supplementalGroups: [1, 2] },
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 100, podAffinityTerm: { labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }, topologyKey: 'kubernetes.io/hostname' } },
          ],
        },
      },
      schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: -5,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      overhead: { cpu: '10m' },
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-01-02T03:04:10Z' }],
      hostIP: '10.0.0.1',
      podIP: '10.244.0.5',
      podIPs: [{ ip: '10.244.0.5' }],
      startTime: '2026-01-02T03:04:06Z',
      containerStatuses: [
        {
          name: 'web',
          state: { running: { startedAt: '2026-01-02T03:04:08Z' } },
          lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: null, finishedAt: '2026-01-02T03:04:07Z' } },
          ready: true,
          restartCount: 1,
          image: 'nginx:1.27',
          imageID: 'docker.io/library/nginx@sha256:abc',
          containerID: 'containerd://abc',
          started: true,
        },
      ],
      qosClass: 'Burstable',
    },
  },
  {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', creationTimestamp: null },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', resources: {} }] } },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', creationTimestamp: null },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
          status: {},
        },
      ],
      serviceName: 'web',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0, maxUnavailable: '25%' } },
    },
    status: { replicas: 0, availableReplicas: 0 },
  },
  {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    metadata: { creationTimestamp: null },
    spec: { resourceAttributes: { verb: 'get', resource: 'pods' }, user: 'alice', groups: ['dev'], extra: { scopes: ['a', 'b'], empty: [] } },
    status: { allowed: true, reason: 'rbac' },
  },
  {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: 'e1', namespace: 'default', creationTimestamp: null },
    eventTime: '2026-01-02T03:04:05.123456Z',
    reportingController: 'skiff',
    reportingInstance: 'skiff-1',
    action: 'Pulling',
    reason: 'Pulling',
    regarding: { kind: 'Pod', name: 'p' },
    note: 'pulling image',
    type: 'Normal',
    deprecatedSource: {},
    deprecatedFirstTimestamp: null,
    deprecatedLastTimestamp: null,
  },
  {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: { name: 'web-1', creationTimestamp: null },
    data: { spec: { template: { spec: { containers: [{ name: 'web' }] } } } },
    revision: 9007199254740991,
  },
  {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    gracePeriodSeconds: 0,
    propagationPolicy: 'Foreground',
    dryRun: ['All'],
  },
];

for (const obj of OBJECTS) {
  test(`round trip: ${obj.apiVersion as string} ${obj.kind as string}`, (t) => {
    const apiVersion = obj.apiVersion as string;
    const kind = obj.kind as string;
    t.true(canEncodeProtobuf(apiVersion, kind));
    const body = encodeKubernetesProtobuf(apiVersion, kind, obj);
    t.deepEqual([...body.subarray(0, 4)], [0x6b, 0x38, 0x73, 0]);
    const decoded = decodeKubernetesProtobuf(body);
    t.is(decoded.apiVersion, apiVersion);
    t.is(decoded.kind, kind);
    t.deepEqual(decoded.object, obj);
  });
}

test('a nested protobuf object in a RawExtension decodes to its JSON form', (t) => {
  const inner = encodeKubernetesProtobuf('v1', 'ConfigMap', { metadata: { name: 'c' }, data: { a: 'b' } });
  const rev = encodeKubernetesProtobuf('apps/v1', 'ControllerRevision', { metadata: { name: 'r' }, revision: 1 });
  // Append ControllerRevision.data (field 2, a RawExtension {1: raw}) holding the nested body.
  const ext = Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
  const raw = Buffer.concat([encodeRawOf(rev), Buffer.from([0x12]), varint(ext.length), ext]);
  const decoded = decodeKubernetesProtobuf(rebuild('apps/v1', 'ControllerRevision', raw));
  t.is(decoded.object.revision, 1);
  t.deepEqual(decoded.object.data, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** The raw object bytes of an encoded body (envelope field 2). */
function encodeRawOf(body: Buffer): Buffer {
  let pos = 4;
  while (pos < body.length) {
    const tag = body[pos++]!;
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = body[pos++]!;
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (tag === 0x12) return body.subarray(pos, pos + len);
    pos += len;
  }
  throw new Error('no raw field');
}

function rebuild(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const tm = Buffer.concat([Buffer.from([0x0a]), varint(apiVersion.length), Buffer.from(apiVersion), Buffer.from([0x12]), varint(kind.length), Buffer.from(kind)]);
  return Buffer.concat([Buffer.from('k8s\0'), Buffer.from([0x0a]), varint(tm.length), tm, Buffer.from([0x12]), varint(raw.length), raw]);
}

test('encoding refuses kinds it cannot describe and values of the wrong shape', (t) => {
  t.false(canEncodeProtobuf('example.com/v1', 'Widget'));
  t.is(t.throws(() => encodeKubernetesProtobuf('example.com/v1', 'Widget', {}), { instanceOf: StatusError })!.code, 406);
  t.is(t.throws(() => encodeKubernetesProtobuf('v1', 'ConfigMap', { data: { a: 1 } }), { instanceOf: StatusError })!.code, 500);
  t.is(t.throws(() => encodeKubernetesProtobuf('apps/v1', 'Deployment', { spec: { replicas: 1.5 } }), { instanceOf: StatusError })!.code, 500);
});
