import test from 'ava';
import { podTable, summarizePod } from '../../../apiserver/registry/resources/core/pod-printing.js';
import type { KObject } from '../../../pkg/api/types.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function pod(spec: Any, status: Any, meta: Any = {}): KObject {
  return { metadata: { name: 'p', namespace: 'd', creationTimestamp: ago(3600_000), ...meta }, spec: { containers: [{ name: 'a', image: 'i' }], ...spec }, status };
}

const running = { running: { startedAt: ago(60_000) } };

test('pending and container creating', (t) => {
  t.deepEqual(summarizePod(pod({}, { phase: 'Pending' }), NOW), { ready: '0/1', status: 'Pending', restarts: '0' });
  const creating = pod({}, { phase: 'Pending', containerStatuses: [{ name: 'a', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }] });
  t.is(summarizePod(creating, NOW).status, 'ContainerCreating');
});

test('running and ready', (t) => {
  const p = pod({ containers: [{ name: 'a' }, { name: 'b' }] }, {
    phase: 'Running',
    containerStatuses: [
      { name: 'a', ready: true, restartCount: 0, state: running },
      { name: 'b', ready: false, restartCount: 0, state: running },
    ],
  });
  t.deepEqual(summarizePod(p, NOW), { ready: '1/2', status: 'Running', restarts: '0' });
});

test('crash loop with restarts and last restart age', (t) => {
  const p = pod({}, {
    phase: 'Running',
    containerStatuses: [{ name: 'a', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, finishedAt: ago(5 * 60_000) } } }],
  });
  t.deepEqual(summarizePod(p, NOW), { ready: '0/1', status: 'CrashLoopBackOff', restarts: '3 (5m ago)' });
});

test('completed, error and exit codes', (t) => {
  const done = pod({}, { phase: 'Succeeded', containerStatuses: [{ name: 'a', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] });
  t.is(summarizePod(done, NOW).status, 'Completed');
  const err = pod({}, { phase: 'Failed', containerStatuses: [{ name: 'a', ready: false, restartCount: 0, state: { terminated: { exitCode: 2, reason: 'Error' } } }] });
  t.is(summarizePod(err, NOW).status, 'Error');
  const code = pod({}, { phase: 'Failed', containerStatuses: [{ name: 'a', restartCount: 0, state: { terminated: { exitCode: 137 } } }] });
  t.is(summarizePod(code, NOW).status, 'ExitCode:137');
  const sig = pod({}, { phase: 'Failed', containerStatuses: [{ name: 'a', restartCount: 0, state: { terminated: { exitCode: 0, signal: 9 } } }] });
  t.is(summarizePod(sig, NOW).status, 'Signal:9');
});

test('init containers', (t) => {
  const spec = { initContainers: [{ name: 'i1' }, { name: 'i2' }] };
  const first = pod(spec, { phase: 'Pending', initContainerStatuses: [{ name: 'i1', restartCount: 0, state: running }, { name: 'i2', restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }] });
  t.is(summarizePod(first, NOW).status, 'Init:0/2');
  const second = pod(spec, { phase: 'Pending', initContainerStatuses: [{ name: 'i1', restartCount: 0, state: { terminated: { exitCode: 0 } } }, { name: 'i2', restartCount: 0, state: running }] });
  t.is(summarizePod(second, NOW).status, 'Init:1/2');
  const failing = pod(spec, { phase: 'Pending', initContainerStatuses: [{ name: 'i1', restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } } }] });
  t.is(summarizePod(failing, NOW).status, 'Init:CrashLoopBackOff');
  t.is(summarizePod(failing, NOW).restarts, '2');
  const failed = pod(spec, { phase: 'Failed', initContainerStatuses: [{ name: 'i1', restartCount: 0, state: { terminated: { exitCode: 3 } } }] });
  t.is(summarizePod(failed, NOW).status, 'Init:ExitCode:3');
});

test('sidecar init containers count toward ready', (t) => {
  const p = pod({ initContainers: [{ name: 's', restartPolicy: 'Always' }] }, {
    phase: 'Running',
    conditions: [{ type: 'Initialized', status: 'True' }],
    initContainerStatuses: [{ name: 's', ready: true, started: true, restartCount: 0, state: running }],
    containerStatuses: [{ name: 'a', ready: true, restartCount: 0, state: running }],
  });
  t.deepEqual(summarizePod(p, NOW), { ready: '2/2', status: 'Running', restarts: '0' });
});

test('terminating, unknown and scheduling gated', (t) => {
  const term = pod({}, { phase: 'Running', containerStatuses: [{ name: 'a', ready: true, restartCount: 0, state: running }] }, { deletionTimestamp: ago(0) });
  t.is(summarizePod(term, NOW).status, 'Terminating');
  const lost = pod({}, { phase: 'Running', reason: 'NodeLost' }, { deletionTimestamp: ago(0) });
  t.is(summarizePod(lost, NOW).status, 'Unknown');
  const doneDeleted = pod({}, { phase: 'Succeeded' }, { deletionTimestamp: ago(0) });
  t.is(summarizePod(doneDeleted, NOW).status, 'Succeeded');
  const gated = pod({}, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] });
  t.is(summarizePod(gated, NOW).status, 'SchedulingGated');
  const evicted = pod({}, { phase: 'Failed', reason: 'Evicted' });
  t.is(summarizePod(evicted, NOW).status, 'Evicted');
});

test('completed container with another still running', (t) => {
  const p = pod({ containers: [{ name: 'a' }, { name: 'b' }] }, {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'False' }],
    containerStatuses: [
      { name: 'a', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'b', ready: true, restartCount: 0, state: running },
    ],
  });
  t.is(summarizePod(p, NOW).status, 'NotReady');
});

test('table row with wide columns', (t) => {
  const p = pod({ nodeName: 'n1', readinessGates: [{ conditionType: 'x/ok' }] }, {
    phase: 'Running',
    podIP: '10.42.0.5',
    podIPs: [{ ip: '10.42.0.5' }],
    conditions: [{ type: 'x/ok', status: 'True' }],
    containerStatuses: [{ name: 'a', ready: true, restartCount: 0, state: running }],
  });
  t.deepEqual(podTable.cells(p, NOW), ['p', '1/1', 'Running', '0', '60m', '10.42.0.5', 'n1', '<none>', '1/1']);
  t.deepEqual(podTable.columns.map((c) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
  t.deepEqual(podTable.columns.filter((c) => c.priority === 1).length, 4);
});
