// Unit tests of the GitOps pieces that need no server: manifest loading, drift projection,
// durations and conditions, the shipped CRD file, git resolution and export, and planning order.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { loadManifests, ManifestError, parseManifests } from '../../../pkg/manifests/load.js';
import { diffPaths, driftShape, project } from '../../../pkg/manifests/drift.js';
import { healthOf } from '../../../pkg/manifests/health.js';
import { ApplyEngine, SyncFailure } from '../../../pkg/manifests/sync-engine.js';
import { KindResolver } from '../../../pkg/manifests/apply.js';
import { parseDuration, setCondition, specProblem } from '../../../controllers/gitops/spec.js';
import { GitCache, gitAuth } from '../../../controllers/gitops/git.js';
import { SYNC_CRD } from '../../../apiserver/bootstrap-crds.js';
import { repoRoot } from '../../helpers/server.js';
import type { RestClient } from '../../../pkg/client/rest.js';

const work = mkdtempSync(join(tmpdir(), 'skiff-gitops-unit-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

test('parse errors name the file and the document; Lists are unpacked', (t) => {
  const problems: string[] = [];
  const out = parseManifests('apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n---\nkind: ConfigMap\nmetadata: {name: b}\n', 'x.yaml', problems);
  t.is(out.length, 1);
  t.deepEqual(problems, ['x.yaml (document 2): apiVersion: Required value']);
  const e = t.throws(() => parseManifests('a: [', 'bad.yaml'), { instanceOf: ManifestError });
  t.regex(e!.message, /^bad\.yaml: /);
});

test('folders are read recursively and sorted, kustomize folders rendered, escaping symlinks refused', async (t) => {
  const root = join(work, 'tree');
  mkdirSync(join(root, 'b', 'k'), { recursive: true });
  writeFileSync(join(root, 'a.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n');
  writeFileSync(join(root, 'b', 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }));
  writeFileSync(join(root, 'b', 'notes.txt'), 'ignored');
  writeFileSync(join(root, 'b', 'k', 'kustomization.yaml'), 'namePrefix: p-\nresources: [cm.yaml]\n');
  writeFileSync(join(root, 'b', 'k', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\n');
  const ms = await loadManifests([root], { base: root, confine: root });
  t.deepEqual(
    ms.map((m) => `${m.source}=${m.object.metadata.name}`),
    ['a.yaml=a', 'b/c.json=c', 'b/k (kustomize)=p-k'],
  );
  writeFileSync(join(work, 'outside.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n');
  symlinkSync(join(work, 'outside.yaml'), join(root, 'z.yaml'));
  const e = await t.throwsAsync(loadManifests([root], { base: root, confine: root }), { instanceOf: ManifestError });
  t.regex(e!.message, /z\.yaml: resolves outside the source/);
});

test('drift compares only declared fields, as the server returned them', (t) => {
  const manifest = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'w', labels: { a: '1' } }, spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } };
  const shape = driftShape(manifest);
  const applied = { metadata: { name: 'w', labels: { a: '1' }, annotations: { other: 'x' } }, spec: { replicas: 2, strategy: {}, template: { spec: { containers: [{ name: 'c', image: 'x', imagePullPolicy: 'Always' }] } } }, status: { replicas: 2 } };
  const recorded = project(shape, applied);
  const sameButStatus = structuredClone(applied) as any;
  sameButStatus.status.replicas = 7;
  sameButStatus.metadata.annotations.more = 'y';
  t.deepEqual(diffPaths(recorded, project(shape, sameButStatus)), []);
  const scaled = structuredClone(applied) as any;
  scaled.spec.replicas = 7;
  scaled.spec.template.spec.containers.push({ name: 'sidecar' });
  t.deepEqual(diffPaths(recorded, project(shape, scaled)), ['spec.replicas', 'spec.template.spec.containers']);
});

test('health: Deployment availability, Job completion and failure', (t) => {
  const d = { kind: 'Deployment', metadata: { name: 'w', generation: 2 }, spec: { replicas: 2 }, status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 } } as any;
  t.is(healthOf(d).state, 'progressing');
  d.status.availableReplicas = 2;
  t.is(healthOf(d).state, 'ready');
  d.metadata.generation = 3;
  t.is(healthOf(d).state, 'progressing');
  t.is(healthOf({ kind: 'Job', metadata: { name: 'j' }, status: { conditions: [{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }] } } as any).state, 'failed');
  t.is(healthOf({ kind: 'Job', metadata: { name: 'j' }, status: { conditions: [{ type: 'Complete', status: 'True' }] } } as any).state, 'ready');
});

test('durations, spec checks and conditions', (t) => {
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('250ms'), 250);
  t.throws(() => parseDuration('10'));
  t.regex(specProblem({ source: {} })!, /exactly one of git or directory/);
  t.regex(specProblem({ source: { directory: { path: '/x' } }, interval: '100ms' })!, /at least 1s/);
  t.is(specProblem({ source: { git: { url: '/r' } }, interval: '30s', timeout: '2m' }), undefined);
  const c1 = setCondition([], { type: 'Ready', status: 'True', reason: 'A' });
  const c2 = setCondition([{ ...c1[0]!, lastTransitionTime: '2000-01-01T00:00:00Z' }], { type: 'Ready', status: 'True', reason: 'B' });
  t.is(c2[0]!.lastTransitionTime, '2000-01-01T00:00:00Z');
  t.is(c2[0]!.reason, 'B');
});

test('manifests/crds/sync.yaml is the definition the server installs', (t) => {
  const file = yaml.load(readFileSync(join(repoRoot, 'manifests', 'crds', 'sync.yaml'), 'utf8'));
  t.deepEqual(file, JSON.parse(JSON.stringify(SYNC_CRD)));
});

test('git: branches, annotated tags and commits resolve; a folder of a commit is exported', async (t) => {
  const repo = join(work, 'repo');
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  const git = (...a: string[]) => execFileSync('git', a, { cwd: repo, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('config', 'user.email', 't@skiff.dev');
  git('config', 'user.name', 't');
  writeFileSync(join(repo, 'deploy', 'a.yaml'), 'one');
  git('add', '-A');
  git('commit', '-q', '-m', '1');
  const first = git('rev-parse', 'HEAD');
  git('tag', '-a', 'v1', '-m', 'v1');
  writeFileSync(join(repo, 'deploy', 'a.yaml'), 'two');
  git('commit', '-q', '-am', '2');
  const second = git('rev-parse', 'HEAD');
  const cache = new GitCache(join(work, 'cache'));
  t.deepEqual(await cache.resolve(repo, 'main'), { commit: second, ref: 'refs/heads/main' });
  t.deepEqual(await cache.resolve(repo, undefined), { commit: second, ref: 'HEAD' });
  t.deepEqual(await cache.resolve(repo, 'v1'), { commit: first, ref: 'refs/tags/v1' });
  t.is((await cache.resolve(repo, first.slice(0, 8))).commit, first);
  await t.throwsAsync(cache.resolve(repo, 'nope'), { message: /ref "nope" not found/ });
  const r = await cache.resolve(repo, 'v1');
  await cache.fetch(repo, r);
  const dest = mkdtempSync(join(work, 'out-'));
  const dir = await cache.export(repo, r.commit, 'deploy/', dest);
  t.is(readFileSync(join(dir, 'a.yaml'), 'utf8'), 'one');
  await t.throwsAsync(cache.export(repo, r.commit, 'missing', mkdtempSync(join(work, 'out-'))), { message: /path "missing" not found/ });
});

test('git credentials travel in the environment, never on the command line', (t) => {
  const basic = gitAuth({ username: 'u', password: 'p' }, work);
  t.is(basic.env.GIT_CONFIG_KEY_0, 'http.extraHeader');
  t.is(basic.env.GIT_CONFIG_VALUE_0, `Authorization: Basic ${Buffer.from('u:p').toString('base64')}`);
  t.throws(() => gitAuth({ identity: 'KEY' }, work), { message: /known_hosts/ });
  const ssh = gitAuth({ identity: 'KEY', knownHosts: 'host ssh-ed25519 AAAA' }, work);
  t.regex(ssh.env.GIT_SSH_COMMAND!, /StrictHostKeyChecking=yes/);
  ssh.cleanup();
});

class FakeResolver extends KindResolver {
  override async resolve(apiVersion: string, kind: string) {
    const known: Record<string, { plural: string; namespaced: boolean }> = {
      'v1/Namespace': { plural: 'namespaces', namespaced: false },
      'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
      'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
      'apiextensions.k8s.io/v1/CustomResourceDefinition': { plural: 'customresourcedefinitions', namespaced: false },
    };
    const r = known[`${apiVersion}/${kind}`];
    if (!r) throw new Error(`the server does not serve kind ${kind} in ${apiVersion}`);
    return r;
  }
}

test('planning: dependency order, target namespace, owner labels, duplicates and unknown kinds', async (t) => {
  const engine = new ApplyEngine({} as RestClient, new FakeResolver({} as RestClient));
  const m = (source: string, object: any) => ({ source, object });
  const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'widgets.x.dev' }, spec: { group: 'x.dev', names: { kind: 'Widget', plural: 'widgets' }, scope: 'Namespaced', versions: [{ name: 'v1' }] } };
  const plan = await engine.plan(
    [
      m('w.yaml', { apiVersion: 'x.dev/v1', kind: 'Widget', metadata: { name: 'w' } }),
      m('d.yaml', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', resourceVersion: '5' }, spec: {} }),
      m('c.yaml', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'own' } }),
      m('n.yaml', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', namespace: 'ignored' } }),
      m('crd.yaml', crd),
    ],
    { fieldManager: 'f', owner: { name: 's', namespace: 'default' }, targetNamespace: 'shop' },
  );
  t.deepEqual(
    plan.map((p) => `${p.object.kind}/${p.object.metadata.namespace ?? ''}/${p.object.metadata.name}`),
    ['CustomResourceDefinition//widgets.x.dev', 'Namespace//shop', 'ConfigMap/own/c', 'Deployment/shop/d', 'Widget/shop/w'],
  );
  t.true(plan[4]!.awaitsCrd);
  t.is(plan[3]!.object.metadata.resourceVersion, undefined);
  t.deepEqual(plan[2]!.object.metadata.labels, { 'gitops.skiff.dev/name': 's', 'gitops.skiff.dev/namespace': 'default' });
  const e = await t.throwsAsync(
    engine.plan(
      [m('a.yaml', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }), m('b.yaml (document 2)', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }), m('x.yaml', { apiVersion: 'v9', kind: 'Nope', metadata: { name: 'n' } })],
      { fieldManager: 'f', owner: { name: 's', namespace: 'default' } },
    ),
    { instanceOf: SyncFailure },
  );
  t.deepEqual(e!.problems, ['b.yaml (document 2): configmap/c -n default is also declared in a.yaml', 'x.yaml: Nope n: the server does not serve kind Nope in v9']);
});
