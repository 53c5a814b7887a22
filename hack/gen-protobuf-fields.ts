// Generates apiserver/protobuf/fields.generated.json: for each protobuf message of the API groups
// skiff decodes, its field numbers, JSON names and wire types. Numbers and types come from the
// generated.proto files; the Go struct tags next to them add what the .proto cannot say about the
// JSON form (omitempty on non-pointer fields, and `json:""` embedded structs whose fields JSON
// inlines). Only facts are written.
//
// Run (each argument is a git directory, e.g. a bare clone):
//   npx tsc -p . && node dist/hack/gen-protobuf-fields.js <kubernetes/api git dir> <kubernetes/apimachinery git dir>
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Package directories, relative to their repository. */
const API_DIRS = [
  'core/v1',
  'apps/v1',
  'batch/v1',
  'rbac/v1',
  'authorization/v1',
  'authentication/v1',
  'coordination/v1',
  'discovery/v1',
  'policy/v1',
  'autoscaling/v1',
  'autoscaling/v2',
  'networking/v1',
  'scheduling/v1',
  'events/v1',
];
const MACHINERY_DIRS = ['pkg/apis/meta/v1', 'pkg/api/resource', 'pkg/util/intstr', 'pkg/runtime', 'pkg/runtime/schema'];

const SCALARS = new Set([
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes',
]);

export interface FieldFact {
  name: string;
  type: string;
  repeated?: true;
  /** Present on map fields: the key type; `type` is then the value type. */
  key?: string;
  /** Go drops the zero value of this non-pointer field from JSON (omitempty). */
  omitEmpty?: true;
  /** Go embeds this struct with `json:""`: its fields appear in the parent JSON object. */
  inline?: true;
}

export interface MessageFact {
  fields: Record<string, FieldFact>;
  /** The Go type is a named slice (e.g. ExtraValue []string): JSON is the array of field 1. */
  list?: true;
}

function git(gitDir: string, ...args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

/** Drops comments in one left-to-right pass, so a comment mentioning "/*" or a string holding "//" is read right. */
function stripComments(text: string): string {
  return text.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:\\.|[^"\\\n])*"|`[^`]*`/g, (m) => (m.startsWith('//') || m.startsWith('/*') ? '' : m));
}

function parseProto(text: string, messages: Record<string, MessageFact>): string {
  const src = stripComments(text);
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(src)?.[1];
  if (!pkg) throw new Error('proto without package');
  const qualify = (t: string): string => (SCALARS.has(t) ? t : t.startsWith('.') ? t.slice(1) : `${pkg}.${t}`);
  const msgRe = /^message\s+(\w+)\s*\{([^}]*)\}/gm;
  for (const m of src.matchAll(msgRe)) {
    const fields: Record<string, FieldFact> = {};
    for (const line of m[2]!.split('\n')) {
      const l = line.trim();
      if (!l) continue;
      const map = /^map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;/.exec(l);
      if (map) {
        fields[map[4]!] = { name: map[3]!, type: qualify(map[2]!), key: qualify(map[1]!) };
        continue;
      }
      const f = /^(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;/.exec(l);
      if (!f) throw new Error(`${pkg}.${m[1]}: cannot parse field line: ${l}`);
      const fact: FieldFact = { name: f[3]!, type: qualify(f[2]!) };
      if (f[1] === 'repeated') fact.repeated = true;
      fields[f[4]!] = fact;
    }
    messages[`${pkg}.${m[1]}`] = { fields };
  }
  return pkg;
}

interface GoField {
  jsonName: string;
  omitempty: boolean;
  pointer: boolean;
}

interface GoTypes {
  structs: Map<string, Map<number, GoField>>;
  slices: Set<string>;
}

/** Reads the struct tags of every Go struct in a package directory. */
function parseGo(gitDir: string, dir: string): GoTypes {
  const files = git(gitDir, 'ls-tree', '--name-only', 'HEAD', `${dir}/`)
    .split('\n')
    .filter((f) => f.endsWith('.go') && !f.endsWith('_test.go') && !f.endsWith('.pb.go'));
  const structs = new Map<string, Map<number, GoField>>();
  const slices = new Set<string>();
  for (const file of files) {
    const src = stripComments(git(gitDir, 'show', `HEAD:${file}`));
    for (const s of src.matchAll(/^type\s+(\w+)\s+\[\]\S+/gm)) slices.add(s[1]!);
    // `struct{}` on one line has no body; the newline keeps the match from running into the next type.
    for (const s of src.matchAll(/^type\s+(\w+)\s+struct\s*\{[ \t]*\n([\s\S]*?)^\}/gm)) {
      const fields = new Map<number, GoField>();
      for (const line of s[2]!.split('\n')) {
        const tag = /`([^`]*)`/.exec(line)?.[1];
        if (!tag) continue;
        const pb = /protobuf:"[^",]*,(\d+),/.exec(tag);
        const js = /json:"([^"]*)"/.exec(tag);
        if (!pb || !js) continue;
        const [jsonName = '', ...opts] = js[1]!.split(',');
        const decl = line.slice(0, line.indexOf('`')).trim().split(/\s+/);
        const goType = decl.length >= 2 ? decl[1]! : decl[0]!;
        fields.set(Number(pb[1]), { jsonName, omitempty: opts.includes('omitempty'), pointer: goType.startsWith('*') });
      }
      structs.set(s[1]!, fields);
    }
  }
  return { structs, slices };
}

function main(): void {
  const [apiGit, machineryGit] = process.argv.slice(2);
  if (!apiGit || !machineryGit) {
    console.error('usage: gen-protobuf-fields <kubernetes/api git dir> <kubernetes/apimachinery git dir>');
    process.exit(2);
  }
  const messages: Record<string, MessageFact> = {};
  const sources: [string, string][] = [
    ...API_DIRS.map((d) => [apiGit, d] as [string, string]),
    ...MACHINERY_DIRS.map((d) => [machineryGit, d] as [string, string]),
  ];
  let mismatches = 0;
  for (const [gitDir, dir] of sources) {
    const before = new Set(Object.keys(messages));
    const pkg = parseProto(git(gitDir, 'show', `HEAD:${dir}/generated.proto`), messages);
    const go = parseGo(gitDir, dir);
    for (const [full, msg] of Object.entries(messages)) {
      if (before.has(full)) continue;
      const name = full.slice(pkg.length + 1);
      if (go.slices.has(name)) {
        msg.list = true;
        continue;
      }
      const struct = go.structs.get(name);
      if (!struct) {
        console.warn(`${full}: no Go struct found; JSON follows the proto field names only`);
        continue;
      }
      for (const [num, fact] of Object.entries(msg.fields)) {
        const g = struct.get(Number(num));
        if (!g) continue;
        if (g.jsonName === '') fact.inline = true;
        else if (g.jsonName !== fact.name) {
          mismatches++;
          console.warn(`${full}.${fact.name}: JSON name ${g.jsonName}`);
          fact.name = g.jsonName;
        }
        if (g.omitempty && !g.pointer) fact.omitEmpty = true;
      }
    }
  }
  const sorted: Record<string, MessageFact> = {};
  for (const k of Object.keys(messages).sort()) sorted[k] = messages[k]!;
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'apiserver', 'protobuf', 'fields.generated.json');
  const commits = { 'kubernetes/api': git(apiGit, 'rev-parse', 'HEAD').trim(), 'kubernetes/apimachinery': git(machineryGit, 'rev-parse', 'HEAD').trim() };
  // One message a line keeps regenerations reviewable as diffs.
  const lines = Object.entries(sorted).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  writeFileSync(out, `{\n  "source": ${JSON.stringify(commits)},\n  "messages": {\n${lines.join(',\n')}\n  }\n}\n`);
  console.log(`${Object.keys(sorted).length} messages written to ${out} (${mismatches} JSON names differ from proto names)`);
}

main();
