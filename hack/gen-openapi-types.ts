// Generates apiserver/openapi/types.generated.json: the field facts (JSON names, types, formats,
// required lists) of every model reachable from the kinds skiff serves, read from the model
// classes of @kubernetes/client-node. Only facts are written, never its prose, so the OpenAPI
// documents carry our own descriptions.
//
// Run: npx tsc -p . && node dist/hack/gen-openapi-types.js
import * as k8s from '@kubernetes/client-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { QUANTITY_FIELDS, SERVED_KINDS, groupPackage, META_MODELS } from '../apiserver/openapi/k8s-facts.js';

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

interface ModelClass {
  attributeTypeMap?: Attribute[];
}

const models = k8s as unknown as Record<string, ModelClass | undefined>;

function attributesOf(model: string): Attribute[] | undefined {
  const c = models[model];
  return c && Array.isArray(c.attributeTypeMap) ? c.attributeTypeMap : undefined;
}

const modelsDir = join(dirname(fileURLToPath(import.meta.resolve('@kubernetes/client-node'))), 'gen', 'models');

/** Required properties: the .d.ts declares them without `?`. */
function requiredOf(model: string, attrs: Attribute[]): string[] {
  let text: string;
  try {
    text = readFileSync(join(modelsDir, `${model}.d.ts`), 'utf8');
  } catch {
    return [];
  }
  const required: string[] = [];
  for (const a of attrs) {
    const re = new RegExp(`^\\s*'${a.name.replace(/[$]/g, '\\$')}':`, 'm');
    if (re.test(text)) required.push(a.baseName);
  }
  return required;
}

/** Our compact type grammar: scalar[:format] | ref:Model | []T | map:T | Quantity | IntOrString | Time | MicroTime | any */
function encodeType(model: string, a: Attribute, type: string): string {
  const t = type.trim();
  const arr = /^Array<(.+)>$/.exec(t);
  if (arr) return '[]' + encodeType(model, a, arr[1]);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) return 'map:' + encodeType(model, a, map[1]);
  const quantity = QUANTITY_FIELDS.has(`${model}.${a.baseName}`);
  switch (t) {
    case 'string':
      if (quantity) return 'Quantity';
      return a.format ? `string:${a.format}` : 'string';
    case 'number':
      if (a.format === 'int32' || a.format === 'int64') return `integer:${a.format}`;
      return a.format ? `number:${a.format}` : 'number';
    case 'boolean':
      return 'boolean';
    case 'Date':
      return 'Time';
    case 'V1MicroTime':
      return 'MicroTime';
    case 'IntOrString':
      return 'IntOrString';
    case 'any':
    case 'object':
      return 'any';
  }
  if (!attributesOf(t)) throw new Error(`${model}.${a.baseName}: unknown type ${t}`);
  return 'ref:' + t;
}

export interface GeneratedModel {
  /** Kubernetes schema name, e.g. io.k8s.api.apps.v1.Deployment */
  name: string;
  fields: Record<string, string>;
  required?: string[];
}

function shortName(model: string): { version: string; short: string } {
  const m = /^(?:Core|Events|Discovery|Rbac|Apiextensions|Authentication|Admissionregistration|Storage|Flowcontrol)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$/.exec(model);
  if (!m) throw new Error(`cannot split model name ${model}`);
  return { version: m[1].toLowerCase(), short: m[2] };
}

/** The facts of every model reachable from the served kinds, keyed by client-node model name. */
export function generate(): { source: string; models: Record<string, GeneratedModel> } {
  const out: Record<string, GeneratedModel> = {};
  // The package of a shared model is the group of the first served kind that reaches it, walking
  // core first: that is where Kubernetes defines the shared pod and object-reference types.
  const roots: { model: string; group: string }[] = [];
  for (const m of META_MODELS) roots.push({ model: m, group: 'meta' });
  for (const k of SERVED_KINDS) {
    roots.push({ model: k.model, group: k.group });
    if (attributesOf(k.model + 'List')) roots.push({ model: k.model + 'List', group: k.group });
  }
  const queue: { model: string; group: string }[] = [];
  for (const root of roots) {
    queue.push(root);
    while (queue.length > 0) visit(queue.shift()!);
  }
  function visit({ model, group }: { model: string; group: string }): void {
    if (out[model]) return;
    const attrs = attributesOf(model);
    if (!attrs) throw new Error(`model ${model} not exported by @kubernetes/client-node`);
    const { version, short } = shortName(model);
    const pkg = META_MODELS.includes(model) ? 'io.k8s.apimachinery.pkg.apis.meta.v1' : `${groupPackage(group)}.${version}`;
    const fields: Record<string, string> = {};
    for (const a of attrs) {
      const enc = encodeType(model, a, a.type);
      fields[a.baseName] = enc;
      const ref = /ref:(.+)$/.exec(enc);
      if (ref && !out[ref[1]]) queue.push({ model: ref[1], group });
    }
    const entry: GeneratedModel = { name: `${pkg}.${short}`, fields };
    const required = requiredOf(model, attrs);
    if (required.length > 0) entry.required = required;
    out[model] = entry;
  }
  for (const key of QUANTITY_FIELDS) {
    const [model, field] = key.split('.');
    const f = out[model]?.fields[field];
    if (!f || !f.includes('Quantity')) throw new Error(`quantity fact ${key} matches no field`);
  }
  const sorted: Record<string, GeneratedModel> = {};
  for (const k of Object.keys(out).sort()) sorted[k] = out[k];
  return { source: '@kubernetes/client-node 1.4.0 model classes', models: sorted };
}

function main(): void {
  const generated = generate();
  const target = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'apiserver', 'openapi', 'types.generated.json');
  writeFileSync(target, JSON.stringify(generated, null, 1) + '\n');
  console.log(`wrote ${Object.keys(generated.models).length} models to ${target}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
