// Several controller managers and schedulers, each its own `skiff` process against one server:
// only the holder of the Lease acts; when it dies the other takes over within 15 s.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { startServer, skiffBin, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const procs: ChildProcess[] = [];

interface Component {
  proc: ChildProcess;
  identity?: string;
  log: string;
}

function start(cmd: 'controller-manager' | 'scheduler'): Component {
  const proc = spawn(process.execPath, [skiffBin, cmd, '--kubeconfig', srv.kubeconfig, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const c: Component = { proc, log: '' };
  const onData = (d: Buffer) => {
    c.log += d.toString();
    const m = /"identity":"([^"]+)"/.exec(c.log);
    if (m) c.identity = m[1];
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  return c;
}

async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function holder(lease: string): Promise<string | undefined> {
  const r = await srv.kubectl(['get', 'lease', lease, '-n', 'kube-system', '-o', 'jsonpath={.spec.holderIdentity}']);
  return r.code === 0 && r.stdout ? r.stdout : undefined;
}

test.before(async () => {
  srv = await startServer({ args: ['--disable-controllers'] });
});

test.after.always(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await srv?.stop();
});

for (const [cmd, lease] of [
  ['controller-manager', 'kube-controller-manager'],
  ['scheduler', 'kube-scheduler'],
] as const) {
  test.serial(`${cmd}: the standby never acts while the leader holds ${lease}; it takes over within 15 s of the leader's death`, async (t) => {
    const first = start(cmd);
    await waitFor(`${cmd} #1 identity`, 15_000, () => first.identity);
    await waitFor(`${cmd} #1 to lead`, 15_000, async () => (await holder(lease)) === first.identity);
    await waitFor(`${cmd} #1 running`, 15_000, () => /"(controllers running|became leader)"/.test(first.log));
    const second = start(cmd);
    await waitFor(`${cmd} #2 identity`, 15_000, () => second.identity);
    // Several renew periods pass: the lease stays with the first, the second never starts its loops.
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      t.is(await holder(lease), first.identity);
      await new Promise((r) => setTimeout(r, 500));
    }
    t.notRegex(second.log, /became leader/);
    t.notRegex(second.log, /controllers running/);

    const killedAt = Date.now();
    first.proc.kill('SIGKILL');
    await waitFor(`${cmd} #2 to take over`, 20_000, async () => (await holder(lease)) === second.identity && /became leader/.test(second.log)).catch(async (e) => {
      throw new Error(`${(e as Error).message}; holder ${await holder(lease)}, #2 is ${second.identity}, #2 exit ${second.proc.exitCode}; #2 log:\n${second.log.slice(-2000)}`);
    });
    const took = Date.now() - killedAt;
    t.log(`${cmd} takeover in ${took} ms`);
    t.true(took <= 15_000, `takeover took ${took} ms`);
    second.proc.kill('SIGTERM');
  });
}
