// Decodes Kubernetes protobuf request bodies (the `k8s\0` + runtime.Unknown envelope that kubectl's
// typed clients send) into the JSON form the API server would otherwise have received: JSON field
// names, maps as objects, bytes as base64, metav1 time and quantity types in their string forms, and
// Go's omitempty applied, so the result can go through the same path as a JSON body.
import { errors, StatusError } from '../status.js';
import {
  DURATION,
  FIELDS_V1,
  INT_OR_STRING,
  MICRO_TIME,
  QUANTITY,
  RAW_EXTENSION,
  TIME,
  message,
  messageForKind,
  type FieldFact,
  type MessageFact,
} from './schema.js';
import { formatDuration, formatTime, isZeroTime } from './time.js';
import {
  Reader,
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
  WireError,
  varintToSigned64,
  varintToUnsigned,
  varintToZigzag64,
} from './wire.js';

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
/** Every Kubernetes protobuf object starts with these bytes: "k8s" and a zero. */
export const PROTOBUF_MAGIC: Uint8Array = Uint8Array.from([0x6b, 0x38, 0x73, 0x00]);

export interface DecodedObject {
  apiVersion: string;
  kind: string;
  /** The object in its JSON form, apiVersion and kind included. */
  object: Record<string, unknown>;
}

/** Deeper nesting than any Kubernetes type has; it bounds recursion on hostile input. */
const MAX_DEPTH = 64;

/** A type the table does not describe: the server, not the body, is at fault. */
class UnsupportedType extends Error {}

const utf8 = new TextDecoder('utf-8');

/**
 * Decodes a whole protobuf request body. Throws StatusError 400 for malformed bytes and 415 for
 * kinds this server cannot decode from protobuf; never anything else.
 */
export function decodeKubernetesProtobuf(body: Uint8Array): DecodedObject {
  return decodeEnvelope(body, 0);
}

function decodeEnvelope(body: Uint8Array, depth: number): DecodedObject {
  if (body.length < PROTOBUF_MAGIC.length || PROTOBUF_MAGIC.some((b, i) => body[i] !== b)) {
    throw errors.badRequest('protobuf body does not start with the Kubernetes "k8s\\x00" prefix');
  }
  let apiVersion = '';
  let kind = '';
  try {
    const env = readEnvelope(body);
    apiVersion = env.apiVersion;
    kind = env.kind;
    if (!kind || !apiVersion) throw errors.badRequest('protobuf body has no apiVersion or kind in its envelope');
    if (env.contentEncoding) throw unsupported(`protobuf content encoding "${env.contentEncoding}" is not supported; send the object as application/json`);
    if (env.contentType && env.contentType !== PROTOBUF_MEDIA_TYPE) {
      throw unsupported(`protobuf envelope content type "${env.contentType}" is not supported; send the object as application/json`);
    }
    const name = messageForKind(apiVersion, kind);
    if (!name) throw unsupportedKind(apiVersion, kind);
    const fields = decodeFields(env.raw, 0, env.raw.length, message(name)!, depth + 1);
    return { apiVersion, kind, object: { apiVersion, kind, ...fields } };
  } catch (e) {
    if (e instanceof StatusError) throw e;
    if (e instanceof UnsupportedType) throw unsupportedKind(apiVersion, kind, e.message);
    const what = kind ? `${kind} ` : '';
    throw errors.badRequest(`unable to decode protobuf ${what}body: ${(e as Error).message}`);
  }
}

function unsupported(message: string): StatusError {
  return new StatusError(415, 'UnsupportedMediaType', message);
}

function unsupportedKind(apiVersion: string, kind: string, why?: string): StatusError {
  const detail = why ? ` (${why})` : '';
  return unsupported(`${kind || 'an object'} of ${apiVersion || 'no apiVersion'} cannot be decoded from ${PROTOBUF_MEDIA_TYPE} by this server${detail}; send it as application/json`);
}

interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
  contentType: string;
}

/** runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType. */
function readEnvelope(body: Uint8Array): Envelope {
  const env: Envelope = { apiVersion: '', kind: '', raw: new Uint8Array(0), contentEncoding: '', contentType: '' };
  const r = new Reader(body, PROTOBUF_MAGIC.length);
  while (!r.done()) {
    const [no, wt] = tag(r);
    if (wt !== WIRE_BYTES) {
      r.skip(wt);
      continue;
    }
    const bytes = r.bytes();
    if (no === 1) {
      const t = new Reader(bytes);
      while (!t.done()) {
        const [tn, twt] = tag(t);
        if (twt !== WIRE_BYTES) t.skip(twt);
        else if (tn === 1) env.apiVersion = utf8.decode(t.bytes());
        else if (tn === 2) env.kind = utf8.decode(t.bytes());
        else t.skip(twt);
      }
    } else if (no === 2) env.raw = bytes;
    else if (no === 3) env.contentEncoding = utf8.decode(bytes);
    else if (no === 4) env.contentType = utf8.decode(bytes);
  }
  return env;
}

function tag(r: Reader): [number, number] {
  const t = r.uint32();
  const no = t >>> 3;
  if (no === 0) throw new WireError(`field number 0 at offset ${r.pos}`);
  return [no, t & 7];
}

function fieldOf(msg: MessageFact, no: number): FieldFact | undefined {
  const key = String(no);
  return Object.hasOwn(msg.fields, key) ? msg.fields[key] : undefined;
}

/** Sets a property even when its name is "__proto__" (map keys come from the client). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function decodeFields(buf: Uint8Array, start: number, end: number, msg: MessageFact, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new WireError(`messages nested deeper than ${MAX_DEPTH}`);
  const out: Record<string, unknown> = {};
  const r = new Reader(buf, start, end);
  while (!r.done()) {
    const [no, wt] = tag(r);
    const f = fieldOf(msg, no);
    if (!f) {
      r.skip(wt);
      continue;
    }
    if (f.key !== undefined) {
      expectWire(f, wt, WIRE_BYTES);
      const [s, e] = r.span();
      const [k, v] = mapEntry(buf, s, e, f, depth + 1);
      const map = (out[f.name] ??= {}) as Record<string, unknown>;
      setOwn(map, k, v);
    } else if (f.repeated) {
      const list = (out[f.name] ??= []) as unknown[];
      if (wt === WIRE_BYTES && isPackable(f.type)) {
        const [s, e] = r.span();
        const packed = new Reader(buf, s, e);
        while (!packed.done()) list.push(scalar(packed, f, wireTypeOf(f.type)));
      } else list.push(value(r, buf, f, wt, depth));
    } else {
      const v = value(r, buf, f, wt, depth);
      const prev = out[f.name];
      if (f.inline) Object.assign(out, v);
      // A repeated occurrence of a message field merges into it, as protobuf specifies; embedded
      // JSON documents (FieldsV1, RawExtension) are replaced instead, their keys being client data.
      else if (isPlainObject(prev) && isPlainObject(v) && f.type !== FIELDS_V1 && f.type !== RAW_EXTENSION) Object.assign(prev, v);
      else out[f.name] = v;
    }
  }
  for (const f of Object.values(msg.fields)) {
    if (f.omitEmpty && Object.hasOwn(out, f.name) && isEmpty(out[f.name], f)) delete out[f.name];
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's omitempty: zero scalars and empty maps and slices; structs are never left out. */
function isEmpty(v: unknown, f: FieldFact): boolean {
  if (v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (f.key !== undefined && isPlainObject(v)) return Object.keys(v).length === 0;
  return false;
}

function mapEntry(buf: Uint8Array, start: number, end: number, f: FieldFact, depth: number): [string, unknown] {
  const keyField: FieldFact = { name: 'key', type: f.key! };
  const valueField: FieldFact = { name: 'value', type: f.type };
  let key: unknown = zero(f.key!);
  let val: unknown;
  const r = new Reader(buf, start, end);
  while (!r.done()) {
    const [no, wt] = tag(r);
    if (no === 1) key = value(r, buf, keyField, wt, depth);
    else if (no === 2) val = value(r, buf, valueField, wt, depth);
    else r.skip(wt);
  }
  if (val === undefined) val = isScalar(f.type) ? zero(f.type) : messageValue(buf, start, start, f.type, depth + 1);
  return [String(key), val];
}

function value(r: Reader, buf: Uint8Array, f: FieldFact, wt: number, depth: number): unknown {
  if (isScalar(f.type)) return scalar(r, f, wt);
  expectWire(f, wt, WIRE_BYTES);
  const [s, e] = r.span();
  return messageValue(buf, s, e, f.type, depth + 1);
}

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool']);
const FIXED64_TYPES = new Set(['fixed64', 'sfixed64', 'double']);
const FIXED32_TYPES = new Set(['fixed32', 'sfixed32', 'float']);

function isScalar(type: string): boolean {
  return VARINT_TYPES.has(type) || FIXED64_TYPES.has(type) || FIXED32_TYPES.has(type) || type === 'string' || type === 'bytes';
}

function isPackable(type: string): boolean {
  return VARINT_TYPES.has(type) || FIXED64_TYPES.has(type) || FIXED32_TYPES.has(type);
}

function wireTypeOf(type: string): number {
  if (VARINT_TYPES.has(type)) return WIRE_VARINT;
  if (FIXED64_TYPES.has(type)) return WIRE_FIXED64;
  if (FIXED32_TYPES.has(type)) return WIRE_FIXED32;
  return WIRE_BYTES;
}

function expectWire(f: FieldFact, got: number, want: number): void {
  if (got !== want) throw new WireError(`field ${f.name} has wire type ${got}, expected ${want}`);
}

function zero(type: string): unknown {
  if (type === 'string' || type === 'bytes') return '';
  if (type === 'bool') return false;
  return 0;
}

function scalar(r: Reader, f: FieldFact, wt: number): unknown {
  expectWire(f, wt, wireTypeOf(f.type));
  switch (f.type) {
    case 'string':
      return utf8.decode(r.bytes());
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    case 'bool': {
      const v = r.varint();
      return v.lo !== 0 || v.hi !== 0;
    }
    case 'int32':
      return r.varint().lo | 0;
    case 'uint32':
      return r.varint().lo;
    case 'int64':
      return varintToSigned64(r.varint());
    case 'uint64':
      return varintToUnsigned(r.varint());
    case 'sint32': {
      const lo = r.varint().lo;
      return (lo >>> 1) ^ -(lo & 1);
    }
    case 'sint64':
      return varintToZigzag64(r.varint());
    case 'fixed32':
      return view(r.fixed32()).getUint32(0, true);
    case 'sfixed32':
      return view(r.fixed32()).getInt32(0, true);
    case 'float':
      return view(r.fixed32()).getFloat32(0, true);
    case 'fixed64':
      return Number(view(r.fixed64()).getBigUint64(0, true));
    case 'sfixed64':
      return Number(view(r.fixed64()).getBigInt64(0, true));
    case 'double':
      return view(r.fixed64()).getFloat64(0, true);
    default:
      throw new UnsupportedType(`unknown scalar type ${f.type}`);
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function messageValue(buf: Uint8Array, start: number, end: number, type: string, depth: number): unknown {
  const msg = message(type);
  if (!msg) throw new UnsupportedType(`it contains ${type}, which this server has no description of`);
  switch (type) {
    case TIME:
    case MICRO_TIME: {
      // Kubernetes writes the zero time as an empty message; JSON has null for it.
      if (start === end) return null;
      const t = decodeFields(buf, start, end, msg, depth);
      const seconds = (t.seconds as number | undefined) ?? 0;
      const nanos = (t.nanos as number | undefined) ?? 0;
      if (isZeroTime(seconds, nanos)) return null;
      return formatTime(seconds, nanos, type === TIME ? 0 : 6);
    }
    case DURATION:
      return formatDuration(durationNanos(buf, start, end));
    case QUANTITY: {
      const q = decodeFields(buf, start, end, msg, depth);
      return typeof q.string === 'string' ? q.string : '0';
    }
    case INT_OR_STRING: {
      const v = decodeFields(buf, start, end, msg, depth);
      return v.type === 1 ? ((v.strVal as string | undefined) ?? '') : ((v.intVal as number | undefined) ?? 0);
    }
    case FIELDS_V1:
    case RAW_EXTENSION:
      return embeddedJson(buf, start, end, depth);
  }
  if (msg.list) {
    const v = decodeFields(buf, start, end, msg, depth);
    return (v[msg.fields['1']!.name] as unknown[] | undefined) ?? [];
  }
  return decodeFields(buf, start, end, msg, depth);
}

function durationNanos(buf: Uint8Array, start: number, end: number): bigint {
  let nanos = 0n;
  const r = new Reader(buf, start, end);
  while (!r.done()) {
    const [no, wt] = tag(r);
    if (no !== 1) {
      r.skip(wt);
      continue;
    }
    if (wt !== WIRE_VARINT) throw new WireError(`field duration has wire type ${wt}, expected ${WIRE_VARINT}`);
    const v = r.varint();
    nanos = BigInt.asIntN(64, (BigInt(v.hi) << 32n) | BigInt(v.lo));
  }
  return nanos;
}

/** FieldsV1 and RawExtension hold a document in field 1: JSON, or a nested protobuf object. */
function embeddedJson(buf: Uint8Array, start: number, end: number, depth: number): unknown {
  let raw: Uint8Array | undefined;
  const r = new Reader(buf, start, end);
  while (!r.done()) {
    const [no, wt] = tag(r);
    if (no === 1 && wt === WIRE_BYTES) raw = r.bytes();
    else r.skip(wt);
  }
  if (!raw || raw.length === 0) return null;
  if (raw.length >= PROTOBUF_MAGIC.length && PROTOBUF_MAGIC.every((b, i) => raw![i] === b)) {
    if (depth > MAX_DEPTH) throw new WireError(`messages nested deeper than ${MAX_DEPTH}`);
    return decodeEnvelope(raw, depth).object;
  }
  try {
    return JSON.parse(utf8.decode(raw)) as unknown;
  } catch {
    throw new WireError('an embedded object is neither JSON nor Kubernetes protobuf');
  }
}
