import test from 'ava';
import { compilePlan } from '../../../controllers/scheduler/filters.js';
import { selectNode } from '../../../controllers/scheduler/strategies.js';
import { strategyFor, isOurs } from '../../../controllers/scheduler/scheduler.js';
import { SchedulingQueue } from '../../../controllers/scheduler/queue.js';
import type { SchedulerCache } from '../../../controllers/scheduler/cache.js';
import type { Pod, Strategy } from '../../../controllers/scheduler/types.js';
import { cacheOf, node, pod, withRequests } from './fixtures.js';

/** Places pods one after another the way the scheduler does: decide, then assume. */
function place(c: SchedulerCache, pods: Pod[], strategy: Strategy, random?: () => number): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(c.nodeList().map((n) => [n.name, 0]));
  for (const p of pods) {
    const plan = compilePlan(p, c);
    const d = selectNode(plan, c.nodeList(), strategy, random);
    if (!d.node) throw new Error(`${p.metadata.name} did not fit`);
    c.addPod({ ...plan.info, nodeName: d.node.name });
    counts[d.node.name]!++;
  }
  return counts;
}

const many = (n: number, spec = {}) => Array.from({ length: n }, (_, i) => pod(`p${i}`, spec));

test('spread: fewest pods first, lands 2/2/2', (t) => {
  t.deepEqual(place(cacheOf([node('a'), node('b'), node('c')]), many(6), 'spread'), { a: 2, b: 2, c: 2 });
});

test('spread: ties go to the node with most free resources', (t) => {
  const c = cacheOf([node('a'), node('b')], [[pod('big', withRequests('1')), 'a'], [pod('small', withRequests('100m')), 'b']]);
  t.deepEqual(place(c, many(1), 'spread'), { a: 0, b: 1 });
});

test('binpack: fills one node before the next', (t) => {
  const c = cacheOf([node('a'), node('b'), node('c')]);
  t.deepEqual(place(c, many(6, withRequests('500m', '256Mi')), 'binpack'), { a: 4, b: 2, c: 0 });
});

test('binpack: prefers the most allocated node that still fits', (t) => {
  const c = cacheOf([node('a'), node('b')], [[pod('x', withRequests('1800m')), 'a'], [pod('y', withRequests('1')), 'b']]);
  t.deepEqual(place(c, many(1, withRequests('500m')), 'binpack'), { a: 0, b: 1 });
  t.deepEqual(place(c, many(1, withRequests('100m')), 'binpack'), { a: 1, b: 0 });
});

test('binpack without requests still packs by pod count', (t) => {
  t.deepEqual(place(cacheOf([node('a', { pods: '3' }), node('b', { pods: '3' })]), many(4), 'binpack'), { a: 3, b: 1 });
});

test('random: places every pod on a feasible node, spread over all of them', (t) => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const c = cacheOf([node('a'), node('b'), node('c'), node('d', { taints: [{ key: 'x', effect: 'NoSchedule' }] })]);
  const counts = place(c, many(300), 'random', rnd);
  t.is(counts['d'], 0);
  for (const n of ['a', 'b', 'c']) t.true(counts[n]! > 60, `${n}: ${counts[n]}`);
});

test('preferred node affinity breaks ties', (t) => {
  const c = cacheOf([node('a'), node('b', { labels: { zone: 'z2' } })]);
  const prefers = { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z2'] }] } }] } } };
  t.deepEqual(place(c, [pod('p', prefers)], 'spread'), { a: 0, b: 1 });
  t.deepEqual(place(cacheOf([node('a'), node('b', { labels: { zone: 'z2' } })]), [pod('p', prefers)], 'random'), { a: 0, b: 1 });
  // The strategy's own key still comes first: b now has a pod, so spread picks a.
  t.deepEqual(place(c, [pod('q', prefers)], 'spread'), { a: 1, b: 0 });
});

test('strategy comes from the annotation, then the profile, then the flag', (t) => {
  t.is(strategyFor(pod('p'), 'binpack'), 'binpack');
  t.is(strategyFor(pod('p', { schedulerName: 'skiff-random' }), 'binpack'), 'random');
  t.is(strategyFor(pod('p', { schedulerName: 'skiff-random' }, { annotations: { 'scheduler.skiff.dev/strategy': 'spread' } }), 'binpack'), 'spread');
  t.throws(() => strategyFor(pod('p', {}, { annotations: { 'scheduler.skiff.dev/strategy': 'tight' } }), 'spread'), { message: /must be one of spread, binpack, random/ });
  t.true(isOurs(pod('p')));
  t.true(isOurs(pod('p', { schedulerName: 'skiff-binpack' })));
  t.false(isOurs(pod('p', { schedulerName: 'other-scheduler' })));
});

test('assumed pods count until forgotten; confirmed ones stay', (t) => {
  const c = cacheOf([node('a', { cpu: '1' })]);
  const plan = compilePlan(pod('p', withRequests('800m')), c);
  c.addPod({ ...plan.info, nodeName: 'a' });
  t.true(c.isAssumed(plan.info.key));
  t.is(selectNode(compilePlan(pod('q', withRequests('800m')), c), c.nodeList(), 'spread').node, undefined);
  c.forget(plan.info.key);
  t.is(c.getNode('a')!.reqCpu, 0);
  t.truthy(selectNode(compilePlan(pod('q', withRequests('800m')), c), c.nodeList(), 'spread').node);
});

test('queue: FIFO, de-duplicated, parked pods come back on a cluster change', (t) => {
  let wakes = 0;
  const q = new SchedulingQueue(() => wakes++);
  q.add('a');
  q.add('b');
  q.add('a');
  t.is(q.pop(), 'a');
  q.markUnschedulable('a');
  t.is(q.pop(), 'b');
  t.is(q.pop(), undefined);
  t.true(q.isUnschedulable('a'));
  q.moveAllToActive();
  t.is(q.pop(), 'a');
  q.add('c');
  q.delete('c');
  t.is(q.pop(), undefined);
  t.true(wakes >= 3);
  q.close();
});
