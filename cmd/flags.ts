// Flag parsing for every skiff command: `--name value`, `--name=value`, booleans, repeatable
// flags, and an environment twin for each (SKIFF_DATA_DIR for --data-dir). Errors are one line
// and exit code 2, as DESIGN §3 asks.

export interface FlagSpec {
  name: string;
  type: 'string' | 'boolean' | 'int' | 'list';
  default?: string | boolean | number | string[];
  help: string;
  short?: string;
  /** allowed values for string flags */
  choices?: string[];
}

export class UsageError extends Error {}

export type FlagValues = Record<string, string | boolean | number | string[] | undefined>;

export function envName(flag: string): string {
  return 'SKIFF_' + flag.replace(/-/g, '_').toUpperCase();
}

function convert(spec: FlagSpec, raw: string, from: string): string | boolean | number {
  if (spec.type === 'int') {
    if (!/^\d+$/.test(raw)) throw new UsageError(`invalid value "${raw}" for ${from}: must be a non-negative integer`);
    return Number(raw);
  }
  if (spec.type === 'boolean') {
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no', ''].includes(raw)) return false;
    throw new UsageError(`invalid value "${raw}" for ${from}: must be true or false`);
  }
  if (spec.choices && !spec.choices.includes(raw)) throw new UsageError(`invalid value "${raw}" for ${from}: must be one of ${spec.choices.join(', ')}`);
  return raw;
}

export function parseFlags(args: string[], specs: FlagSpec[], env: NodeJS.ProcessEnv = process.env): { values: FlagValues; positional: string[] } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values: FlagValues = {};
  const positional: string[] = [];
  for (const s of specs) {
    const e = env[envName(s.name)];
    if (e !== undefined && e !== '') {
      values[s.name] = s.type === 'list' ? e.split(',').filter(Boolean) : convert(s, e, `$${envName(s.name)}`);
    }
  }
  const fromCli = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq > 0 ? a.slice(eq + 1) : undefined;
      spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
    } else if (a.startsWith('-') && a.length > 1) {
      spec = byShort.get(a.slice(1));
      if (!spec) throw new UsageError(`unknown shorthand flag: ${a}`);
    } else {
      positional.push(a);
      continue;
    }
    let raw: string;
    if (spec.type === 'boolean' && inline === undefined) raw = 'true';
    else if (inline !== undefined) raw = inline;
    else {
      if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: --${spec.name}`);
      raw = args[++i]!;
    }
    if (spec.type === 'list') {
      const prev = fromCli.has(spec.name) ? (values[spec.name] as string[]) : [];
      values[spec.name] = [...prev, raw];
    } else values[spec.name] = convert(spec, raw, `--${spec.name}`);
    fromCli.add(spec.name);
  }
  for (const s of specs) if (values[s.name] === undefined && s.default !== undefined) values[s.name] = s.default;
  return { values, positional };
}

export function usage(command: string, summary: string, specs: FlagSpec[]): string {
  const lines = [`Usage: skiff ${command} [flags]`, '', summary, '', 'Flags:'];
  for (const s of specs) {
    const name = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'boolean' ? '' : ' ' + (s.type === 'list' ? 'VALUE' : s.type === 'int' ? 'N' : 'VALUE')}`;
    const def = s.default !== undefined && s.default !== '' && !(Array.isArray(s.default) && s.default.length === 0) ? ` (default ${String(s.default)})` : '';
    lines.push(`  ${name.padEnd(34)} ${s.help}${def} [$${envName(s.name)}]`);
  }
  return lines.join('\n') + '\n';
}
