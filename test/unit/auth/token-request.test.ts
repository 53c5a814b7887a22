// TokenRequest validation and answers (what `kubectl create token` gets back).
import test from 'ava';
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import { createTokenRequest } from '../../../apiserver/auth/token-request.js';
import { ServiceAccountTokens, SERVICE_ACCOUNT_ISSUER, type ServiceAccountLookup } from '../../../apiserver/auth/service-account-tokens.js';
import { StatusError } from '../../../apiserver/status.js';
import type { KObject } from '../../../pkg/api/types.js';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const tokens = new ServiceAccountTokens({ key: { privateKey, publicKey: createPublicKey(privateKey) } });
const lookup: ServiceAccountLookup = {
  serviceAccount: (ns, n) => (ns === 'default' && n === 'default' ? ({ metadata: { name: 'default', namespace: 'default', uid: 'sa1' } } as KObject) : undefined),
  pod: (ns, n) => (ns === 'default' && n === 'web' ? ({ metadata: { name: 'web', namespace: 'default', uid: 'p1' } } as KObject) : undefined),
};
tokens.attach(lookup);

const req = (spec: Record<string, unknown>, sa = 'default') => createTokenRequest({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }, 'default', sa, tokens, lookup);

function fails(t: import('ava').ExecutionContext, fn: () => unknown, code: number, message: RegExp): void {
  const e = t.throws(fn, { instanceOf: StatusError }) as StatusError;
  t.is(e.code, code);
  t.regex(e.message, message);
}

test('defaults: the API server audience and one hour', (t) => {
  const before = Date.now();
  const out = req({}) as { spec: Record<string, unknown>; status: { token: string; expirationTimestamp: string }; kind: string };
  t.is(out.kind, 'TokenRequest');
  t.deepEqual(out.spec.audiences, [SERVICE_ACCOUNT_ISSUER]);
  t.is(out.spec.expirationSeconds, 3600);
  t.is(out.spec.boundObjectRef, null);
  const exp = Date.parse(out.status.expirationTimestamp);
  t.true(exp >= Math.floor(before / 1000) * 1000 + 3600_000 && exp <= Date.now() + 3600_000);
  t.is(tokens.authenticate(`Bearer ${out.status.token}`)?.name, 'system:serviceaccount:default:default');
});

test('a pod-bound token names the pod and its uid', (t) => {
  const out = req({ expirationSeconds: 900, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web' } }) as { spec: Record<string, unknown>; status: { token: string } };
  t.deepEqual(out.spec.boundObjectRef, { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'p1' });
  t.deepEqual(tokens.authenticate(`Bearer ${out.status.token}`)?.extra?.['authentication.kubernetes.io/pod-uid'], ['p1']);
});

test('bad requests are refused as Kubernetes refuses them', (t) => {
  fails(t, () => req({ expirationSeconds: 599 }), 422, /spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes/);
  fails(t, () => req({}, 'ghost'), 404, /serviceaccounts "ghost" not found/);
  fails(t, () => req({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'nope' } }), 404, /pods "nope" not found/);
  fails(t, () => req({ boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'old' } }), 409, /does not match the UID in record/);
  fails(t, () => req({ boundObjectRef: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'x' } }), 400, /cannot bind token .* to object of type Deployment/);
  fails(t, () => req({ audiences: [''] }), 422, /spec.audiences/);
});
