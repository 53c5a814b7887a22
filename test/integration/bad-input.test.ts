// Bad input over raw HTTPS: every refusal is a Status with the right code and reason, the few
// lenient paths (YAML bodies, fieldValidation=Warn) work, and none of the refused requests changes
// what is stored.
import test, { type ExecutionContext } from 'ava';
import { startServer, type TestServer } from '../helpers/server.js';
import { apiClient, type ApiClient, type ApiResponse, type RequestOptions } from '../helpers/api-client.js';

let srv: TestServer;
let api: ApiClient;
const NS = 'bad-input';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
const DEPLOY = `/apis/apps/v1/namespaces/${NS}/deployments`;
/** names the lenient tests create on purpose; everything else must be left as it was */
const createdOnPurpose = new Set<string>();
let before: Map<string, string>;

const cm = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' }, ...extra });

async function state(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of [CM, DEPLOY, `/api/v1/namespaces/${NS}/secrets`, `/api/v1/namespaces/${NS}/services`, '/api/v1/namespaces']) {
    const res = await api.request('GET', path);
    if (res.status !== 200) throw new Error(`list ${path}: ${res.status} ${res.text}`);
    for (const o of res.json().items) out.set(`${path} ${o.metadata.name}`, `${o.metadata.resourceVersion} ${o.metadata.uid}`);
  }
  return out;
}

test.before(async () => {
  // The API server alone: no controller may change objects between the before and after snapshots.
  srv = await startServer({ args: ['--disable-controllers'] });
  api = apiClient(srv.kubeconfig);
  const ns = await api.request('POST', '/api/v1/namespaces', { body: JSON.stringify({ metadata: { name: NS } }) });
  if (ns.status !== 201) throw new Error(`namespace: ${ns.status} ${ns.text}`);
  const ex = await api.request('POST', CM, { body: cm('existing') });
  if (ex.status !== 201) throw new Error(`existing: ${ex.status} ${ex.text}`);
  const d = await api.request('POST', DEPLOY, {
    body: JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
    }),
  });
  if (d.status !== 201) throw new Error(`deployment: ${d.status} ${d.text}`);
  before = await state();
});

test.after.always(async () => {
  api?.close();
  await srv?.stop();
});

/** Checks a refusal: the HTTP code, a Status body that agrees with it, and the reason. */
function refused(t: ExecutionContext, res: ApiResponse, code: number, reason?: string, what = ''): any {
  t.is(res.status, code, `${what}: ${res.text.slice(0, 400)}`);
  const st = res.json();
  t.is(st.kind, 'Status', what);
  t.is(st.apiVersion, 'v1', what);
  t.is(st.status, 'Failure', what);
  t.is(st.code, res.status, `${what}: the Status code agrees with the HTTP code`);
  t.is(typeof st.reason, 'string', what);
  t.is(typeof st.message, 'string', what);
  if (reason) t.is(st.reason, reason, what);
  t.regex(String(res.headers['content-type']), /^application\/json/, what);
  return st;
}

async function req(method: string, path: string, opts?: RequestOptions) {
  return api.request(method, path, opts);
}

test.serial('malformed JSON is 400 BadRequest', async (t) => {
  for (const body of ['{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"', '{]', 'nul', '{"a":1}}', '\u0000\u0001']) {
    refused(t, await req('POST', CM, { body }), 400, 'BadRequest', JSON.stringify(body));
  }
});

test.serial('a body that is not an object, or empty, is 400', async (t) => {
  for (const body of ['[]', '"configmap"', '42', 'null', 'true']) {
    refused(t, await req('POST', CM, { body }), 400, 'BadRequest', body);
  }
  refused(t, await req('POST', CM, { body: '' }), 400, 'BadRequest', 'empty body');
  refused(t, await req('POST', CM, { body: '   \n' }), 400, 'BadRequest', 'blank body');
});

test.serial('a YAML body with Content-Type application/yaml is accepted', async (t) => {
  const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n  labels:\n    fmt: yaml\ndata:\n  answer: "42"\n  list: |\n    a\n    b\n';
  const res = await req('POST', CM, { body: yaml, contentType: 'application/yaml' });
  t.is(res.status, 201, res.text);
  createdOnPurpose.add(`${CM} from-yaml`);
  const got = (await req('GET', `${CM}/from-yaml`)).json();
  t.deepEqual(got.data, { answer: '42', list: 'a\nb\n' });
  t.is(got.metadata.labels.fmt, 'yaml');
  refused(t, await req('POST', CM, { body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: [\n', contentType: 'application/yaml' }), 400, 'BadRequest', 'broken YAML');
});

test.serial('unknown content types are 415; a JSON body sent as protobuf is 400', async (t) => {
  // Protobuf bodies are accepted (kubectl's generators send them), so JSON under that type is malformed.
  refused(t, await req('POST', CM, { body: cm('proto'), contentType: 'application/vnd.kubernetes.protobuf' }), 400, 'BadRequest', 'json as protobuf');
  for (const type of ['text/plain', 'application/xml', 'application/cbor']) {
    refused(t, await req('POST', CM, { body: cm('proto'), contentType: type }), 415, 'UnsupportedMediaType', type);
  }
  // A patch with a content type that is no patch type.
  refused(t, await req('PATCH', `${CM}/existing`, { body: '{"data":{"a":"2"}}', contentType: 'application/json' }), 415, 'UnsupportedMediaType', 'patch as application/json');
  refused(t, await req('PATCH', `${CM}/existing`, { body: '{"data":{"a":"2"}}', contentType: 'application/vnd.kubernetes.protobuf' }), 415, 'UnsupportedMediaType', 'patch as protobuf');
});

test.serial('asking only for protobuf answers is 406', async (t) => {
  refused(t, await req('GET', `${CM}/existing`, { headers: { Accept: 'application/vnd.kubernetes.protobuf' } }), 406, 'NotAcceptable');
});

test.serial('the wrong kind or apiVersion for the URL is 400', async (t) => {
  const st = refused(t, await req('POST', CM, { body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'wrong-kind' } }) }), 400, 'BadRequest', 'Secret to configmaps');
  t.regex(st.message, /kind/);
  refused(t, await req('POST', CM, { body: JSON.stringify({ apiVersion: 'apps/v1', kind: 'ConfigMap', metadata: { name: 'wrong-version' } }) }), 400, 'BadRequest', 'apps/v1 ConfigMap');
  refused(t, await req('POST', DEPLOY, { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-as-deploy' } }) }), 400, 'BadRequest', 'ConfigMap to deployments');
});

test.serial('an unknown field is 400 under fieldValidation=Strict (naming it) and 201 with a Warning under Warn', async (t) => {
  const body = cm('unknown-field', { spec: { x: 1 }, extra: 'y' });
  const strict = refused(t, await req('POST', `${CM}?fieldValidation=Strict`, { body }), 400, 'BadRequest', 'Strict');
  t.regex(strict.message, /unknown field "spec"/);
  t.regex(strict.message, /unknown field "extra"/);
  const deep = JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'typo' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i', imagePullPolicyy: 'Always' }] } } },
  });
  const st2 = refused(t, await req('POST', `${DEPLOY}?fieldValidation=Strict`, { body: deep }), 400, 'BadRequest', 'Strict, nested');
  t.regex(st2.message, /spec\.template\.spec\.containers\[0\]\.imagePullPolicyy/);

  const warn = await req('POST', `${CM}?fieldValidation=Warn`, { body });
  t.is(warn.status, 201, warn.text);
  createdOnPurpose.add(`${CM} unknown-field`);
  const warning = ([] as string[]).concat(warn.headers['warning'] ?? []).join('\n');
  t.regex(warning, /^299 - "/);
  t.regex(warning, /unknown field \\?"spec\\?"/);
  const stored = warn.json();
  t.is(stored.spec, undefined, 'unknown fields are dropped, not stored');
  t.is(stored.extra, undefined);

  refused(t, await req('POST', `${CM}?fieldValidation=Sometimes`, { body: cm('bogus-validation') }), 400, 'BadRequest', 'fieldValidation=Sometimes');
});

test.serial('an invalid name is 422 Invalid with a cause on metadata.name', async (t) => {
  for (const name of ['Bad_Name', 'UPPER', '-lead', 'a'.repeat(254), 'dots..twice', '']) {
    const st = refused(t, await req('POST', CM, { body: cm(name) }), 422, 'Invalid', JSON.stringify(name));
    t.true((st.details?.causes ?? []).some((c: { field?: string }) => c.field === 'metadata.name'), `causes for ${JSON.stringify(name)}: ${JSON.stringify(st.details)}`);
    t.is(st.details?.kind, 'ConfigMap');
  }
  // Deployment-specific validation names its field.
  const st = refused(
    t,
    await req('POST', DEPLOY, { body: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'neg' }, spec: { replicas: -1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } }) }),
    422,
    'Invalid',
    'replicas -1',
  );
  t.true(st.details.causes.some((c: { field?: string }) => c.field === 'spec.replicas'), JSON.stringify(st.details));
});

test.serial('a missing namespace is 404', async (t) => {
  const st = refused(t, await req('POST', '/api/v1/namespaces/no-such-ns/configmaps', { body: cm('orphan') }), 404, 'NotFound', 'create in a missing namespace');
  t.regex(st.message, /no-such-ns/);
  refused(t, await req('GET', '/api/v1/namespaces/no-such-ns/configmaps/x'), 404, 'NotFound', 'get in a missing namespace');
  refused(t, await req('GET', '/api/v1/nosuchresources'), 404, 'NotFound', 'unknown resource');
  refused(t, await req('GET', '/apis/nosuch.group/v1/things'), 404, 'NotFound', 'unknown group');
});

test.serial('a body over 3 MiB is 413, whether declared up front or streamed', async (t) => {
  const big = cm('huge', { data: { blob: 'x'.repeat(3 * 1024 * 1024 + 10) } });
  refused(t, await req('POST', CM, { body: big }), 413, 'RequestEntityTooLarge', 'declared length');
  refused(t, await req('POST', CM, { body: big, omitLength: true }), 413, 'RequestEntityTooLarge', 'chunked');
  refused(t, await req('PUT', `${CM}/existing`, { body: big }), 413, 'RequestEntityTooLarge', 'update');
  // The connection is still usable afterwards.
  t.is((await req('GET', `${CM}/existing`)).status, 200);
});

test.serial('bad label and field selectors are 400', async (t) => {
  for (const sel of ['a in (b', '!!=x', 'a=b=c', 'a in b', '=x', 'key with space=1', 'a,,b']) {
    refused(t, await req('GET', `${CM}?labelSelector=${encodeURIComponent(sel)}`), 400, 'BadRequest', `labelSelector ${sel}`);
  }
  for (const sel of ['spec.nope=x', 'data.a=1', 'metadata.labels=x', 'nonsense']) {
    refused(t, await req('GET', `${CM}?fieldSelector=${encodeURIComponent(sel)}`), 400, 'BadRequest', `fieldSelector ${sel}`);
  }
  // The same on a watch.
  refused(t, await req('GET', `${CM}?watch=true&fieldSelector=${encodeURIComponent('spec.nope=x')}`), 400, 'BadRequest', 'watch with a bad field selector');
  refused(t, await req('GET', `${CM}?watch=true&resourceVersion=abc`), 400, 'BadRequest', 'watch from a non-numeric resourceVersion');
  refused(t, await req('GET', `${CM}?limit=-1`), 400, 'BadRequest', 'limit=-1');
  refused(t, await req('GET', `${CM}?limit=ten`), 400, 'BadRequest', 'limit=ten');
  refused(t, await req('GET', `${CM}?limit=1&continue=not-a-token`), 400, 'BadRequest', 'bad continue token');
});

test.serial('bad patches are refused with a 4xx Status', async (t) => {
  const jp = 'application/json-patch+json';
  const cases: [string, string, string][] = [
    ['not an array', '{"op":"add","path":"/data/b","value":"2"}', jp],
    ['unknown op', '[{"op":"frobnicate","path":"/data/a"}]', jp],
    ['missing path', '[{"op":"add","value":"2"}]', jp],
    ['remove of a missing member', '[{"op":"remove","path":"/data/zzz"}]', jp],
    ['failing test op', '[{"op":"test","path":"/data/a","value":"not-1"}]', jp],
    ['bad pointer', '[{"op":"replace","path":"data/a","value":"2"}]', jp],
    ['malformed JSON', '[{"op":', jp],
    ['type change of data', '[{"op":"replace","path":"/data","value":7}]', jp],
    ['merge patch not JSON', '{"data":', 'application/merge-patch+json'],
    ['merge patch makes data a number', '{"data":5}', 'application/merge-patch+json'],
    ['merge patch renames the object', '{"metadata":{"name":"other"}}', 'application/merge-patch+json'],
    ['strategic patch with a bad directive', '{"data":{"$patch":"explode"}}', 'application/strategic-merge-patch+json'],
    ['apply patch of another kind', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: existing\n', 'application/apply-patch+yaml'],
  ];
  for (const [what, body, type] of cases) {
    const res = await req('PATCH', `${CM}/existing${type.includes('apply') ? '?fieldManager=test' : ''}`, { body, contentType: type });
    t.true(res.status >= 400 && res.status < 500, `${what}: ${res.status} ${res.text.slice(0, 300)}`);
    const st = res.json();
    t.is(st.kind, 'Status', what);
    t.is(st.code, res.status, what);
    t.truthy(st.reason, what);
  }
  refused(t, await req('PATCH', `${CM}/missing`, { body: '{"data":{"a":"2"}}', contentType: 'application/merge-patch+json' }), 404, 'NotFound', 'patch of a missing object');
  refused(t, await req('PATCH', `${CM}/existing?force=true`, { body: '{"data":{"a":"2"}}', contentType: 'application/merge-patch+json' }), 400, 'BadRequest', 'force on a merge patch');
});

test.serial('an update with a stale resourceVersion is 409 Conflict; mismatched names are 400', async (t) => {
  const cur = (await req('GET', `${CM}/existing`)).json();
  const stale = { ...cur, metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata.resourceVersion) - 1) }, data: { a: 'stale' } };
  const st = refused(t, await req('PUT', `${CM}/existing`, { body: JSON.stringify(stale) }), 409, 'Conflict', 'stale update');
  t.is(st.details?.name, 'existing');
  const bogus = { ...cur, metadata: { ...cur.metadata, resourceVersion: 'abc' }, data: { a: 'bogus' } };
  const r = await req('PUT', `${CM}/existing`, { body: JSON.stringify(bogus) });
  t.true(r.status === 400 || r.status === 409 || r.status === 422, `non-numeric resourceVersion: ${r.status} ${r.text}`);
  refused(t, await req('PUT', `${CM}/existing`, { body: JSON.stringify({ ...cur, metadata: { ...cur.metadata, name: 'someone-else' } }) }), 400, 'BadRequest', 'name in body differs from URL');
  refused(t, await req('PUT', `${CM}/existing`, { body: JSON.stringify({ ...cur, metadata: { ...cur.metadata, namespace: 'default' } }) }), 400, 'BadRequest', 'namespace in body differs from URL');
  const uid = await req('PUT', `${CM}/existing`, { body: JSON.stringify({ ...cur, metadata: { ...cur.metadata, uid: '00000000-0000-0000-0000-000000000000' } }) });
  t.true(uid.status === 409 || uid.status === 422, `changed uid: ${uid.status} ${uid.text}`);
});

test.serial('creating an existing object is 409 AlreadyExists', async (t) => {
  const st = refused(t, await req('POST', CM, { body: cm('existing', { data: { a: 'overwritten?' } }) }), 409, 'AlreadyExists', 'create existing');
  t.is(st.details?.name, 'existing');
  t.is(st.details?.kind, 'configmaps');
});

test.serial('bad query parameters and methods are refused', async (t) => {
  refused(t, await req('POST', `${CM}?dryRun=Maybe`, { body: cm('dry') }), 400, 'BadRequest', 'dryRun=Maybe');
  refused(t, await req('DELETE', `${CM}/existing?gracePeriodSeconds=soon`), 400, 'BadRequest', 'gracePeriodSeconds=soon');
  refused(t, await req('DELETE', `${CM}/existing`, { body: '{"gracePeriodSeconds":', contentType: 'application/json' }), 400, 'BadRequest', 'malformed DeleteOptions');
  refused(t, await req('DELETE', `${CM}/existing`, { body: '[1,2]', contentType: 'application/json' }), 400, 'BadRequest', 'DeleteOptions not an object');
  refused(t, await req('PUT', CM, { body: cm('x') }), 405, 'MethodNotAllowed', 'PUT on a collection');
  refused(t, await req('POST', `${CM}/existing`, { body: cm('existing') }), 405, 'MethodNotAllowed', 'POST on an object');
  refused(t, await req('POST', `${CM}?fieldManager=${'m'.repeat(200)}`, { body: cm('fm') }), 400, 'BadRequest', 'fieldManager too long');
  // A dry run that would succeed stores nothing.
  t.is((await req('POST', `${CM}?dryRun=All`, { body: cm('dry-run-only') })).status, 201);
});

test.serial('null labels and annotations are stored as absent, and label-selector lists keep working', async (t) => {
  const res = await req('POST', CM, { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'null-maps', labels: null, annotations: null }, data: { a: '1' } }) });
  t.is(res.status, 201, res.text);
  createdOnPurpose.add(`${CM} null-maps`);
  const o = res.json();
  const bad: string[] = [];
  for (const sel of ['a', 'a=b', '!a', 'x in (y)']) {
    const list = await req('GET', `${CM}?labelSelector=${encodeURIComponent(sel)}`);
    if (list.status !== 200) bad.push(`labelSelector ${sel}: ${list.status} ${list.text.slice(0, 200)}`);
  }
  t.deepEqual(bad, [], 'lists after storing null labels');
  t.deepEqual([o.metadata.labels, o.metadata.annotations].filter((x) => x === null), [], 'labels: null and annotations: null must not be stored');
});

test.serial('an unknown field whose name has a control character is still a 201 with a valid Warning header', async (t) => {
  const res = await req('POST', CM, { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ctl-field' }, data: { a: '1' }, 'x\u0001y': 1 }) });
  createdOnPurpose.add(`${CM} ctl-field`);
  t.is(res.status, 201, res.text.slice(0, 300));
  t.truthy(res.headers['warning']);
});

test.serial('deeply nested patch bodies are refused or applied, never a 5xx', async (t) => {
  const depth = 5000;
  const cases: [string, string][] = [
    ['application/merge-patch+json', `{"x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`],
    ['application/strategic-merge-patch+json', `{"x":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`],
    ['application/json-patch+json', `[${'['.repeat(depth)}${']'.repeat(depth)}]`],
    ['application/merge-patch+json', `${'['.repeat(depth)}${']'.repeat(depth)}`],
  ];
  const bad: string[] = [];
  for (const [type, body] of cases) {
    const res = await req('PATCH', `${CM}/existing`, { body, contentType: type });
    if (res.status >= 500) bad.push(`${type} ${body.slice(0, 12)}…: ${res.status} ${res.json().message}`);
  }
  t.deepEqual(bad, [], `${depth} deep`);
});

test.serial('no token is 401 and a wrong token is 401', async (t) => {
  const { request } = await import('node:https');
  const status = (auth?: string) =>
    new Promise<number>((resolve, reject) => {
      const r = request(`${api.creds.server}${CM}`, { ca: api.creds.ca, headers: auth ? { Authorization: auth } : {} }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', reject);
      r.end();
    });
  t.is(await status(), 401);
  t.is(await status('Bearer nope'), 401);
  t.is(await status(`Basic ${Buffer.from('a:b').toString('base64')}`), 401);
});

test.serial('nothing that was refused changed the stored state', async (t) => {
  const after = await state();
  for (const k of createdOnPurpose) after.delete(k);
  t.deepEqual([...after.entries()].sort(), [...before.entries()].sort());
});
