import test from 'ava';
import type { KObject } from '../../pkg/api/types.js';
import { EnvError, finalEnv, resolveEnv } from '../../kubelet/envvars.js';
import { buildSpec } from '../../kubelet/runtime/oci/spec.js';
import type { ObjectSource } from '../../kubelet/volumes/sources.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** ConfigMaps and Secrets of namespace ns1 as test data. */
function objects(configMaps: Record<string, Record<string, string>>, secrets: Record<string, Record<string, string>>): ObjectSource {
  const b64 = (v: Record<string, string>) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, Buffer.from(x).toString('base64')]));
  return {
    async configMap(ns, name) {
      return ns === 'ns1' && configMaps[name] ? { kind: 'ConfigMap', metadata: { name, namespace: ns }, data: configMaps[name] } : undefined;
    },
    async secret(ns, name) {
      return ns === 'ns1' && secrets[name] ? { kind: 'Secret', metadata: { name, namespace: ns }, data: b64(secrets[name]) } : undefined;
    },
  };
}

const sources = objects(
  { cfg: { LOG_LEVEL: 'debug', MODE: 'fast', 'bad key': 'x', '1STARTS_WITH_DIGIT': 'y', 'dotted.name': 'ok', PRICE: 'costs $(MONEY)' } },
  { creds: { USER: 'admin', PASS: 'p@ss$word' } },
);

const opts = { nodeName: 'node-a', hostIP: '10.0.0.1', podIP: '10.244.1.7', allocatable: { cpu: '4', memory: '8Gi', ephemeralStorage: '100Gi' } };

function pod(container: Json, extra: Json = {}): KObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'ns1', uid: 'uid-1', labels: { app: 'web' }, annotations: { owner: 'team-a' } },
    spec: { nodeName: 'node-a', serviceAccountName: 'builder', containers: [container], ...extra },
  };
}

async function envOf(container: Json, extra: Json = {}, o: Json = opts): Promise<Map<string, string>> {
  return finalEnv(await resolveEnv(pod(container, extra), container, sources, o as typeof opts));
}

test('envFrom first, then env; env wins; $(VAR) left for the spec builder', async (t) => {
  const c = {
    name: 'app',
    envFrom: [{ configMapRef: { name: 'cfg' } }, { secretRef: { name: 'creds' }, prefix: 'DB_' }],
    env: [{ name: 'MODE', value: 'slow' }, { name: 'GREETING', value: 'hi $(DB_USER) in $(MODE)' }],
  };
  const list = await resolveEnv(pod(c), c, sources, opts);
  const names = list.map((e) => e.name);
  t.deepEqual(names.slice(0, 4), ['LOG_LEVEL', 'MODE', 'PRICE', 'dotted.name']);
  t.true(names.indexOf('DB_USER') < names.lastIndexOf('MODE'));
  t.deepEqual(list.at(-1), { name: 'GREETING', value: 'hi $(DB_USER) in $(MODE)' });
  const env = finalEnv(list);
  t.is(env.get('MODE'), 'slow');
  t.is(env.get('GREETING'), 'hi admin in slow');
  t.is(env.get('DB_PASS'), 'p@ss$word');
  t.is(env.get('LOG_LEVEL'), 'debug');
  // values from ConfigMaps/Secrets are never expanded
  t.is(env.get('PRICE'), 'costs $(MONEY)');
});

test('envFrom keys that are not valid names are skipped and reported', async (t) => {
  const c = { name: 'app', envFrom: [{ configMapRef: { name: 'cfg' } }] };
  const reported: string[][] = [];
  const list = await resolveEnv(pod(c), c, sources, { ...opts, onInvalidKeys: (keys) => reported.push(keys) });
  t.false(list.some((e) => e.name === 'bad key' || e.name === '1STARTS_WITH_DIGIT'));
  t.deepEqual(reported, [['1STARTS_WITH_DIGIT', 'bad key']]);
  // a prefix can make a key valid
  const p = { name: 'app', envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'X_' }] };
  t.is((await envOf(p)).get('X_1STARTS_WITH_DIGIT'), 'y');
});

test('fieldRef: metadata, labels/annotations subscripts, spec and status fields', async (t) => {
  const ref = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const env = await envOf({
    name: 'app',
    env: [
      ref('NAME', 'metadata.name'), ref('NS', 'metadata.namespace'), ref('UID', 'metadata.uid'),
      ref('APP', "metadata.labels['app']"), ref('OWNER', "metadata.annotations['owner']"),
      ref('NODE', 'spec.nodeName'), ref('SA', 'spec.serviceAccountName'),
      ref('HOST_IP', 'status.hostIP'), ref('HOST_IPS', 'status.hostIPs'), ref('POD_IP', 'status.podIP'), ref('POD_IPS', 'status.podIPs'),
    ],
  });
  t.deepEqual(Object.fromEntries(env), {
    NAME: 'web-1', NS: 'ns1', UID: 'uid-1', APP: 'web', OWNER: 'team-a', NODE: 'node-a', SA: 'builder',
    HOST_IP: '10.0.0.1', HOST_IPS: '10.0.0.1', POD_IP: '10.244.1.7', POD_IPS: '10.244.1.7',
  });
  const dual = await envOf({ name: 'app', env: [ref('POD_IPS', 'status.podIPs')] }, {}, { ...opts, podIPs: ['10.244.1.7', 'fd00::7'] });
  t.is(dual.get('POD_IPS'), '10.244.1.7,fd00::7');
  await t.throwsAsync(envOf({ name: 'app', env: [ref('X', 'spec.bogus')] }), { instanceOf: EnvError, message: /unsupported fieldPath/ });
});

test('resourceFieldRef: divisors round up, unset limits default to allocatable, other containers by name', async (t) => {
  const res = (name: string, resource: string, divisor?: string, containerName?: string) => ({ name, valueFrom: { resourceFieldRef: { resource, divisor, containerName } } });
  const c = {
    name: 'app',
    resources: { limits: { cpu: '1500m', memory: '129Mi' }, requests: { cpu: '250m', memory: '64Mi' } },
    env: [
      res('CPU_LIMIT', 'limits.cpu'), res('CPU_LIMIT_M', 'limits.cpu', '1m'), res('CPU_REQ', 'requests.cpu'), res('CPU_REQ_M', 'requests.cpu', '1m'),
      res('MEM_LIMIT', 'limits.memory'), res('MEM_LIMIT_MI', 'limits.memory', '1Mi'), res('MEM_LIMIT_GI', 'limits.memory', '1Gi'), res('MEM_REQ_MI', 'requests.memory', '1Mi'),
      res('EPH_LIMIT_GI', 'limits.ephemeral-storage', '1Gi'), res('EPH_REQ', 'requests.ephemeral-storage'),
      res('SIDE_CPU', 'limits.cpu', undefined, 'side'), res('SIDE_MEM_REQ', 'requests.memory', undefined, 'side'),
    ],
  };
  const env = await envOf(c, { containers: [c, { name: 'side', resources: { limits: { memory: '32Mi' } } }] });
  t.is(env.get('CPU_LIMIT'), '2');
  t.is(env.get('CPU_LIMIT_M'), '1500');
  t.is(env.get('CPU_REQ'), '1');
  t.is(env.get('CPU_REQ_M'), '250');
  t.is(env.get('MEM_LIMIT'), String(129 * 1024 * 1024));
  t.is(env.get('MEM_LIMIT_MI'), '129');
  t.is(env.get('MEM_LIMIT_GI'), '1');
  t.is(env.get('MEM_REQ_MI'), '64');
  t.is(env.get('EPH_LIMIT_GI'), '100');
  t.is(env.get('EPH_REQ'), '0');
  t.is(env.get('SIDE_CPU'), '4');
  // an unset request follows the limit the user set
  t.is(env.get('SIDE_MEM_REQ'), String(32 * 1024 * 1024));
});

test('configMapKeyRef/secretKeyRef: values, missing objects and keys, optional', async (t) => {
  const cmRef = (name: string, cm: string, key: string, optional?: boolean) => ({ name, valueFrom: { configMapKeyRef: { name: cm, key, optional } } });
  const secRef = (name: string, s: string, key: string, optional?: boolean) => ({ name, valueFrom: { secretKeyRef: { name: s, key, optional } } });
  const env = await envOf({
    name: 'app',
    envFrom: [{ configMapRef: { name: 'absent', optional: true } }, { secretRef: { name: 'absent', optional: true } }],
    env: [cmRef('LEVEL', 'cfg', 'LOG_LEVEL'), secRef('PASSWORD', 'creds', 'PASS'), cmRef('GONE', 'absent', 'k', true), secRef('GONE2', 'creds', 'nokey', true), cmRef('GONE3', 'cfg', 'nokey', true)],
  });
  t.deepEqual(Object.fromEntries(env), { LEVEL: 'debug', PASSWORD: 'p@ss$word' });

  const fails: [Json, string][] = [
    [{ env: [cmRef('X', 'absent', 'k')] }, 'configmap "absent" not found'],
    [{ env: [cmRef('X', 'cfg', 'k')] }, "couldn't find key k in ConfigMap ns1/cfg"],
    [{ env: [secRef('X', 'absent', 'k')] }, 'secret "absent" not found'],
    [{ env: [secRef('X', 'creds', 'k')] }, "couldn't find key k in Secret ns1/creds"],
    [{ envFrom: [{ configMapRef: { name: 'absent' } }] }, 'configmap "absent" not found'],
    [{ envFrom: [{ secretRef: { name: 'absent' } }] }, 'secret "absent" not found'],
  ];
  for (const [c, message] of fails) {
    const err = await t.throwsAsync(envOf({ name: 'app', ...c }), { instanceOf: EnvError });
    t.is(err.message, message);
    t.is(err.reason, 'CreateContainerConfigError');
  }
});

test('an optional ref that is missing leaves the envFrom value in place', async (t) => {
  const env = await envOf({
    name: 'app',
    envFrom: [{ configMapRef: { name: 'cfg' } }],
    env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'absent', key: 'MODE', optional: true } } }],
  });
  t.is(env.get('MODE'), 'fast');
});

test('escapeLiterals: false gives the plain values', async (t) => {
  const c = { name: 'app', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'PASS' } } }] };
  t.deepEqual(await resolveEnv(pod(c), c, sources, { ...opts, escapeLiterals: false }), [{ name: 'P', value: 'p@ss$word' }]);
  t.deepEqual(await resolveEnv(pod(c), c, sources, opts), [{ name: 'P', value: 'p@ss$$word' }]);
});

test('fed to buildSpec, the container sees Kubernetes values', async (t) => {
  const c = {
    name: 'app', command: ['/bin/true'],
    envFrom: [{ configMapRef: { name: 'cfg' } }],
    env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'PASS' } } }, { name: 'MSG', value: '$(LOG_LEVEL)-$(P)' }],
  };
  const p = pod(c, { hostNetwork: true });
  const env = await resolveEnv(p, c, sources, opts);
  const spec = buildSpec({ pod: p, container: c, rootfs: '/tmp/rootfs', cgroupsPath: '/skiff/x', env });
  t.true(spec.process.env.includes('P=p@ss$word'));
  t.true(spec.process.env.includes('PRICE=costs $(MONEY)'));
  t.true(spec.process.env.includes('MSG=debug-p@ss$word'));
});
