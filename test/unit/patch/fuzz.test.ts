// Random documents and patches: every engine either succeeds or refuses with a StatusError, and
// never changes its inputs. Seeded, so a failure can be replayed.
import test from 'ava';
import { applyJsonPatch } from '../../../apiserver/patch/json-patch.js';
import { applyMergePatch, createMergePatch } from '../../../apiserver/patch/merge-patch.js';
import { applyStrategicMergePatch } from '../../../apiserver/patch/strategic-merge-patch.js';
import { fromFieldsV1, serverSideApply, updateManagedFields } from '../../../apiserver/patch/apply.js';
import { StatusError } from '../../../apiserver/status.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'metadata', 'spec', 'status', 'template', 'containers', 'initContainers', 'name', 'image', 'env', 'value', 'ports', 'containerPort',
  'protocol', 'finalizers', 'labels', 'conditions', 'type', 'selector', 'replicas', 'volumes', 'ownerReferences', 'uid',
  '$patch', '$retainKeys', '$setElementOrder/containers', '$setElementOrder/env', '$deleteFromPrimitiveList/finalizers',
  '__proto__', 'constructor', 'toString', 'a~b', 'a/b', '', '-', '0',
];
const STRINGS = ['web', 'a', 'b', 'replace', 'delete', 'merge', 'TCP', 'UDP', '', 'x'];

function make(r: () => number) {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const value = (depth: number): unknown => {
    const x = r();
    if (depth <= 0 || x < 0.35) {
      const y = r();
      if (y < 0.15) return null;
      if (y < 0.35) return Math.floor(r() * 100);
      if (y < 0.45) return r() < 0.5;
      return pick(STRINGS);
    }
    if (x < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(r() * 5); i > 0; i--) Object.defineProperty(o, pick(KEYS), { value: value(depth - 1), enumerable: true, writable: true, configurable: true });
    return o;
  };
  const pointer = (): string => {
    if (r() < 0.05) return pick(['', 'nope', '/~2', '/a~']);
    const n = Math.floor(r() * 4);
    let p = '';
    for (let i = 0; i < n; i++) p += '/' + (r() < 0.3 ? String(Math.floor(r() * 3)) : pick(KEYS)).replace(/~/g, '~0').replace(/\//g, '~1');
    return p;
  };
  const jsonPatch = (): unknown => {
    if (r() < 0.05) return value(2);
    return Array.from({ length: Math.floor(r() * 4) }, () => {
      const op: Record<string, unknown> = { op: pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus']) };
      if (r() < 0.95) op.path = pointer();
      if (r() < 0.8) op.value = value(2);
      if (r() < 0.5) op.from = pointer();
      return r() < 0.03 ? 'junk' : op;
    });
  };
  return { value, jsonPatch, pick };
}

function snapshot(v: unknown): string {
  return JSON.stringify(v) ?? 'undefined';
}

function check(t: import('ava').ExecutionContext, what: string, inputs: unknown[], fn: () => unknown): unknown {
  const before = inputs.map(snapshot);
  let out: unknown;
  try {
    out = fn();
  } catch (e) {
    if (!(e instanceof StatusError)) {
      t.fail(`${what} threw ${String(e)} for ${before.join(' | ')}`);
      throw e;
    }
    if (e.code !== 400 && e.code !== 422 && e.code !== 409) t.fail(`${what}: unexpected code ${e.code}`);
  }
  inputs.forEach((v, i) => {
    if (snapshot(v) !== before[i]) t.fail(`${what} changed input ${i}: ${before[i]}`);
  });
  if ((Object.prototype as Record<string, unknown>).polluted !== undefined) t.fail('prototype polluted');
  return out;
}

const ROUNDS = 3000;

test('json patch, merge patch and strategic merge patch never throw anything but StatusError', (t) => {
  const r = rng(12345);
  const g = make(r);
  for (let i = 0; i < ROUNDS; i++) {
    const doc = g.value(4);
    const docObj = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? doc : { spec: doc };
    check(t, 'json patch', [doc], () => applyJsonPatch(doc, g.jsonPatch()));
    const mp = g.value(4);
    check(t, 'merge patch', [docObj, mp], () => applyMergePatch(docObj, mp));
    check(t, 'create merge patch', [docObj, mp], () => {
      if (typeof mp !== 'object' || mp === null || Array.isArray(mp)) return;
      const merged = applyMergePatch(docObj, mp);
      t.deepEqual(applyMergePatch(docObj, createMergePatch(docObj, merged)), merged);
    });
    const smp = g.value(5);
    check(t, 'strategic merge patch', [docObj, smp], () => applyStrategicMergePatch(docObj, smp));
  }
  t.pass();
});

test('server-side apply and managed fields never throw anything but StatusError', (t) => {
  const r = rng(777);
  const g = make(r);
  let live: object | undefined;
  for (let i = 0; i < ROUNDS; i++) {
    const applied = g.value(5);
    const opts = { manager: g.pick(['a', 'b', 'c']), force: r() < 0.5, apiVersion: 'v1', now: new Date(1_700_000_000_000 + i * 1000).toISOString() };
    const out = check(t, 'apply', [live, applied], () => serverSideApply(live, applied as object, opts)) as { object: object } | undefined;
    if (out) {
      const next = out.object;
      const fromJson = JSON.parse(JSON.stringify(next));
      t.deepEqual(fromJson, next, 'result is plain JSON');
      const edited = applyMergePatch(next, { spec: g.value(3) }) as object;
      check(t, 'update', [next, edited], () => updateManagedFields(next, edited, { manager: 'ctl', apiVersion: 'v1', now: opts.now, subresource: r() < 0.2 ? 'status' : undefined }));
      live = r() < 0.1 ? undefined : next;
    }
    check(t, 'fieldsV1', [], () => fromFieldsV1(g.value(4)));
  }
  t.pass();
});

test('server-side apply of random Deployment configurations keeps what each applier sets', (t) => {
  const r = rng(4242);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const subset = <T>(xs: T[]): T[] => xs.filter(() => r() < 0.5);
  const configFor = () => {
    const labels = Object.fromEntries(subset(['a', 'b', 'c']).map((k) => [k, pick(['1', '2'])]));
    const containers = subset(['web', 'side', 'log']).map((name) => {
      const c: Record<string, unknown> = { name, image: pick(['i:1', 'i:2']) };
      if (r() < 0.5) c.env = subset(['A', 'B']).map((n) => ({ name: n, value: pick(['x', 'y']) }));
      if (r() < 0.3) c.ports = [{ containerPort: pick([80, 443]) }];
      return c;
    });
    const spec: Record<string, unknown> = { template: { spec: { containers } } };
    if (r() < 0.5) spec.replicas = pick([1, 2, 3]);
    return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', labels }, spec };
  };
  let live: Record<string, any> | undefined;
  let successes = 0;
  for (let i = 0; i < 2000; i++) {
    const cfg = configFor();
    const manager = pick(['alice', 'bob', 'carol']);
    const force = r() < 0.5;
    let out: Record<string, any>;
    try {
      out = serverSideApply(live, cfg, { manager, force, apiVersion: 'apps/v1', now: new Date(1_700_000_000_000 + i * 1000).toISOString() }).object as Record<string, any>;
    } catch (e) {
      if (!(e instanceof StatusError) || e.code !== 409 || force) t.fail(`unexpected ${String(e)}`);
      continue;
    }
    successes++;
    for (const [k, v] of Object.entries(cfg.metadata.labels)) t.is(out.metadata.labels?.[k], v);
    if (cfg.spec.replicas !== undefined) t.is(out.spec.replicas, cfg.spec.replicas);
    const cs = out.spec?.template?.spec?.containers ?? [];
    for (const c of (cfg.spec.template as any).spec.containers) {
      const got = cs.find((x: any) => x.name === c.name);
      t.truthy(got);
      t.is(got.image, c.image);
    }
    t.is(new Set(cs.map((c: any) => c.name)).size, cs.length, 'no duplicate items');
    for (const c of cs) t.truthy(c.name, 'items keep their key');
    const mf = out.metadata.managedFields ?? [];
    t.is(new Set(mf.map((e: any) => e.manager + e.operation)).size, mf.length);
    live = out;
  }
  t.true(successes > 200, `only ${successes} applies succeeded`);
});
