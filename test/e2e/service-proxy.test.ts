// Services on a real data path. A network namespace plays the node: a bridge with the pods'
// gateway, three "pod" namespaces serving their own name over HTTP (busybox httpd), a client pod on
// the same bridge, and an "outside" namespace on a point-to-point link to the node. The
// ServiceProxy writes its table inside the node namespace; requests go through it with curl.
// br_netfilter is switched off in the node namespace (when the kernel has it at all) so that the
// same-bridge case is the hard one: replies between pods never meet the node's conntrack.
// The pods also answer UDP datagrams with their name (a node script), and UDP clients that always
// send from one source port show the conntrack cleanup: without it they stay pinned to a removed
// endpoint, or to the path taken before their Service had endpoints.
// Needs root, iproute2, nftables, conntrack, curl and busybox-static.
import test from 'ava';
import { execFile, spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { systemTool } from '../../kubelet/network/cni.js';
import { createNetns, deleteNetns } from '../../kubelet/network/netns.js';
import { ServiceProxy } from '../../kubelet/network/service-proxy.js';
import type { KObject } from '../../pkg/api/types.js';
import { waitFor } from '../helpers/wait.js';

function has(cmd: string): boolean {
  try {
    systemTool(cmd);
    return true;
  } catch {
    return false;
  }
}

function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const cmd of ['ip', 'nft', 'curl', 'conntrack']) if (!has(cmd)) return `${cmd} is not installed`;
  if (!existsSync('/bin/busybox')) return '/bin/busybox is missing (apt-get install -y busybox-static)';
  return undefined;
}

const missing = missingPrerequisite();
const serial = missing ? test.serial.skip : test.serial;
if (missing) test('service proxy e2e prerequisites', (t) => t.log(`skipped: ${missing}`));

const id = randomBytes(3).toString('hex');
const NODE = `svcp-${id}-node`;
const PODS = [1, 2, 3].map((i) => ({ ns: `svcp-${id}-pod${i}`, name: `pod${i}`, ip: `10.244.0.${10 + i}` }));
const CLIENT = { ns: `svcp-${id}-client`, ip: '10.244.0.20' };
const OUTSIDE = { ns: `svcp-${id}-out`, ip: '192.0.2.2' };
const NODE_EXT_IP = '192.0.2.1';
const GATEWAY = '10.244.0.1';
const TABLE = `skiff-svc-${id}`;
const namespaces = [NODE, ...PODS.map((p) => p.ns), CLIENT.ns, OUTSIDE.ns];

const WEB_IP = '10.96.0.10';
const STICKY_IP = '10.96.0.11';
const EMPTY_IP = '10.96.0.12';
const WEB_NODEPORT = 30080;
const EMPTY_NODEPORT = 30081;
const DNS_IP = '10.96.0.13';
const LATE_IP = '10.96.0.14';
const NEW_IP = '10.96.0.15';
const DNS_NODEPORT = 30053;
const UDP_TARGET = 5353;
/** the one source port every UDP client here sends from */
const CLIENT_PORT = 40053;

let tmp = '';
const servers: ChildProcess[] = [];
let udpClient: UdpClient | undefined;
let udpOutside: UdpClient | undefined;
let proxy: ServiceProxy | undefined;
let destroyed = false;

function run(args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(args[0]!, args.slice(1), { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(args: string[]): Promise<string> {
  const r = await run(args);
  if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const ip = (...args: string[]) => must([systemTool('ip'), ...args]);
const inNs = (ns: string, ...args: string[]) => ip('netns', 'exec', ns, ...args);

/** One HTTP request with curl from inside a namespace: the body, or curl's exit code (7 = refused). */
async function get(ns: string, url: string, maxSeconds = 3): Promise<{ code: number; body: string; ms: number }> {
  const t0 = performance.now();
  const r = await run([systemTool('ip'), 'netns', 'exec', ns, systemTool('curl'), '-s', '--max-time', String(maxSeconds), '-H', 'Connection: close', url]);
  return { code: r.code, body: r.stdout.trim(), ms: performance.now() - t0 };
}

async function answers(ns: string, url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(ns, url);
    if (r.code !== 0) throw new Error(`request ${i + 1} to ${url} from ${ns} failed: curl exit ${r.code}`);
    out.push(r.body);
  }
  return out;
}

// UDP backend: answers `ping N` with `NAME N`, to whatever address the datagram came from.
const UDP_SERVER = `
const s = require('node:dgram').createSocket('udp4');
const name = process.argv[1];
s.on('message', (m, r) => s.send(name + ' ' + String(m).split(' ')[1], r.port, r.address));
s.bind(Number(process.argv[2]), () => process.stdout.write('ready\\n'));`;

// UDP client bound to one source port for its whole life: for each stdin line \`IP PORT MS\` it
// sends one datagram and prints the answer to it, or -timeout. Answers to earlier datagrams that
// come late are told apart by their sequence number and dropped.
const UDP_CLIENT = `
const s = require('node:dgram').createSocket('udp4');
let seq = 0, waiting;
s.on('error', (e) => process.stderr.write(String(e) + '\\n'));
s.on('message', (m) => {
  const [name, n] = String(m).trim().split(' ');
  if (!waiting || Number(n) !== waiting.n) return;
  clearTimeout(waiting.timer);
  waiting = undefined;
  process.stdout.write(name + '\\n');
});
s.bind(Number(process.argv[1]), () => {
  process.stdout.write('ready\\n');
  require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
    const [ip, port, ms] = l.split(' ');
    const n = ++seq;
    waiting = { n, timer: setTimeout(() => { waiting = undefined; process.stdout.write('-timeout\\n'); }, Number(ms)) };
    s.send('ping ' + n, Number(port), ip);
  });
});`;

/** Spawns a node script in a namespace; resolves once it printed its first line (`ready`). */
async function startNode(ns: string, script: string, args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; lines: AsyncIterator<string> }> {
  const child = spawn(systemTool('ip'), ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  servers.push(child);
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([
    lines.next(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`node in ${ns} did not start: ${stderr}`)), 10_000).unref()),
  ]);
  if (first.done || first.value !== 'ready') throw new Error(`node in ${ns} did not start: ${stderr}`);
  return { child, lines };
}

class UdpClient {
  private constructor(private readonly p: { child: ChildProcessWithoutNullStreams; lines: AsyncIterator<string> }) {}

  static async start(ns: string): Promise<UdpClient> {
    return new UdpClient(await startNode(ns, UDP_CLIENT, [String(CLIENT_PORT)]));
  }

  /** One datagram from the fixed source port: the name of the pod that answered, or undefined. */
  async ask(ip: string, port: number, timeoutMs = 300): Promise<string | undefined> {
    this.p.child.stdin.write(`${ip} ${port} ${timeoutMs}\n`);
    const r = await this.p.lines.next();
    if (r.done) throw new Error('UDP client exited');
    return r.value === '-timeout' ? undefined : r.value;
  }

  /** Asks until an answer satisfies ok or the deadline passes; the answers seen, in order, and how long it took. */
  async askUntil(ip: string, port: number, ms: number, ok: (a: string | undefined) => boolean): Promise<{ got: (string | undefined)[]; ms: number; ok: boolean }> {
    const t0 = performance.now();
    const got: (string | undefined)[] = [];
    while (performance.now() - t0 < ms) {
      const a = await this.ask(ip, port, 200);
      got.push(a);
      if (ok(a)) return { got, ms: performance.now() - t0, ok: true };
    }
    return { got, ms: performance.now() - t0, ok: false };
  }
}

function service(name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'e2e' }, spec };
}

function endpoints(name: string, ips: string[], notReady: string[] = []): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'e2e' },
    subsets: [{ addresses: ips.map((a) => ({ ip: a })), notReadyAddresses: notReady.map((a) => ({ ip: a })), ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
  };
}

const SERVICES: KObject[] = [
  service('web', { type: 'NodePort', clusterIP: WEB_IP, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: WEB_NODEPORT, protocol: 'TCP' }] }),
  service('sticky', { clusterIP: STICKY_IP, sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
  service('empty', { type: 'NodePort', clusterIP: EMPTY_IP, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: EMPTY_NODEPORT }] }),
  service('headless', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }),
];
const ALL = PODS.map((p) => p.ip);

const UDP_SERVICES: KObject[] = [
  service('dns', { type: 'NodePort', clusterIP: DNS_IP, ports: [{ name: 'dns', port: 53, targetPort: UDP_TARGET, nodePort: DNS_NODEPORT, protocol: 'UDP' }] }),
  service('late', { clusterIP: LATE_IP, ports: [{ name: 'dns', port: 53, targetPort: UDP_TARGET, protocol: 'UDP' }] }),
];
const NEW_SERVICE = service('new', { clusterIP: NEW_IP, ports: [{ name: 'dns', port: 53, targetPort: UDP_TARGET, protocol: 'UDP' }] });

function udpEndpoints(name: string, ips: string[]): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name, namespace: 'e2e' },
    subsets: ips.length ? [{ addresses: ips.map((a) => ({ ip: a })), ports: [{ name: 'dns', port: UDP_TARGET, protocol: 'UDP' }] }] : [],
  };
}

/** The TCP services as the earlier tests left them, plus the UDP ones as given. */
function withUdp(udp: KObject[], extraServices: KObject[] = []): [KObject[], KObject[]] {
  return [[...SERVICES, ...UDP_SERVICES, ...extraServices], [endpoints('web', ALL), endpoints('sticky', ALL), endpoints('empty', []), ...udp]];
}

const podName = (ip: string) => PODS.find((p) => p.ip === ip)!.name;

/** `pod3 x57` style summary of answers (undefined: no answer) */
function tally(got: (string | undefined)[]): string {
  const n = new Map<string, number>();
  for (const g of got) n.set(g ?? 'no answer', (n.get(g ?? 'no answer') ?? 0) + 1);
  return [...n].map(([k, v]) => `${k} x${v}`).join(', ');
}

async function tableExists(): Promise<boolean> {
  const r = await run([systemTool('ip'), 'netns', 'exec', NODE, systemTool('nft'), 'list', 'table', 'ip', TABLE]);
  if (r.code === 0) return true;
  if (/No such file or directory/.test(r.stderr)) return false;
  throw new Error(`nft list table: ${r.stderr}`);
}

test.before(async () => {
  if (missing) return;
  tmp = mkdtempSync(join(tmpdir(), 'skiff-svcp-'));
  for (const ns of namespaces) await createNetns(ns);
  for (const ns of namespaces) await ip('-n', ns, 'link', 'set', 'lo', 'up');
  await ip('-n', NODE, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', NODE, 'addr', 'add', `${GATEWAY}/24`, 'dev', 'br0');
  await ip('-n', NODE, 'link', 'set', 'br0', 'up');
  await inNs(NODE, '/bin/sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward; f=/proc/sys/net/bridge/bridge-nf-call-iptables; if [ -e $f ]; then echo 0 > $f; fi');
  const attach = async (ns: string, hostSide: string, addr: string) => {
    await ip('-n', NODE, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', NODE, 'link', 'set', hostSide, 'master', 'br0', 'up');
    await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'route', 'add', 'default', 'via', GATEWAY);
  };
  for (const [i, p] of PODS.entries()) await attach(p.ns, `vpod${i + 1}`, p.ip);
  await attach(CLIENT.ns, 'vclient', CLIENT.ip);
  // the outside world: a routed link, no route to the pod or service ranges
  await ip('-n', NODE, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', OUTSIDE.ns);
  await ip('-n', NODE, 'addr', 'add', `${NODE_EXT_IP}/30`, 'dev', 'ext0');
  await ip('-n', NODE, 'link', 'set', 'ext0', 'up');
  await ip('-n', OUTSIDE.ns, 'addr', 'add', `${OUTSIDE.ip}/30`, 'dev', 'eth0');
  await ip('-n', OUTSIDE.ns, 'link', 'set', 'eth0', 'up');
  // a default route like any real node has: the node's own connections to service addresses are
  // routed before the output hook rewrites them
  await ip('-n', NODE, 'route', 'add', 'default', 'via', OUTSIDE.ip);

  for (const p of PODS) {
    const dir = join(tmp, p.name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), `${p.name}\n`);
    const child = spawn(systemTool('ip'), ['netns', 'exec', p.ns, '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', dir], { stdio: 'ignore' });
    servers.push(child);
  }
  for (const p of PODS) await startNode(p.ns, UDP_SERVER, [p.name, String(UDP_TARGET)]);
  udpClient = await UdpClient.start(CLIENT.ns);
  udpOutside = await UdpClient.start(OUTSIDE.ns);
  for (const p of PODS) {
    await waitFor(`httpd in ${p.ns}`, 10_000, async () => (await get(CLIENT.ns, `http://${p.ip}:8080/`)).body === p.name);
  }
  proxy = new ServiceProxy({ table: TABLE, nodeIPs: [NODE_EXT_IP], clusterCIDR: '10.244.0.0/16', netns: NODE });
});

test.after.always(async () => {
  if (missing) return;
  const errors: unknown[] = [];
  if (proxy && !destroyed) await proxy.destroy().catch((e: unknown) => errors.push(e));
  for (const s of servers) {
    if (s.exitCode === null && s.signalCode === null) {
      const gone = new Promise((r) => s.once('exit', r));
      s.kill('SIGKILL');
      await gone;
    }
  }
  for (const ns of namespaces) await deleteNetns(ns).catch((e: unknown) => errors.push(e));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

serial('ClusterIP spreads requests over all ready endpoints', async (t) => {
  proxy!.update(SERVICES, [endpoints('web', ALL, ['10.244.0.99']), endpoints('sticky', ALL), endpoints('empty', [], ALL), endpoints('headless', ALL)]);
  await proxy!.flush();
  t.true(await tableExists());
  const got = await answers(CLIENT.ns, `http://${WEB_IP}/`, 30);
  t.deepEqual([...new Set(got)].sort(), ['pod1', 'pod2', 'pod3']);
  t.log(`30 requests: ${['pod1', 'pod2', 'pod3'].map((p) => `${p}=${got.filter((g) => g === p).length}`).join(' ')}; ${proxy!.stats.rules} rules, apply ${proxy!.stats.lastApplyMs.toFixed(1)} ms`);
});

serial('ClientIP affinity always picks the same backend', async (t) => {
  const got = await answers(CLIENT.ns, `http://${STICKY_IP}/`, 15);
  t.is(new Set(got).size, 1, got.join(','));
  // and the node itself (output hook) is a client as well
  const fromNode = await answers(NODE, `http://${STICKY_IP}/`, 5);
  t.is(new Set(fromNode).size, 1, fromNode.join(','));
});

serial('NodePort answers on the node address from outside, and from the node itself', async (t) => {
  const got = await answers(OUTSIDE.ns, `http://${NODE_EXT_IP}:${WEB_NODEPORT}/`, 12);
  t.true(got.every((g) => ['pod1', 'pod2', 'pod3'].includes(g)), got.join(','));
  t.true(new Set(got).size > 1, `12 requests all went to ${got[0]}`);
  // any local address answers, e.g. the bridge gateway, also for locally generated traffic
  t.true(['pod1', 'pod2', 'pod3'].includes((await get(NODE, `http://${GATEWAY}:${WEB_NODEPORT}/`)).body));
  t.true(['pod1', 'pod2', 'pod3'].includes((await get(CLIENT.ns, `http://${NODE_EXT_IP}:${WEB_NODEPORT}/`)).body));
});

serial('a service without ready endpoints refuses connections at once', async (t) => {
  for (const url of [`http://${EMPTY_IP}/`]) {
    const r = await get(CLIENT.ns, url);
    t.is(r.code, 7, `curl ${url}: exit ${r.code}, body ${r.body}`); // 7: could not connect (refused)
    t.true(r.ms < 1000, `${r.ms} ms`);
  }
  const np = await get(OUTSIDE.ns, `http://${NODE_EXT_IP}:${EMPTY_NODEPORT}/`);
  t.is(np.code, 7);
  const local = await get(NODE, `http://${EMPTY_IP}/`);
  t.is(local.code, 7);
  t.true(local.ms < 1000, `${local.ms} ms`);
});

serial('an Endpoints change is served right after flush(); hairpin works', async (t) => {
  const t0 = performance.now();
  proxy!.update(SERVICES, [endpoints('web', [PODS[0]!.ip], [PODS[1]!.ip, PODS[2]!.ip]), endpoints('sticky', ALL), endpoints('empty', []), endpoints('headless', ALL)]);
  await proxy!.flush();
  const ms = performance.now() - t0;
  t.log(`update() -> rules applied (flush resolved): ${ms.toFixed(1)} ms`);
  const got = await answers(CLIENT.ns, `http://${WEB_IP}/`, 10);
  t.deepEqual([...new Set(got)], ['pod1']);
  // pod1 reaching itself through its own service (hairpin): needs the masquerade
  t.deepEqual(await answers(PODS[0]!.ns, `http://${WEB_IP}/`, 3), ['pod1', 'pod1', 'pod1']);
  t.true(ms < 1000, `${ms} ms`);
});

serial('rapid updates coalesce and the last state wins', async (t) => {
  const before = proxy!.stats.applies;
  for (let i = 0; i < 20; i++) {
    const which = PODS[i % 3]!.ip;
    proxy!.update(SERVICES, [endpoints('web', [which]), endpoints('sticky', ALL), endpoints('empty', []), endpoints('headless', ALL)]);
  }
  proxy!.update(SERVICES, [endpoints('web', [PODS[2]!.ip]), endpoints('sticky', ALL), endpoints('empty', []), endpoints('headless', ALL)]);
  await proxy!.flush();
  const applies = proxy!.stats.applies - before;
  t.true(applies >= 1 && applies <= 3, `${applies} applies for 21 updates`);
  t.deepEqual([...new Set(await answers(CLIENT.ns, `http://${WEB_IP}/`, 5))], ['pod3']);
  // an update() in the very continuation of a flush() is not lost to the loop that just ended
  for (const p of [PODS[0]!, PODS[1]!, PODS[0]!, PODS[1]!]) {
    proxy!.update(SERVICES, [endpoints('web', [p.ip]), endpoints('sticky', ALL), endpoints('empty', []), endpoints('headless', ALL)]);
    await proxy!.flush();
  }
  t.deepEqual([...new Set(await answers(CLIENT.ns, `http://${WEB_IP}/`, 5))], ['pod2']);
});

serial('UDP: a client pinned to a removed endpoint moves to a remaining one (ClusterIP and NodePort)', async (t) => {
  proxy!.update(...withUdp([udpEndpoints('dns', ALL), udpEndpoints('late', [])]));
  await proxy!.flush();
  await proxy!.conntrackSettled();
  // one source port, one conntrack entry: every datagram goes to the same pod
  const pinned = await udpClient!.ask(DNS_IP, 53);
  t.truthy(pinned, 'no answer from the UDP service');
  for (let i = 0; i < 3; i++) t.is(await udpClient!.ask(DNS_IP, 53), pinned);
  const pinnedOut = await udpOutside!.ask(NODE_EXT_IP, DNS_NODEPORT);
  t.truthy(pinnedOut, 'no answer from the UDP NodePort');
  t.is(await udpOutside!.ask(NODE_EXT_IP, DNS_NODEPORT), pinnedOut);

  // take both pinned pods out of the Endpoints (their servers keep running, so a stale entry
  // shows as an answer from them rather than as silence)
  const gone = new Set([pinned, pinnedOut]);
  const left = PODS.filter((p) => !gone.has(p.name)).map((p) => p.ip);
  const deletedBefore = proxy!.stats.conntrackDeleted;
  proxy!.update(...withUdp([udpEndpoints('dns', left), udpEndpoints('late', [])]));
  await proxy!.flush();
  const remaining = (a: string | undefined) => a !== undefined && left.map(podName).includes(a);
  const moved = await udpClient!.askUntil(DNS_IP, 53, 1000, remaining);
  t.true(moved.ok, `ClusterIP: ${tally(moved.got)} within 1 s after the endpoint ${pinned} was removed`);
  t.log(`ClusterIP: pinned to ${pinned}, after removal answered by ${moved.got.at(-1)} after ${moved.ms.toFixed(0)} ms`);
  const movedOut = await udpOutside!.askUntil(NODE_EXT_IP, DNS_NODEPORT, 1000, remaining);
  t.true(movedOut.ok, `NodePort: ${tally(movedOut.got)} within 1 s after the endpoint ${pinnedOut} was removed`);
  // and pinned again to the new one
  const now = moved.got.at(-1);
  for (let i = 0; i < 3; i++) t.is(await udpClient!.ask(DNS_IP, 53), now);
  await proxy!.conntrackSettled();
  t.true(proxy!.stats.conntrackDeleted > deletedBefore);
  t.is(proxy!.stats.conntrackFailures, 0);
});

serial('UDP: a client of a service without endpoints reaches the first endpoint at once', async (t) => {
  // Rejected while there is no endpoint (the unconnected client socket ignores the ICMP error).
  // A rejected datagram is dropped before its conntrack entry is confirmed, so this path holds
  // without any cleanup; it guards the reject rules. The entry that does go stale is the one of
  // a flow that started before its Service existed (next test).
  t.is(await udpClient!.ask(LATE_IP, 53), undefined);
  t.is(await udpClient!.ask(LATE_IP, 53), undefined);
  proxy!.update(...withUdp([udpEndpoints('dns', ALL), udpEndpoints('late', [PODS[2]!.ip])]));
  await proxy!.flush();
  const r = await udpClient!.askUntil(LATE_IP, 53, 1000, (a) => a === PODS[2]!.name);
  t.true(r.ok, `answers within 1 s after the endpoint appeared: ${tally(r.got)}`);
});

serial('UDP: a client that sent before its service existed reaches it once it is created', async (t) => {
  // no rule for this address yet: the datagrams follow the node's default route, and the
  // conntrack entry they make (untranslated) would keep them on that path for good
  t.is(await udpClient!.ask(NEW_IP, 53), undefined);
  t.is(await udpClient!.ask(NEW_IP, 53), undefined);
  proxy!.update(...withUdp([udpEndpoints('dns', ALL), udpEndpoints('late', [PODS[2]!.ip]), udpEndpoints('new', [PODS[1]!.ip])], [NEW_SERVICE]));
  await proxy!.flush();
  const r = await udpClient!.askUntil(NEW_IP, 53, 1000, (a) => a === PODS[1]!.name);
  t.true(r.ok, `answers within 1 s after the service was created: ${tally(r.got)}`);
  await proxy!.conntrackSettled();
  t.is(proxy!.stats.conntrackFailures, 0);
});

serial('destroy() removes the table', async (t) => {
  await proxy!.destroy();
  destroyed = true;
  t.false(await tableExists());
  t.throws(() => proxy!.update([], []), { message: /destroyed/ });
  const r = await get(CLIENT.ns, `http://${WEB_IP}/`, 1);
  t.not(r.code, 0);
});
