// Label selectors: the string form used in ?labelSelector= and by kubectl -l, and the structured
// form (matchLabels / matchExpressions) used in workload specs. Both compile to one matcher.
import { errors } from '../../apiserver/status.js';
import { fieldErrors } from './field-errors.js';
import type { FieldError } from './types.js';
import { isQualifiedName, isValidLabelValue } from './validation.js';

export type LabelOperator = 'Exists' | 'DoesNotExist' | 'Equals' | 'NotEquals' | 'In' | 'NotIn' | 'GreaterThan' | 'LessThan';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export function requirementMatches(r: LabelRequirement, labels: Record<string, string> | undefined): boolean {
  const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels![r.key] : undefined;
  switch (r.operator) {
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Equals':
    case 'In':
      return has && r.values.includes(v!);
    case 'NotEquals':
    case 'NotIn':
      return !has || !r.values.includes(v!);
    case 'GreaterThan':
    case 'LessThan': {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      return r.operator === 'GreaterThan' ? n > bound : n < bound;
    }
  }
}

export function matcherOf(reqs: LabelRequirement[]): LabelMatcher {
  return (labels) => reqs.every((r) => requirementMatches(r, labels));
}

export const matchNothing: LabelMatcher = () => false;
export const matchEverything: LabelMatcher = () => true;

// ---- string form ----

type TokKind = 'id' | 'eq' | 'deq' | 'neq' | 'in' | 'notin' | 'not' | 'open' | 'close' | 'comma' | 'gt' | 'lt' | 'end';
interface Tok {
  kind: TokKind;
  text: string;
}

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

function lex(input: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (SPECIAL.has(c)) {
      const two = input.slice(i, i + 2);
      if (two === '==') out.push({ kind: 'deq', text: two }), (i += 2);
      else if (two === '!=') out.push({ kind: 'neq', text: two }), (i += 2);
      else {
        const k: Record<string, TokKind> = { '=': 'eq', '!': 'not', '(': 'open', ')': 'close', ',': 'comma', '>': 'gt', '<': 'lt' };
        out.push({ kind: k[c], text: c });
        i++;
      }
      continue;
    }
    let j = i;
    while (j < input.length && !isSpace(input[j]) && !SPECIAL.has(input[j])) j++;
    const word = input.slice(i, j);
    out.push({ kind: word === 'in' ? 'in' : word === 'notin' ? 'notin' : 'id', text: word });
    i = j;
  }
  out.push({ kind: 'end', text: '' });
  return out;
}

function fail(msg: string): never {
  throw errors.badRequest(`unable to parse requirement: ${msg}`);
}

function checkKey(key: string): void {
  const msgs = isQualifiedName(key);
  if (msgs.length) fail(`key: Invalid value: ${JSON.stringify(key)}: ${msgs.join('; ')}`);
}

function checkValue(i: number, value: string): void {
  const msgs = isValidLabelValue(value);
  if (msgs.length) fail(`values[${i}][${value}]: Invalid value: ${JSON.stringify(value)}: ${msgs.join('; ')}`);
}

class Parser {
  private pos = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly input: string,
  ) {}

  private peek(): Tok {
    return this.toks[this.pos];
  }
  private next(): Tok {
    return this.toks[this.pos++];
  }

  private unexpected(t: Tok, expected: string): never {
    throw errors.badRequest(
      t.kind === 'end'
        ? `couldn't parse the selector string "${this.input}": found '', expected: ${expected}`
        : `couldn't parse the selector string "${this.input}": found '${t.text}', expected: ${expected}`,
    );
  }

  parse(): LabelRequirement[] {
    const reqs: LabelRequirement[] = [];
    if (this.peek().kind === 'end') return reqs;
    for (;;) {
      reqs.push(this.requirement());
      const t = this.next();
      if (t.kind === 'end') return reqs;
      if (t.kind !== 'comma') this.unexpected(t, "',' or 'end of string'");
      if (this.peek().kind === 'end') this.unexpected(this.peek(), 'identifier or !');
    }
  }

  private requirement(): LabelRequirement {
    let t = this.next();
    let negate = false;
    if (t.kind === 'not') {
      negate = true;
      t = this.next();
    }
    // 'in' and 'notin' are keywords only after a key; a label may be called "in".
    if (t.kind !== 'id' && t.kind !== 'in' && t.kind !== 'notin') this.unexpected(t, 'identifier or !');
    const key = t.text;
    checkKey(key);
    const after = this.peek().kind;
    if (negate || after === 'comma' || after === 'end') {
      return { key, operator: negate ? 'DoesNotExist' : 'Exists', values: [] };
    }
    const op = this.next();
    switch (op.kind) {
      case 'eq':
      case 'deq':
      case 'neq': {
        const v = this.singleValue();
        checkValue(0, v);
        return { key, operator: op.kind === 'neq' ? 'NotEquals' : 'Equals', values: [v] };
      }
      case 'gt':
      case 'lt': {
        const v = this.singleValue();
        if (!/^-?\d+$/.test(v)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
        return { key, operator: op.kind === 'gt' ? 'GreaterThan' : 'LessThan', values: [v] };
      }
      case 'in':
      case 'notin': {
        const values = this.valueSet();
        if (values.length === 0) fail(`for 'in', 'notin' operators, values set can't be empty`);
        values.forEach((v, i) => checkValue(i, v));
        return { key, operator: op.kind === 'in' ? 'In' : 'NotIn', values: [...new Set(values)].sort() };
      }
      default:
        this.unexpected(op, '=, !=, ==, in, notin');
    }
  }

  /** A value may be empty: `a=` selects objects whose label a is "". */
  private singleValue(): string {
    const t = this.peek();
    if (t.kind === 'id' || t.kind === 'in' || t.kind === 'notin') {
      this.pos++;
      return t.text;
    }
    if (t.kind === 'comma' || t.kind === 'end') return '';
    this.unexpected(t, 'identifier');
  }

  private valueSet(): string[] {
    const open = this.next();
    if (open.kind !== 'open') this.unexpected(open, "'('");
    const values: string[] = [];
    if (this.peek().kind === 'close') {
      this.pos++;
      return values;
    }
    for (;;) {
      const t = this.peek();
      if (t.kind === 'id' || t.kind === 'in' || t.kind === 'notin') {
        this.pos++;
        values.push(t.text);
      } else if (t.kind === 'comma' || t.kind === 'close') {
        values.push('');
      } else {
        this.unexpected(t, "',', ')' or identifier");
      }
      const sep = this.next();
      if (sep.kind === 'close') return values;
      if (sep.kind !== 'comma') this.unexpected(sep, "',' or ')'");
    }
  }
}

/** Parses the string form; throws StatusError 400 on a malformed selector. */
export function parseLabelSelector(input: string): LabelRequirement[] {
  return new Parser(lex(input), input).parse();
}

/** Compiles ?labelSelector= into a matcher; throws StatusError 400 on a malformed selector. */
export function compileLabelSelector(input: string | undefined): LabelMatcher {
  if (input === undefined || input.trim() === '') return matchEverything;
  return matcherOf(parseLabelSelector(input));
}

// ---- structured form ----

/**
 * As Kubernetes' LabelSelectorAsSelector: a missing selector matches nothing, an empty one
 * everything. Throws StatusError 400 on an invalid operator or values.
 */
export function selectorFromLabelSelector(sel: LabelSelector | undefined | null): LabelMatcher {
  if (sel === undefined || sel === null) return matchNothing;
  return matcherOf(requirementsOfLabelSelector(sel));
}

export function requirementsOfLabelSelector(sel: LabelSelector): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    checkKey(k);
    checkValue(0, String(v));
    reqs.push({ key: k, operator: 'In', values: [String(v)] });
  }
  for (const e of sel.matchExpressions ?? []) {
    checkKey(e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) fail(`for 'in', 'notin' operators, values set can't be empty`);
        values.forEach((v, i) => checkValue(i, v));
        reqs.push({ key: e.key, operator: e.operator, values: [...values] });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length) fail(`values: Invalid value: ${JSON.stringify(values)}: values set must be empty for exists and does not exist`);
        reqs.push({ key: e.key, operator: e.operator, values: [] });
        break;
      default:
        throw errors.badRequest(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    }
  }
  return reqs;
}

function requirementString(r: LabelRequirement): string {
  switch (r.operator) {
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'Equals':
      return `${r.key}=${r.values[0]}`;
    case 'NotEquals':
      return `${r.key}!=${r.values[0]}`;
    case 'GreaterThan':
      return `${r.key}>${r.values[0]}`;
    case 'LessThan':
      return `${r.key}<${r.values[0]}`;
    case 'In':
    case 'NotIn': {
      const vals = [...new Set(r.values)].sort();
      if (r.operator === 'In' && vals.length === 1) return `${r.key}=${vals[0]}`;
      return `${r.key} ${r.operator === 'In' ? 'in' : 'notin'} (${vals.join(',')})`;
    }
  }
}

/** Canonical string form, requirements sorted by key, as Scale.status.selector and kubectl show it. */
export function requirementsToString(reqs: LabelRequirement[]): string {
  return [...reqs]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(requirementString)
    .join(',');
}

export function labelSelectorToString(sel: LabelSelector | undefined | null): string {
  if (!sel) return '';
  return requirementsToString(requirementsOfLabelSelector(sel));
}

/** kubectl's FormatLabelSelector: "<none>" for an empty or missing selector. */
export function formatLabelSelector(sel: LabelSelector | undefined | null): string {
  try {
    const s = labelSelectorToString(sel);
    return s === '' ? '<none>' : s;
  } catch {
    return '<error>';
  }
}

/** kubectl's FormatLabels for plain maps: sorted k=v joined by ",", "<none>" when empty. */
export function formatLabels(labels: Record<string, string> | undefined | null): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return '<none>';
  return keys.map((k) => `${k}=${labels![k]}`).join(',');
}

// ---- validation (the checks workload specs get) ----

export function validateLabelName(key: string, path: string): FieldError[] {
  return isQualifiedName(key).map((m) => fieldErrors.invalid(path, key, m));
}

export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== 'object' || Array.isArray(labels)) return [fieldErrors.typeInvalid(path, labels, 'must be a map of string to string')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    errs.push(...validateLabelName(k, path));
    if (typeof v !== 'string') {
      errs.push(fieldErrors.typeInvalid(path, v, 'label values must be strings'));
      continue;
    }
    for (const m of isValidLabelValue(v)) errs.push(fieldErrors.invalid(path, v, m));
  }
  return errs;
}

/** ValidateLabelSelector: operator/value consistency, keys and values. */
export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  if (sel === undefined || sel === null) return [];
  if (typeof sel !== 'object' || Array.isArray(sel)) return [fieldErrors.typeInvalid(path, sel, 'must be an object')];
  const s = sel as LabelSelector;
  const errs: FieldError[] = [];
  const exprs = s.matchExpressions ?? [];
  if (!Array.isArray(exprs)) return [fieldErrors.typeInvalid(`${path}.matchExpressions`, exprs, 'must be a list')];
  exprs.forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(fieldErrors.required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(fieldErrors.forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(fieldErrors.invalid(`${p}.operator`, e.operator, 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(String(e.key ?? ''), `${p}.key`));
    values.forEach((v, j) => {
      for (const m of isValidLabelValue(String(v))) errs.push(fieldErrors.invalid(`${p}.values[${j}]`, v, m));
    });
  });
  errs.push(...validateLabels(s.matchLabels, `${path}.matchLabels`));
  return errs;
}

/** True when the structured selector selects nothing-in-particular (no labels, no expressions). */
export function isEmptyLabelSelector(sel: LabelSelector | undefined | null): boolean {
  return !!sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}
