// ServiceAccounts end to end through the real kubectl: default accounts and kube-root-ca.crt in
// every namespace, pod admission, `kubectl create token`, and tokens as credentials — including
// the ways they stop working (expiry, tampering, a deleted account or pod).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { signJwt } from '../../apiserver/auth/jwt.js';

let srv: TestServer;
let work: string;

test.before(async () => {
  srv = await startServer();
  work = mkdtempSync(join(tmpdir(), 'skiff-sa-'));
});

test.after.always(async () => {
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function ok(args: string[], input?: string): Promise<string> {
  const r = await srv.kubectl(args, input === undefined ? undefined : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A kubeconfig whose only credential is the bearer token. */
function tokenKubeconfig(token: string): string {
  const ca = Buffer.from(readFileSync(join(srv.dataDir, 'tls', 'ca.crt'))).toString('base64');
  const path = join(work, `kc-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    path,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${srv.url}\n    certificate-authority-data: ${ca}\nusers:\n- name: u\n  user:\n    token: ${token}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`,
  );
  return path;
}

/** kubectl with only the token as credential (not the admin kubeconfig). */
function asToken(token: string, args: string[]) {
  return srv.kubectl(['--kubeconfig', tokenKubeconfig(token), ...args], { env: { KUBECONFIG: '' } });
}

test('every namespace has a default ServiceAccount and kube-root-ca.crt, a new one at once', async (t) => {
  const sas = await ok(['get', 'sa', '-A', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}']);
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) t.true(sas.includes(`${ns}/default`), sas);
  await ok(['create', 'namespace', 'sa-fresh']);
  // A pod right after its namespace: no waiting for a controller.
  await ok(['-n', 'sa-fresh', 'run', 'first', '--image=busybox', '--restart=Never']);
  t.regex(await ok(['-n', 'sa-fresh', 'get', 'sa']), /^NAME\s+SECRETS\s+AGE\ndefault\s+0\s+/);
  const ca = await ok(['-n', 'sa-fresh', 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}']);
  t.is(ca, readFileSync(join(srv.dataDir, 'tls', 'ca.crt'), 'utf8'));
});

test('the controllers put back a deleted default account and an edited or deleted CA ConfigMap', async (t) => {
  await ok(['create', 'namespace', 'sa-heal']);
  const uid = await ok(['-n', 'sa-heal', 'get', 'sa', 'default', '-o', 'jsonpath={.metadata.uid}']);
  await ok(['-n', 'sa-heal', 'delete', 'sa', 'default']);
  await waitFor('the default ServiceAccount to come back', 20_000, async () => {
    const r = await srv.kubectl(['-n', 'sa-heal', 'get', 'sa', 'default', '-o', 'jsonpath={.metadata.uid}']);
    return r.code === 0 && r.stdout !== uid;
  });
  await ok(['-n', 'sa-heal', 'patch', 'configmap', 'kube-root-ca.crt', '--type=merge', '-p', '{"data":{"ca.crt":"forged"}}']);
  const real = readFileSync(join(srv.dataDir, 'tls', 'ca.crt'), 'utf8');
  const caNow = async () => (await srv.kubectl(['-n', 'sa-heal', 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}'])).stdout;
  await waitFor('the CA to be put back', 20_000, async () => (await caNow()) === real);
  await ok(['-n', 'sa-heal', 'delete', 'configmap', 'kube-root-ca.crt']);
  await waitFor('kube-root-ca.crt to be made again', 20_000, async () => (await caNow()) === real);
  t.pass();
});

test('pods get the default account and the kube-api-access volume; a missing account is forbidden', async (t) => {
  await ok(['run', 'sa-pod', '--image=busybox', '--restart=Never']);
  const pod = JSON.parse(await ok(['get', 'pod', 'sa-pod', '-o', 'json']));
  t.is(pod.spec.serviceAccountName, 'default');
  t.is(pod.spec.serviceAccount, 'default');
  const vol = pod.spec.volumes.find((v: { name: string }) => v.name.startsWith('kube-api-access-'));
  t.regex(vol.name, /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  t.deepEqual(vol.projected.sources[0], { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } });
  t.deepEqual(pod.spec.containers[0].volumeMounts, [{ name: vol.name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]);

  const r = await srv.kubectl(['run', 'lost', '--image=busybox', '--overrides={"spec":{"serviceAccountName":"ghost"}}']);
  t.not(r.code, 0);
  t.regex(r.stderr, /Error from server \(Forbidden\): pods "lost" is forbidden: error looking up service account default\/ghost: serviceaccount "ghost" not found/);

  const off = `apiVersion: v1\nkind: Pod\nmetadata: {name: no-token}\nspec:\n  automountServiceAccountToken: false\n  containers: [{name: c, image: busybox}]\n`;
  await ok(['apply', '-f', '-'], off);
  t.is(await ok(['get', 'pod', 'no-token', '-o', 'jsonpath={.spec.volumes}']), '');
});

test('kubectl create token: claims, --duration, discovery, and the token as a kubeconfig credential', async (t) => {
  const discovery = JSON.parse(await ok(['get', '--raw', '/api/v1']));
  const sub = discovery.resources.find((r: { name: string }) => r.name === 'serviceaccounts/token');
  t.like(sub, { kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] });

  const token = (await ok(['create', 'token', 'default'])).trim();
  const c = claims(token);
  t.is(c.sub, 'system:serviceaccount:default:default');
  t.deepEqual(c.aud, ['https://kubernetes.default.svc.cluster.local']);
  t.is(c.exp - c.iat, 3600);
  const long = claims((await ok(['create', 'token', 'default', '--duration', '20m'])).trim());
  t.is(long.exp - long.iat, 1200);
  const short = await srv.kubectl(['create', 'token', 'default', '--duration', '5m']);
  t.not(short.code, 0);
  t.regex(short.stderr, /may not specify a duration less than 10 minutes/);
  const missing = await srv.kubectl(['create', 'token', 'ghost']);
  t.regex(missing.stderr, /serviceaccounts "ghost" not found/);

  const pods = await asToken(token, ['get', 'pods', '-n', 'default']);
  t.is(pods.code, 0, pods.stderr);
  const who = await asToken(token, ['auth', 'whoami', '-o', 'json']);
  t.is(who.code, 0, who.stderr);
  const info = JSON.parse(who.stdout).status.userInfo;
  t.is(info.username, 'system:serviceaccount:default:default');
  t.deepEqual(info.groups, ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated']);
});

test('tokens bound to a pod, and tokens that no longer authenticate', async (t) => {
  await ok(['create', 'serviceaccount', 'robot']);
  await ok(['run', 'bound-to', '--image=busybox', '--restart=Never', '--overrides={"spec":{"serviceAccountName":"robot"}}']);
  const podUid = await ok(['get', 'pod', 'bound-to', '-o', 'jsonpath={.metadata.uid}']);
  const bound = (await ok(['create', 'token', 'robot', '--bound-object-kind', 'Pod', '--bound-object-name', 'bound-to'])).trim();
  t.deepEqual(claims(bound)['kubernetes.io'].pod, { name: 'bound-to', uid: podUid });
  const plain = (await ok(['create', 'token', 'robot'])).trim();
  t.is((await asToken(bound, ['get', 'pods'])).code, 0);

  // Expired: signed with the cluster's own key, so only the expiry is wrong.
  const key = createPrivateKey(readFileSync(join(srv.dataDir, 'tls', 'service-account.key'), 'utf8'));
  const old = Math.floor(Date.now() / 1000) - 7200;
  const expired = signJwt({ ...claims(plain), iat: old, nbf: old, exp: old + 3600 }, key);
  const tampered = plain.slice(0, plain.lastIndexOf('.')) + '.' + Buffer.alloc(64, 7).toString('base64url');
  for (const [what, tok] of [['expired', expired], ['tampered', tampered]] as const) {
    const r = await asToken(tok, ['get', 'pods']);
    t.not(r.code, 0, what);
    t.regex(r.stderr, /Unauthorized/, what);
  }

  await ok(['delete', 'pod', 'bound-to', '--grace-period=0', '--force']);
  await waitFor('the bound pod to be gone', 20_000, async () => (await srv.kubectl(['get', 'pod', 'bound-to'])).code !== 0);
  t.regex((await asToken(bound, ['get', 'pods'])).stderr, /Unauthorized/);
  t.is((await asToken(plain, ['get', 'pods'])).code, 0);
  await ok(['delete', 'serviceaccount', 'robot']);
  t.regex((await asToken(plain, ['get', 'pods'])).stderr, /Unauthorized/);
});
