// Go-style durations for flags: 300ms, 40s, 5m, 1h30m.
import { UsageError } from './flags.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(s: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let pos = 0;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) throw new UsageError(`invalid duration "${s}" for --${flag}: use forms like 300ms, 40s, 5m, 1h30m`);
  return total;
}
