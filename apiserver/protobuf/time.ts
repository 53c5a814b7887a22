// The JSON forms of metav1.Time (RFC 3339, whole seconds), metav1.MicroTime (RFC 3339 with six
// fraction digits) and metav1.Duration (Go's time.Duration string), from and to the
// seconds/nanoseconds the protobuf messages carry.

export class TimeFormatError extends Error {}

const SECONDS_MIN = -62135596800; // 0001-01-01T00:00:00Z, also Go's zero time
const SECONDS_MAX = 253402300799; // 9999-12-31T23:59:59Z

/** Go's zero time.Time, which Kubernetes writes as JSON null. */
export function isZeroTime(seconds: number, nanos: number): boolean {
  return seconds === SECONDS_MIN && nanos === 0;
}

export function formatTime(seconds: number, nanos: number, fractionDigits: 0 | 6): string {
  const carry = Math.floor(nanos / 1e9);
  const s = seconds + carry;
  const ns = nanos - carry * 1e9;
  if (!Number.isSafeInteger(s) || s < SECONDS_MIN || s > SECONDS_MAX) throw new TimeFormatError(`time ${seconds}s is outside the years 0001-9999`);
  const iso = new Date(s * 1000).toISOString();
  const base = iso.slice(0, 19);
  if (fractionDigits === 0) return `${base}Z`;
  return `${base}.${String(Math.floor(ns / 1000)).padStart(6, '0')}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTime(text: string): { seconds: number; nanos: number } {
  const m = RFC3339.exec(text);
  if (!m) throw new TimeFormatError(`"${text}" is not an RFC 3339 time`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  let seconds = Math.floor(ms / 1000);
  if (Number(y) < 100) seconds = Math.floor(new Date(ms).setUTCFullYear(Number(y)) / 1000);
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone![0] === '-' ? -1 : 1;
    seconds -= sign * (Number(zone!.slice(1, 3)) * 3600 + Number(zone!.slice(4, 6)) * 60);
  }
  return { seconds, nanos: frac ? Number(frac.padEnd(9, '0')) : 0 };
}

/** Digits of a fraction of `scale`, without trailing zeros (Go's fmtFrac). */
function fraction(v: bigint, scale: bigint): string {
  const digits = (v % scale).toString().padStart(scale.toString().length - 1, '0').replace(/0+$/, '');
  return digits ? `.${digits}` : '';
}

export function formatDuration(nanos: bigint): string {
  if (nanos === 0n) return '0s';
  const neg = nanos < 0n;
  const u = neg ? -nanos : nanos;
  let out: string;
  if (u < 1_000n) out = `${u}ns`;
  else if (u < 1_000_000n) out = `${u / 1_000n}${fraction(u, 1_000n)}µs`;
  else if (u < 1_000_000_000n) out = `${u / 1_000_000n}${fraction(u, 1_000_000n)}ms`;
  else {
    const secs = u / 1_000_000_000n;
    out = `${secs % 60n}${fraction(u, 1_000_000_000n)}s`;
    const mins = secs / 60n;
    if (mins > 0n) {
      out = `${mins % 60n}m${out}`;
      const hours = mins / 60n;
      if (hours > 0n) out = `${hours}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n,
  'μs': 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

export function parseDuration(text: string): bigint {
  let rest = text;
  let neg = false;
  if (rest[0] === '-' || rest[0] === '+') {
    neg = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw new TimeFormatError(`invalid duration "${text}"`);
  let total = 0n;
  const part = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = part.exec(rest);
    if (!m || (m[1] === '' && !m[2])) throw new TimeFormatError(`invalid duration "${text}"`);
    const unit = UNITS[m[3]!]!;
    total += BigInt(m[1] || '0') * unit;
    if (m[2]) total += (BigInt(m[2]) * unit) / 10n ** BigInt(m[2].length);
    rest = rest.slice(m[0].length);
  }
  return neg ? -total : total;
}
