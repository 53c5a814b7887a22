// The controller manager: runs a set of controllers sharing informers, only while it holds its
// leader Lease (so that several managers — one per server, or started alone — never act at once).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { RestClient } from '../pkg/client/rest.js';
import { InformerFactory } from '../pkg/client/informer-factory.js';
import { EventRecorder } from '../pkg/client/events.js';
import { LeaderElector } from '../pkg/client/leader-election.js';
import { logger } from '../pkg/log/logger.js';
import type { Controller, ControllerContext, ControllerFactory, ControllerOptions } from './controller.js';
import { defaultControllerOptions } from './controller.js';

export interface ManagerOptions {
  /** the Lease name in kube-system: kube-controller-manager, kube-scheduler */
  leaseName: string;
  factories: ControllerFactory[];
  options?: Partial<ControllerOptions>;
  leaseDurationSeconds?: number;
  retryPeriodSeconds?: number;
}

export class ControllerManager {
  private elector?: LeaderElector;
  private informers?: InformerFactory;
  private controllers: Controller[] = [];
  private readonly log;
  readonly identity = `${hostname()}_${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly client: RestClient,
    private readonly opts: ManagerOptions,
  ) {
    this.log = logger(opts.leaseName);
  }

  get isLeader(): boolean {
    return this.elector?.isLeader ?? false;
  }

  start(): void {
    this.elector = new LeaderElector(this.client, {
      name: this.opts.leaseName,
      identity: this.identity,
      leaseDurationSeconds: this.opts.leaseDurationSeconds,
      retryPeriodSeconds: this.opts.retryPeriodSeconds,
      onStartedLeading: () => this.lead(),
      onStoppedLeading: () => this.standDown(),
    });
    this.elector.start();
  }

  private async lead(): Promise<void> {
    const informers = new InformerFactory(this.client);
    this.informers = informers;
    const recorders = new Map<string, EventRecorder>();
    const ctx: ControllerContext = {
      client: this.client,
      informers,
      recorder: (component) => {
        let r = recorders.get(component);
        if (!r) recorders.set(component, (r = new EventRecorder(this.client, component)));
        return r;
      },
      options: { ...defaultControllerOptions, ...this.opts.options },
    };
    this.controllers = this.opts.factories.map((f) => f(ctx));
    for (const c of this.controllers) c.setup();
    await informers.start();
    if (this.informers !== informers) return; // lost the lease while syncing
    for (const c of this.controllers) c.run();
    this.log.info({ controllers: this.controllers.map((c) => c.name) }, 'controllers running');
  }

  private standDown(): void {
    for (const c of this.controllers) c.stop();
    this.controllers = [];
    this.informers?.stop();
    this.informers = undefined;
  }

  async stop(): Promise<void> {
    await this.elector?.stop();
    this.standDown();
  }
}

export function inProcessClient(server: string, ca: string, token: string, userAgent: string): RestClient {
  return new RestClient({ server, ca, token, userAgent });
}
