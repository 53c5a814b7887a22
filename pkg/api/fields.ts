// Field selectors (?fieldSelector=): equality terms over a kind's selectable fields. Values may
// escape ',', '=' and '\' with a backslash, as Kubernetes' fields.ParseSelector accepts.
import { errors } from '../../apiserver/status.js';

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

export type FieldMatcher = (fields: Record<string, string | undefined>) => boolean;

function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unescapeValue(v: string, whole: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = v[i + 1];
    if (n === '\\' || n === ',' || n === '=') {
      out += n;
      i++;
    } else {
      throw errors.badRequest(`invalid field selector: ${JSON.stringify(whole)}: invalid escape sequence`);
    }
  }
  return out;
}

function splitTerm(term: string): FieldRequirement | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) {
        return { field: term.slice(0, i), operator: op === '!=' ? '!=' : '=', value: term.slice(i + op.length) };
      }
    }
  }
  return undefined;
}

/** Parses a field selector; throws StatusError 400 on a malformed one. Empty string → no terms. */
export function parseFieldSelector(input: string | undefined): FieldRequirement[] {
  if (input === undefined || input.trim() === '') return [];
  const reqs: FieldRequirement[] = [];
  for (const raw of splitUnescaped(input, ',')) {
    const term = raw.trim();
    if (term === '') continue;
    const r = splitTerm(term);
    if (!r || r.field.trim() === '') throw errors.badRequest(`invalid selector: '${input}'; can't understand '${term}'`);
    reqs.push({ field: r.field.trim(), operator: r.operator, value: unescapeValue(r.value, input) });
  }
  return reqs;
}

/** Rejects terms on fields the kind does not support, in the wording kubectl users see. */
export function checkFieldSelectorFields(reqs: FieldRequirement[], known: string[]): void {
  for (const r of reqs) {
    if (!known.includes(r.field)) {
      throw errors.badRequest(`${JSON.stringify(r.field)} is not a known field selector: only ${known.map((k) => JSON.stringify(k)).join(', ')}`);
    }
  }
}

/** A field absent from the object compares as "" (so `spec.nodeName=` finds unscheduled pods). */
export function fieldMatcher(reqs: FieldRequirement[]): FieldMatcher {
  return (fields) =>
    reqs.every((r) => {
      const v = fields[r.field] ?? '';
      return r.operator === '=' ? v === r.value : v !== r.value;
    });
}

/** parse + check + compile; `known` always includes metadata.name and metadata.namespace. */
export function compileFieldSelector(input: string | undefined, known: string[]): FieldMatcher {
  const reqs = parseFieldSelector(input);
  const all = ['metadata.name', 'metadata.namespace', ...known.filter((k) => k !== 'metadata.name' && k !== 'metadata.namespace')];
  checkFieldSelectorFields(reqs, all);
  return fieldMatcher(reqs);
}

/** The value a list must pin for a field, when the selector pins it with `=` (e.g. metadata.name for watches). */
export function pinnedValue(reqs: FieldRequirement[], field: string): string | undefined {
  return reqs.find((r) => r.field === field && r.operator === '=')?.value;
}

/** Kubernetes' String() of a field selector, escaping values. */
export function fieldSelectorToString(reqs: FieldRequirement[]): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/=/g, '\\=');
  return reqs.map((r) => `${r.field}${r.operator}${esc(r.value)}`).join(',');
}
