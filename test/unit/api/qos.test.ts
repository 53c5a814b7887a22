import test from 'ava';
import { BESTEFFORT_OOM_SCORE_ADJ, GUARANTEED_OOM_SCORE_ADJ, oomScoreAdjust, qosClass } from '../../../pkg/api/qos.js';

const GiB = 1024 ** 3;
const c = (resources: object) => ({ name: 'c', image: 'i', resources });

test('QoS classes from requests and limits', (t) => {
  t.is(qosClass({ containers: [c({})] }), 'BestEffort');
  t.is(qosClass({ containers: [c({ requests: { memory: '64Mi' } })] }), 'Burstable');
  t.is(qosClass({ containers: [c({ limits: { memory: '64Mi', cpu: '1' } })] }), 'Guaranteed');
  t.is(qosClass({ containers: [c({ limits: { memory: '64Mi', cpu: '1' } })], initContainers: [c({})] }), 'Burstable');
  t.is(qosClass(undefined), 'BestEffort');
});

test('OOM score adjustment as kubelet computes it', (t) => {
  const pod = (resources: object, extra: { annotations?: object; priority?: number } = {}) => ({
    metadata: { annotations: extra.annotations ?? {} },
    spec: { containers: [c(resources)], priority: extra.priority },
  });
  t.is(oomScoreAdjust(pod({}), c({}), 16 * GiB), BESTEFFORT_OOM_SCORE_ADJ);
  t.is(oomScoreAdjust(pod({ limits: { memory: '1Gi', cpu: '1' } }), c({ limits: { memory: '1Gi', cpu: '1' } }), 16 * GiB), GUARANTEED_OOM_SCORE_ADJ);
  // 1 GiB of 16: 1000 - 62.5 -> 938
  t.is(oomScoreAdjust(pod({ requests: { memory: '1Gi' } }), c({ requests: { memory: '1Gi' } }), 16 * GiB), 938);
  // a request above the machine's memory still stays above Guaranteed's
  t.is(oomScoreAdjust(pod({ requests: { memory: '64Gi' } }), c({ requests: { memory: '64Gi' } }), 16 * GiB), 3);
  // a tiny request stays below BestEffort's
  t.is(oomScoreAdjust(pod({ requests: { cpu: '10m' } }), c({ requests: { cpu: '10m' } }), 16 * GiB), 999);
  // node-critical pods only; a static (mirror) pod keeps its class's value
  t.is(oomScoreAdjust(pod({}, { annotations: { 'kubernetes.io/config.mirror': 'x' } }), c({}), 16 * GiB), BESTEFFORT_OOM_SCORE_ADJ);
  t.is(oomScoreAdjust(pod({}, { priority: 2_000_001_000 }), c({}), 16 * GiB), GUARANTEED_OOM_SCORE_ADJ);
  t.is(oomScoreAdjust(pod({}, { priority: 2_000_000_000 }), c({}), 16 * GiB), BESTEFFORT_OOM_SCORE_ADJ, 'system-cluster-critical is not node-critical');
  // the class the API server recorded wins
  t.is(oomScoreAdjust({ ...pod({}), status: { qosClass: 'Guaranteed' } }, c({}), 16 * GiB), GUARANTEED_OOM_SCORE_ADJ);
});
