import test from 'ava';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitPayload, stagePayload, writePayload, type Payload } from '../../../kubelet/volumes/atomic-writer.js';
import { VolumeError } from '../../../kubelet/volumes/sources.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-aw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function payload(files: Record<string, string>, mode = 0o644): Payload {
  return new Map(Object.entries(files).map(([k, v]) => [k, { data: Buffer.from(v), mode }]));
}

test('writes the kubelet layout: timestamped dir, ..data link and visible links', async (t) => {
  const dir = tempDir(t);
  t.true(await writePayload(dir, payload({ a: 'A', 'sub/b': 'B' }, 0o600)));
  const data = readlinkSync(join(dir, '..data'));
  t.regex(data, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./);
  t.is(readlinkSync(join(dir, 'a')), '..data/a');
  t.is(readlinkSync(join(dir, 'sub')), '..data/sub');
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'A');
  t.is(readFileSync(join(dir, 'sub/b'), 'utf8'), 'B');
  t.is(statSync(join(dir, 'a')).mode & 0o777, 0o600);
});

test('the same payload again changes nothing', async (t) => {
  const dir = tempDir(t);
  await writePayload(dir, payload({ a: 'A' }));
  const before = readlinkSync(join(dir, '..data'));
  t.false(await writePayload(dir, payload({ a: 'A' })));
  t.is(readlinkSync(join(dir, '..data')), before);
});

test('old content stays visible until the swap, new content after; removed keys disappear', async (t) => {
  const dir = tempDir(t);
  await writePayload(dir, payload({ a: 'old', gone: 'x' }));
  const staged = await stagePayload(dir, payload({ a: 'new', added: 'y' }));
  t.truthy(staged);
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'old');
  t.is(readFileSync(join(dir, 'gone'), 'utf8'), 'x');
  t.throws(() => lstatSync(join(dir, 'added')));
  await commitPayload(staged!);
  t.is(readFileSync(join(dir, 'a'), 'utf8'), 'new');
  t.is(readFileSync(join(dir, 'added'), 'utf8'), 'y');
  t.throws(() => lstatSync(join(dir, 'gone')));
  // only the current timestamped directory is left
  const hidden = readdirSync(dir).filter((e) => e.startsWith('..') && e !== '..data');
  t.deepEqual(hidden, [readlinkSync(join(dir, '..data'))]);
});

test('a mode change alone is a change', async (t) => {
  const dir = tempDir(t);
  await writePayload(dir, payload({ a: 'A' }, 0o644));
  t.true(await writePayload(dir, payload({ a: 'A' }, 0o400)));
  t.is(statSync(join(dir, 'a')).mode & 0o777, 0o400);
});

test('paths escaping the volume are refused', async (t) => {
  const dir = tempDir(t);
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', '..x']) {
    await t.throwsAsync(writePayload(dir, payload({ [bad]: 'no' })), { instanceOf: VolumeError }, bad);
  }
  t.deepEqual(readdirSync(dir), []);
});
