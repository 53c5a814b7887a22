import test from 'ava';
import { ageSince, humanDuration } from '../../../pkg/api/duration.js';

const s = 1000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

test('humanDuration matches kubectl AGE', (t) => {
  const table: [number, string][] = [
    [-2 * s, '<invalid>'],
    [-1 * s, '0s'],
    [-500, '0s'],
    [0, '0s'],
    [5 * s, '5s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [3 * m + 12 * s, '3m12s'],
    [9 * m + 59 * s, '9m59s'],
    [10 * m, '10m'],
    [10 * m + 30 * s, '10m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [5 * h + 3 * m, '5h3m'],
    [7 * h + 59 * m, '7h59m'],
    [8 * h, '8h'],
    [47 * h, '47h'],
    [48 * h, '2d'],
    [3 * d + 4 * h, '3d4h'],
    [7 * d + 23 * h, '7d23h'],
    [8 * d, '8d'],
    [45 * d, '45d'],
    [729 * d, '729d'],
    [730 * d, '2y'],
    [365 * 2 * d + 10 * d, '2y10d'],
    [365 * 8 * d, '8y'],
    [365 * 10 * d + 100 * d, '10y'],
  ];
  for (const [ms, want] of table) t.is(humanDuration(ms), want, `${ms}ms`);
});

test('ageSince handles missing timestamps', (t) => {
  t.is(ageSince(undefined, Date.now()), '<unknown>');
  t.is(ageSince('2024-01-01T00:00:00Z', Date.parse('2024-01-01T00:05:00Z')), '5m');
});
