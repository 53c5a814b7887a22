import test from 'ava';
import { parseProxyPath, proxyRequestOf, rewriteLocation, splitSchemeNamePort } from '../../../apiserver/http/proxy-path.js';
import { isGlobalUnicast } from '../../../apiserver/http/proxy.js';
import { StatusError } from '../../../apiserver/status.js';

test('splitSchemeNamePort: name, name:port, scheme:name:port', (t) => {
  t.deepEqual(splitSchemeNamePort('web'), { scheme: '', name: 'web', port: '' });
  t.deepEqual(splitSchemeNamePort('web:80'), { scheme: '', name: 'web', port: '80' });
  t.deepEqual(splitSchemeNamePort('web:http'), { scheme: '', name: 'web', port: 'http' });
  t.deepEqual(splitSchemeNamePort('https:web:443'), { scheme: 'https', name: 'web', port: '443' });
  t.deepEqual(splitSchemeNamePort('http:web:'), { scheme: 'http', name: 'web', port: '' });
  // Two parts are always name:port, so `https:web` names a pod "https".
  t.deepEqual(splitSchemeNamePort('https:web'), { scheme: '', name: 'https', port: 'web' });
  t.is(splitSchemeNamePort('ftp:web:21'), undefined);
  t.is(splitSchemeNamePort(':80'), undefined);
  t.is(splitSchemeNamePort('a:b:c:d'), undefined);
});

test('parseProxyPath: pods, services and nodes, with and without a path', (t) => {
  t.like(parseProxyPath('/api/v1/namespaces/default/services/web:80/proxy/'), { resource: 'services', namespace: 'default', name: 'web', port: '80', scheme: '', path: '/', prefix: '/api/v1/namespaces/default/services/web:80/proxy' });
  t.like(parseProxyPath('/api/v1/namespaces/ns1/pods/https:p1:8443/proxy/a/b/'), { resource: 'pods', namespace: 'ns1', name: 'p1', port: '8443', scheme: 'https', path: '/a/b/' });
  t.like(parseProxyPath('/api/v1/namespaces/ns1/pods/p1/proxy'), { resource: 'pods', name: 'p1', port: '', path: '' });
  t.like(parseProxyPath('/api/v1/nodes/n1/proxy/pods'), { resource: 'nodes', namespace: undefined, name: 'n1', path: '/pods', prefix: '/api/v1/nodes/n1/proxy' });
  t.like(parseProxyPath('/api/v1/nodes/n1:10250/proxy/healthz'), { resource: 'nodes', name: 'n1', port: '10250' });
});

test('parseProxyPath: escapes in the backend path stay as sent; the ID is decoded', (t) => {
  const p = parseProxyPath('/api/v1/namespaces/default/services/web%3A80/proxy/a%20b/c%2Fd//e?x');
  t.like(p, { name: 'web', port: '80', path: '/a%20b/c%2Fd//e?x' });
  t.like(proxyRequestOf('/api/v1/namespaces/default/pods/p/proxy/x%2Fy?a=1&b=%20'), { path: { path: '/x%2Fy' }, rawQuery: 'a=1&b=%20' });
});

test('parseProxyPath: not a proxy path', (t) => {
  t.is(parseProxyPath('/api/v1/namespaces/default/pods/p/log'), undefined);
  t.is(parseProxyPath('/api/v1/namespaces/default/pods/p'), undefined);
  t.is(parseProxyPath('/api/v1/namespaces/default/configmaps/c/proxy'), undefined);
  t.is(parseProxyPath('/apis/apps/v1/namespaces/default/deployments/d/proxy'), undefined);
  t.is(parseProxyPath('/api/v1/nodes/n1'), undefined);
  t.is(parseProxyPath('/api/v1/namespaces//pods/p/proxy'), undefined);
});

test('parseProxyPath: bad IDs and dot segments are 400s', (t) => {
  const bad = (p: string) => {
    const e = t.throws(() => parseProxyPath(p));
    t.true(e instanceof StatusError && e.code === 400, p);
    return e!.message;
  };
  t.is(bad('/api/v1/namespaces/default/services/ftp:web:21/proxy/'), 'invalid service request "ftp:web:21"');
  t.is(bad('/api/v1/namespaces/default/pods/:80/proxy/'), 'invalid pod request ":80"');
  bad('/api/v1/nodes/a:b:c:d/proxy/');
  bad('/api/v1/namespaces/default/pods/p/proxy/../x');
  bad('/api/v1/namespaces/default/pods/p/proxy/a/%2e%2e/x');
  bad('/api/v1/namespaces/default/pods/p/proxy/%zz');
});

test('rewriteLocation: redirects to the backend go back through the proxy', (t) => {
  const prefix = '/api/v1/namespaces/default/services/web:80/proxy';
  const origin = 'https://127.0.0.1:6443';
  t.is(rewriteLocation('/login?next=%2F', '10.1.2.3:8080', prefix, origin), `${prefix}/login?next=%2F`);
  t.is(rewriteLocation('http://10.1.2.3:8080/a/', '10.1.2.3:8080', prefix, origin), `${origin}${prefix}/a/`);
  t.is(rewriteLocation('https://example.com/x', '10.1.2.3:8080', prefix, origin), 'https://example.com/x');
  t.is(rewriteLocation('sub/page', '10.1.2.3:8080', prefix, origin), 'sub/page');
  t.is(rewriteLocation(`${prefix}/already`, '10.1.2.3:8080', prefix, origin), `${prefix}/already`);
});

test('isGlobalUnicast: what the proxy may reach', (t) => {
  for (const ip of ['10.42.0.5', '192.168.1.1', '8.8.8.8', '2001:db8::1', 'fd00::1']) t.true(isGlobalUnicast(ip), ip);
  for (const ip of ['127.0.0.1', '0.0.0.0', '169.254.169.254', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', 'not-an-ip']) t.false(isGlobalUnicast(ip), ip);
  // Other spellings of the same addresses
  for (const ip of ['0:0:0:0:0:0:0:1', '0::0', '0:0::1', '::ffff:7f00:1', '::127.0.0.1', '::ffff:a9fe:a9fe', 'FE80::1', 'fe80::1%eth0', 'febf::1', 'FF02::1']) t.false(isGlobalUnicast(ip), ip);
  for (const ip of ['::ffff:10.0.0.1', '::ffff:a00:1', '2001:db8:0:0:0:0:0:1', 'fec0::1']) t.true(isGlobalUnicast(ip), ip);
});
