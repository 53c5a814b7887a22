// The CRI container log format conmon writes (k8s-file):
//   <RFC3339Nano time> <stdout|stderr> <F|P> <text>
// P marks a partial line continued by the next entry; F ends it. conmon writes "+00:00" where
// kubelet writes "Z"; both are RFC 3339.

export interface CriLogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  /** true for a full line (F), false for a partial one (P) */
  full: boolean;
  text: string;
}

// The text may hold carriage returns (progress bars, every line of a tty container): `.` would
// not match them, and the whole line would be lost.
const LINE = /^(\S+) (stdout|stderr) ([FP])(?: ([\s\S]*))?$/;

export function parseCriLogLine(line: string): CriLogEntry | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { time: m[1], stream: m[2] as 'stdout' | 'stderr', full: m[3] === 'F', text: m[4] ?? '' };
}

/** Parses a whole log; partial entries are joined into the line they belong to. */
export function parseCriLog(text: string): CriLogEntry[] {
  const out: CriLogEntry[] = [];
  const pending: Partial<Record<'stdout' | 'stderr', CriLogEntry>> = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    const e = parseCriLogLine(line);
    if (!e) continue;
    const prev = pending[e.stream];
    const merged = prev ? { ...prev, text: prev.text + e.text, full: e.full } : e;
    if (merged.full) {
      out.push(merged);
      delete pending[e.stream];
    } else pending[e.stream] = merged;
  }
  for (const p of Object.values(pending)) if (p) out.push(p);
  return out;
}

/** Formats one entry the way kubelet does (UTC, nanoseconds, Z). */
export function formatCriLogLine(time: Date, stream: 'stdout' | 'stderr', text: string, full = true, nanos = 0): string {
  const iso = time.toISOString(); // 2026-01-01T00:00:00.000Z
  const frac = String(time.getMilliseconds() * 1_000_000 + nanos).padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z ${stream} ${full ? 'F' : 'P'} ${text}`;
}
