// The subset of Kubernetes JSONPath used by CRD printer columns and scale subresource paths:
// `.a.b`, `.a[0]`, `.a[*].b`, `.a['key.with.dots']`, and filters `[?(@.type=="Ready")]`.
// Returns every match, in document order.

type Step = { kind: 'field'; name: string } | { kind: 'index'; index: number } | { kind: 'all' } | { kind: 'filter'; path: string[]; op: '==' | '!='; value: string };

export class JsonPathError extends Error {}

export function parseJsonPath(expr: string): Step[] {
  let s = expr.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  if (s.startsWith('$')) s = s.slice(1);
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '.') {
      i++;
      let j = i;
      while (j < s.length && s[j] !== '.' && s[j] !== '[') j++;
      const name = s.slice(i, j);
      if (name === '*') steps.push({ kind: 'all' });
      else if (name) steps.push({ kind: 'field', name });
      else if (j === i && i < s.length && s[i] !== '[') throw new JsonPathError(`invalid JSONPath ${expr}: empty field name`);
      i = j;
    } else if (c === '[') {
      const end = findClose(s, i);
      if (end < 0) throw new JsonPathError(`invalid JSONPath ${expr}: unclosed [`);
      const inner = s.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === '*') steps.push({ kind: 'all' });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^'.*'$/.test(inner) || /^".*"$/.test(inner)) steps.push({ kind: 'field', name: inner.slice(1, -1) });
      else {
        const m = /^\?\(@((?:\.[^.=!]+)+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)'|([^)\s]+))\s*\)$/.exec(inner);
        if (!m) throw new JsonPathError(`invalid JSONPath ${expr}: unsupported expression [${inner}]`);
        steps.push({ kind: 'filter', path: m[1]!.slice(1).split('.'), op: m[2] as '==' | '!=', value: m[3] ?? m[4] ?? m[5] ?? '' });
      }
    } else {
      // A path that does not start with a dot: treat as a field name.
      let j = i;
      while (j < s.length && s[j] !== '.' && s[j] !== '[') j++;
      steps.push({ kind: 'field', name: s.slice(i, j) });
      i = j;
    }
  }
  return steps;
}

function findClose(s: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}

function getPath(v: unknown, path: string[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export function evalJsonPath(steps: Step[], root: unknown): unknown[] {
  let cur: unknown[] = [root];
  for (const st of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (v === null || v === undefined) continue;
      switch (st.kind) {
        case 'field':
          if (typeof v === 'object' && !Array.isArray(v) && st.name in (v as object)) next.push((v as Record<string, unknown>)[st.name]);
          break;
        case 'index':
          if (Array.isArray(v)) {
            const i = st.index < 0 ? v.length + st.index : st.index;
            if (i >= 0 && i < v.length) next.push(v[i]);
          }
          break;
        case 'all':
          if (Array.isArray(v)) next.push(...v);
          else if (typeof v === 'object') next.push(...Object.values(v as object));
          break;
        case 'filter':
          if (Array.isArray(v)) {
            for (const item of v) {
              const got = getPath(item, st.path);
              const eq = got !== undefined && String(got) === st.value;
              if (st.op === '==' ? eq : !eq) next.push(item);
            }
          }
          break;
      }
    }
    cur = next;
  }
  return cur;
}

export function jsonPathValues(expr: string, root: unknown): unknown[] {
  return evalJsonPath(parseJsonPath(expr), root);
}
