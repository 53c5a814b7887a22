// The ServiceAccount admission step of pod creation.
import test from 'ava';
import { admitPodServiceAccount, apiAccessVolume, randomVolumeSuffix, SERVICE_ACCOUNT_MOUNT_PATH } from '../../../apiserver/registry/resources/core/serviceaccount-admission.js';
import { StatusError } from '../../../apiserver/status.js';
import type { KObject } from '../../../pkg/api/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const accounts: Record<string, Json> = {
  'app/default': { metadata: { name: 'default', namespace: 'app', uid: 'u1' } },
  'app/quiet': { metadata: { name: 'quiet', namespace: 'app', uid: 'u2' }, automountServiceAccountToken: false },
  'app/puller': { metadata: { name: 'puller', namespace: 'app', uid: 'u3' }, imagePullSecrets: [{ name: 'regcred' }] },
};
const opts = { serviceAccount: (ns: string, n: string) => accounts[`${ns}/${n}`] as KObject | undefined, randomSuffix: () => 'x2b4z' };

function pod(spec: Json, annotations?: Record<string, string>): KObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'app', ...(annotations ? { annotations } : {}) }, spec } as KObject;
}

test('defaults the account and mounts the API access volume in every container', (t) => {
  const p = pod({ initContainers: [{ name: 'init', image: 'busybox' }], containers: [{ name: 'a', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { name: 'b', image: 'busybox' }], volumes: [{ name: 'data', emptyDir: {} }] });
  admitPodServiceAccount(p, opts);
  const spec = p.spec as Json;
  t.is(spec.serviceAccountName, 'default');
  t.is(spec.serviceAccount, 'default');
  t.deepEqual(spec.volumes, [{ name: 'data', emptyDir: {} }, apiAccessVolume('kube-api-access-x2b4z')]);
  const mount = { name: 'kube-api-access-x2b4z', readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
  t.deepEqual(spec.initContainers[0].volumeMounts, [mount]);
  t.deepEqual(spec.containers[0].volumeMounts, [{ name: 'data', mountPath: '/data' }, mount]);
  t.deepEqual(spec.containers[1].volumeMounts, [mount]);
  const v = apiAccessVolume('v').projected;
  t.is(v.defaultMode, 420);
  t.deepEqual(v.sources[0], { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } });
  t.deepEqual(v.sources[1], { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
  t.deepEqual(v.sources[2], { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } });
});

test('a missing account is forbidden with the Kubernetes message', (t) => {
  const e = t.throws(() => admitPodServiceAccount(pod({ serviceAccountName: 'ghost', containers: [{ name: 'a' }] }), opts), { instanceOf: StatusError }) as StatusError;
  t.is(e.code, 403);
  t.is(e.reason, 'Forbidden');
  t.is(e.message, 'pods "p" is forbidden: error looking up service account app/ghost: serviceaccount "ghost" not found');
  // Also the default one, in a namespace that has none yet.
  t.throws(() => admitPodServiceAccount({ ...pod({ containers: [{ name: 'a' }] }), metadata: { name: 'p', namespace: 'fresh' } } as KObject, opts), { message: /serviceaccount "default" not found/ });
});

test('mirror pods are left as they are', (t) => {
  const p = pod({ serviceAccountName: 'ghost', containers: [{ name: 'a' }] }, { 'kubernetes.io/config.mirror': 'abc' });
  const before = structuredClone(p);
  admitPodServiceAccount(p, opts);
  t.deepEqual(p, before);
});

test('automount can be turned off by the pod or the account; the pod wins', (t) => {
  const off = pod({ automountServiceAccountToken: false, containers: [{ name: 'a' }] });
  admitPodServiceAccount(off, opts);
  t.is((off.spec as Json).volumes, undefined);
  t.is((off.spec as Json).containers[0].volumeMounts, undefined);
  const quiet = pod({ serviceAccountName: 'quiet', containers: [{ name: 'a' }] });
  admitPodServiceAccount(quiet, opts);
  t.is((quiet.spec as Json).volumes, undefined);
  const forced = pod({ serviceAccountName: 'quiet', automountServiceAccountToken: true, containers: [{ name: 'a' }] });
  admitPodServiceAccount(forced, opts);
  t.is((forced.spec as Json).volumes.length, 1);
});

test('a container that mounts something at the path keeps it; the deprecated field is honoured', (t) => {
  const p = pod({ serviceAccount: 'puller', containers: [{ name: 'a', volumeMounts: [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }] }], volumes: [{ name: 'mine', secret: { secretName: 's' } }] });
  admitPodServiceAccount(p, opts);
  const spec = p.spec as Json;
  t.is(spec.serviceAccountName, 'puller');
  t.deepEqual(spec.volumes, [{ name: 'mine', secret: { secretName: 's' } }]);
  t.deepEqual(spec.containers[0].volumeMounts, [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }]);
  t.deepEqual(spec.imagePullSecrets, [{ name: 'regcred' }]);
});

test('generated suffixes use the Kubernetes alphabet', (t) => {
  for (let i = 0; i < 50; i++) t.regex(randomVolumeSuffix(), /^[bcdfghjklmnpqrstvwxz2456789]{5}$/);
});
