import test, { type ExecutionContext } from 'ava';
import { decodeKubernetesProtobuf } from '../../../apiserver/protobuf/decode.js';
import { encodeKubernetesProtobuf } from '../../../apiserver/protobuf/encode.js';
import { StatusError } from '../../../apiserver/status.js';
import { Writer } from '../../../apiserver/protobuf/wire.js';
import { KUBECTL_FIXTURES } from './fixtures.js';

/** Go writes nil slices and pointers as null where the decoder leaves them out; both mean unset. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
    return out;
  }
  return v;
}

for (const fx of KUBECTL_FIXTURES) {
  test(`kubectl body: ${fx.name}`, (t) => {
    const decoded = decodeKubernetesProtobuf(Buffer.from(fx.body, 'base64'));
    t.is(decoded.apiVersion, fx.expected.apiVersion as string);
    t.is(decoded.kind, fx.expected.kind as string);
    if (fx.expectedNote) t.deepEqual(dropNulls(decoded.object), dropNulls(fx.expected));
    else t.deepEqual(decoded.object, fx.expected);
  });

  test(`re-encoding decodes to the same object: ${fx.name}`, (t) => {
    const decoded = decodeKubernetesProtobuf(Buffer.from(fx.body, 'base64'));
    const again = decodeKubernetesProtobuf(encodeKubernetesProtobuf(decoded.apiVersion, decoded.kind, decoded.object));
    t.deepEqual(again, decoded);
  });
}

/** An envelope around hand-written raw bytes. */
function envelope(apiVersion: string, kind: string, raw: Uint8Array, extra?: (w: Writer) => void): Buffer {
  const enc = new TextEncoder();
  const typeMeta = new Writer().tag(1, 2).bytes(enc.encode(apiVersion)).tag(2, 2).bytes(enc.encode(kind)).finish();
  const w = new Writer().raw(Uint8Array.from([0x6b, 0x38, 0x73, 0])).tag(1, 2).bytes(typeMeta).tag(2, 2).bytes(raw);
  extra?.(w);
  return Buffer.from(w.finish());
}

function statusOf(t: ExecutionContext, fn: () => unknown): StatusError {
  return t.throws(fn, { instanceOf: StatusError })!;
}

test('an explicit zero in a pointer field stays; zero omitempty fields go', (t) => {
  // DeploymentSpec: 1 replicas (*int32), 5 minReadySeconds (int32, omitempty), 7 paused (bool, omitempty).
  const spec = new Writer().tag(1, 0).varint(0).tag(5, 0).varint(0).tag(7, 0).varint(0).finish();
  const raw = new Writer().tag(2, 2).bytes(spec).finish();
  const { object } = decodeKubernetesProtobuf(envelope('apps/v1', 'Deployment', raw));
  t.deepEqual(object, { apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 0 } });
});

test('unknown fields are skipped and packed repeated numbers are read', (t) => {
  // SupplementalGroups (PodSecurityContext field 4, repeated int64) packed; field 999 is unknown.
  const packed = new Writer().varint(1).varint(70000).varint(-1).finish();
  const psc = new Writer().tag(4, 2).bytes(packed).tag(4, 0).varint(5).tag(999, 5).raw(new Uint8Array(4)).finish();
  const podSpec = new Writer().tag(14, 2).bytes(psc).finish();
  const raw = new Writer().tag(2, 2).bytes(podSpec).tag(1000, 2).bytes(Uint8Array.from([1, 2, 3])).finish();
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'Pod', raw));
  t.deepEqual(object.spec, { securityContext: { supplementalGroups: [1, 70000, -1, 5] } });
});

test('map keys are own properties even when named __proto__', (t) => {
  const entry = new Writer().tag(1, 2).bytes(new TextEncoder().encode('__proto__')).tag(2, 2).bytes(new TextEncoder().encode('x')).finish();
  const meta = new Writer().tag(11, 2).bytes(entry).finish();
  const raw = new Writer().tag(1, 2).bytes(meta).finish();
  const { object } = decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', raw));
  const labels = (object.metadata as { labels: Record<string, unknown> }).labels;
  t.true(Object.hasOwn(labels, '__proto__'));
  t.is(Object.getPrototypeOf(labels), Object.prototype);
  t.is(JSON.stringify(labels), '{"__proto__":"x"}');
});

test('times: Time drops the fraction, MicroTime keeps microseconds, zero time is null', (t) => {
  const at = (s: number, n: number): Uint8Array => new Writer().tag(1, 0).varint(s).tag(2, 0).varint(n).finish();
  // Lease spec: 3 acquireTime, 4 renewTime (MicroTime).
  const lease = new Writer().tag(3, 2).bytes(at(1767323045, 123456789)).tag(4, 2).bytes(at(1767323045, 5000)).finish();
  const meta = new Writer().tag(8, 2).bytes(at(1767323045, 999999999)).tag(9, 2).bytes(at(-62135596800, 0)).finish();
  const raw = new Writer().tag(1, 2).bytes(meta).tag(2, 2).bytes(lease).finish();
  const { object } = decodeKubernetesProtobuf(envelope('coordination.k8s.io/v1', 'Lease', raw));
  t.deepEqual(object.metadata, { creationTimestamp: '2026-01-02T03:04:05Z', deletionTimestamp: null });
  t.deepEqual(object.spec, { acquireTime: '2026-01-02T03:04:05.123456Z', renewTime: '2026-01-02T03:04:05.000005Z' });
});

test('IntOrString and Quantity take their JSON forms', (t) => {
  const port = (type: number, i: number, s: string): Uint8Array =>
    new Writer().tag(1, 0).varint(type).tag(2, 0).varint(i).tag(3, 2).bytes(new TextEncoder().encode(s)).finish();
  const p1 = new Writer().tag(3, 0).varint(80).tag(4, 2).bytes(port(0, 8080, '')).finish();
  const p2 = new Writer().tag(3, 0).varint(81).tag(4, 2).bytes(port(1, 0, 'http')).finish();
  const spec = new Writer().tag(1, 2).bytes(p1).tag(1, 2).bytes(p2).finish();
  const svc = decodeKubernetesProtobuf(envelope('v1', 'Service', new Writer().tag(2, 2).bytes(spec).finish())).object;
  t.deepEqual(svc.spec, { ports: [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 'http' }] });
});

test('a kind without a protobuf description is a 415 that says to use JSON', (t) => {
  for (const [apiVersion, kind] of [
    ['apiextensions.k8s.io/v1', 'CustomResourceDefinition'],
    ['v1', 'Widget'],
    ['example.com/v1', 'Widget'],
    ['v1', 'PodSpec'],
  ] as const) {
    const err = statusOf(t, () => decodeKubernetesProtobuf(envelope(apiVersion, kind, new Uint8Array(0))));
    t.is(err.code, 415);
    t.is(err.reason, 'UnsupportedMediaType');
    t.regex(err.message, new RegExp(`${kind}.*application/json`));
  }
});

test('an unsupported envelope encoding is a 415', (t) => {
  const body = envelope('v1', 'ConfigMap', new Uint8Array(0), (w) => w.tag(3, 2).bytes(new TextEncoder().encode('gzip')));
  t.is(statusOf(t, () => decodeKubernetesProtobuf(body)).code, 415);
});

test('malformed bodies are 400s', (t) => {
  const cases: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from('{"kind":"ConfigMap"}'),
    Buffer.from([0x6b, 0x38, 0x73, 0]),
    Buffer.from([0x6b, 0x38, 0x73, 0, 0x0a, 0x05, 0x0a]),
    envelope('v1', 'ConfigMap', Uint8Array.from([0x0a, 0x7f])),
    envelope('v1', 'ConfigMap', Uint8Array.from([0x08, 0x01])),
    envelope('v1', 'ConfigMap', Uint8Array.from([0x0a, 0x02, 0x00, 0x00])),
    envelope('v1', 'ConfigMap', Uint8Array.from([0x0a, 0x02, 0x42, 0x80])),
    envelope('v1', 'ConfigMap', Uint8Array.from([0x22, 0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])),
  ];
  for (const body of cases) t.is(statusOf(t, () => decodeKubernetesProtobuf(body)).code, 400, body.toString('hex'));
});

test('deeply nested messages are refused, not a stack overflow', (t) => {
  // LabelSelector has no self-nesting, so nest RawExtension payloads (ControllerRevision.data).
  let raw: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 200; i++) {
    const inner = envelope('apps/v1', 'ControllerRevision', raw);
    const ext = new Writer().tag(1, 2).bytes(inner).finish();
    raw = new Writer().tag(2, 2).bytes(ext).finish();
  }
  t.is(statusOf(t, () => decodeKubernetesProtobuf(envelope('apps/v1', 'ControllerRevision', raw))).code, 400);
});
