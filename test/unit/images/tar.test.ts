import test from 'ava';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tarEntries, TarFormatError, type TarHeader } from '../../../kubelet/images/tar-reader.js';
import { unpackTar, UnsafePathError, safeParts } from '../../../kubelet/images/unpack.js';
import { chunks, cleanup, paxRecords, tar, tempDir, entry } from './helpers.js';

async function readAll(b: Buffer, chunk = 700): Promise<Array<{ h: TarHeader; data: string }>> {
  const out: Array<{ h: TarHeader; data: string }> = [];
  for await (const e of tarEntries(chunks(b, chunk))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ h: e.header, data: Buffer.concat(parts).toString() });
  }
  return out;
}

const staging = { overlayWhiteouts: false, preserveOwnership: false };

test('ustar prefix, GNU long names and long link targets', async (t) => {
  const long = 'd/' + 'x'.repeat(150) + '/file-with-a-long-name.txt';
  const longTarget = '/' + 'y'.repeat(200);
  const b = tar(
    { name: 'c.txt', prefix: 'a/b', data: 'prefixed' },
    { name: '././@LongLink', type: 'L', data: long + '\0' },
    { name: long.slice(0, 99), data: 'long' },
    { name: '././@LongLink', type: 'K', data: longTarget + '\0' },
    { name: 'sym', type: '2', linkname: 'ignored' },
  );
  for (const chunk of [1, 511, 512, 513, 100000]) {
    const es = await readAll(b, chunk);
    t.deepEqual(es.map((e) => e.h.name), ['a/b/c.txt', long, 'sym'], `chunk ${chunk}`);
    t.is(es[0]!.data, 'prefixed');
    t.is(es[1]!.data, 'long');
    t.is(es[2]!.h.type, 'symlink');
    t.is(es[2]!.h.linkname, longTarget);
  }
});

test('PAX headers: path, linkpath, size, mtime, ids, xattrs; global headers carry over', async (t) => {
  const name = 'p/' + 'ü'.repeat(120);
  const b = tar(
    { name: 'pax_global_header', type: 'g', data: paxRecords({ uid: '4242' }) },
    { name: 'PaxHeaders/x', type: 'x', data: paxRecords({ path: name, mtime: '1700000000.5', gid: '3000000', 'SCHILY.xattr.user.k': Buffer.from([0, 1, 2]) }) },
    { name: 'short', data: 'hello' },
    { name: 'PaxHeaders/y', type: 'x', data: paxRecords({ linkpath: 'target/' + 'z'.repeat(150) }) },
    { name: 'l', type: '2' },
    { name: 'plain', data: 'x' },
  );
  const es = await readAll(b);
  t.is(es[0]!.h.name, name);
  t.is(es[0]!.h.mtime, 1700000000.5);
  t.is(es[0]!.h.gid, 3000000);
  t.is(es[0]!.h.uid, 4242);
  t.deepEqual([...es[0]!.h.xattrs.get('user.k')!], [0, 1, 2]);
  t.is(es[0]!.data, 'hello');
  t.is(es[1]!.h.linkname, 'target/' + 'z'.repeat(150));
  // A per-entry header applies to one entry only; the global one to all.
  t.is(es[2]!.h.name, 'plain');
  t.is(es[2]!.h.uid, 4242);
  t.is(es[2]!.h.gid, 0);
});

test('base-256 sizes, unread bodies skipped, missing end blocks tolerated', async (t) => {
  const b = Buffer.concat([entry({ name: 'big', data: 'z'.repeat(1500), base256Size: true }), entry({ name: 'after', data: 'ok' })]);
  const names: string[] = [];
  let after = '';
  for await (const e of tarEntries(chunks(b))) {
    names.push(e.header.name);
    t.is(e.header.name === 'big' ? e.header.size : 2, e.header.name === 'big' ? 1500 : 2);
    if (e.header.name === 'after') for await (const c of e.body) after += c.toString();
  }
  t.deepEqual(names, ['big', 'after']);
  t.is(after, 'ok');
});

test('corrupt and truncated archives are errors', async (t) => {
  await t.throwsAsync(readAll(tar({ name: 'a', data: 'x', badChecksum: true })), { instanceOf: TarFormatError, message: /checksum/ });
  const whole = tar({ name: 'a', data: 'x'.repeat(2000) });
  await t.throwsAsync(readAll(whole.subarray(0, 1024)), { instanceOf: TarFormatError, message: /unexpected end/ });
  await t.throwsAsync(readAll(Buffer.from('this is not a tar archive'.padEnd(600, '!'))), { instanceOf: TarFormatError });
});

test('safeParts normalises and refuses ".."', (t) => {
  t.deepEqual(safeParts('./a//b/./c/'), ['a', 'b', 'c']);
  t.deepEqual(safeParts('/etc/passwd'), ['etc', 'passwd']);
  t.throws(() => safeParts('a/../../b'), { instanceOf: UnsafePathError });
});

test('unpack: files, dirs, modes, mtimes, symlinks, hard links, replacement', async (t) => {
  const dir = tempDir('tar');
  t.teardown(() => cleanup(dir));
  const b = tar(
    { name: './', type: '5', mode: 0o755 },
    { name: 'bin/', type: '5', mode: 0o711, mtime: 1234 },
    { name: 'bin/tool', data: '#!/bin/sh\n', mode: 0o4755, mtime: 5678 },
    { name: 'bin/alias', type: '1', linkname: 'bin/tool' },
    { name: 'bin/sh', type: '2', linkname: '/bin/tool' },
    { name: 'etc/conf', data: 'old' },
    { name: 'etc/conf', data: 'new' },
    { name: 'deep/er/file', data: 'auto parents' },
  );
  const st = await unpackTar(chunks(b), dir, staging);
  t.is(st.entries, 8);
  t.is(readFileSync(join(dir, 'bin/tool'), 'utf8'), '#!/bin/sh\n');
  t.is(statSync(join(dir, 'bin/tool')).mode & 0o7777, 0o4755);
  t.is(statSync(join(dir, 'bin/tool')).mtimeMs, 5678_000);
  t.is(statSync(join(dir, 'bin')).mode & 0o7777, 0o711);
  t.is(statSync(join(dir, 'bin')).mtimeMs, 1234_000, 'dir mtime survives its children being created');
  t.is(statSync(join(dir, 'bin/alias')).ino, statSync(join(dir, 'bin/tool')).ino);
  t.is(readlinkSync(join(dir, 'bin/sh')), '/bin/tool');
  t.is(readFileSync(join(dir, 'etc/conf'), 'utf8'), 'new');
  t.is(readFileSync(join(dir, 'deep/er/file'), 'utf8'), 'auto parents');
});

test('unpack refuses path traversal: "..", writing through symlinks, hard links out of the tree', async (t) => {
  const outside = tempDir('outside');
  t.teardown(() => cleanup(outside));
  writeFileSync(join(outside, 'secret'), 'keep');
  const cases: Array<[string, Buffer]> = [
    ['dot-dot', tar({ name: '../escape', data: 'x' })],
    ['dot-dot inside', tar({ name: 'a/../../escape', data: 'x' })],
    ['symlink parent', tar({ name: 'link', type: '2', linkname: outside }, { name: 'link/secret', data: 'pwned' })],
    ['relative symlink parent', tar({ name: 'a/', type: '5' }, { name: 'a/up', type: '2', linkname: '../../../../../../..' + outside }, { name: 'a/up/secret', data: 'pwned' })],
    ['hard link out', tar({ name: 'h', type: '1', linkname: '../../../../../../..' + outside + '/secret' })],
    ['hard link through symlink', tar({ name: 'l', type: '2', linkname: outside }, { name: 'h', type: '1', linkname: 'l/secret' })],
    ['hard link to missing', tar({ name: 'h', type: '1', linkname: 'nothing' })],
  ];
  for (const [what, b] of cases) {
    const dir = tempDir('trav');
    try {
      await t.throwsAsync(unpackTar(chunks(b), dir, staging), { instanceOf: UnsafePathError }, what);
      t.is(readFileSync(join(outside, 'secret'), 'utf8'), 'keep', what);
      t.false(existsSync(join(dir, '..', 'escape')), what);
    } finally {
      cleanup(dir);
    }
  }
  // An absolute name is taken relative to the root, not the host's /.
  const dir = tempDir('abs');
  t.teardown(() => cleanup(dir));
  await unpackTar(chunks(tar({ name: '/etc/x-skiff-test', data: 'in' })), dir, staging);
  t.true(lstatSync(join(dir, 'etc/x-skiff-test')).isFile());
  t.false(existsSync('/etc/x-skiff-test'));
});
