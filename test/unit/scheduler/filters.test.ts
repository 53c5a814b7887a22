import test from 'ava';
import { compilePlan, filterNode, REASON, taintReason } from '../../../controllers/scheduler/filters.js';
import { podRequests } from '../../../controllers/scheduler/pod-requests.js';
import { selectNode, fitErrorMessage } from '../../../controllers/scheduler/strategies.js';
import { cacheOf, node, pod, withRequests } from './fixtures.js';
import type { Pod } from '../../../controllers/scheduler/types.js';

function reasonsOn(p: Pod, c: ReturnType<typeof cacheOf>): Record<string, string | string[] | null> {
  const plan = compilePlan(p, c);
  return Object.fromEntries(c.nodeList().map((n) => [n.name, filterNode(plan, n)]));
}

test('requests: containers summed, init containers as a maximum, sidecars for the whole life, overhead added', (t) => {
  t.deepEqual(podRequests({ containers: [{ name: 'a' }] }), { cpu: 0, memory: 0 });
  t.deepEqual(
    podRequests({
      containers: [
        { name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        { name: 'b', resources: { requests: { cpu: '0.2', memory: '64Mi' } } },
      ],
      initContainers: [{ name: 'i', resources: { requests: { cpu: '1', memory: '10Mi' } } }],
    }),
    { cpu: 1000, memory: 128 * 1024 * 1024 },
  );
  t.deepEqual(
    podRequests({
      containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }],
      initContainers: [{ name: 's', restartPolicy: 'Always', resources: { requests: { cpu: '50m' } } }],
      overhead: { cpu: '10m' },
    }),
    { cpu: 160, memory: 0 },
  );
});

test('resource fit: cpu, memory and pod count, each with its own reason', (t) => {
  const c = cacheOf([node('a', { cpu: '1' }), node('b', { memory: '1Gi' }), node('c', { pods: '1', cpu: '1' })], [[pod('x'), 'c']]);
  const r = reasonsOn(pod('p', withRequests('1500m', '2Gi')), c);
  t.is(r['a'], REASON.cpu);
  t.deepEqual(r['b'], REASON.memory);
  t.deepEqual(r['c'], [REASON.pods, REASON.cpu]);
  t.is(reasonsOn(pod('q', withRequests('500m', '512Mi')), c)['a'], null);
});

test('pods without requests count only toward the pod limit', (t) => {
  const c = cacheOf([node('a', { cpu: '0', memory: '0', pods: '2' })], [[pod('x'), 'a']]);
  const plan = compilePlan(pod('p'), c);
  t.is(filterNode(plan, c.getNode('a')!), null);
  c.addPod({ ...plan.info, nodeName: 'a' });
  t.is(filterNode(compilePlan(pod('q'), c), c.getNode('a')!), REASON.pods);
});

test('unschedulable (cordoned) nodes, unless the pod tolerates it', (t) => {
  const c = cacheOf([node('a', { unschedulable: true })]);
  t.is(reasonsOn(pod('p'), c)['a'], REASON.unschedulable);
  t.is(reasonsOn(pod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] }), c)['a'], null);
});

test('not-ready and unreachable nodes show as taints', (t) => {
  const c = cacheOf([node('a', { ready: 'False' }), node('b', { ready: 'Unknown' }), node('c', { ready: 'none' }), node('d')]);
  const r = reasonsOn(pod('p'), c);
  t.is(r['a'], 'node(s) had untolerated taint {node.kubernetes.io/not-ready: }');
  t.is(r['b'], 'node(s) had untolerated taint {node.kubernetes.io/unreachable: }');
  t.is(r['c'], 'node(s) had untolerated taint {node.kubernetes.io/not-ready: }');
  t.is(r['d'], null);
  const tolerant = pod('q', { tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }] });
  t.is(reasonsOn(tolerant, c)['a'], null);
});

test('taints and tolerations: Equal, Exists, empty key, effects; PreferNoSchedule never filters', (t) => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' };
  const c = cacheOf([node('a', { taints: [taint] }), node('b', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] })]);
  t.is(reasonsOn(pod('p'), c)['a'], taintReason(taint));
  t.is(reasonsOn(pod('p'), c)['a'], 'node(s) had untolerated taint {dedicated: gpu}');
  t.is(reasonsOn(pod('p'), c)['b'], null);
  const ok = [
    [{ key: 'dedicated', operator: 'Equal', value: 'gpu' }],
    [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    [{ key: 'dedicated', operator: 'Exists' }],
    [{ operator: 'Exists' }],
  ];
  for (const tolerations of ok) t.is(reasonsOn(pod('p', { tolerations }), c)['a'], null, JSON.stringify(tolerations));
  const bad = [[{ key: 'dedicated', value: 'cpu' }], [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }], [{ key: 'other', operator: 'Exists' }]];
  for (const tolerations of bad) t.not(reasonsOn(pod('p', { tolerations }), c)['a'], null, JSON.stringify(tolerations));
});

test('nodeName, nodeSelector and required node affinity', (t) => {
  const c = cacheOf([node('a', { labels: { disk: 'ssd', gen: '3' } }), node('b', { labels: { disk: 'hdd', gen: '5' } })]);
  t.deepEqual(reasonsOn(pod('p', { nodeName: 'b' }), c), { a: REASON.nodeName, b: null });
  t.deepEqual(reasonsOn(pod('p', { nodeSelector: { disk: 'ssd' } }), c), { a: null, b: REASON.nodeAffinity });
  const affinity = (expr: object[], fields: object[] = []) => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: expr as never, matchFields: fields as never }] } } },
  });
  t.deepEqual(reasonsOn(pod('p', affinity([{ key: 'disk', operator: 'In', values: ['hdd'] }])), c), { a: REASON.nodeAffinity, b: null });
  t.deepEqual(reasonsOn(pod('p', affinity([{ key: 'gen', operator: 'Gt', values: ['4'] }])), c), { a: REASON.nodeAffinity, b: null });
  t.deepEqual(reasonsOn(pod('p', affinity([{ key: 'disk', operator: 'DoesNotExist' }])), c), { a: REASON.nodeAffinity, b: REASON.nodeAffinity });
  t.deepEqual(reasonsOn(pod('p', affinity([], [{ key: 'metadata.name', operator: 'In', values: ['a'] }])), c), { a: null, b: REASON.nodeAffinity });
  // Terms are ORed; an empty term matches nothing.
  const two = { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{}, { matchExpressions: [{ key: 'disk', operator: 'Exists' }] }] } } } };
  t.deepEqual(reasonsOn(pod('p', two), c), { a: null, b: null });
});

test('host ports clash by protocol, port and address', (t) => {
  const web = pod('web', { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }] }] });
  const c = cacheOf([node('a'), node('b')], [[web, 'a']]);
  const same = pod('p', { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080 }] }] });
  t.deepEqual(reasonsOn(same, c), { a: REASON.ports, b: null });
  const udp = pod('p', { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080, protocol: 'UDP' }] }] });
  t.deepEqual(reasonsOn(udp, c), { a: null, b: null });
  const specific = pod('p', { containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 8080, hostIP: '10.0.0.1' }] }] });
  t.deepEqual(reasonsOn(specific, c), { a: REASON.ports, b: null });
});

test('pod anti-affinity on hostname, both ways, and pod affinity', (t) => {
  const term = { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' };
  const anti = { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } } };
  const db1 = pod('db-1', anti, { labels: { app: 'db' } });
  const c = cacheOf([node('a'), node('b'), node('c')], [[db1, 'a']]);
  // kube-scheduler checks existing pods' rules first, so a group repelling itself reports those.
  t.deepEqual(reasonsOn(pod('db-2', anti, { labels: { app: 'db' } }), c), { a: REASON.existingAntiAffinity, b: null, c: null });
  t.deepEqual(reasonsOn(pod('not-near-db', anti, { labels: { app: 'web' } }), c), { a: REASON.podAntiAffinity, b: null, c: null });
  // An existing pod's anti-affinity keeps matching newcomers away even if they have no rules.
  t.deepEqual(reasonsOn(pod('plain', {}, { labels: { app: 'db' } }), c), { a: REASON.existingAntiAffinity, b: null, c: null });
  t.deepEqual(reasonsOn(pod('other', {}, { labels: { app: 'web' } }), c), { a: null, b: null, c: null });
  // Other namespaces are not looked at unless the term says so.
  t.deepEqual(reasonsOn(pod('db-2', anti, { labels: { app: 'db' }, namespace: 'prod' }), c), { a: null, b: null, c: null });

  const aff = { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } } };
  t.deepEqual(reasonsOn(pod('near-db', aff), c), { a: null, b: REASON.podAffinity, c: REASON.podAffinity });
  // The first of a group selecting itself may go anywhere.
  const empty = cacheOf([node('a'), node('b')]);
  t.deepEqual(reasonsOn(pod('first', aff, { labels: { app: 'db' } }), empty), { a: null, b: null });
  t.deepEqual(reasonsOn(pod('lonely', aff, { labels: { app: 'web' } }), empty), { a: REASON.podAffinity, b: REASON.podAffinity });
});

test('the FitError message counts reasons per node, sorted, like kube-scheduler', (t) => {
  const c = cacheOf([node('a'), node('b'), node('c', { taints: [{ key: 'gpu', value: 'yes', effect: 'NoSchedule' }] })]);
  const d = selectNode(compilePlan(pod('big', withRequests('3')), c), c.nodeList(), 'spread');
  t.is(d.node, undefined);
  if (d.node) return;
  t.is(fitErrorMessage(d.total, d.reasons), '0/3 nodes are available: 1 node(s) had untolerated taint {gpu: yes}, 2 Insufficient cpu.');
  t.is(fitErrorMessage(0, new Map()), 'no nodes available to schedule pods');
});
