// Strict decoding of built-in kinds against their model facts: the unknown fields Kubernetes
// reports under fieldValidation=Strict (and drops otherwise), and the JSON type mismatches its
// decoder rejects whatever the validation mode.
import { MODELS } from './models.js';

export interface DecodeProblems {
  /** paths of fields the schema does not know, in Kubernetes' form: spec.template.spec.containers[0].imagePullPolicyy */
  unknown: string[];
  /** one line per value of the wrong JSON type, in the wording of Go's JSON decoder */
  mismatches: string[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Go type of an encoded field type, for messages ("int32", "[]v1.Container", "map[string]string"). */
function goType(encoded: string): string {
  if (encoded.startsWith('[]')) return '[]' + goType(encoded.slice(2));
  if (encoded.startsWith('map:')) return 'map[string]' + goType(encoded.slice(4));
  if (encoded.startsWith('ref:')) {
    const name = MODELS[encoded.slice(4)]?.name ?? encoded.slice(4);
    const parts = name.split('.');
    return parts.slice(-2).join('.');
  }
  switch (encoded) {
    case 'Quantity':
      return 'resource.Quantity';
    case 'IntOrString':
      return 'intstr.IntOrString';
    case 'Time':
      return 'v1.Time';
    case 'MicroTime':
      return 'v1.MicroTime';
    case 'any':
      return 'interface {}';
    case 'boolean':
      return 'bool';
    case 'number':
    case 'number:double':
      return 'float64';
    case 'number:float':
      return 'float32';
  }
  const [type, format] = encoded.split(':');
  if (type === 'integer') return format ?? 'int64';
  return type;
}

interface Walk {
  problems: DecodeProblems;
  /** when set, unknown fields are deleted from the object as they are found */
  prune: boolean;
}

/** `spec.template` + `replicas` → `spec.template.replicas`; Go's decoder paths drop list indexes. */
function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function checkModel(model: string, value: Record<string, unknown>, path: string, goPath: string, w: Walk): void {
  const facts = MODELS[model];
  if (!facts) return;
  const short = facts.name.slice(facts.name.lastIndexOf('.') + 1);
  for (const key of Object.keys(value)) {
    const encoded = Object.hasOwn(facts.fields, key) ? facts.fields[key] : undefined;
    if (encoded === undefined) {
      w.problems.unknown.push(join(path, key));
      if (w.prune) delete value[key];
      continue;
    }
    checkValue(encoded, value[key], join(path, key), join(goPath, key), short, w);
  }
}

function mismatch(w: Walk, v: unknown, owner: string, goPath: string, encoded: string, detail = ''): void {
  w.problems.mismatches.push(`json: cannot unmarshal ${jsonKind(v)}${detail} into Go struct field ${owner}.${goPath} of type ${goType(encoded)}`);
}

function checkValue(encoded: string, v: unknown, path: string, goPath: string, owner: string, w: Walk): void {
  if (v === null || v === undefined) return;
  if (encoded.startsWith('[]')) {
    if (!Array.isArray(v)) return mismatch(w, v, owner, goPath, encoded);
    const item = encoded.slice(2);
    for (let i = 0; i < v.length; i++) checkValue(item, v[i], `${path}[${i}]`, goPath, owner, w);
    return;
  }
  if (encoded.startsWith('map:')) {
    if (!isPlainObject(v)) return mismatch(w, v, owner, goPath, encoded);
    const item = encoded.slice(4);
    for (const [k, x] of Object.entries(v)) checkValue(item, x, `${path}[${k}]`, goPath, owner, w);
    return;
  }
  if (encoded.startsWith('ref:')) {
    if (!isPlainObject(v)) return mismatch(w, v, owner, goPath, encoded);
    return checkModel(encoded.slice(4), v, path, goPath, w);
  }
  switch (encoded) {
    case 'any':
      return;
    case 'Quantity':
    case 'IntOrString':
      if (typeof v !== 'string' && typeof v !== 'number') mismatch(w, v, owner, goPath, encoded);
      return;
    case 'Time':
    case 'MicroTime':
      if (typeof v !== 'string') mismatch(w, v, owner, goPath, encoded);
      return;
    case 'boolean':
      if (typeof v !== 'boolean') mismatch(w, v, owner, goPath, encoded);
      return;
  }
  const type = encoded.split(':')[0];
  if (type === 'string') {
    if (typeof v !== 'string') mismatch(w, v, owner, goPath, encoded);
  } else if (type === 'integer') {
    if (typeof v !== 'number') mismatch(w, v, owner, goPath, encoded);
    else if (!Number.isInteger(v)) mismatch(w, v, owner, goPath, encoded, ` ${v}`);
  } else if (type === 'number') {
    if (typeof v !== 'number') mismatch(w, v, owner, goPath, encoded);
  }
}

/** Unknown fields and type mismatches of `obj` against a client-node model ('V1Deployment'). */
export function checkModelObject(model: string, obj: unknown, prune = false): DecodeProblems {
  const w: Walk = { problems: { unknown: [], mismatches: [] }, prune };
  if (!MODELS[model]) throw new Error(`openapi: no facts for model ${model}`);
  if (!isPlainObject(obj)) {
    const short = MODELS[model].name.split('.').slice(-2).join('.');
    w.problems.mismatches.push(`json: cannot unmarshal ${jsonKind(obj)} into Go value of type ${short}`);
    return w.problems;
  }
  checkModel(model, obj, '', '', w);
  return w.problems;
}

/** The unknown fields of ObjectMeta under `path` (custom resources keep their metadata typed). */
export function checkObjectMeta(meta: unknown, path: string, prune: boolean): DecodeProblems {
  const w: Walk = { problems: { unknown: [], mismatches: [] }, prune };
  checkValue('ref:V1ObjectMeta', meta, path, path, 'ObjectMeta', w);
  return w.problems;
}

/** Kubernetes' 400 message for a strict decoding failure. */
export function strictDecodingMessage(kind: string, version: string, unknown: string[]): string {
  return `${kind} in version "${version}" cannot be handled as a ${kind}: strict decoding error: ${unknown.map((p) => `unknown field "${p}"`).join(', ')}`;
}

/** Kubernetes' 400 message for a value of the wrong JSON type. */
export function decodingMessage(kind: string, version: string, mismatch: string): string {
  return `${kind} in version "${version}" cannot be handled as a ${kind}: ${mismatch}`;
}
