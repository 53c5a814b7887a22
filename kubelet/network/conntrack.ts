// Stale UDP conntrack entries of Services. UDP has no connection to end, so a client that keeps
// sending from the same source port (resolvers, syslog, statsd) keeps matching the conntrack entry
// made by its first datagram: NAT is decided once per entry, so it stays DNATed to an endpoint that
// is gone, or un-translated from a time the Service had no endpoints or did not exist. As
// kube-proxy does, such entries are deleted when the state changes:
//   - an endpoint leaves a UDP service port: entries to each of its frontends (ClusterIP,
//     externalIPs, load-balancer IPs: orig dst ip:port) and to its NodePort (orig dst port on any
//     address) whose reply comes from that endpoint;
//   - a UDP service port gets endpoints after having none (or is new): every entry to its
//     frontends and NodePort, so the next datagram meets the new rules;
//   - a UDP service port that had endpoints goes away: every entry to it, so flows stop reaching
//     the old endpoints through an address that no longer means anything.
// kube-proxy matches the endpoint by address only; here the endpoint port is part of the match, so
// a changed target port on the same pod is cleaned up as well. TCP needs none of this (a
// connection to a gone endpoint fails and the client reconnects), SCTP is not handled.
import type { Logger } from '../../pkg/log/logger.js';
import { runTool, systemTool, ToolError } from './cni.js';
import { checkNetnsName } from './netns.js';
import type { ServiceEndpoint, ServicePortPlan } from './service-rules.js';

/** The UDP part of an applied ruleset: who answers on each address and NodePort. */
export interface UdpServiceState {
  /** `ip:port` of a ClusterIP/externalIP/load-balancer frontend -> its endpoints */
  frontends: Map<string, { ip: string; port: number; endpoints: ServiceEndpoint[] }>;
  /** NodePort -> its endpoints */
  nodePorts: Map<number, ServiceEndpoint[]>;
}

export type ConntrackReason = 'endpoint-removed' | 'endpoints-appeared' | 'service-port-removed';

/** One `conntrack -D` filter; always UDP over IPv4. */
export interface ConntrackDeletion {
  protocol: 'udp';
  /** original destination address; absent for a NodePort (any address of the node) */
  dst?: string;
  /** original destination port */
  port: number;
  /** only entries DNATed to this endpoint (reply source); absent: every entry to dst:port */
  endpoint?: ServiceEndpoint;
  reason: ConntrackReason;
}

export function emptyUdpState(): UdpServiceState {
  return { frontends: new Map(), nodePorts: new Map() };
}

/**
 * The UDP frontends of planned service ports. A frontend or NodePort claimed twice goes to the
 * first claimant, as in the ruleset (buildServiceRules walks the same order).
 */
export function udpServiceState(ports: readonly ServicePortPlan[]): UdpServiceState {
  const state = emptyUdpState();
  const takenFrontends = new Set<string>();
  const takenNodePorts = new Set<string>();
  for (const p of ports) {
    // ownership is shared across protocols in the ruleset's maps, keyed with the protocol
    for (const ip of p.frontends) {
      const k = `${ip} . ${p.protocol} . ${p.port}`;
      if (takenFrontends.has(k)) continue;
      takenFrontends.add(k);
      if (p.protocol === 'udp') state.frontends.set(`${ip}:${p.port}`, { ip, port: p.port, endpoints: p.endpoints });
    }
    if (p.nodePort !== undefined) {
      const k = `${p.protocol} . ${p.nodePort}`;
      if (takenNodePorts.has(k)) continue;
      takenNodePorts.add(k);
      if (p.protocol === 'udp') state.nodePorts.set(p.nodePort, p.endpoints);
    }
  }
  return state;
}

const endpointKey = (e: ServiceEndpoint) => `${e.ip}:${e.port}`;

/** What to delete so that no entry made under `prev` outlives its meaning under `next`. */
export function staleUdpEntries(prev: UdpServiceState, next: UdpServiceState): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const compare = (dst: string | undefined, port: number, before: ServiceEndpoint[] | undefined, after: ServiceEndpoint[] | undefined) => {
    const had = before ?? [];
    const has = after ?? [];
    if (after === undefined) {
      // Gone: DNATed flows would keep reaching the old endpoints. Without endpoints before, no
      // entry was translated here and there is nothing of ours to undo.
      if (had.length > 0) out.push({ protocol: 'udp', dst, port, reason: 'service-port-removed' });
      return;
    }
    if (has.length === 0) {
      // Now rejected for new flows; the flows pinned to the endpoints that left must meet that too.
      for (const e of had) out.push({ protocol: 'udp', dst, port, endpoint: e, reason: 'endpoint-removed' });
      return;
    }
    if (had.length === 0) {
      // Entries made before (untranslated, or from before this proxy ran) would bypass the new rules.
      out.push({ protocol: 'udp', dst, port, reason: 'endpoints-appeared' });
      return;
    }
    const keep = new Set(has.map(endpointKey));
    for (const e of had) if (!keep.has(endpointKey(e))) out.push({ protocol: 'udp', dst, port, endpoint: e, reason: 'endpoint-removed' });
  };
  const frontendKeys = [...new Set([...prev.frontends.keys(), ...next.frontends.keys()])].sort();
  for (const k of frontendKeys) {
    const f = (prev.frontends.get(k) ?? next.frontends.get(k))!;
    compare(f.ip, f.port, prev.frontends.get(k)?.endpoints, next.frontends.get(k)?.endpoints);
  }
  const nodePorts = [...new Set([...prev.nodePorts.keys(), ...next.nodePorts.keys()])].sort((a, b) => a - b);
  for (const np of nodePorts) compare(undefined, np, prev.nodePorts.get(np), next.nodePorts.get(np));
  return out;
}

/** The conntrack(8) arguments of one deletion. */
export function conntrackDeleteArgs(d: ConntrackDeletion): string[] {
  const args = ['-D', '-f', 'ipv4', '-p', d.protocol];
  if (d.dst !== undefined) args.push('--orig-dst', d.dst);
  args.push('--orig-port-dst', String(d.port));
  if (d.endpoint) args.push('--reply-src', d.endpoint.ip, '--reply-port-src', String(d.endpoint.port));
  return args;
}

export function describeDeletion(d: ConntrackDeletion): string {
  const to = `${d.dst ?? '*'}:${d.port}/${d.protocol}`;
  return d.endpoint ? `${to} via ${d.endpoint.ip}:${d.endpoint.port}` : to;
}

const CONNTRACK_TIMEOUT_MS = 30_000;

export interface ConntrackCleanerOptions {
  /** run conntrack inside this named network namespace */
  netns?: string;
  log?: Logger;
}

export interface ConntrackCleanerStats {
  /** conntrack commands run */
  runs: number;
  /** entries the kernel reported deleted */
  deleted: number;
  failures: number;
}

/**
 * Runs deletions in the background, one command at a time, in the order first asked for. A filter
 * asked for again while it waits runs once (a rolling update of a big UDP Service asks for the
 * same ones over and over; each `conntrack -D` scans the whole table). Failures are logged, never
 * thrown: a stale entry is a degraded flow, not a reason to stop serving the rules.
 */
export class ConntrackCleaner {
  private readonly netns?: string;
  private readonly log?: Logger;
  /** waiting filters by their command line; a Map keeps the order they were first asked for */
  private readonly queued = new Map<string, ConntrackDeletion>();
  private draining: Promise<void> | undefined;
  private missingReported = false;
  private readonly _stats: ConntrackCleanerStats = { runs: 0, deleted: 0, failures: 0 };

  constructor(opts: ConntrackCleanerOptions = {}) {
    this.netns = opts.netns;
    this.log = opts.log;
    if (this.netns) checkNetnsName(this.netns);
  }

  get stats(): Readonly<ConntrackCleanerStats> {
    return { ...this._stats };
  }

  enqueue(deletions: readonly ConntrackDeletion[]): void {
    for (const d of deletions) {
      const key = conntrackDeleteArgs(d).join(' ');
      if (!this.queued.has(key)) this.queued.set(key, d);
    }
    if (this.queued.size > 0 && !this.draining) this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    while (this.queued.size > 0) {
      const batch = [...this.queued.values()];
      this.queued.clear();
      await this.runBatch(batch).catch(() => undefined); // runBatch reports its own failures
    }
    this.draining = undefined;
  }

  /** Resolves once every deletion enqueued so far has been run. */
  idle(): Promise<void> {
    return this.draining ?? Promise.resolve();
  }

  get busy(): boolean {
    return this.draining !== undefined;
  }

  private async runBatch(batch: ConntrackDeletion[]): Promise<void> {
    let deleted = 0;
    for (const d of batch) {
      try {
        deleted += await this.deleteEntries(d);
      } catch (e) {
        this._stats.failures++;
        const msg = e instanceof Error ? e.message : String(e);
        if (/is not installed/.test(msg)) {
          // every command would say the same; once is enough
          if (!this.missingReported) this.log?.error({ err: msg }, 'conntrack is missing: stale UDP service flows are not cleaned up');
          this.missingReported = true;
          continue;
        }
        this.log?.error({ err: msg, entries: describeDeletion(d), reason: d.reason }, 'deleting stale UDP conntrack entries failed');
      }
    }
    if (deleted > 0) this.log?.debug({ deleted, filters: batch.length }, 'stale UDP conntrack entries deleted');
  }

  /** Entries deleted; nothing matching is not an error. */
  private async deleteEntries(d: ConntrackDeletion): Promise<number> {
    const args = conntrackDeleteArgs(d);
    this._stats.runs++;
    let out: string;
    try {
      out = this.netns
        ? await runTool('ip', ['netns', 'exec', this.netns, systemTool('conntrack'), ...args], { timeoutMs: CONNTRACK_TIMEOUT_MS })
        : await runTool('conntrack', args, { timeoutMs: CONNTRACK_TIMEOUT_MS });
    } catch (e) {
      // conntrack exits 1 when the filter matched nothing
      if (e instanceof ToolError && e.exitCode === 1 && /\b0 flow entries have been deleted/.test(e.stderr)) return 0;
      throw e;
    }
    // the count goes to stderr, which runTool does not return on success; stdout lists the entries
    const n = out.split('\n').filter((l) => l.trim()).length;
    this._stats.deleted += n;
    return n;
  }
}
