import test from 'ava';
import type { Strategy } from '../../../apiserver/registry/strategy.js';
import { cronJobStrategy } from '../../../apiserver/registry/resources/batch/cronjob.js';
import { jobStrategy } from '../../../apiserver/registry/resources/batch/job.js';
import { deploymentStrategy } from '../../../apiserver/registry/resources/apps/deployment.js';
import { statefulSetStrategy } from '../../../apiserver/registry/resources/apps/statefulset.js';
import { daemonSetStrategy } from '../../../apiserver/registry/resources/apps/daemonset.js';
import { podStrategy } from '../../../apiserver/registry/resources/core/pod.js';
import { serviceStrategy } from '../../../apiserver/registry/resources/core/service.js';
import { namespaceStrategy } from '../../../apiserver/registry/resources/core/namespace.js';
import { secretStrategy } from '../../../apiserver/registry/resources/core/secret.js';
import { configMapStrategy } from '../../../apiserver/registry/resources/core/configmap.js';
import { crdStrategy } from '../../../apiserver/registry/resources/apiextensions/crd.js';
import { hpaStrategy } from '../../../apiserver/registry/resources/autoscaling/hpa.js';
import { roleBindingStrategy } from '../../../apiserver/registry/resources/rbac/rbac.js';
import type { KObject } from '../../../pkg/api/types.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function create(s: Strategy, o: Any): { obj: Any; errs: string[] } {
  const obj = JSON.parse(JSON.stringify(o)) as KObject;
  s.prepareForCreate?.(obj);
  s.defaults?.(obj);
  return { obj, errs: (s.validate?.(obj) ?? []).map((e) => `${e.field}: ${e.message}`) };
}

function update(s: Strategy, old: Any, mutate: (o: Any) => void): string[] {
  const next = JSON.parse(JSON.stringify(old));
  mutate(next);
  s.defaults?.(next);
  s.prepareForUpdate?.(next, old);
  return [...(s.validate?.(next) ?? []), ...(s.validateUpdate?.(next, old) ?? [])].map((e) => `${e.field}: ${e.message}`);
}

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] } },
  },
});

test('a valid Deployment validates clean after defaults, with Kubernetes defaults', (t) => {
  const { obj, errs } = create(deploymentStrategy, deployment());
  t.deepEqual(errs, []);
  t.is(obj.spec.replicas, 1);
  t.deepEqual(obj.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  t.is(obj.spec.revisionHistoryLimit, 10);
  t.is(obj.spec.progressDeadlineSeconds, 600);
  const ps = obj.spec.template.spec;
  t.is(ps.restartPolicy, 'Always');
  t.is(ps.dnsPolicy, 'ClusterFirst');
  t.is(ps.schedulerName, 'default-scheduler');
  t.is(ps.terminationGracePeriodSeconds, 30);
  t.deepEqual(ps.securityContext, {});
  t.is(ps.containers[0].imagePullPolicy, 'IfNotPresent');
  t.is(ps.containers[0].terminationMessagePath, '/dev/termination-log');
  t.is(ps.containers[0].terminationMessagePolicy, 'File');
  t.is(ps.containers[0].ports[0].protocol, 'TCP');
  t.is(deploymentStrategy.scale!.selector(obj), 'app=web');
});

test('Deployment mistakes name the field', (t) => {
  let d: Any = deployment();
  d.spec.template.metadata.labels = { app: 'other' };
  t.deepEqual(create(deploymentStrategy, d).errs, [
    'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
  ]);
  d = deployment();
  delete d.spec.selector;
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.selector: Required value']);
  d = deployment();
  d.spec.replicas = -1;
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
  d = deployment();
  d.spec.template.spec.containers[0].image = '';
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.containers[0].image: Required value']);
  d = deployment();
  d.spec.template.spec.containers.push({ name: 'nginx', image: 'x' });
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.containers[1].name: Duplicate value: "nginx"']);
  d = deployment();
  d.spec.template.spec.containers[0].ports[0].containerPort = 70000;
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive']);
  d = deployment();
  d.spec.template.spec.restartPolicy = 'Never';
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']);
  d = deployment();
  d.spec.template.spec.containers[0].resources = { requests: { cpu: '2' }, limits: { cpu: '1' } };
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']);
  d = deployment();
  d.spec.template.spec.containers[0].resources = { limits: { memory: '1Gb' } };
  t.is(create(deploymentStrategy, d).errs[0].split(':')[0], 'spec.template.spec.containers[0].resources.limits[memory]');
  d = deployment();
  d.spec.template.spec.containers[0].env = [{ name: '1BAD', value: 'x' }];
  t.is(create(deploymentStrategy, d).errs[0].split(':')[0], 'spec.template.spec.containers[0].env[0].name');
  d = deployment();
  d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 0 } };
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0']);
  d = deployment();
  d.spec.template.spec.containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }];
  t.deepEqual(create(deploymentStrategy, d).errs, ['spec.template.spec.containers[0].volumeMounts[0].name: Not found: "data"']);
});

test('Deployment selector is immutable', (t) => {
  const { obj } = create(deploymentStrategy, deployment());
  const errs = update(deploymentStrategy, obj, (o) => {
    o.spec.selector = { matchLabels: { app: 'web2' } };
    o.spec.template.metadata.labels = { app: 'web2' };
  });
  t.is(errs.length, 1);
  t.true(errs[0].startsWith('spec.selector: Invalid value:'));
  t.true(errs[0].endsWith('field is immutable'));
  t.deepEqual(update(deploymentStrategy, obj, (o) => (o.spec.replicas = 5)), []);
});

const pod = () => ({ metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } });

test('a valid Pod validates clean after defaults; status and QoS set on create', (t) => {
  const { obj, errs } = create(podStrategy, pod());
  t.deepEqual(errs, []);
  t.is(obj.spec.containers[0].imagePullPolicy, 'Always');
  t.is(obj.spec.enableServiceLinks, true);
  t.deepEqual(obj.status, { phase: 'Pending', qosClass: 'BestEffort' });
  const g: Any = pod();
  g.spec.containers[0].resources = { limits: { cpu: '1', memory: '1Gi' } };
  const made = create(podStrategy, g);
  t.is(made.obj.status.qosClass, 'Guaranteed');
  t.deepEqual(made.obj.spec.containers[0].resources.requests, { cpu: '1', memory: '1Gi' });
  const b: Any = pod();
  b.spec.containers[0].resources = { requests: { cpu: '100m' } };
  t.is(create(podStrategy, b).obj.status.qosClass, 'Burstable');
});

test('image pull policy defaults by tag', (t) => {
  const p = (image: string) => {
    const o: Any = pod();
    o.spec.containers[0].image = image;
    return create(podStrategy, o).obj.spec.containers[0].imagePullPolicy;
  };
  t.is(p('nginx'), 'Always');
  t.is(p('nginx:latest'), 'Always');
  t.is(p('nginx:1.27'), 'IfNotPresent');
  t.is(p('localhost:5000/app'), 'Always');
  t.is(p('localhost:5000/app:v1'), 'IfNotPresent');
  t.is(p('app@sha256:abc'), 'IfNotPresent');
});

test('Pod mistakes and updates', (t) => {
  const o: Any = pod();
  o.spec.containers = [];
  t.deepEqual(create(podStrategy, o).errs, ['spec.containers: Required value']);
  const n: Any = pod();
  n.spec.containers[0].name = 'Bad_Name';
  t.is(create(podStrategy, n).errs[0].split(': ')[0], 'spec.containers[0].name');
  const { obj } = create(podStrategy, pod());
  t.deepEqual(update(podStrategy, obj, (x) => (x.spec.containers[0].image = 'busybox:1.36')), []);
  t.deepEqual(update(podStrategy, obj, (x) => (x.spec.nodeName = 'node-1')), []);
  t.deepEqual(update(podStrategy, obj, (x) => (x.spec.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }])), []);
  const errs = update(podStrategy, obj, (x) => (x.spec.containers[0].command = ['true']));
  t.is(errs.length, 1);
  t.true(errs[0].startsWith('spec: Forbidden: pod updates may not change fields other than'));
  const bound = JSON.parse(JSON.stringify(obj));
  bound.spec.nodeName = 'node-1';
  t.is(update(podStrategy, bound, (x) => (x.spec.nodeName = 'node-2')).length, 1);
});

test('Service defaults, validation and clusterIP immutability', (t) => {
  const svc = { metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } };
  const { obj, errs } = create(serviceStrategy, svc);
  t.deepEqual(errs, []);
  t.is(obj.spec.type, 'ClusterIP');
  t.is(obj.spec.sessionAffinity, 'None');
  t.deepEqual(obj.spec.ports, [{ port: 80, protocol: 'TCP', targetPort: 80 }]);
  t.is(obj.spec.internalTrafficPolicy, 'Cluster');
  t.is(obj.spec.ipFamilyPolicy, 'SingleStack');
  t.deepEqual(obj.spec.ipFamilies, ['IPv4']);
  const two: Any = { metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ port: 80 }, { port: 443 }] } };
  t.deepEqual(create(serviceStrategy, two).errs, ['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value']);
  two.spec.ports = [{ name: 'a', port: 80 }, { name: 'a', port: 0 }];
  t.deepEqual(create(serviceStrategy, two).errs, ['spec.ports[1].name: Duplicate value: "a"', 'spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive', 'spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive']);
  two.spec = { type: 'Bogus', ports: [{ port: 80, nodePort: 30080 }] };
  t.deepEqual(create(serviceStrategy, two).errs, ['spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"']);
  const np: Any = { metadata: { name: 'web', namespace: 'default' }, spec: { type: 'ClusterIP', ports: [{ port: 80, nodePort: 30080 }] } };
  t.deepEqual(create(serviceStrategy, np).errs, ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
  const stored = { ...obj, spec: { ...obj.spec, clusterIP: '10.43.0.10', clusterIPs: ['10.43.0.10'] } };
  t.deepEqual(update(serviceStrategy, stored, (x) => (x.spec.clusterIP = '10.43.0.11')), ['spec.clusterIP: Invalid value: "10.43.0.11": field is immutable']);
  t.deepEqual(update(serviceStrategy, stored, (x) => delete x.spec.clusterIP), []);
});

const cronJob = () => ({
  metadata: { name: 'tick', namespace: 'default' },
  spec: {
    schedule: '*/5 * * * *',
    jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox:1.36' }] } } } },
  },
});

test('a valid CronJob validates clean after defaults', (t) => {
  const { obj, errs } = create(cronJobStrategy, cronJob());
  t.deepEqual(errs, []);
  t.is(obj.spec.concurrencyPolicy, 'Allow');
  t.is(obj.spec.suspend, false);
  t.is(obj.spec.successfulJobsHistoryLimit, 3);
  t.is(obj.spec.failedJobsHistoryLimit, 1);
  for (const s of ['@hourly', '0 0 * * 0', '0 9-17 * * MON-FRI', '15,45 */2 1 JAN *', '@every 1h30m']) {
    const c: Any = cronJob();
    c.spec.schedule = s;
    t.deepEqual(create(cronJobStrategy, c).errs, [], s);
  }
});

test('CronJob mistakes', (t) => {
  let c: Any = cronJob();
  c.spec.schedule = 'every minute';
  t.deepEqual(create(cronJobStrategy, c).errs, ['spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]']);
  c = cronJob();
  c.spec.schedule = '61 * * * *';
  t.deepEqual(create(cronJobStrategy, c).errs, ['spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61']);
  c = cronJob();
  delete c.spec.schedule;
  t.deepEqual(create(cronJobStrategy, c).errs, ['spec.schedule: Required value']);
  c = cronJob();
  c.spec.jobTemplate.spec.template.spec.restartPolicy = 'Always';
  t.deepEqual(create(cronJobStrategy, c).errs, ['spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"']);
  c = cronJob();
  delete c.spec.jobTemplate.spec.template.spec.restartPolicy;
  t.is(create(cronJobStrategy, c).errs.length, 1);
  c = cronJob();
  c.spec.timeZone = 'Mars/Olympus';
  t.deepEqual(create(cronJobStrategy, c).errs, ['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus']);
  c = cronJob();
  c.spec.timeZone = 'Europe/Paris';
  t.deepEqual(create(cronJobStrategy, c).errs, []);
  t.is(cronJobStrategy.nameValidator!('a'.repeat(53))[0], 'must be no more than 52 characters');
});

test('Job: generated selector, defaults, immutability', (t) => {
  const job: Any = { metadata: { name: 'pi', namespace: 'default', uid: 'u-1' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl' }] } } } };
  const { obj, errs } = create(jobStrategy, job);
  t.deepEqual(errs, []);
  t.deepEqual(obj.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } });
  t.is(obj.spec.template.metadata.labels['job-name'], 'pi');
  t.is(obj.spec.backoffLimit, 6);
  t.is(obj.spec.completions, 1);
  t.is(obj.spec.parallelism, 1);
  t.is(obj.spec.completionMode, 'NonIndexed');
  t.is(obj.spec.suspend, false);
  const errs2 = update(jobStrategy, obj, (x) => (x.spec.template.spec.containers[0].image = 'perl:5'));
  t.deepEqual(errs2.map((e) => e.split(':')[0]), ['spec.template']);
  t.deepEqual(update(jobStrategy, obj, (x) => (x.spec.parallelism = 3)), []);
  const bad: Any = { metadata: { name: 'x', namespace: 'd' }, spec: { parallelism: -1, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } };
  t.deepEqual(create(jobStrategy, bad).errs, ['spec.parallelism: Invalid value: -1: must be greater than or equal to 0']);
});

test('StatefulSet and DaemonSet', (t) => {
  const sts: Any = { metadata: { name: 'db', namespace: 'd' }, spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
  const { obj, errs } = create(statefulSetStrategy, sts);
  t.deepEqual(errs, []);
  t.is(obj.spec.podManagementPolicy, 'OrderedReady');
  t.deepEqual(obj.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
  t.deepEqual(update(statefulSetStrategy, obj, (x) => (x.spec.replicas = 3)), []);
  const e = update(statefulSetStrategy, obj, (x) => (x.spec.serviceName = 'other'));
  t.is(e.length, 1);
  t.true(e[0].startsWith('spec: Forbidden: updates to statefulset spec for fields other than'));
  const ds: Any = { metadata: { name: 'agent', namespace: 'd' }, spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } };
  const made = create(daemonSetStrategy, ds);
  t.deepEqual(made.errs, []);
  t.deepEqual(made.obj.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
});

test('Namespace, Secret, ConfigMap', (t) => {
  const ns = create(namespaceStrategy, { metadata: { name: 'team-a' } });
  t.deepEqual(ns.errs, []);
  t.deepEqual(ns.obj.spec, { finalizers: ['kubernetes'] });
  t.deepEqual(ns.obj.status, { phase: 'Active' });
  t.is(ns.obj.metadata.labels['kubernetes.io/metadata.name'], 'team-a');
  const sec = create(secretStrategy, { metadata: { name: 's', namespace: 'd' }, stringData: { password: 'hunter2' }, data: { user: 'YWRtaW4=' } });
  t.deepEqual(sec.errs, []);
  t.is(sec.obj.type, 'Opaque');
  t.deepEqual(sec.obj.data, { user: 'YWRtaW4=', password: Buffer.from('hunter2').toString('base64') });
  t.is(sec.obj.stringData, undefined);
  const bad = create(secretStrategy, { metadata: { name: 's', namespace: 'd' }, data: { 'bad/key': 'eA==', ok: 'not base64!' } });
  t.deepEqual(bad.errs.map((e) => e.split(': ')[0]), ['data[bad/key]', 'data[ok]']);
  const imm = { metadata: { name: 'c', namespace: 'd' }, immutable: true, data: { a: '1' } };
  t.deepEqual(update(configMapStrategy, imm, (x) => (x.data.a = '2')), ['data: Forbidden: field is immutable when `immutable` is set']);
  t.deepEqual(update(configMapStrategy, { ...imm, immutable: false }, (x) => (x.data.a = '2')), []);
  const big = create(configMapStrategy, { metadata: { name: 'c', namespace: 'd' }, data: { a: 'x'.repeat(1024 * 1024 + 1) } });
  t.is(big.errs.length, 1);
});

test('CRD validation', (t) => {
  const crd = {
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }],
    },
  };
  const { obj, errs } = create(crdStrategy, crd);
  t.deepEqual(errs, []);
  t.is(obj.spec.names.singular, 'widget');
  t.is(obj.spec.names.listKind, 'WidgetList');
  t.deepEqual(obj.status.storedVersions, ['v1']);
  const bad: Any = JSON.parse(JSON.stringify(crd));
  bad.metadata.name = 'widget.example.com';
  bad.spec.versions.push({ name: 'v2', served: true, storage: true });
  t.deepEqual(create(crdStrategy, bad).errs, [
    'metadata.name: Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group',
    'spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required',
    'spec.versions: Invalid value: ["v1","v2"]: must have exactly one version marked as storage version',
  ]);
});

test('HPA and RoleBinding', (t) => {
  const hpa = create(hpaStrategy, { metadata: { name: 'web', namespace: 'd' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 5 } });
  t.deepEqual(hpa.errs, []);
  t.is(hpa.obj.spec.minReplicas, 1);
  t.is(hpa.obj.spec.metrics[0].resource.target.averageUtilization, 80);
  const bad = create(hpaStrategy, { metadata: { name: 'web', namespace: 'd' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, minReplicas: 6, maxReplicas: 5 } });
  t.deepEqual(bad.errs, ['spec.minReplicas: Invalid value: 6: must be less than or equal to `maxReplicas`']);
  const rb = create(roleBindingStrategy, { metadata: { name: 'rb', namespace: 'd' }, roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'User', name: 'alice' }] });
  t.deepEqual(rb.errs, []);
  t.is(rb.obj.roleRef.apiGroup, 'rbac.authorization.k8s.io');
  t.deepEqual(update(roleBindingStrategy, rb.obj, (x) => (x.roleRef.name = 'other')).map((e) => e.split(':')[0]), ['roleRef']);
});
