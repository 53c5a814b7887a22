// Encodes an object from its JSON form into a Kubernetes protobuf body (`k8s\0` + runtime.Unknown),
// the inverse of decode.ts: what a protobuf reply would carry, and what tests feed the decoder.
import { errors, StatusError } from '../status.js';
import { PROTOBUF_MAGIC } from './decode.js';
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
import { parseDuration, parseTime } from './time.js';
import { WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64, WIRE_VARINT, Writer } from './wire.js';

const utf8 = new TextEncoder();

/** True when encodeKubernetesProtobuf can encode objects of this apiVersion/kind. */
export function canEncodeProtobuf(apiVersion: string, kind: string): boolean {
  return messageForKind(apiVersion, kind) !== undefined;
}

/**
 * Encodes `obj` (JSON form; its own apiVersion/kind are ignored) as the protobuf body of
 * apiVersion/kind. Throws StatusError 406 for kinds without a protobuf description and 500 for
 * values whose shape does not fit their field.
 */
export function encodeKubernetesProtobuf(apiVersion: string, kind: string, obj: Record<string, unknown>): Buffer {
  const name = messageForKind(apiVersion, kind);
  if (!name) throw errors.notAcceptable(`${kind} of ${apiVersion} cannot be encoded as protobuf by this server`);
  let raw: Uint8Array;
  try {
    raw = encodeMessage(obj, message(name)!, name);
  } catch (e) {
    if (e instanceof StatusError) throw e;
    throw errors.internal(`encoding ${kind} as protobuf: ${(e as Error).message}`);
  }
  const typeMeta = new Writer().tag(1, WIRE_BYTES).bytes(utf8.encode(apiVersion)).tag(2, WIRE_BYTES).bytes(utf8.encode(kind)).finish();
  const envelope = new Writer()
    .raw(PROTOBUF_MAGIC)
    .tag(1, WIRE_BYTES)
    .bytes(typeMeta)
    .tag(2, WIRE_BYTES)
    .bytes(raw)
    .tag(3, WIRE_BYTES)
    .bytes(new Uint8Array(0))
    .tag(4, WIRE_BYTES)
    .bytes(new Uint8Array(0))
    .finish();
  return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
}

function sortedFields(msg: MessageFact): [number, FieldFact][] {
  return Object.entries(msg.fields)
    .map(([k, f]) => [Number(k), f] as [number, FieldFact])
    .sort((a, b) => a[0] - b[0]);
}

function encodeMessage(obj: Record<string, unknown>, msg: MessageFact, type: string): Uint8Array {
  const w = new Writer();
  for (const [no, f] of sortedFields(msg)) {
    if (f.inline) {
      w.tag(no, WIRE_BYTES).bytes(encodeMessage(obj, messageOf(f.type), f.type));
      continue;
    }
    const v = Object.hasOwn(obj, f.name) ? obj[f.name] : undefined;
    if (v === undefined) continue;
    if (f.key !== undefined) {
      if (v === null) continue;
      if (!isObject(v)) throw new Error(`${type}.${f.name} must be an object`);
      for (const k of Object.keys(v).sort()) {
        const entry = new Writer();
        writeValue(entry, 1, { name: `${f.name} key`, type: f.key }, k);
        writeValue(entry, 2, { name: `${f.name}[${k}]`, type: f.type }, v[k]);
        w.tag(no, WIRE_BYTES).bytes(entry.finish());
      }
    } else if (f.repeated) {
      if (v === null) continue;
      if (!Array.isArray(v)) throw new Error(`${type}.${f.name} must be an array`);
      for (const item of v) writeValue(w, no, f, item);
    } else writeValue(w, no, f, v);
  }
  return w.finish();
}

function messageOf(type: string): MessageFact {
  const m = message(type);
  if (!m) throw new Error(`no description of ${type}`);
  return m;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function writeValue(w: Writer, no: number, f: FieldFact, v: unknown): void {
  const bad = (want: string): Error => new Error(`${f.name} must be ${want}, got ${JSON.stringify(v)}`);
  switch (f.type) {
    case 'string':
      if (typeof v !== 'string') throw bad('a string');
      w.tag(no, WIRE_BYTES).bytes(utf8.encode(v));
      return;
    case 'bytes':
      if (typeof v !== 'string') throw bad('a base64 string');
      w.tag(no, WIRE_BYTES).bytes(Buffer.from(v, 'base64'));
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw bad('a boolean');
      w.tag(no, WIRE_VARINT).varint(v ? 1 : 0);
      return;
    case 'int32':
    case 'int64':
    case 'uint32':
    case 'uint64':
      w.tag(no, WIRE_VARINT).varint(integer(v, bad));
      return;
    case 'sint32':
    case 'sint64': {
      const n = integer(v, bad);
      w.tag(no, WIRE_VARINT).varint(n >= 0n ? n * 2n : -n * 2n - 1n);
      return;
    }
    case 'fixed32':
    case 'sfixed32':
    case 'float': {
      if (typeof v !== 'number') throw bad('a number');
      const d = new DataView(new ArrayBuffer(4));
      if (f.type === 'float') d.setFloat32(0, v, true);
      else if (f.type === 'fixed32') d.setUint32(0, v, true);
      else d.setInt32(0, v, true);
      w.tag(no, WIRE_FIXED32).raw(new Uint8Array(d.buffer));
      return;
    }
    case 'fixed64':
    case 'sfixed64':
    case 'double': {
      const d = new DataView(new ArrayBuffer(8));
      if (f.type === 'double') {
        if (typeof v !== 'number') throw bad('a number');
        d.setFloat64(0, v, true);
      } else if (f.type === 'fixed64') d.setBigUint64(0, BigInt.asUintN(64, integer(v, bad)), true);
      else d.setBigInt64(0, BigInt.asIntN(64, integer(v, bad)), true);
      w.tag(no, WIRE_FIXED64).raw(new Uint8Array(d.buffer));
      return;
    }
  }
  const body = messageBody(f, v, bad);
  if (body) w.tag(no, WIRE_BYTES).bytes(body);
}

function integer(v: unknown, bad: (want: string) => Error): bigint {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('an integer');
  return BigInt(v);
}

/** The bytes of a message-typed field, or undefined to leave a null field off the wire. */
function messageBody(f: FieldFact, v: unknown, bad: (want: string) => Error): Uint8Array | undefined {
  switch (f.type) {
    case TIME:
    case MICRO_TIME: {
      // Kubernetes sends the zero (null) time as an empty message.
      if (v === null) return new Uint8Array(0);
      if (typeof v !== 'string') throw bad('an RFC 3339 time');
      const t = parseTime(v);
      return new Writer().tag(1, WIRE_VARINT).varint(t.seconds).tag(2, WIRE_VARINT).varint(t.nanos).finish();
    }
    case DURATION:
      if (v === null) return undefined;
      if (typeof v !== 'string') throw bad('a duration string');
      return new Writer().tag(1, WIRE_VARINT).varint(parseDuration(v)).finish();
    case QUANTITY:
      if (v === null) return undefined;
      if (typeof v !== 'string' && typeof v !== 'number') throw bad('a quantity');
      return new Writer().tag(1, WIRE_BYTES).bytes(utf8.encode(String(v))).finish();
    case INT_OR_STRING:
      if (v === null) return undefined;
      if (typeof v === 'string') return new Writer().tag(1, WIRE_VARINT).varint(1).tag(2, WIRE_VARINT).varint(0).tag(3, WIRE_BYTES).bytes(utf8.encode(v)).finish();
      return new Writer().tag(1, WIRE_VARINT).varint(0).tag(2, WIRE_VARINT).varint(integer(v, bad)).tag(3, WIRE_BYTES).bytes(new Uint8Array(0)).finish();
    case FIELDS_V1:
    case RAW_EXTENSION:
      if (v === null) return undefined;
      return new Writer().tag(1, WIRE_BYTES).bytes(utf8.encode(JSON.stringify(v))).finish();
  }
  if (v === null) return undefined;
  const msg = messageOf(f.type);
  if (msg.list) {
    if (!Array.isArray(v)) throw bad('an array');
    return encodeMessage({ [msg.fields['1']!.name]: v }, msg, f.type);
  }
  if (!isObject(v)) throw bad('an object');
  return encodeMessage(v, msg, f.type);
}
