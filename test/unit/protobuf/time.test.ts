import test from 'ava';
import { formatDuration, formatTime, parseDuration, parseTime } from '../../../apiserver/protobuf/time.js';

test('durations print as Go prints time.Duration', (t) => {
  const cases: [bigint, string][] = [
    [0n, '0s'],
    [1n, '1ns'],
    [1500n, '1.5µs'],
    [100_000_000n, '100ms'],
    [1_500_000_000n, '1.5s'],
    [90_000_000_000n, '1m30s'],
    [3_600_000_000_000n, '1h0m0s'],
    [-(3_723_000_000_000n + 500_000_000n), '-1h2m3.5s'],
    [9_223_372_036_854_775_807n, '2562047h47m16.854775807s'],
  ];
  for (const [ns, text] of cases) {
    t.is(formatDuration(ns), text);
    t.is(parseDuration(text), ns, text);
  }
  t.is(parseDuration('1h30m'), 5_400_000_000_000n);
  t.is(parseDuration('2us'), 2_000n);
  t.throws(() => parseDuration('5'));
  t.throws(() => parseDuration(''));
});

test('times print in RFC 3339 and parse back', (t) => {
  t.is(formatTime(0, 0, 0), '1970-01-01T00:00:00Z');
  t.is(formatTime(1767323045, 999_999_999, 0), '2026-01-02T03:04:05Z');
  t.is(formatTime(1767323045, 1_000, 6), '2026-01-02T03:04:05.000001Z');
  t.is(formatTime(-62135596800, 1, 0), '0001-01-01T00:00:00Z');
  t.throws(() => formatTime(253402300800, 0, 0));
  t.deepEqual(parseTime('2026-01-02T03:04:05Z'), { seconds: 1767323045, nanos: 0 });
  t.deepEqual(parseTime('2026-01-02T05:04:05.25+02:00'), { seconds: 1767323045, nanos: 250_000_000 });
  t.deepEqual(parseTime('0001-01-01T00:00:00Z'), { seconds: -62135596800, nanos: 0 });
  t.throws(() => parseTime('yesterday'));
});
