// Fuzzing the write paths: thousands of mangled manifests, bodies and patches from a few concurrent
// clients. The server must stay up, never answer 5xx, answer every refusal with a Status, and
// never store a half-written object. Seeded: FUZZ_SEED=<n> replays a run (the seed is printed);
// FUZZ_REQUESTS and FUZZ_SECONDS bound it.
import test from 'ava';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiClient, prng, type ApiClient } from '../helpers/api-client.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);
const CLIENTS = 4;
const NS = 'fuzz';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Rand = () => number;

interface Kind {
  name: string;
  collection: string;
  kubectl: string;
  base(name: string): { [k: string]: Json };
}

const asJson = (x: object) => x as { [k: string]: Json };

const KINDS: Kind[] = [
  {
    name: 'ConfigMap',
    collection: `/api/v1/namespaces/${NS}/configmaps`,
    kubectl: 'configmaps',
    base: (name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 'fuzz' }, annotations: { a: 'b' } }, data: { key: 'value', other: 'x' }, binaryData: { bin: 'AAEC' } }),
  },
  {
    name: 'Secret',
    collection: `/api/v1/namespaces/${NS}/secrets`,
    kubectl: 'secrets',
    base: (name) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data: { p: 'cGFzcw==' }, stringData: { q: 'plain' } }),
  },
  {
    name: 'Service',
    collection: `/api/v1/namespaces/${NS}/services`,
    kubectl: 'services',
    base: (name) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels: { app: 'fuzz' } },
      spec: { selector: { app: 'fuzz' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' }], type: 'ClusterIP' },
    }),
  },
  {
    name: 'Pod',
    collection: `/api/v1/namespaces/${NS}/pods`,
    kubectl: 'pods',
    base: (name) => asJson({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'fuzz' } },
      spec: {
        restartPolicy: 'Always',
        containers: [
          {
            name: 'main',
            image: 'busybox:1.36',
            command: ['sleep', '3600'],
            env: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            ports: [{ containerPort: 8080, protocol: 'TCP' }],
            resources: { limits: { cpu: '100m', memory: '64Mi' }, requests: { cpu: '50m' } },
          },
        ],
        tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }],
      },
    }),
  },
  {
    name: 'Deployment',
    collection: `/apis/apps/v1/namespaces/${NS}/deployments`,
    kubectl: 'deployments.apps',
    base: (name) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels: { app: 'fuzz' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'fuzz' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } },
        template: { metadata: { labels: { app: 'fuzz' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] } },
      },
    }),
  },
];

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

const STRINGS = ['', ' ', 'a', 'A_B', '-x-', 'x'.repeat(64), 'x'.repeat(300), '..', '/', 'a/b', '$patch', 'delete', 'replace', '\u0000', '\ud800', 'é', '🙂', '"', '\\', '\n', '1', 'true', 'null', '100m', '-1', '1e400', '2026-01-01T00:00:00Z'];
const NUMBERS = [0, -1, 1, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, 0.5, -0.000001, 65536, 65535, 3.14];
const KEYS = ['metadata', 'spec', 'status', 'data', 'name', 'namespace', 'labels', 'kind', 'apiVersion', 'items', 'containers', 'ports', 'selector', '$patch', '$retainKeys', '$setElementOrder/containers', '$deleteFromPrimitiveList/command', 'x', '', '__proto__', 'constructor'];

function randomString(r: Rand): string {
  if (r() < 0.6) return pick(r, STRINGS);
  const n = r() < 0.05 ? 50_000 + int(r, 50_000) : int(r, 40);
  let s = '';
  for (let i = 0; i < Math.min(n, 64); i++) s += String.fromCharCode(r() < 0.9 ? 32 + int(r, 95) : int(r, 0xffff));
  return n > 64 ? s.repeat(Math.ceil(n / 64)).slice(0, n) : s;
}

function randomValue(r: Rand, depth = 0): Json {
  const c = int(r, depth > 3 ? 4 : 7);
  switch (c) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, NUMBERS);
    case 3:
      return randomString(r);
    case 4:
      return Array.from({ length: int(r, 4) }, () => randomValue(r, depth + 1));
    case 5: {
      const o: { [k: string]: Json } = {};
      for (let i = int(r, 4); i > 0; i--) o[r() < 0.5 ? pick(r, KEYS) : randomString(r)] = randomValue(r, depth + 1);
      return o;
    }
    default:
      return r() < 0.5 ? Array.from({ length: 1000 + int(r, 5000) }, (_, i) => i) : { [randomString(r)]: randomValue(r, depth + 1) };
  }
}

/** Every (container, key) pair in a JSON tree, to choose a place to mutate. */
function slots(v: Json, out: [Json[] | { [k: string]: Json }, string | number][] = []): [Json[] | { [k: string]: Json }, string | number][] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) out.push([v, k]), slots(v[k]!, out);
  return out;
}

function deepNest(r: Rand): string {
  const n = pick(r, [100, 1000, 5000, 20_000, 100_000]);
  return r() < 0.5 ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
}

/** A manifest with a value nested n deep at a random place, built as text (too deep for JSON.stringify). */
function nestedManifest(r: Rand, base: { [k: string]: Json }): string {
  const n = pick(r, [50, 500, 3000, 20_000]);
  const open = Array.from({ length: n }, () => (r() < 0.5 ? '[' : '{"k":'));
  const nested = open.join('') + '"leaf"' + open.reverse().map((o) => (o === '[' ? ']' : '}')).join('');
  const m = structuredClone(base);
  const [parent, key] = pick(r, slots(m));
  (parent as Record<string | number, Json>)[key] = '__NESTED__';
  return JSON.stringify(m).replace('"__NESTED__"', nested);
}

function mutate(r: Rand, doc: { [k: string]: Json }): { [k: string]: Json } {
  const m = structuredClone(doc);
  for (let n = 1 + int(r, 4); n > 0; n--) {
    const s = slots(m);
    if (!s.length) break;
    const [parent, key] = pick(r, s);
    const p = parent as Record<string | number, Json>;
    switch (int(r, 7)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete p[key];
        break;
      case 1:
      case 2:
        p[key] = randomValue(r);
        break;
      case 3:
        p[key] = typeof p[key] === 'number' ? String(p[key]) : typeof p[key] === 'string' ? Number(p[key]) || 7 : [p[key]!];
        break;
      case 4:
        if (!Array.isArray(parent)) p[r() < 0.5 ? pick(r, KEYS) : randomString(r)] = randomValue(r);
        break;
      case 5: {
        // The name and namespace are the fields most worth breaking.
        const meta = (m.metadata ?? {}) as { [k: string]: Json };
        if (typeof meta !== 'object' || Array.isArray(meta)) break;
        meta[r() < 0.7 ? 'name' : pick(r, ['namespace', 'generateName', 'uid', 'resourceVersion', 'finalizers', 'ownerReferences', 'deletionTimestamp', 'creationTimestamp', 'managedFields'])] = r() < 0.5 ? randomString(r) : randomValue(r);
        break;
      }
      default:
        if (Array.isArray(p[key])) (p[key] as Json[]).push(...(p[key] as Json[]));
        else p[key] = { nested: p[key]! };
    }
  }
  return m;
}

const CONTENT_TYPES = ['application/yaml', 'application/vnd.kubernetes.protobuf', 'text/plain', 'application/json; charset=utf-8', 'application/merge-patch+json', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/*', 'garbage/\x7e;;;=', ';'];
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

/** Breaks the encoding of a body rather than its content. */
function corrupt(r: Rand, body: string): string | Buffer {
  switch (int(r, 8)) {
    case 0:
      return body.slice(0, int(r, body.length));
    case 1:
      return Buffer.from(Array.from({ length: int(r, 2000) }, () => int(r, 256)));
    case 2:
      return deepNest(r);
    case 3:
      return '\ufeff' + body;
    case 4:
      return body.replace(/"/, '');
    case 5:
      return body + body;
    case 6: {
      // A YAML document whose aliases expand far beyond its size.
      let y = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml-bomb\na0: &a0 ["x","x","x","x","x","x","x","x","x","x"]\n';
      const levels = 3 + int(r, 5);
      for (let i = 1; i <= levels; i++) y += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]\n`;
      return y;
    }
    default:
      return body.replace(/\d/g, () => String.fromCharCode(int(r, 128)));
  }
}

interface FuzzRequest {
  method: string;
  path: string;
  body?: string | Buffer;
  contentType?: string;
}

function randomPatch(r: Rand, kind: Kind, type: string): string {
  if (type === 'application/json-patch+json') {
    const ops = Array.from({ length: 1 + int(r, 4) }, () => {
      const op: { [k: string]: Json } = { op: pick(r, ['add', 'remove', 'replace', 'move', 'copy', 'test', 'frob']), path: pick(r, ['/metadata/labels/x', '/spec/replicas', '/data/key', '/spec/ports/0', '/spec/ports/-', '/metadata/name', '/kind', '', '/', '/spec/template/spec/containers/0/image', '/a~1b', '/status', '/metadata/finalizers/-']) };
      if (r() < 0.8) op.value = randomValue(r);
      if (r() < 0.3) op.from = pick(r, ['/metadata/labels', '/data', '/spec', '/nope']);
      return op;
    });
    return JSON.stringify(r() < 0.1 ? ops[0]! : ops);
  }
  const partial = mutate(r, kind.base('fuzz-target'));
  if (type === 'application/strategic-merge-patch+json' && r() < 0.5) {
    const spec = (partial.spec ?? (partial.spec = {})) as { [k: string]: Json };
    if (spec && typeof spec === 'object' && !Array.isArray(spec)) spec[pick(r, ['$patch', '$retainKeys', '$setElementOrder/ports', '$deleteFromPrimitiveList/finalizers'])] = randomValue(r);
  }
  if (r() < 0.5) {
    delete partial.apiVersion;
    delete partial.kind;
  }
  return JSON.stringify(partial);
}

function makeRequest(r: Rand, targets: Map<string, string>): FuzzRequest {
  const kind = pick(r, KINDS);
  const roll = r();
  let req: FuzzRequest;
  if (roll < 0.45) {
    const name = r() < 0.7 ? `f-${int(r, 1e9).toString(36)}` : randomString(r);
    const body = r() < 0.1 ? nestedManifest(r, kind.base(name)) : JSON.stringify(mutate(r, kind.base(name)));
    req = { method: 'POST', path: kind.collection, body };
  } else if (roll < 0.6) {
    const doc = mutate(r, kind.base('fuzz-target'));
    const meta = doc.metadata as { [k: string]: Json } | undefined;
    if (meta && typeof meta === 'object' && !Array.isArray(meta) && r() < 0.5) meta.resourceVersion = targets.get(kind.name) ?? '1';
    req = { method: 'PUT', path: `${kind.collection}/fuzz-target`, body: JSON.stringify(doc) };
  } else if (roll < 0.9) {
    const type = pick(r, PATCH_TYPES);
    const q = type.includes('apply') ? `?fieldManager=fuzz${r() < 0.5 ? '&force=true' : ''}` : '';
    req = { method: 'PATCH', path: `${kind.collection}/fuzz-target${q}`, body: randomPatch(r, kind, type), contentType: type };
  } else if (roll < 0.95) {
    req = { method: 'DELETE', path: `${kind.collection}/f-${int(r, 1e9).toString(36)}`, body: JSON.stringify(randomValue(r)) };
  } else {
    // Bounded: past Node's 16 KiB header limit the HTTP layer answers 431 before the API server sees it.
    const q = pick(r, ['labelSelector=', 'fieldSelector=', 'limit=', 'continue=', 'resourceVersion=', 'resourceVersionMatch=', 'watch=false&x=']) + encodeURIComponent(randomString(r).slice(0, 1000).replace(/[\ud800-\udfff]/g, '\ufffd'));
    req = { method: 'GET', path: `${kind.collection}?${q}` };
  }
  if (req.body !== undefined && r() < 0.15) req.body = corrupt(r, String(req.body));
  if (req.body !== undefined && r() < 0.1) req.contentType = pick(r, CONTENT_TYPES);
  if (req.body !== undefined && r() < 0.05) req.contentType = pick(r, CONTENT_TYPES.concat(PATCH_TYPES));
  return req;
}

let srv: TestServer;
let api: ApiClient;

test.before(async () => {
  srv = await startServer();
  api = apiClient(srv.kubeconfig, { maxSockets: CLIENTS + 2 });
  const ns = await api.request('POST', '/api/v1/namespaces', { body: JSON.stringify({ metadata: { name: NS } }) });
  if (ns.status !== 201) throw new Error(`namespace: ${ns.status} ${ns.text}`);
});

test.after.always(async () => {
  api?.close();
  await srv?.stop();
});

test.serial('mangled manifests, bodies and patches: no crash, no 5xx, Status for every refusal, nothing half-written', async (t) => {
  t.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  console.log(`fuzz seed: ${SEED}`);
  const targets = new Map<string, string>();
  for (const k of KINDS) {
    const res = await api.request('POST', k.collection, { body: JSON.stringify(k.base('fuzz-target')) });
    t.is(res.status, 201, `${k.name}: ${res.text}`);
    targets.set(k.name, res.json().metadata.resourceVersion);
  }

  const failures: string[] = [];
  const codes = new Map<number, number>();
  let next = 0;
  const deadline = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < REQUESTS && Date.now() < deadline && failures.length < 20) {
        const i = next++;
        // One generator per request: a request can be rebuilt from the seed and its index alone.
        const r = prng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
        const fr = makeRequest(r, targets);
        const what = () => `#${i} ${fr.method} ${fr.path.slice(0, 120)} [${fr.contentType ?? 'application/json'}] ${String(fr.body ?? '').slice(0, 200)}`;
        let res;
        try {
          res = await api.request(fr.method, fr.path, { body: fr.body, contentType: fr.body !== undefined ? fr.contentType ?? 'application/json' : undefined, timeoutMs: 30_000 });
        } catch (e) {
          failures.push(`no answer: ${(e as Error).message} <- ${what()}`);
          continue;
        }
        codes.set(res.status, (codes.get(res.status) ?? 0) + 1);
        if (res.status >= 500) {
          failures.push(`${res.status} ${res.text.slice(0, 300)} <- ${what()}`);
          continue;
        }
        if (res.status >= 400) {
          let st: { kind?: string; code?: number; reason?: string } | undefined;
          try {
            st = JSON.parse(res.text);
          } catch {
            /* reported below */
          }
          if (st?.kind !== 'Status' || st.code !== res.status || !st.reason) failures.push(`${res.status} without a proper Status: ${res.text.slice(0, 300)} <- ${what()}`);
        }
      }
    }),
  );
  t.log(`${next} requests; answers by code: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => a[0] - b[0])))}`);
  t.deepEqual(failures, [], `seed ${SEED}`);
  t.true(next >= Math.min(REQUESTS, 500), `only ${next} requests in ${SECONDS}s`);

  // The process is alive and serving.
  t.is(srv.proc.exitCode, null, srv.output().slice(-2000));
  t.is(srv.proc.signalCode, null);
  t.is((await api.request('GET', '/readyz')).status, 200);

  // Every stored object is whole, and reads the same alone as in the list.
  for (const k of KINDS) {
    const list = await api.request('GET', k.collection.replace(`/namespaces/${NS}`, ''));
    t.is(list.status, 200, `${k.name}: ${list.text.slice(0, 300)}`);
    const items = list.json().items as { kind?: string; apiVersion?: string; metadata: { name?: string; namespace?: string; uid?: string; creationTimestamp?: string; resourceVersion?: string } }[];
    for (const o of items) {
      const m = o.metadata;
      const id = `${k.name} ${m?.namespace}/${m?.name}`;
      t.true(typeof m?.name === 'string' && m.name.length > 0, id);
      t.regex(m?.uid ?? '', /^[0-9a-f-]{36}$/, id);
      t.regex(m?.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, id);
      t.regex(m?.resourceVersion ?? '', /^\d+$/, id);
      t.is(o.kind, k.name, id);
      if (m?.namespace === NS && m.name) {
        const one = await api.request('GET', `${k.collection}/${encodeURIComponent(m.name)}`);
        // The controllers keep working (scheduling conditions, scaling): an object changed or
        // removed since the LIST is compared only when both reads saw the same version.
        if (one.status === 404) continue;
        t.is(one.status, 200, id);
        const got = one.json() as typeof o;
        if (got.metadata.resourceVersion === m.resourceVersion) t.deepEqual(got, o, `${id}: GET and LIST disagree`);
      }
    }
  }
  for (const k of KINDS) {
    const table = await srv.kubectl(['get', k.kubectl, '-A']);
    t.is(table.code, 0, `kubectl get ${k.kubectl}: ${table.stderr}`);
    const json = await srv.kubectl(['get', k.kubectl, '-A', '-o', 'json']);
    t.is(json.code, 0, `kubectl get ${k.kubectl} -o json: ${json.stderr}`);
    t.notThrows(() => JSON.parse(json.stdout), k.kubectl);
    const yaml = await srv.kubectl(['get', k.kubectl, '-n', NS, '-o', 'yaml']);
    t.is(yaml.code, 0, `kubectl get ${k.kubectl} -o yaml: ${yaml.stderr}`);
  }
});
