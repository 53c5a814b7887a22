// Runs one or many node agents in a process over one client: ONE Node informer and ONE Pod
// informer, dispatched by name, whatever the number of agents (a single agent narrows both
// watches with field selectors). Registrations go out a few at a time and heartbeats are spread
// evenly over the renewal period, so thousands of hollow nodes do not beat in step.
import type { KObject } from '../pkg/api/types.js';
import { Informer } from '../pkg/client/informer.js';
import { R } from '../pkg/client/informer-factory.js';
import type { RestClient } from '../pkg/client/rest.js';
import { logger } from '../pkg/log/logger.js';
import type { NodeAgent } from './agent.js';

export interface AgentHostOptions {
  /** registrations in flight at once */
  registerConcurrency?: number;
  /** the period to spread the agents' first heartbeats over (the lease renewal period) */
  spreadMs: number;
}

export class AgentHost {
  private readonly byName = new Map<string, NodeAgent>();
  private nodes?: Informer;
  private pods?: Informer;
  private readonly log = logger('agent-host');

  constructor(
    private readonly client: RestClient,
    readonly agents: NodeAgent[],
    private readonly opts: AgentHostOptions,
  ) {
    for (const a of agents) this.byName.set(a.name, a);
  }

  async start(): Promise<void> {
    const single = this.agents.length === 1 ? this.agents[0]!.name : undefined;
    this.nodes = new Informer(this.client, R.nodes, single ? { fieldSelector: `metadata.name=${single}` } : {});
    const onNode = (n: KObject) => this.byName.get(n.metadata.name!)?.nodeChanged(n);
    this.nodes.on({ add: onNode, update: (_o, n) => onNode(n) });
    await this.nodes.start();

    const queue = [...this.agents];
    const worker = async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await a.register();
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.registerConcurrency ?? 32, this.agents.length) }, worker));
    this.agents.forEach((a, i) => a.startHeartbeats(Math.floor(((i + 1) * this.opts.spreadMs) / this.agents.length)));
    this.log.info({ nodes: this.agents.length }, 'nodes registered');

    this.pods = new Informer(this.client, R.pods, single ? { fieldSelector: `spec.nodeName=${single}` } : {});
    const onPod = (p: KObject) => {
      const node = (p.spec as { nodeName?: string } | undefined)?.nodeName;
      if (node) this.byName.get(node)?.podChanged(p);
    };
    this.pods.on({
      add: onPod,
      update: (_o, p) => onPod(p),
      delete: (p) => {
        const node = (p.spec as { nodeName?: string } | undefined)?.nodeName;
        if (node) this.byName.get(node)?.podDeleted(p);
      },
    });
    await this.pods.start();
    for (const a of this.agents) void a.podsSynced();
  }

  stop(): void {
    this.pods?.stop();
    this.nodes?.stop();
    for (const a of this.agents) a.stop();
  }
}
