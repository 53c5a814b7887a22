// Kubernetes resource quantities ("100m", "2Gi", "1e3"). Values are kept exact as a count of
// nano-units (BigInt) so that canonical printing and request/limit comparisons never round.

export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** exact value in units of 10^-9, rounded up when finer than that (as Kubernetes does) */
  nanos: bigint;
  format: QuantityFormat;
}

export class QuantityError extends Error {}

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n ? q + 1n : q;
}

/** Parses a quantity; throws QuantityError with Kubernetes' message when malformed. */
export function parseQuantity(input: string): Quantity {
  const s = typeof input === 'string' ? input.trim() : String(input);
  const m = QUANTITY_RE.exec(s);
  if (!m || s.length === 0) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  let num = m[1];
  const suffix = m[2];
  let negative = false;
  if (num[0] === '+' || num[0] === '-') {
    negative = num[0] === '-';
    num = num.slice(1);
  }
  if (!/^([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(num)) throw new QuantityError('unable to parse numeric part of quantity');
  const [intPart, fracPart = ''] = num.split('.');
  const mantissa = BigInt((intPart || '0') + fracPart);
  let exp10 = -fracPart.length;
  let exp2 = 0;
  let format: QuantityFormat;
  if (suffix in DECIMAL_SUFFIX) {
    exp10 += DECIMAL_SUFFIX[suffix];
    format = 'DecimalSI';
  } else if (suffix in BINARY_SUFFIX) {
    exp2 = BINARY_SUFFIX[suffix];
    format = 'BinarySI';
  } else if (/^[eE][-+]?[0-9]+$/.test(suffix)) {
    exp10 += Number(suffix.slice(1));
    format = 'DecimalExponent';
  } else {
    throw new QuantityError("unable to parse quantity's suffix");
  }
  if (exp10 > 60 || exp10 < -60) throw new QuantityError('unable to parse numeric part of quantity');
  let scaled = mantissa * 2n ** BigInt(exp2);
  const e = exp10 + 9;
  scaled = e >= 0 ? scaled * pow10(e) : ceilDiv(scaled, pow10(-e));
  return { nanos: negative ? -scaled : scaled, format };
}

/** Returns [] when valid, else the message list (for field errors). */
export function validateQuantity(input: unknown): string[] {
  if (typeof input === 'number' && !Number.isFinite(input)) return [QUANTITY_FORMAT_ERROR];
  if (typeof input !== 'string' && typeof input !== 'number') return [QUANTITY_FORMAT_ERROR];
  try {
    // A JSON number is read as its decimal text, which must parse like any quantity (1e99 does not).
    parseQuantity(String(input));
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

function toQuantity(q: Quantity | string | number): Quantity {
  if (typeof q === 'object') return q;
  return parseQuantity(String(q));
}

/** The value in base units as a float (e.g. "100m" → 0.1, "2Gi" → 2147483648). */
export function quantityValue(q: Quantity | string | number): number {
  const n = toQuantity(q).nanos;
  return Number(n / 1000000000n) + Number(n % 1000000000n) / 1e9;
}

/** Kubernetes' MilliValue: value×1000 rounded up ("100m" → 100, "1" → 1000). */
export function milliValue(q: Quantity | string | number): number {
  return Number(ceilDiv(toQuantity(q).nanos, 1000000n));
}

/** Kubernetes' Value: the value rounded up to an integer ("100m" → 1, "2Gi" → 2147483648). */
export function intValue(q: Quantity | string | number): number {
  return Number(ceilDiv(toQuantity(q).nanos, 1000000000n));
}

export function compareQuantities(a: Quantity | string | number, b: Quantity | string | number): number {
  const x = toQuantity(a).nanos;
  const y = toQuantity(b).nanos;
  return x < y ? -1 : x > y ? 1 : 0;
}

function formatDecimal(nanos: bigint): string {
  if (nanos === 0n) return '0';
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  for (const [suf, exp] of [['E', 18], ['P', 15], ['T', 12], ['G', 9], ['M', 6], ['k', 3], ['', 0], ['m', -3], ['u', -6], ['n', -9]] as const) {
    const unit = pow10(exp + 9);
    if (abs % unit === 0n) return `${sign}${abs / unit}${suf}`;
  }
  return `${sign}${abs}n`;
}

/** Canonical form, the way the Kubernetes API server re-serializes a quantity. */
export function formatQuantity(q: Quantity | string | number, format?: QuantityFormat): string {
  const v = toQuantity(q);
  const f = format ?? v.format;
  const abs = v.nanos < 0n ? -v.nanos : v.nanos;
  const sign = v.nanos < 0n ? '-' : '';
  if (f === 'BinarySI' && abs % 1000000000n === 0n && abs >= 1024n * 1000000000n) {
    const whole = abs / 1000000000n;
    for (const [suf, bits] of [['Ei', 60], ['Pi', 50], ['Ti', 40], ['Gi', 30], ['Mi', 20], ['Ki', 10]] as const) {
      const unit = 2n ** BigInt(bits);
      if (whole % unit === 0n) return `${sign}${whole / unit}${suf}`;
    }
    return `${sign}${whole}`;
  }
  if (f === 'DecimalExponent') {
    if (abs === 0n) return '0';
    for (let exp = 18; exp >= -9; exp -= 3) {
      const unit = pow10(exp + 9);
      if (abs % unit === 0n) return exp === 0 ? `${sign}${abs / unit}` : `${sign}${abs / unit}e${exp}`;
    }
  }
  return formatDecimal(v.nanos);
}

/** A quantity from a number of base units, printed canonically ("1.5" → "1500m"). */
export function quantityFromNumber(n: number, format: QuantityFormat = 'DecimalSI'): string {
  const nanos = BigInt(Math.ceil(Math.round(n * 1e9 * 1000) / 1000));
  return formatQuantity({ nanos, format });
}
