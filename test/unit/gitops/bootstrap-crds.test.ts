// bootstrapCrds against an in-process API server: the Sync CRD is created, becomes served, and
// is brought back to the built-in definition when someone changed it; running it twice is a no-op.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIServer } from '../../../apiserver/apiserver.js';
import { ensurePki } from '../../../apiserver/auth/pki.js';
import { ensureTokens, tokenAuthenticator } from '../../../apiserver/auth/tokens.js';
import { openStore } from '../../../apiserver/storage/index.js';
import { systemContext } from '../../../apiserver/bootstrap.js';
import { bootstrapCrds, SYNC_CRD } from '../../../apiserver/bootstrap-crds.js';

test('bootstrapCrds creates the Sync CRD and restores its spec', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-crd-boot-'));
  const store = await openStore('sqlite', dir);
  const api = new APIServer({ store, pki: ensurePki(dir, []), auth: tokenAuthenticator(ensureTokens(dir)), bind: '127.0.0.1', port: 0, compactIntervalMs: 0 });
  try {
    await api.start();
    await bootstrapCrds(api);
    await bootstrapCrds(api);
    const reg = api.registry('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    const crd = reg.get(undefined, 'syncs.gitops.skiff.dev').obj as any;
    t.is(crd.spec.names.kind, 'Sync');
    const deadline = Date.now() + 10_000;
    while (!api.registry('gitops.skiff.dev', 'v1alpha1', 'syncs') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.truthy(api.registry('gitops.skiff.dev', 'v1alpha1', 'syncs'), 'syncs are served');
    await reg.modifyWith(systemContext(), undefined, 'syncs.gitops.skiff.dev', (o: any) => ({ ...o, spec: { ...o.spec, versions: o.spec.versions.map((v: any) => ({ ...v, additionalPrinterColumns: [] })) } }));
    await bootstrapCrds(api);
    const restored = reg.get(undefined, 'syncs.gitops.skiff.dev').obj as any;
    t.deepEqual(restored.spec.versions[0].additionalPrinterColumns, (SYNC_CRD.spec as any).versions[0].additionalPrinterColumns);
  } finally {
    await api.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
