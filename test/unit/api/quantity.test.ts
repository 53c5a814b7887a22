import test from 'ava';
import { QUANTITY_FORMAT_ERROR, compareQuantities, formatQuantity, intValue, milliValue, parseQuantity, quantityValue, validateQuantity } from '../../../pkg/api/quantity.js';

test('parses the usual forms', (t) => {
  t.is(quantityValue('100m'), 0.1);
  t.is(milliValue('100m'), 100);
  t.is(quantityValue('1.5'), 1.5);
  t.is(milliValue('1.5'), 1500);
  t.is(quantityValue('2Gi'), 2 * 1024 ** 3);
  t.is(quantityValue('500M'), 500e6);
  t.is(quantityValue('1e3'), 1000);
  t.is(quantityValue('128974848'), 128974848);
  t.is(quantityValue('1Ki'), 1024);
  t.is(quantityValue('.5'), 0.5);
  t.is(quantityValue('-1'), -1);
  t.is(quantityValue('+2k'), 2000);
  t.is(quantityValue('1E'), 1e18);
  t.is(milliValue('1n'), 1);
  t.is(intValue('100m'), 1);
  t.is(milliValue(2), 2000);
});

test('rejects malformed quantities with the Kubernetes message', (t) => {
  for (const bad of ['', 'abc', '1Kb', '1 Gi', 'Gi', '--1', '1e']) {
    t.true(validateQuantity(bad).length > 0, bad);
  }
  t.deepEqual(validateQuantity('abc'), [QUANTITY_FORMAT_ERROR]);
  t.deepEqual(validateQuantity('1.2.3'), ['unable to parse numeric part of quantity']);
  t.deepEqual(validateQuantity('1Mii'), ["unable to parse quantity's suffix"]);
  t.deepEqual(validateQuantity('250m'), []);
  t.deepEqual(validateQuantity(3), []);
});

test('canonical formatting', (t) => {
  t.is(formatQuantity('1000'), '1k');
  t.is(formatQuantity('1.5'), '1500m');
  t.is(formatQuantity('0.1'), '100m');
  t.is(formatQuantity('1536Mi'), '1536Mi');
  t.is(formatQuantity('1.5Gi'), '1536Mi');
  t.is(formatQuantity('2048Ki'), '2Mi');
  t.is(formatQuantity('500M'), '500M');
  t.is(formatQuantity('1e3'), '1e3');
  t.is(formatQuantity('0'), '0');
  t.is(formatQuantity('128974848'), '128974848');
  t.is(formatQuantity(parseQuantity('1Gi'), 'DecimalSI'), '1073741824');
});

test('comparison is exact', (t) => {
  t.is(compareQuantities('1', '1000m'), 0);
  t.is(compareQuantities('1Gi', '1G'), 1);
  t.is(compareQuantities('0.1', '100m'), 0);
  t.is(compareQuantities('999m', '1'), -1);
});
