import test from 'ava';
import { builtinStrategies } from '../../../apiserver/registry/resources/index.js';
import type { Strategy } from '../../../apiserver/registry/strategy.js';
import type { KObject } from '../../../pkg/api/types.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const NOW = Date.parse('2024-05-01T12:00:00Z');
const created = new Date(NOW - 5 * 60_000).toISOString();
const byKind = (group: string, kind: string): Strategy => builtinStrategies().find((s) => s.info.group === group && s.info.kind === kind)!;
const row = (group: string, kind: string, o: Any) => byKind(group, kind).table!.cells({ ...o, metadata: { name: 'x', namespace: 'd', creationTimestamp: created, ...(o.metadata ?? {}) } } as KObject, NOW);
const cols = (group: string, kind: string) => byKind(group, kind).table!.columns.map((c) => c.name);

test('every strategy has a table whose rows fit its columns', (t) => {
  for (const s of builtinStrategies()) {
    t.truthy(s.table, s.info.kind);
    const cells = s.table!.cells({ metadata: { name: 'x', namespace: 'd', creationTimestamp: created } }, NOW);
    t.is(cells.length, s.table!.columns.length, `${s.info.group}/${s.info.kind}`);
    t.is(s.table!.columns[0].format === 'name' || s.table!.columns.some((c) => c.format === 'name'), true);
  }
});

test('deployments, replicasets, statefulsets, daemonsets', (t) => {
  const spec = { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }, { name: 'side', image: 'busybox' }] } } };
  t.deepEqual(cols('apps', 'Deployment'), ['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector']);
  t.deepEqual(row('apps', 'Deployment', { spec, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 } }), ['x', '2/3', 3, 2, '5m', 'nginx,side', 'nginx:1.27,busybox', 'app=web']);
  t.deepEqual(row('apps', 'ReplicaSet', { spec, status: { replicas: 3, readyReplicas: 1 } }).slice(0, 5), ['x', 3, 3, 1, '5m']);
  t.deepEqual(row('apps', 'StatefulSet', { spec, status: { readyReplicas: 3 } }), ['x', '3/3', '5m', 'nginx,side', 'nginx:1.27,busybox']);
  const ds = { spec: { ...spec, template: { spec: { ...spec.template.spec, nodeSelector: { 'kubernetes.io/os': 'linux' } } } }, status: { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 1, updatedNumberScheduled: 2, numberAvailable: 1 } };
  t.deepEqual(row('apps', 'DaemonSet', ds).slice(0, 8), ['x', 2, 2, 1, 2, 1, 'kubernetes.io/os=linux', '5m']);
});

test('services', (t) => {
  t.deepEqual(cols('', 'Service'), ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
  t.deepEqual(row('', 'Service', { spec: { type: 'ClusterIP', clusterIP: '10.43.0.10', clusterIPs: ['10.43.0.10'], ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }], selector: { app: 'web' } } }), [
    'x', 'ClusterIP', '10.43.0.10', '<none>', '80/TCP,53/UDP', '5m', 'app=web',
  ]);
  t.deepEqual(row('', 'Service', { spec: { type: 'NodePort', clusterIP: '10.43.0.11', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] } }).slice(0, 5), ['x', 'NodePort', '10.43.0.11', '<none>', '80:30080/TCP']);
  t.is(row('', 'Service', { spec: { type: 'LoadBalancer', ports: [] } })[3], '<pending>');
  t.is(row('', 'Service', { spec: { type: 'ExternalName', externalName: 'example.com' } })[3], 'example.com');
});

test('jobs and cronjobs', (t) => {
  const start = new Date(NOW - 90_000).toISOString();
  const end = new Date(NOW - 30_000).toISOString();
  t.deepEqual(row('batch', 'Job', { spec: { completions: 5 }, status: { succeeded: 1, startTime: start } }).slice(0, 5), ['x', 'Running', '1/5', '90s', '5m']);
  t.deepEqual(row('batch', 'Job', { spec: { completions: 1 }, status: { succeeded: 1, startTime: start, completionTime: end, conditions: [{ type: 'Complete', status: 'True' }] } }).slice(0, 4), ['x', 'Complete', '1/1', '60s']);
  t.is(row('batch', 'Job', { spec: { parallelism: 3 }, status: {} })[2], '0/1 of 3');
  t.is(row('batch', 'Job', { spec: {}, status: { conditions: [{ type: 'Suspended', status: 'True' }] } })[1], 'Suspended');
  t.is(row('batch', 'Job', { spec: {}, status: { conditions: [{ type: 'Failed', status: 'True' }] } })[1], 'Failed');
  t.deepEqual(cols('batch', 'CronJob').slice(0, 7), ['Name', 'Schedule', 'Timezone', 'Suspend', 'Active', 'Last Schedule', 'Age']);
  t.deepEqual(row('batch', 'CronJob', { spec: { schedule: '*/5 * * * *', suspend: false }, status: { active: [{}], lastScheduleTime: end } }).slice(0, 7), ['x', '*/5 * * * *', '<none>', 'False', 1, '30s', '5m']);
});

test('nodes', (t) => {
  const node = {
    metadata: { labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/master': '' } },
    spec: { unschedulable: true },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '192.168.1.5' }, { type: 'Hostname', address: 'n1' }],
      nodeInfo: { kubeletVersion: 'v1.32.0-skiff', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: 'crun://1.8.1' },
    },
  };
  t.deepEqual(row('', 'Node', node), ['x', 'Ready,SchedulingDisabled', 'control-plane,master', '5m', 'v1.32.0-skiff', '192.168.1.5', '<none>', 'Debian GNU/Linux 12', '6.1.0', 'crun://1.8.1']);
  t.is(row('', 'Node', { status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } })[1], 'NotReady');
  t.is(row('', 'Node', {})[1], 'Unknown');
  t.is(row('', 'Node', {})[2], '<none>');
});

test('simple kinds', (t) => {
  t.deepEqual(row('', 'Namespace', { status: { phase: 'Active' } }), ['x', 'Active', '5m']);
  t.deepEqual(row('', 'ConfigMap', { data: { a: '1', b: '2' }, binaryData: { c: '' } }), ['x', 3, '5m']);
  t.deepEqual(row('', 'Secret', { type: 'Opaque', data: { a: 'MQ==' } }), ['x', 'Opaque', 1, '5m']);
  t.deepEqual(row('', 'ServiceAccount', {}), ['x', 0, '5m']);
  t.deepEqual(row('coordination.k8s.io', 'Lease', { spec: { holderIdentity: 'node-1' } }), ['x', 'node-1', '5m']);
  t.deepEqual(row('apiextensions.k8s.io', 'CustomResourceDefinition', {}), ['x', created]);
  const subsets = [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] }];
  t.deepEqual(row('', 'Endpoints', { subsets }), ['x', '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...', '5m']);
  t.deepEqual(row('', 'Endpoints', {}), ['x', '<none>', '5m']);
  t.deepEqual(row('discovery.k8s.io', 'EndpointSlice', { addressType: 'IPv4', ports: [{ port: 80 }], endpoints: [{ addresses: ['10.0.0.1'] }] }), ['x', 'IPv4', '80', '10.0.0.1', '5m']);
  t.deepEqual(row('rbac.authorization.k8s.io', 'RoleBinding', { roleRef: { kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'alice' }, { kind: 'ServiceAccount', name: 'sa', namespace: 'd' }] }), ['x', 'ClusterRole/view', '5m', 'alice', '', 'd/sa']);
  t.deepEqual(
    row('autoscaling', 'HorizontalPodAutoscaler', {
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }] },
      status: { currentReplicas: 2, currentMetrics: [{ type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: 30 } } }] },
    }),
    ['x', 'Deployment/web', 'cpu: 30%/50%', '1', 5, 2, '5m'],
  );
  const ev = { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting', involvedObject: { kind: 'Pod', name: 'web-1' }, firstTimestamp: created, lastTimestamp: new Date(NOW - 10_000).toISOString(), count: 4, source: { component: 'kubelet', host: 'n1' } };
  t.deepEqual(row('', 'Event', ev), ['10s', 'Warning', 'BackOff', 'pod/web-1', '', 'kubelet, n1', 'Back-off restarting', '5m', '4', 'x']);
});
