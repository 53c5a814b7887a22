// A real resolver against the server: busybox nslookup only speaks to port 53, so the server
// runs on 127.0.0.1:53 of a private network namespace (root only) that dies with the process.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ready = process.getuid?.() === 0 && existsSync('/usr/bin/busybox') && existsSync('/usr/bin/unshare');
const rootTest = ready ? test : test.skip;

const serverModule = fileURLToPath(new URL('../../../kubelet/dns/server.js', import.meta.url));
const fixturesModule = fileURLToPath(new URL('./fixtures.js', import.meta.url));
const pinoModule = createRequire(import.meta.url).resolve('pino');

const script = `
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
const { pino } = await import(${JSON.stringify(pinoModule)});
const { ClusterDNS } = await import(${JSON.stringify(serverModule)});
const { clusterFixtures } = await import(${JSON.stringify(fixturesModule)});
execFileSync('ip', ['link', 'set', 'lo', 'up']);
const dns = new ClusterDNS({ listen: [{ host: '127.0.0.1', port: 53 }], upstream: [], log: pino({ level: 'silent' }) });
const f = clusterFixtures();
dns.update(f.services, f.endpoints);
await dns.start();
// asynchronously: the server answers on this very event loop
const ask = async (...args) => {
  try {
    return (await promisify(execFile)('busybox', ['nslookup', ...args, '127.0.0.1'], { encoding: 'utf8', timeout: 10000 })).stdout;
  } catch (e) {
    return 'FAILED ' + (e.stdout ?? '') + (e.stderr ?? '');
  }
};
const out = {
  svc: await ask('web.default.svc.cluster.local'),
  headless: await ask('db.data.svc.cluster.local'),
  srv: await ask('-type=srv', '_pg._tcp.db.data.svc.cluster.local'),
  missing: await ask('nope.default.svc.cluster.local'),
};
await dns.stop();
process.stdout.write(JSON.stringify(out));
`;

rootTest('busybox nslookup resolves services through the server', async (t) => {
  const { stdout } = await run('unshare', ['-n', process.execPath, '--input-type=module', '-e', script], { cwd: process.cwd(), timeout: 60_000 });
  const out = JSON.parse(stdout) as Record<string, string>;
  t.regex(out.svc!, /Address: 10\.96\.0\.10/);
  for (const ip of ['10.244.2.3', '10.244.2.4', '10.244.2.9']) t.regex(out.headless!, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}`));
  t.regex(out.srv!, /db-0\.db\.data\.svc\.cluster\.local/);
  t.regex(out.srv!, /5432/);
  t.regex(out.missing!, /NXDOMAIN/);
});
