import test from 'ava';
import { CronError, nextScheduleTime, parseCronSchedule } from '../../../apiserver/registry/resources/batch/cron.js';

test('next schedule times in UTC', (t) => {
  const at = (s: string, from: string) => nextScheduleTime(parseCronSchedule(s), new Date(from))?.toISOString();
  t.is(at('*/5 * * * *', '2024-05-01T12:03:10Z'), '2024-05-01T12:05:00.000Z');
  t.is(at('*/5 * * * *', '2024-05-01T12:05:00Z'), '2024-05-01T12:10:00.000Z');
  t.is(at('@hourly', '2024-05-01T12:03:00Z'), '2024-05-01T13:00:00.000Z');
  t.is(at('0 0 1 1 *', '2024-05-01T12:03:00Z'), '2025-01-01T00:00:00.000Z');
  t.is(at('0 9 * * MON', '2024-05-01T12:00:00Z'), '2024-05-06T09:00:00.000Z');
  // Day-of-month and day-of-week are OR-ed when both are restricted.
  t.is(at('0 0 13 * 5', '2024-05-01T00:00:00Z'), '2024-05-03T00:00:00.000Z');
  t.is(at('0 0 30 2 *', '2024-05-01T00:00:00Z'), undefined);
});

test('time zones', (t) => {
  const next = nextScheduleTime(parseCronSchedule('0 9 * * *'), new Date('2024-05-01T00:00:00Z'), 'Europe/Paris');
  t.is(next?.toISOString(), '2024-05-01T07:00:00.000Z');
});

test('parse errors', (t) => {
  for (const bad of ['', '* * * *', '60 * * * *', '* * * * 8', 'a * * * *', '*/0 * * * *', '5-1 * * * *', '@weird', 'TZ=UTC * * * * *']) {
    t.throws(() => parseCronSchedule(bad), { instanceOf: CronError }, bad);
  }
});
