// Cron schedules as CronJob accepts them: five fields (minute hour day-of-month month
// day-of-week) or a descriptor (@hourly ...), with the error texts Kubernetes users see.

export interface CronSchedule {
  minutes: Set<number>;
  hours: Set<number>;
  doms: Set<number>;
  months: Set<number>;
  dows: Set<number>;
  /** a '*' day-of-month or day-of-week makes the two AND-ed rather than OR-ed */
  domStar: boolean;
  dowStar: boolean;
  /** @every: fixed interval in ms instead of fields */
  everyMs?: number;
}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTH_NAMES: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DOW_NAMES: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const FIELDS: Bounds[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTH_NAMES },
  { min: 0, max: 6, names: DOW_NAMES },
];

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

export class CronError extends Error {}

function parseNum(s: string, b: Bounds): number {
  const named = b.names?.[s.toLowerCase()];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(s)) throw new CronError(`failed to parse int from ${s}: strconv.Atoi: parsing "${s}": invalid syntax`);
  return Number(s);
}

function parseRange(expr: string, b: Bounds, out: Set<number>): boolean {
  const slash = expr.split('/');
  if (slash.length > 2) throw new CronError(`too many slashes: ${expr}`);
  const range = slash[0].split('-');
  if (range.length > 2) throw new CronError(`too many hyphens: ${expr}`);
  let start: number;
  let end: number;
  let star = false;
  if (range[0] === '*' || range[0] === '?') {
    if (range.length > 1) throw new CronError(`too many hyphens: ${expr}`);
    start = b.min;
    end = b.max;
    star = true;
  } else {
    start = parseNum(range[0], b);
    end = range.length === 2 ? parseNum(range[1], b) : start;
  }
  let step = 1;
  if (slash.length === 2) {
    step = Number(slash[1]);
    if (!/^\d+$/.test(slash[1])) throw new CronError(`failed to parse int from ${slash[1]}: strconv.Atoi: parsing "${slash[1]}": invalid syntax`);
    if (step <= 0) throw new CronError(`step of range should be a positive number: ${expr}`);
    // "N/step" means N through the maximum.
    if (range.length === 1 && !star) end = b.max;
    star = false;
  }
  if (start < b.min) throw new CronError(`beginning of range (${start}) below minimum (${b.min}): ${expr}`);
  if (end > b.max) throw new CronError(`end of range (${end}) above maximum (${b.max}): ${expr}`);
  if (start > end) throw new CronError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  for (let v = start; v <= end; v += step) out.add(v);
  return star;
}

function parseField(field: string, b: Bounds): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  let star = false;
  for (const part of field.split(',')) {
    if (parseRange(part, b, values)) star = true;
  }
  return { values, star };
}

function parseGoDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  let total = 0;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * unit[m[2]];
    consumed += m[0].length;
  }
  return consumed === s.length && s.length > 0 ? total : undefined;
}

/** Parses a schedule; throws CronError with robfig/cron's wording when it does not parse. */
export function parseCronSchedule(spec: string): CronSchedule {
  const s = spec.trim();
  if (s === '') throw new CronError('empty spec string');
  if (/^(CRON_)?TZ=/.test(s)) throw new CronError('cannot use TZ or CRON_TZ in schedule, use timeZone field instead');
  if (s.startsWith('@')) {
    if (s.startsWith('@every ')) {
      const ms = parseGoDuration(s.slice(7).trim());
      if (ms === undefined) throw new CronError(`failed to parse duration ${s}: time: invalid duration "${s.slice(7).trim()}"`);
      const all = (b: Bounds) => new Set(Array.from({ length: b.max - b.min + 1 }, (_, i) => b.min + i));
      return { minutes: all(FIELDS[0]), hours: all(FIELDS[1]), doms: all(FIELDS[2]), months: all(FIELDS[3]), dows: all(FIELDS[4]), domStar: true, dowStar: true, everyMs: Math.max(1000, ms) };
    }
    const d = DESCRIPTORS[s.toLowerCase()];
    if (!d) throw new CronError(`unrecognized descriptor: ${s}`);
    return parseCronSchedule(d);
  }
  const fields = s.split(/\s+/);
  if (fields.length !== 5) throw new CronError(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  const [mi, h, dom, mo, dow] = fields.map((f, i) => parseField(f, FIELDS[i]));
  return { minutes: mi.values, hours: h.values, doms: dom.values, months: mo.values, dows: dow.values, domStar: dom.star, dowStar: dow.star };
}

/** Offset (ms) of a time zone from UTC at an instant. */
function tzOffset(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(instant / 1000) * 1000;
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const domOk = s.doms.has(d.getUTCDate());
  const dowOk = s.dows.has(d.getUTCDay());
  return s.domStar || s.dowStar ? domOk && dowOk : domOk || dowOk;
}

/** The first scheduled time strictly after `after`, in the given IANA zone (UTC by default). */
export function nextScheduleTime(s: CronSchedule, after: Date, timeZone = 'UTC'): Date | undefined {
  if (s.everyMs !== undefined) return new Date(Math.floor(after.getTime() / 1000) * 1000 + s.everyMs);
  const offset0 = tzOffset(after.getTime(), timeZone);
  // Work on wall-clock time represented as a UTC Date, then map back to an instant.
  const t = new Date(Math.floor((after.getTime() + offset0) / 60000) * 60000 + 60000);
  const limit = t.getTime() + 5 * 366 * 86400000;
  while (t.getTime() < limit) {
    if (!s.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(s, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    const wall = t.getTime();
    const instant = wall - tzOffset(wall - tzOffset(wall, timeZone), timeZone);
    if (instant > after.getTime()) return new Date(instant);
    t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
  }
  return undefined;
}
