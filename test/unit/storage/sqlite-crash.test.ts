// Durability: every write the store acknowledged before a kill -9 is there after reopening, over
// several crash-and-restart rounds on the same file.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../../apiserver/storage/sqlite/index.js';

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));
// A different point in the write stream each round, so the kill lands in different batches.
const ACKS_BEFORE_KILL = [300, 1_111, 3_007];
const DEADLINE_MS = 30_000;

interface Ack {
  key: string;
  revision: number;
  value: string;
}

/** Runs the writer until it has acknowledged enough writes, kills it, and returns every ack. */
async function writeUntilKilled(t: ExecutionContext, file: string, round: number, killAfter: number): Promise<Ack[]> {
  const child = spawn(process.execPath, [WRITER, file, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const acks: Ack[] = [];
  let killed = false;
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${acks.length} acks within ${DEADLINE_MS} ms; stderr: ${stderr}`)), DEADLINE_MS);
    lines.on('line', (line) => {
      const [tag, key, revision, value] = line.split(' ');
      if (tag !== 'ack') return;
      acks.push({ key: key!, revision: Number(revision), value: value! });
      if (acks.length >= killAfter && !killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    // Lines already in the pipe when the child died are acknowledged writes too.
    lines.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  t.is(await exited, 'SIGKILL', `writer did not die by SIGKILL; stderr: ${stderr}`);
  return acks;
}

test('sqlite: acknowledged writes survive kill -9 of the writer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'state.db');
  const acks: Ack[] = [];
  let revisionBefore = 0;

  for (const [i, killAfter] of ACKS_BEFORE_KILL.entries()) {
    const round = i + 1;
    const roundAcks = await writeUntilKilled(t, file, round, killAfter);
    t.true(roundAcks.length >= killAfter);
    t.true(Math.min(...roundAcks.map((a) => a.revision)) > revisionBefore, 'revisions continue after a crash');
    acks.push(...roundAcks);

    const store = await openSqliteStore(file);
    try {
      const current = await store.currentRevision();
      const maxAcked = Math.max(...acks.map((a) => a.revision));
      t.true(current >= maxAcked, `round ${round}: current revision ${current} is behind acknowledged ${maxAcked}`);
      const missing: string[] = [];
      for (const ack of acks) {
        // The smallest key starting with ack.key is ack.key itself, so limit 1 reads exactly it.
        const kv = (await store.list(ack.key, { revision: ack.revision, limit: 1 })).kvs[0];
        if (!kv || kv.key !== ack.key || kv.modRevision !== ack.revision || kv.value !== ack.value) {
          missing.push(`${ack.key}@${ack.revision}=${ack.value} (found ${JSON.stringify(kv)})`);
          continue;
        }
        const now = (await store.get(ack.key)).kv;
        if (!now || now.modRevision < ack.revision) missing.push(`${ack.key} now ${JSON.stringify(now)}, acked at ${ack.revision}`);
      }
      t.deepEqual(missing, [], `round ${round}`);
      t.log(`round ${round}: ${roundAcks.length} acknowledged writes before the kill, all ${acks.length} so far present; revision ${current}`);
      revisionBefore = current;
    } finally {
      await store.close();
    }
  }
});
