import test from 'ava';
import { runExecProbe } from '../../../kubelet/prober/real.js';
import { fail, ok } from './helpers.js';

test('exit code 0 succeeds; the command and timeout reach the container', async (t) => {
  let got: [string[], number] | undefined;
  const r = await runExecProbe({ command: ['cat', '/tmp/healthy'] }, { exec: async (c, ms) => ((got = [c, ms]), ok('yes\n')) }, 1000);
  t.deepEqual(r, { result: 'success', message: 'yes' });
  t.deepEqual(got, [['cat', '/tmp/healthy'], 1000]);
});

test('a non-zero exit fails with the trimmed output', async (t) => {
  const r = await runExecProbe({ command: ['false'] }, { exec: async () => fail('  cat: /tmp/healthy: No such file or directory\n', 1) }, 1000);
  t.deepEqual(r, { result: 'failure', message: 'cat: /tmp/healthy: No such file or directory' });
});

test('a command the container timed out fails', async (t) => {
  const r = await runExecProbe({ command: ['sleep', '10'] }, { exec: async () => ({ exitCode: -1, output: '', timedOut: true }) }, 1000);
  t.deepEqual(r, { result: 'failure', message: 'command timed out' });
});

test('a container that never answers times out on the probe side', async (t) => {
  const began = Date.now();
  const r = await runExecProbe({ command: ['hang'] }, { exec: () => new Promise(() => {}) }, 80);
  t.true(Date.now() - began >= 75);
  t.deepEqual(r, { result: 'failure', message: 'command timed out' });
});

test('an exec that cannot start is a probe error; no command is an error', async (t) => {
  t.deepEqual(await runExecProbe({ command: ['x'] }, { exec: async () => Promise.reject(new Error('container not running')) }, 1000), {
    result: 'error',
    message: 'container not running',
  });
  t.is((await runExecProbe({}, { exec: async () => ok() }, 1000)).result, 'error');
});

test('output is cut at 10 KiB', async (t) => {
  const r = await runExecProbe({ command: ['x'] }, { exec: async () => fail('e'.repeat(20_000)) }, 1000);
  t.is(r.message.length, 10 * 1024);
});
