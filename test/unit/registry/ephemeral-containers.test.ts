import test from 'ava';
import { ephemeralContainersWrite, podStrategy } from '../../../apiserver/registry/resources/core/pod.js';
import { validatePodTemplateSpec } from '../../../apiserver/registry/resources/core/pod-spec.js';
import type { KObject } from '../../../pkg/api/types.js';
import { StatusError } from '../../../apiserver/status.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function runningPod(eph?: Any[]): KObject {
  const p: Any = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: {
      nodeName: 'n1',
      initContainers: [{ name: 'setup', image: 'busybox' }],
      containers: [{ name: 'main', image: 'busybox' }],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
    status: { phase: 'Running' },
  };
  if (eph) p.spec.ephemeralContainers = eph;
  podStrategy.defaults!(p);
  return p;
}

/** What the ephemeralcontainers subresource does with a request: keep only the list, default, validate. */
function write(old: KObject, eph: Any[]): { obj: Any; errs: string[] } {
  const req: Any = JSON.parse(JSON.stringify(old));
  req.spec.ephemeralContainers = eph;
  req.spec.containers[0].image = 'ignored:2';
  const obj = ephemeralContainersWrite.prepare(req, old) as Any;
  podStrategy.defaults!(obj);
  const errs = [...(podStrategy.validate!(obj) ?? []), ...ephemeralContainersWrite.validate(obj, old)].map((e) => `${e.field}: ${e.message}`);
  return { obj, errs };
}

const dbg = { name: 'dbg', image: 'busybox', targetContainerName: 'main', stdin: true, tty: true };

test('adding an ephemeral container keeps everything else as stored and defaults it like a container', (t) => {
  const { obj, errs } = write(runningPod(), [dbg]);
  t.deepEqual(errs, []);
  t.is(obj.spec.containers[0].image, 'busybox', 'only spec.ephemeralContainers is taken from the request');
  t.is(obj.status.phase, 'Running');
  const e = obj.spec.ephemeralContainers[0];
  t.is(e.terminationMessagePath, '/dev/termination-log');
  t.is(e.terminationMessagePolicy, 'File');
  t.is(e.imagePullPolicy, 'Always');
  t.deepEqual(e.resources, {});
});

test('existing ephemeral containers may not be removed or changed', (t) => {
  const old = runningPod([dbg]);
  t.deepEqual(write(old, []).errs, ['spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may not be removed\n']);
  const changed = write(old, [{ ...dbg, image: 'alpine' }]).errs;
  t.is(changed.length, 1);
  t.regex(changed[0]!, /^spec\.ephemeralContainers\[dbg\]: Forbidden: existing ephemeral containers "dbg" may not be changed/);
  // Adding one more, in any order, is fine.
  t.deepEqual(write(old, [{ name: 'two', image: 'busybox' }, { ...dbg, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'Always', resources: {} }]).errs, []);
});

test('fields an ephemeral container may not have are forbidden with their path', (t) => {
  const { errs } = write(runningPod(), [
    {
      name: 'bad',
      image: 'busybox',
      ports: [{ containerPort: 80 }],
      readinessProbe: { exec: { command: ['true'] } },
      lifecycle: { preStop: { exec: { command: ['true'] } } },
      resources: { limits: { cpu: '1' } },
      restartPolicy: 'Always',
      volumeMounts: [{ name: 'data', mountPath: '/d', subPath: 'x' }],
    },
  ]);
  for (const f of ['ports', 'readinessProbe', 'lifecycle', 'resources', 'restartPolicy', 'volumeMounts[0].subPath']) {
    t.true(errs.includes(`spec.ephemeralContainers[0].${f}: Forbidden: cannot be set for an Ephemeral Container`), `${f} in ${errs.join(' | ')}`);
  }
});

test('name unique among all containers, image required, target must be a regular or init container', (t) => {
  const { errs } = write(runningPod(), [
    { name: 'main', image: 'busybox' },
    { name: 'noimage' },
    { name: 'x', image: 'busybox', targetContainerName: 'nope' },
    { name: 'y', image: 'busybox', targetContainerName: 'x' },
    { name: 'z', image: 'busybox', targetContainerName: 'setup' },
  ]);
  t.deepEqual(errs.sort(), [
    'spec.ephemeralContainers[0].name: Duplicate value: "main"',
    'spec.ephemeralContainers[1].image: Required value',
    'spec.ephemeralContainers[2].targetContainerName: Not found: "nope"',
    'spec.ephemeralContainers[3].targetContainerName: Not found: "x"',
  ]);
});

test('a normal pod update may not touch spec.ephemeralContainers, and a pod may not be created with them', (t) => {
  const old = runningPod([dbg]);
  const next: Any = JSON.parse(JSON.stringify(old));
  next.spec.ephemeralContainers.push({ name: 'two', image: 'busybox' });
  podStrategy.defaults!(next);
  t.is(podStrategy.validateUpdate!(next, old)[0]?.field, 'spec');
  const created: Any = { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'b' }], ephemeralContainers: [dbg] } };
  const err = t.throws(() => podStrategy.prepareForCreate!(created)) as StatusError;
  t.true(err instanceof StatusError);
  t.is(err.code, 422);
  t.regex(JSON.stringify(err.details), /spec\.ephemeralContainers.*cannot be set on create/);
});

test('pod templates may not hold ephemeral containers', (t) => {
  const errs = validatePodTemplateSpec({ metadata: {}, spec: { containers: [{ name: 'a', image: 'b' }], ephemeralContainers: [{ name: 'c', image: 'd' }] } }, 'spec.template').map((e) => `${e.field}: ${e.message}`);
  t.true(errs.includes('spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template'));
});

test('static pods do not support ephemeral containers', (t) => {
  const old = runningPod();
  old.metadata.annotations = { 'kubernetes.io/config.mirror': 'abc' };
  t.deepEqual(write(old, [dbg]).errs, [': Forbidden: static pods do not support ephemeral containers']);
});
