// Service environment variables (kubelet's getServiceEnvVarMap and envvars.FromServices).
import test from 'ava';
import { resolveEnv, serviceEnvVars, serviceLinkVars } from '../../../kubelet/envvars.js';
import type { KObject } from '../../../pkg/api/types.js';

const svc = (ns: string, name: string, clusterIP: string, ports: Record<string, unknown>[]): KObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP, ports } }) as KObject;
const kubernetes = svc('default', 'kubernetes', '10.43.0.1', [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }]);
const web = svc('app', 'web-front', '10.43.0.20', [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }]);
const headless = svc('app', 'db', 'None', [{ port: 5432 }]);
const pod = (spec: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'app' }, spec: { containers: [{ name: 'c' }], ...spec } }) as KObject;
const asMap = (l: { name: string; value: string }[]) => Object.fromEntries(l.map((e) => [e.name, e.value]));

test('the kubernetes Service gives every pod the API server address', (t) => {
  t.deepEqual(asMap(serviceLinkVars([kubernetes])), {
    KUBERNETES_SERVICE_HOST: '10.43.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.43.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.43.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.43.0.1',
  });
});

test('links of the namespace Services unless enableServiceLinks is false; headless ones never', (t) => {
  const all = asMap(serviceEnvVars(pod(), [kubernetes, web, headless, svc('other', 'elsewhere', '10.43.0.9', [{ port: 1 }])]));
  t.is(all.WEB_FRONT_SERVICE_HOST, '10.43.0.20');
  t.is(all.WEB_FRONT_SERVICE_PORT, '80');
  t.is(all.WEB_FRONT_SERVICE_PORT_DNS, '53');
  t.is(all.WEB_FRONT_PORT, 'tcp://10.43.0.20:80');
  t.is(all.WEB_FRONT_PORT_53_UDP, 'udp://10.43.0.20:53');
  t.is(all.WEB_FRONT_PORT_53_UDP_PROTO, 'udp');
  t.is(all.WEB_FRONT_PORT_80_TCP_ADDR, '10.43.0.20');
  t.is(all.KUBERNETES_SERVICE_HOST, '10.43.0.1');
  t.false(Object.keys(all).some((k) => k.startsWith('DB_') || k.startsWith('ELSEWHERE_')));
  const off = asMap(serviceEnvVars(pod({ enableServiceLinks: false }), [kubernetes, web]));
  t.is(off.KUBERNETES_SERVICE_HOST, '10.43.0.1');
  t.false('WEB_FRONT_SERVICE_HOST' in off);
});

test('resolveEnv puts service variables first and lets the container override them', async (t) => {
  const asked: string[] = [];
  const sources = {
    configMap: async () => undefined,
    secret: async () => undefined,
    services: async (ns: string) => (asked.push(ns), ns === 'default' ? [kubernetes] : [web]),
  };
  const p = pod();
  const env = await resolveEnv(p, { name: 'c', env: [{ name: 'KUBERNETES_SERVICE_PORT', value: '8443' }, { name: 'URL', value: 'http://$(WEB_FRONT_SERVICE_HOST)' }] }, sources, { nodeName: 'n', hostIP: '1.1.1.1', podIP: '2.2.2.2' });
  t.deepEqual(asked.sort(), ['app', 'default']);
  t.is(env.filter((e) => e.name === 'KUBERNETES_SERVICE_PORT').length, 1);
  t.is(asMap(env).KUBERNETES_SERVICE_PORT, '8443');
  t.true(env.findIndex((e) => e.name === 'WEB_FRONT_SERVICE_HOST') < env.findIndex((e) => e.name === 'URL'));
});
