// Simulated hosts for overlay work on one machine, and TCP figures between network namespaces.
// Each "host" is a netns with eth0 on a shared underlay bridge (itself in a netns of its own); a
// host can get a pod: a netns with eth0 on a bridge in the host holding an address of the host's
// pod CIDR. Nothing is created in the caller's namespace, so destroy() (deleting the namespaces)
// removes every link, route and fdb entry there was.
//
// Run directly (root) for the overlay figures: node dist/test/perf/overlay-net.js [MB] [rounds]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { runTool, systemTool } from '../../kubelet/network/cni.js';
import { netnsExists } from '../../kubelet/network/netns.js';
import { intToIp, parseCidr } from '../../kubelet/network/pod-ips.js';
import { peersFromNodes, VxlanOverlay } from '../../kubelet/network/overlay.js';
import type { KObject } from '../../pkg/api/types.js';

export interface SimPod {
  netns: string;
  ip: string;
}

export interface SimHost {
  index: number;
  netns: string;
  /** address on the underlay (eth0) */
  underlayIP: string;
  /** the port on the underlay bridge (in the underlay netns) that is this host's cable */
  cable: string;
  podCIDR: string;
  pod?: SimPod;
}

export interface SimHostsOptions {
  hosts: number;
  /** netns name prefix; default `skov<random>-` */
  prefix?: string;
  /** underlay /24, default 10.250.<random>.0/24 (inside the namespaces only) */
  underlayCIDR?: string;
  /** each host i gets <clusterCIDR second octet>.<i+1>.0/24; default 10.42.0.0/16 */
  clusterCIDR?: string;
  underlayMTU?: number;
}

export class SimHosts {
  readonly hosts: SimHost[] = [];
  readonly underlayNetns: string;
  private readonly created: string[] = [];

  private constructor(
    readonly prefix: string,
    readonly underlayCIDR: string,
    readonly clusterCIDR: string,
  ) {
    this.underlayNetns = `${prefix}ul`;
  }

  static async create(opts: SimHostsOptions): Promise<SimHosts> {
    const prefix = opts.prefix ?? `skov${randomBytes(3).toString('hex')}-`;
    const ul = parseCidr(opts.underlayCIDR ?? `10.250.${Math.floor(Math.random() * 256)}.0/24`);
    const cl = parseCidr(opts.clusterCIDR ?? '10.42.0.0/16');
    if (ul.prefix !== 24 || cl.prefix > 16) throw new Error('SimHosts needs a /24 underlay and a cluster CIDR of /16 or larger');
    if (opts.hosts < 1 || opts.hosts > 200) throw new Error('SimHosts: 1..200 hosts');
    const sim = new SimHosts(prefix, `${intToIp(ul.base)}/24`, `${intToIp(cl.base)}/${cl.prefix}`);
    try {
      await sim.addNetns(sim.underlayNetns);
      await ip(sim.underlayNetns, ['link', 'add', 'ulbr', 'type', 'bridge']);
      await ip(sim.underlayNetns, ['link', 'set', 'ulbr', 'up']);
      for (let i = 0; i < opts.hosts; i++) {
        const h: SimHost = {
          index: i,
          netns: `${prefix}h${i}`,
          underlayIP: intToIp(ul.base + i + 1),
          cable: `ul${i}`,
          podCIDR: `${intToIp(cl.base + (i + 1) * 256)}/24`,
        };
        await sim.addNetns(h.netns);
        await ip(sim.underlayNetns, ['link', 'add', h.cable, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
        await ip(sim.underlayNetns, ['link', 'set', h.cable, 'master', 'ulbr', 'up']);
        if (opts.underlayMTU) {
          await ip(sim.underlayNetns, ['link', 'set', h.cable, 'mtu', String(opts.underlayMTU)]);
          await ip(h.netns, ['link', 'set', 'eth0', 'mtu', String(opts.underlayMTU)]);
        }
        await ip(h.netns, ['addr', 'add', `${h.underlayIP}/24`, 'dev', 'eth0']);
        await ip(h.netns, ['link', 'set', 'eth0', 'up']);
        await ip(h.netns, ['link', 'set', 'lo', 'up']);
        sim.hosts.push(h);
      }
    } catch (e) {
      await sim.destroy().catch(() => undefined);
      throw e;
    }
    return sim;
  }

  /** A pod in the host: bridge br0 with the pod CIDR's first address, the pod at .2 behind it. */
  async addPod(h: SimHost, mtu: number): Promise<SimPod> {
    const c = parseCidr(h.podCIDR);
    const pod: SimPod = { netns: `${this.prefix}p${h.index}`, ip: intToIp(c.base + 2) };
    const gw = intToIp(c.base + 1);
    await this.addNetns(pod.netns);
    await ip(h.netns, ['link', 'add', 'br0', 'mtu', String(mtu), 'type', 'bridge']);
    await ip(h.netns, ['addr', 'add', `${gw}/24`, 'dev', 'br0']);
    await ip(h.netns, ['link', 'set', 'br0', 'up']);
    await ip(h.netns, ['link', 'add', 'vp0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.netns]);
    await ip(h.netns, ['link', 'set', 'vp0', 'master', 'br0', 'up']);
    await ip(pod.netns, ['link', 'set', 'eth0', 'mtu', String(mtu)]);
    await ip(pod.netns, ['addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
    await ip(pod.netns, ['link', 'set', 'eth0', 'up']);
    await ip(pod.netns, ['link', 'set', 'lo', 'up']);
    await ip(pod.netns, ['route', 'add', 'default', 'via', gw]);
    h.pod = pod;
    return pod;
  }

  /** Pulls the host's cable out of the underlay switch (its eth0 loses carrier). */
  async cut(h: SimHost): Promise<void> {
    await ip(this.underlayNetns, ['link', 'set', h.cable, 'down']);
  }

  async heal(h: SimHost): Promise<void> {
    await ip(this.underlayNetns, ['link', 'set', h.cable, 'up']);
  }

  /** Deletes every namespace made, pods first; missing ones are fine. */
  async destroy(): Promise<void> {
    const errors: string[] = [];
    for (const ns of [...this.created].reverse()) {
      if (!netnsExists(ns)) continue;
      await runTool('ip', ['netns', 'delete', ns]).catch((e: Error) => errors.push(e.message));
    }
    this.created.length = 0;
    if (errors.length) throw new Error(`SimHosts: ${errors.join('; ')}`);
  }

  private async addNetns(name: string): Promise<void> {
    if (netnsExists(name)) throw new Error(`network namespace ${name} exists already`);
    await runTool('ip', ['netns', 'add', name]);
    this.created.push(name);
  }
}

function ip(netns: string, args: string[]): Promise<string> {
  return runTool('ip', ['-n', netns, ...args]);
}

// ---- TCP figures between two namespaces ----

// One connection, then exit. `sink` counts bytes and answers with the count once the sender is done;
// `echo` sends back what it gets. The listening port is the first line on stdout.
const SERVER = `
import net from 'node:net';
const cfg = JSON.parse(process.argv[1]);
const guard = setTimeout(() => process.exit(3), cfg.maxMs); guard.unref();
const srv = net.createServer((s) => {
  srv.close();
  s.setNoDelay(true);
  if (cfg.mode === 'sink') {
    let n = 0;
    s.on('data', (b) => { n += b.length; });
    s.on('end', () => s.end(JSON.stringify({ bytes: n })));
  } else {
    s.on('data', (b) => s.write(b));
    s.on('end', () => s.end());
  }
  s.on('close', () => process.exit(0));
  s.on('error', () => process.exit(2));
});
srv.listen(0, cfg.host, () => console.log(JSON.stringify({ port: srv.address().port })));
`;

const CLIENT = `
import net from 'node:net';
const cfg = JSON.parse(process.argv[1]);
const s = net.connect({ host: cfg.host, port: cfg.port, noDelay: true });
s.on('error', (e) => { console.error(e.message); process.exit(2); });
s.on('connect', async () => {
  if (cfg.mode === 'sink') {
    const chunk = Buffer.alloc(1 << 20, 0x61);
    let sent = 0;
    let reply = '';
    const t0 = process.hrtime.bigint();
    s.setEncoding('utf8');
    s.on('data', (d) => { reply += d; });
    s.on('end', () => {
      const ns = Number(process.hrtime.bigint() - t0);
      console.log(JSON.stringify({ sent, received: JSON.parse(reply).bytes, ns }));
      process.exit(0);
    });
    const pump = () => {
      while (sent < cfg.bytes) {
        const n = Math.min(chunk.length, cfg.bytes - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump);
      }
      s.end();
    };
    pump();
  } else {
    const one = Buffer.from([1]);
    let pending;
    s.on('data', (b) => { const r = pending; pending = undefined; r && r(b.length); });
    const round = () => new Promise((r) => { pending = r; s.write(one); });
    const times = [];
    for (let i = 0; i < cfg.warmup + cfg.rounds; i++) {
      const t0 = process.hrtime.bigint();
      await round();
      if (i >= cfg.warmup) times.push(Number(process.hrtime.bigint() - t0));
    }
    s.end();
    console.log(JSON.stringify({ times }));
    process.exit(0);
  }
});
`;

function nodeIn(netns: string, script: string, cfg: object): ChildProcess {
  return spawn(systemTool('ip'), ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script, JSON.stringify(cfg)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${what}: exit ${code ?? sig}: ${err.trim() || out.trim()}`));
    });
  });
}

function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no output within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited with ${code} before listening`));
    });
  });
}

async function withServer<T>(server: { netns: string; ip: string }, mode: 'sink' | 'echo', maxMs: number, fn: (port: number) => Promise<T>): Promise<T> {
  const child = nodeIn(server.netns, SERVER, { mode, host: server.ip, maxMs });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  try {
    const line = await firstLine(child, `server in ${server.netns}`, 10_000).catch((e: Error) => {
      throw new Error(`${e.message} ${err.trim()}`);
    });
    const { port } = JSON.parse(line) as { port: number };
    return await fn(port);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
}

export interface Throughput {
  bytes: number;
  seconds: number;
  /** 10^6 bytes per second */
  MBps: number;
  Gbps: number;
}

/** Sends `bytes` over one TCP connection from clientNetns to server.ip; timed until the receiver's count comes back. */
export async function measureThroughput(clientNetns: string, server: { netns: string; ip: string }, bytes = 200e6): Promise<Throughput> {
  return withServer(server, 'sink', 120_000, async (port) => {
    const out = await collect(nodeIn(clientNetns, CLIENT, { mode: 'sink', host: server.ip, port, bytes }), `client in ${clientNetns}`, 120_000);
    const r = JSON.parse(out) as { sent: number; received: number; ns: number };
    if (r.received !== bytes) throw new Error(`sent ${bytes} bytes, the receiver counted ${r.received}`);
    const seconds = r.ns / 1e9;
    return { bytes, seconds, MBps: bytes / 1e6 / seconds, Gbps: (bytes * 8) / 1e9 / seconds };
  });
}

export interface Latency {
  rounds: number;
  medianUs: number;
  p90Us: number;
  p99Us: number;
  minUs: number;
}

/** 1-byte ping-pong over one TCP connection (Nagle off), after a warm-up. */
export async function measureLatency(clientNetns: string, server: { netns: string; ip: string }, rounds = 2000, warmup = 200): Promise<Latency> {
  return withServer(server, 'echo', 120_000, async (port) => {
    const out = await collect(nodeIn(clientNetns, CLIENT, { mode: 'echo', host: server.ip, port, rounds, warmup }), `client in ${clientNetns}`, 120_000);
    const times = (JSON.parse(out) as { times: number[] }).times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]! / 1000;
    return { rounds: times.length, medianUs: q(0.5), p90Us: q(0.9), p99Us: q(0.99), minUs: times[0]! / 1000 };
  });
}

// ---- stand-alone run ----

/** Node objects as the control plane would hold them for the simulated hosts and their overlays. */
export function nodeObjects(sim: SimHosts, overlays: VxlanOverlay[]): KObject[] {
  return sim.hosts.map((h, i) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: h.netns, annotations: overlays[i]!.annotations() },
    spec: { podCIDR: h.podCIDR },
  }));
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? 200);
  const rounds = Number(process.argv[3] ?? 2000);
  const sim = await SimHosts.create({ hosts: 2 });
  const overlays: VxlanOverlay[] = [];
  const stop = () => {
    void sim.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (const h of sim.hosts) overlays.push(await VxlanOverlay.open({ localIP: h.underlayIP, podCIDR: h.podCIDR, netns: h.netns }));
    const nodes = nodeObjects(sim, overlays);
    for (const [i, h] of sim.hosts.entries()) {
      await overlays[i]!.sync(peersFromNodes(nodes, h.netns));
      await sim.addPod(h, overlays[i]!.podMTU);
    }
    const [a, b] = sim.hosts as [SimHost, SimHost];
    const rows: [string, Throughput, Latency][] = [];
    for (const [name, client, server] of [
      ['host → host (underlay)', a.netns, { netns: b.netns, ip: b.underlayIP }],
      ['pod → pod (VXLAN overlay)', a.pod!.netns, b.pod!],
    ] as const) {
      rows.push([name, await measureThroughput(client, server, mb * 1e6), await measureLatency(client, server, rounds)]);
    }
    console.log(`TCP over one connection, ${mb} MB; 1-byte ping-pong, ${rounds} rounds; underlay MTU 1500, pod MTU ${overlays[0]!.podMTU}`);
    for (const [name, t, l] of rows) {
      console.log(`${name.padEnd(28)} ${t.MBps.toFixed(0).padStart(6)} MB/s (${t.Gbps.toFixed(2)} Gbit/s)   RTT median ${l.medianUs.toFixed(1)} µs  p90 ${l.p90Us.toFixed(1)}  p99 ${l.p99Us.toFixed(1)}`);
    }
    console.log(`overlay/underlay: throughput ${(rows[1]![1].MBps / rows[0]![1].MBps).toFixed(2)}x, RTT ${(rows[1]![2].medianUs / rows[0]![2].medianUs).toFixed(2)}x`);
  } finally {
    for (const o of overlays) await o.destroy().catch(() => undefined);
    await sim.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
