import test from 'ava';
import { evictionTime, readinessTaints, toleratedSeconds, tolerates } from '../../../controllers/nodelifecycle/taints.js';

const unreachable = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };

test('toleration matching', (t) => {
  t.true(tolerates({ operator: 'Exists' }, unreachable));
  t.true(tolerates({ key: unreachable.key, operator: 'Exists', effect: 'NoExecute' }, unreachable));
  t.false(tolerates({ key: unreachable.key, operator: 'Exists', effect: 'NoSchedule' }, unreachable));
  t.true(tolerates({ key: 'k', operator: 'Equal', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' }));
  t.false(tolerates({ key: 'k', value: 'w' }, { key: 'k', value: 'v', effect: 'NoExecute' }));
});

test('how long a pod may stay', (t) => {
  t.is(toleratedSeconds([], unreachable, 300), 300, 'no toleration: the default for unreachable');
  t.is(toleratedSeconds([], { key: 'other', effect: 'NoExecute' }, 300), 0, 'no toleration: other NoExecute taints evict at once');
  t.is(toleratedSeconds([{ key: unreachable.key, operator: 'Exists', tolerationSeconds: 5 }], unreachable, 300), 5);
  t.is(toleratedSeconds([{ key: unreachable.key, operator: 'Exists' }], unreachable, 300), Infinity);
  const at = evictionTime([{ key: unreachable.key, operator: 'Exists', tolerationSeconds: 5 }], [{ ...unreachable, timeAdded: '2025-01-01T00:00:00Z' }], 300, (x) => Date.parse(x.timeAdded!));
  t.is(at, Date.parse('2025-01-01T00:00:05Z'));
  t.deepEqual(readinessTaints('Unknown').map((x) => x.effect), ['NoSchedule', 'NoExecute']);
  t.is(readinessTaints('False')[0]!.key, 'node.kubernetes.io/not-ready');
  t.deepEqual(readinessTaints('True'), []);
});
