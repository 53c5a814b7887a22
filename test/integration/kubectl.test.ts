// The real kubectl 1.32 against a real `skiff server`: apply (client- and server-side), diff,
// every common form of get, describe, explain, the write verbs and bad input.
import test from 'ava';
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startServer, repoRoot, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let work: string;

test.before(async () => {
  srv = await startServer();
  work = mkdtempSync(join(tmpdir(), 'skiff-kubectl-'));
});

test.after.always(async () => {
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const p = join(work, name);
  writeFileSync(p, content);
  return p;
}

async function k(args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }) {
  const r = await srv.kubectl(args, opts);
  return r;
}

async function ok(t: { fail: (m: string) => void }, args: string[], opts?: { input?: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  const r = await k(args, opts);
  if (r.code !== 0) t.fail(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const app = join(repoRoot, 'manifests', 'examples', 'guestbook.yaml');

test.serial('apply a multi-document manifest, re-apply a changed field, apply again unchanged', async (t) => {
  let out = await ok(t, ['apply', '-f', app]);
  t.regex(out, /namespace\/guestbook created/);
  t.regex(out, /configmap\/web-config created/);
  t.regex(out, /secret\/web-secret created/);
  t.regex(out, /deployment.apps\/web created/);
  t.regex(out, /service\/web created/);

  const before = JSON.parse(await ok(t, ['get', 'deploy', 'web', '-n', 'guestbook', '-o', 'json']));
  const changed = file('guestbook-3.yaml', (await import('node:fs')).readFileSync(app, 'utf8').replace('replicas: 2', 'replicas: 3'));
  out = await ok(t, ['apply', '-f', changed]);
  t.regex(out, /deployment.apps\/web configured/);
  t.regex(out, /configmap\/web-config unchanged/);
  const after = JSON.parse(await ok(t, ['get', 'deploy', 'web', '-n', 'guestbook', '-o', 'json']));
  t.is(after.spec.replicas, 3);
  t.is(after.metadata.generation, before.metadata.generation + 1);
  // Only that field changed in the spec.
  t.deepEqual({ ...after.spec, replicas: 2 }, before.spec);
  // Secret stringData became data.
  const secret = JSON.parse(await ok(t, ['get', 'secret', 'web-secret', '-n', 'guestbook', '-o', 'json']));
  t.is(Buffer.from(secret.data.password, 'base64').toString(), 's3cret');
  t.is(secret.stringData, undefined);
});

test.serial('server-side apply, and a conflict for a second field manager', async (t) => {
  const cm = file(
    'ssa.yaml',
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  a: "1"\n',
  );
  let out = await ok(t, ['apply', '--server-side', '-f', cm]);
  t.regex(out, /configmap\/ssa serverside-applied/);
  const other = file('ssa2.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: default\ndata:\n  a: "2"\n');
  const r = await k(['apply', '--server-side', '--field-manager', 'other', '-f', other]);
  t.not(r.code, 0);
  t.regex(r.stderr, /conflict/i);
  t.regex(r.stderr, /\.data\.a/);
  out = await ok(t, ['apply', '--server-side', '--field-manager', 'other', '--force-conflicts', '-f', other]);
  t.regex(out, /serverside-applied/);
  const got = JSON.parse(await ok(t, ['get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields']));
  t.is(got.data.a, '2');
  t.true(got.metadata.managedFields.some((m: { manager: string }) => m.manager === 'other'));
});

test.serial('diff prints the difference', async (t) => {
  const changed = file('guestbook-4.yaml', (await import('node:fs')).readFileSync(app, 'utf8').replace('replicas: 2', 'replicas: 4'));
  const r = await k(['diff', '-f', changed]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stdout, /-\s+replicas: 3/);
  t.regex(r.stdout, /\+\s+replicas: 4/);
});

test.serial('get in every common form', async (t) => {
  let out = await ok(t, ['get', 'deploy', '-A']);
  t.regex(out, /NAMESPACE\s+NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/);
  t.regex(out, /guestbook\s+web\s+0\/3/);
  out = await ok(t, ['get', 'deploy', '-n', 'guestbook', '-o', 'wide']);
  t.regex(out, /CONTAINERS\s+IMAGES\s+SELECTOR/);
  t.regex(out, /busybox:latest\s+app=web/);
  out = await ok(t, ['get', 'cm', 'web-config', '-n', 'guestbook', '-o', 'yaml']);
  t.regex(out, /GREETING: hello/);
  out = await ok(t, ['get', 'cm', '-n', 'guestbook', '-o', 'name']);
  t.regex(out, /configmap\/web-config/);
  out = await ok(t, ['get', 'cm', '-n', 'guestbook', '-o', 'jsonpath={.items[*].metadata.name}']);
  t.regex(out, /web-config/);
  out = await ok(t, ['get', 'svc', '-n', 'guestbook', '-o', 'custom-columns=NAME:.metadata.name,PORT:.spec.ports[0].port']);
  t.regex(out, /NAME\s+PORT\s*\nweb\s+80/);
  out = await ok(t, ['get', 'deploy', '-A', '-l', 'app=web']);
  t.regex(out, /web/);
  out = await ok(t, ['get', 'deploy', '-A', '-l', 'app=nope']);
  t.notRegex(out, /web/);
  out = await ok(t, ['get', 'ns', '--field-selector', 'metadata.name=guestbook']);
  t.regex(out, /guestbook\s+Active/);
  t.notRegex(out, /kube-system/);
  out = await ok(t, ['get', 'ns', '--sort-by', '.metadata.name', '-o', 'name']);
  const names = out.trim().split('\n');
  t.deepEqual(names, [...names].sort());
  out = await ok(t, ['get', 'ns', '--sort-by', '.metadata.name']);
  t.regex(out, /default/);
  out = await ok(t, ['get', 'all', '-n', 'guestbook']);
  t.regex(out, /deployment.apps\/web/);
  t.regex(out, /service\/web/);
});

test.serial('get -w prints later changes', async (t) => {
  const child = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'get', 'cm', '-n', 'guestbook', '-w', '--output-watch-events'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor(() => /web-config/.test(out), 15_000, () => `initial list never printed: ${out}`);
    await ok(t, ['create', 'configmap', 'watched', '-n', 'guestbook', '--from-literal=x=y']);
    await waitFor(() => /ADDED\s+watched/.test(out), 15_000, () => `watch did not print the new object: ${out}`);
    t.pass();
  } finally {
    child.kill();
  }
});

test.serial('describe, api-resources, api-versions, explain, version', async (t) => {
  let out = await ok(t, ['describe', 'deploy', 'web', '-n', 'guestbook']);
  t.regex(out, /Name:\s+web/);
  t.regex(out, /Replicas:\s+3 desired/);
  t.regex(out, /StrategyType:\s+RollingUpdate/);
  out = await ok(t, ['api-resources']);
  t.regex(out, /deployments\s+deploy\s+apps\/v1\s+true\s+Deployment/);
  t.regex(out, /pods\s+po\s+v1\s+true\s+Pod/);
  out = await ok(t, ['api-versions']);
  t.regex(out, /apps\/v1/);
  t.regex(out, /batch\/v1/);
  out = await ok(t, ['explain', 'deployment.spec']);
  t.regex(out, /KIND:\s+Deployment/);
  t.regex(out, /replicas/);
  t.regex(out, /template/);
  out = await ok(t, ['version']);
  t.regex(out, /Server Version: v1\.32/);
});

test.serial('create with a misspelt field names the field; an invalid name names the rule; nothing is stored', async (t) => {
  const bad = file(
    'bad.yaml',
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\nspec:\n  replicass: 2\n  selector:\n    matchLabels: {app: t}\n  template:\n    metadata:\n      labels: {app: t}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        imagePullPolicyy: Always\n',
  );
  let r = await k(['create', '-f', bad]);
  t.not(r.code, 0);
  t.regex(r.stderr, /spec\.replicass/);
  t.regex(r.stderr, /imagePullPolicyy/);
  const badName = file('badname.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\ndata: {}\n');
  r = await k(['create', '-f', badName]);
  t.not(r.code, 0);
  t.regex(r.stderr, /metadata\.name/);
  t.regex(r.stderr, /RFC 1123/);
  r = await k(['get', 'deploy', 'typo']);
  t.regex(r.stderr, /NotFound/);
  r = await k(['get', 'cm', 'Bad_Name']);
  t.not(r.code, 0);
});

test.serial('scale, label, annotate, patch (json, merge, strategic), replace, edit', async (t) => {
  let out = await ok(t, ['scale', 'deploy', 'web', '-n', 'guestbook', '--replicas=5']);
  t.regex(out, /scaled/);
  t.is(JSON.parse(await ok(t, ['get', 'deploy', 'web', '-n', 'guestbook', '-o', 'json'])).spec.replicas, 5);
  out = await ok(t, ['label', 'deploy', 'web', '-n', 'guestbook', 'tier=frontend']);
  t.regex(out, /labeled/);
  out = await ok(t, ['annotate', 'deploy', 'web', '-n', 'guestbook', 'note=hello']);
  t.regex(out, /annotated/);
  out = await ok(t, ['patch', 'deploy', 'web', '-n', 'guestbook', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/replicas","value":1}]']);
  t.regex(out, /patched/);
  out = await ok(t, ['patch', 'deploy', 'web', '-n', 'guestbook', '--type', 'merge', '-p', '{"spec":{"minReadySeconds":3}}']);
  t.regex(out, /patched/);
  out = await ok(t, ['patch', 'deploy', 'web', '-n', 'guestbook', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.36"}]}}}}']);
  t.regex(out, /patched/);
  const d = JSON.parse(await ok(t, ['get', 'deploy', 'web', '-n', 'guestbook', '-o', 'json']));
  t.is(d.spec.replicas, 1);
  t.is(d.spec.minReadySeconds, 3);
  t.is(d.metadata.labels.tier, 'frontend');
  t.is(d.metadata.annotations.note, 'hello');
  t.is(d.spec.template.spec.containers.length, 1);
  t.is(d.spec.template.spec.containers[0].image, 'busybox:1.36');
  t.deepEqual(d.spec.template.spec.containers[0].command, ['httpd', '-f', '-p', '8080', '-h', '/www']);

  const cm = JSON.parse(await ok(t, ['get', 'cm', 'web-config', '-n', 'guestbook', '-o', 'json']));
  cm.data.GREETING = 'replaced';
  out = await ok(t, ['replace', '-f', file('replace.json', JSON.stringify(cm))]);
  t.regex(out, /replaced/);
  // A stale resourceVersion conflicts.
  const r = await k(['replace', '-f', file('replace-stale.json', JSON.stringify({ ...cm, data: { x: '1' } }))]);
  t.not(r.code, 0);
  t.regex(r.stderr, /Conflict|modified/);

  const editor = file('editor.sh', '#!/bin/sh\nsed -i "s/LOG_LEVEL: info/LOG_LEVEL: debug/" "$1"\n');
  chmodSync(editor, 0o755);
  out = await ok(t, ['edit', 'cm', 'web-config', '-n', 'guestbook'], { env: { EDITOR: editor, KUBE_EDITOR: editor } });
  t.regex(out, /edited/);
  t.is(JSON.parse(await ok(t, ['get', 'cm', 'web-config', '-n', 'guestbook', '-o', 'json'])).data.LOG_LEVEL, 'debug');
});

test.serial('delete: plain, --wait=false, --cascade=foreground and a namespace', async (t) => {
  await ok(t, ['create', 'cm', 'gone', '--from-literal=a=b']);
  let out = await ok(t, ['delete', 'cm', 'gone']);
  t.regex(out, /configmap "gone" deleted/);
  await ok(t, ['create', 'cm', 'gone2', '--from-literal=a=b']);
  out = await ok(t, ['delete', 'cm', 'gone2', '--wait=false']);
  t.regex(out, /deleted/);
  // An owner and a dependent: foreground deletion removes the dependent first.
  await ok(t, ['create', 'cm', 'owner', '--from-literal=a=b']);
  const owner = JSON.parse(await ok(t, ['get', 'cm', 'owner', '-o', 'json']));
  await ok(t, [
    'apply',
    '-f',
    file(
      'dep.json',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'dependent', namespace: 'default', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid, blockOwnerDeletion: true }] },
        data: { a: 'b' },
      }),
    ),
  ]);
  out = await ok(t, ['delete', 'cm', 'owner', '--cascade=foreground', '--timeout=30s']);
  t.regex(out, /deleted/);
  let r = await k(['get', 'cm', 'dependent']);
  t.regex(r.stderr, /NotFound/);
  out = await ok(t, ['delete', 'ns', 'guestbook', '--timeout=60s']);
  t.regex(out, /namespace "guestbook" deleted/);
  r = await k(['get', 'deploy', '-n', 'guestbook', 'web']);
  t.regex(r.stderr, /NotFound/);
});

test.serial('without a token every API path answers 401', async (t) => {
  for (const path of ['/api', '/apis', '/api/v1/namespaces', '/apis/apps/v1/deployments', '/openapi/v3', '/version']) {
    const res = await fetchInsecure(`${srv.url}${path}`);
    t.is(res.status, 401, path);
    t.is(res.body.reason, 'Unauthorized');
  }
  const res = await fetchInsecure(`${srv.url}/api/v1/namespaces`, 'Bearer wrong');
  t.is(res.status, 401);
});

async function fetchInsecure(url: string, auth?: string): Promise<{ status: number; body: { reason?: string } }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(url, { rejectUnauthorized: false, headers: auth ? { Authorization: auth } : {} }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: s ? JSON.parse(s) : {} }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(cond: () => boolean, ms: number, msg: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(msg());
    await new Promise((r) => setTimeout(r, 50));
  }
}
