// Keeps one nftables table equal to the Services and Endpoints it is given (kube-proxy's job, see
// service-rules.ts for the rules). Every change rebuilds the whole table in one `nft -f -`
// transaction; changes arriving while nft runs are coalesced, so at most one run is in flight and
// the latest state always wins. After each apply, UDP conntrack entries the change made stale are
// deleted in the background (conntrack.ts).
import { performance } from 'node:perf_hooks';
import type { KObject } from '../../pkg/api/types.js';
import type { Logger } from '../../pkg/log/logger.js';
import { runTool, systemTool } from './cni.js';
import { ConntrackCleaner, emptyUdpState, staleUdpEntries, udpServiceState, type UdpServiceState } from './conntrack.js';
import { checkNetnsName } from './netns.js';
import { buildServiceRules, deleteTableScript } from './service-rules.js';

export { buildServiceRuleset } from './service-rules.js';

export interface ServiceProxyOptions {
  /** one table per agent; default skiff-svc */
  table?: string;
  /** addresses NodePorts answer on; every local address of the node does as well */
  nodeIPs: string[];
  /** the pod range */
  clusterCIDR: string;
  /** run nft inside this named network namespace (tests, several hosts on one machine) */
  netns?: string;
  log?: Logger;
}

export interface ServiceProxyStats {
  applies: number;
  lastApplyMs: number;
  rules: number;
  /** conntrack commands run to delete stale UDP entries, entries deleted, commands failed */
  conntrackRuns: number;
  conntrackDeleted: number;
  conntrackFailures: number;
}

const NFT_TIMEOUT_MS = 60_000;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

interface Waiter {
  generation: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** how long an unchanged ruleset goes without being applied again */
const REAPPLY_SAME_MS = 60_000;

export class ServiceProxy {
  readonly table: string;
  private readonly nodeIPs: string[];
  private readonly clusterCIDR: string;
  private readonly netns?: string;
  private readonly log?: Logger;

  private services: KObject[] = [];
  private endpoints: KObject[] = [];
  /** the ruleset applied last, and when */
  private lastText = '';
  private lastTextAt = 0;
  /** bumped by every update(); the generation applied last tells flush() where it stands */
  private wanted = 0;
  private applied = 0;
  /** set and cleared synchronously with the loop's own checks, so no update() falls in between */
  private busy = false;
  private running?: Promise<void>;
  /** the latest generation tried, when it failed: flush() for it rejects at once */
  private failed?: { generation: number; error: Error };
  private waiters: Waiter[] = [];
  private retryTimer?: NodeJS.Timeout;
  private retryMs = RETRY_FIRST_MS;
  private lastWarnings = '';
  private destroyed = false;
  private readonly _stats = { applies: 0, lastApplyMs: 0, rules: 0 };
  /** UDP frontends as the table applied last has them; empty at start, so the first apply clears
   * entries made before this proxy ran (by an earlier one, or before the Services existed) */
  private udpState: UdpServiceState = emptyUdpState();
  private readonly conntrack: ConntrackCleaner;

  constructor(opts: ServiceProxyOptions) {
    this.table = opts.table ?? 'skiff-svc';
    this.nodeIPs = [...opts.nodeIPs];
    this.clusterCIDR = opts.clusterCIDR;
    this.netns = opts.netns;
    this.log = opts.log;
    if (this.netns) checkNetnsName(this.netns);
    this.conntrack = new ConntrackCleaner({ netns: this.netns, log: this.log });
    // Fail at construction on bad options rather than at the first apply.
    buildServiceRules(this.table, [], [], { clusterCIDR: this.clusterCIDR, nodeIPs: this.nodeIPs });
  }

  get stats(): Readonly<ServiceProxyStats> {
    const ct = this.conntrack.stats;
    return { ...this._stats, conntrackRuns: ct.runs, conntrackDeleted: ct.deleted, conntrackFailures: ct.failures };
  }

  /**
   * Resolves once the conntrack cleanup of every state applied so far has run. flush() does not
   * wait for it: the rules are in force before stale entries are gone (that is the order needed).
   */
  conntrackSettled(): Promise<void> {
    return this.conntrack.idle();
  }

  /** The desired state: all Services and all Endpoints the node should serve. */
  update(services: KObject[], endpoints: KObject[]): void {
    if (this.destroyed) throw new Error(`service proxy ${this.table} is destroyed`);
    this.services = [...services];
    this.endpoints = [...endpoints];
    this.wanted++;
    this.kick();
  }

  /** Resolves once the state given last has been applied; rejects with the nft error if that failed. */
  flush(): Promise<void> {
    if (this.applied >= this.wanted) return Promise.resolve();
    if (this.failed?.generation === this.wanted) return Promise.reject(this.failed.error);
    return new Promise((resolve, reject) => this.waiters.push({ generation: this.wanted, resolve, reject }));
  }

  /** Stops applying and removes the table. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.running?.catch(() => undefined);
    for (const w of this.waiters.splice(0)) w.reject(new Error(`service proxy ${this.table} destroyed before the state was applied`));
    await this.conntrack.idle();
    await this.nft(deleteTableScript(this.table));
  }

  private kick(): void {
    if (this.busy || this.destroyed) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.busy = true;
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.destroyed && this.applied < this.wanted) {
        const generation = this.wanted;
        const t0 = performance.now();
        try {
          const rs = buildServiceRules(this.table, this.services, this.endpoints, { clusterCIDR: this.clusterCIDR, nodeIPs: this.nodeIPs });
          this.reportWarnings(rs.warnings);
          // Most events change nothing here (a Node's heartbeat status, an Endpoints object whose
          // ready set is the same): the same table is not applied again, except now and then
          // in case someone removed it.
          const now = Date.now();
          if (rs.text === this.lastText && now - this.lastTextAt < REAPPLY_SAME_MS) {
            this.applied = generation;
            this.settle(generation);
            continue;
          }
          await this.nft(rs.text);
          // Only now: deleted before the new table is in force, an entry could be made again
          // toward the old endpoint. Not awaited, so a slow conntrack never holds back the rules.
          const udp = udpServiceState(rs.ports);
          this.conntrack.enqueue(staleUdpEntries(this.udpState, udp));
          this.udpState = udp;
          this.lastText = rs.text;
          this.lastTextAt = now;
          this._stats.applies++;
          this._stats.lastApplyMs = performance.now() - t0;
          this._stats.rules = rs.rules;
          this.applied = generation;
          this.failed = undefined;
          this.retryMs = RETRY_FIRST_MS;
          this.settle(generation);
          this.log?.debug({ table: this.table, generation, ms: Math.round(this._stats.lastApplyMs), rules: rs.rules }, 'service rules applied');
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          this.log?.error({ table: this.table, err: err.message, retryInMs: this.retryMs }, 'applying service rules failed');
          this.failed = { generation, error: err };
          this.settle(generation, err);
          // A newer state may fix it (bad input is filtered out, so failures are rare: a kernel
          // or tool problem); otherwise try the same state again later.
          if (this.wanted === generation && !this.destroyed) {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = undefined;
              this.kick();
            }, this.retryMs);
            this.retryTimer.unref();
            this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
            return;
          }
        }
      }
    } finally {
      // Runs in the same synchronous step as the loop's last check (no await in between), so an
      // update() arriving after that check always finds busy false and starts a new loop.
      this.busy = false;
    }
  }

  /** Settles the flush() calls whose state is covered by this generation (applied, or superseded by it). */
  private settle(generation: number, err?: Error): void {
    const done = this.waiters.filter((w) => w.generation <= generation);
    this.waiters = this.waiters.filter((w) => w.generation > generation);
    for (const w of done) (err ? w.reject(err) : w.resolve());
  }

  private reportWarnings(warnings: string[]): void {
    // the same bad object would otherwise be reported on every rebuild
    const joined = warnings.join('\n');
    if (joined === this.lastWarnings) return;
    this.lastWarnings = joined;
    for (const w of warnings) this.log?.warn({ table: this.table }, w);
  }

  private async nft(script: string): Promise<void> {
    if (this.netns) await runTool('ip', ['netns', 'exec', this.netns, systemTool('nft'), '-f', '-'], { input: script, timeoutMs: NFT_TIMEOUT_MS });
    else await runTool('nft', ['-f', '-'], { input: script, timeoutMs: NFT_TIMEOUT_MS });
  }
}
