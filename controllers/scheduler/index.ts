// The scheduler as a controller the ControllerManager runs under the kube-scheduler Lease.
import type { ControllerFactory } from '../controller.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

export { Scheduler, type SchedulerOptions, PROFILES, COMPONENT, strategyFor, isOurs } from './scheduler.js';
export { STRATEGIES, STRATEGY_ANNOTATION, type Strategy } from './types.js';
export { fitErrorMessage, selectNode } from './strategies.js';

export const SCHEDULER_LEASE = 'kube-scheduler';

export function schedulerFactory(opts: SchedulerOptions): ControllerFactory {
  return (ctx) => new Scheduler(ctx, opts);
}
