import test from 'ava';
import {
  isConfigMapKey,
  isDns1035Label,
  isDns1123Label,
  isDns1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidCIDR,
  isValidIP,
  isValidLabelValue,
  isValidPortName,
} from '../../../pkg/api/validation.js';

test('DNS-1123 subdomain: valid names and the Kubernetes message', (t) => {
  t.deepEqual(isDns1123Subdomain('example.com'), []);
  t.deepEqual(isDns1123Subdomain('a'), []);
  t.deepEqual(isDns1123Subdomain('web-1.default'), []);
  t.deepEqual(isDns1123Subdomain('Bad_Name'), [
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  ]);
  t.deepEqual(isDns1123Subdomain('a'.repeat(254)), ['must be no more than 253 characters']);
  t.is(isDns1123Subdomain('-a').length, 1);
  t.is(isDns1123Subdomain('a.').length, 1);
});

test('DNS-1123 label and DNS-1035 label', (t) => {
  t.deepEqual(isDns1123Label('123-abc'), []);
  t.deepEqual(isDns1123Label('a.b'), [
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
  ]);
  t.deepEqual(isDns1123Label('a'.repeat(64)), ['must be no more than 63 characters']);
  t.deepEqual(isDns1035Label('my-svc'), []);
  t.deepEqual(isDns1035Label('1svc'), [
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
  ]);
});

test('qualified names (label keys)', (t) => {
  for (const ok of ['app', 'app.kubernetes.io/name', 'MyName', 'my.name', '123-abc', 'a_b', 'example.com/X']) t.deepEqual(isQualifiedName(ok), [], ok);
  t.deepEqual(isQualifiedName('-x'), [
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
  ]);
  t.deepEqual(isQualifiedName('/x'), ['prefix part must be non-empty']);
  t.true(isQualifiedName('Bad_Prefix/x')[0].startsWith('prefix part a lowercase RFC 1123 subdomain'));
  t.deepEqual(isQualifiedName('a'.repeat(64))[0], 'name part must be no more than 63 characters');
  t.true(isQualifiedName('a/b/c')[0].startsWith('a qualified name must consist of'));
  t.true(isQualifiedName('a/b/c')[0].endsWith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
  t.true(isQualifiedName('').length > 0);
});

test('label values', (t) => {
  t.deepEqual(isValidLabelValue(''), []);
  t.deepEqual(isValidLabelValue('v1.2_x-y'), []);
  t.is(isValidLabelValue('-v').length, 1);
  t.is(isValidLabelValue('a b').length, 1);
  t.deepEqual(isValidLabelValue('a'.repeat(64))[0], 'must be no more than 63 characters');
});

test('port names, env var names and config keys', (t) => {
  t.deepEqual(isValidPortName('http'), []);
  t.deepEqual(isValidPortName('http-alt'), []);
  t.deepEqual(isValidPortName('123'), ['must contain at least one letter (a-z)']);
  t.deepEqual(isValidPortName('a--b'), ['must contain consecutive hyphens'.replace('must', 'must not')]);
  t.deepEqual(isValidPortName('-ab'), ['must not begin or end with a hyphen']);
  t.deepEqual(isValidPortName('abcdefghijklmnop'), ['must be no more than 15 characters']);
  t.deepEqual(isValidPortName('HTTP'), ['must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)', 'must contain at least one letter (a-z)']);
  t.deepEqual(isEnvVarName('MY_VAR'), []);
  t.deepEqual(isEnvVarName('my.env-name'), []);
  t.is(isEnvVarName('1ABC').length, 1);
  t.is(isEnvVarName('A B').length, 1);
  t.deepEqual(isEnvVarName('..'), ["must not be '..'"]);
  t.deepEqual(isConfigMapKey('app.properties'), []);
  t.deepEqual(isConfigMapKey('..data'), ["must not start with '..'"]);
  t.true(isConfigMapKey('a/b')[0].startsWith("a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
});

test('IP and CIDR checks', (t) => {
  t.deepEqual(isValidIP('10.0.0.1'), []);
  t.deepEqual(isValidIP('2001:db8::1'), []);
  t.deepEqual(isValidIP('::1'), []);
  t.is(isValidIP('256.0.0.1').length, 1);
  t.is(isValidIP('1:2:3:4:5:6:7:8:9').length, 1);
  t.deepEqual(isValidCIDR('10.42.0.0/24'), []);
  t.deepEqual(isValidCIDR('fd00::/64'), []);
  t.is(isValidCIDR('10.42.0.0/33').length, 1);
  t.is(isValidCIDR('10.42.0.0').length, 1);
});
