// Node IPAM: gives every Node a pod CIDR (a /nodeCidrMaskSize block of clusterCidr) in
// spec.podCIDR / spec.podCIDRs, and takes it back when the Node goes. The used set is rebuilt from
// the Node cache before the first allocation, so a restarted controller never hands a block out
// twice; one worker serialises allocations.
import type { KObject } from '../../pkg/api/types.js';
import { isNotFound, resourcePath } from '../../pkg/client/rest.js';
import { R } from '../../pkg/client/informer-factory.js';
import { WorkQueue } from '../../pkg/client/workqueue.js';
import type { Controller, ControllerContext, ControllerFactory } from '../controller.js';
import { CidrSet } from './cidr-set.js';

export const nodeIpamController: ControllerFactory = (ctx: ControllerContext): Controller => {
  const nodes = ctx.informers.informer(R.nodes);
  const recorder = ctx.recorder('node-ipam-controller');
  const set = new CidrSet(ctx.options.clusterCidr, ctx.options.nodeCidrMaskSize);
  /** node name → block it holds (also blocks written but not yet seen in the cache) */
  const held = new Map<string, string>();
  const queue = new WorkQueue<string>((name) => reconcile(name), { name: 'node-ipam-controller' });

  function podCidrOf(node: KObject): string | undefined {
    return (node.spec as { podCIDR?: string } | undefined)?.podCIDR || undefined;
  }

  function observe(node: KObject): void {
    const cidr = podCidrOf(node);
    if (cidr && held.get(node.metadata.name!) !== cidr) {
      const prev = held.get(node.metadata.name!);
      if (prev) set.release(prev);
      if (set.occupy(cidr)) held.set(node.metadata.name!, cidr);
    }
  }

  async function reconcile(name: string): Promise<void> {
    const node = nodes.get(name);
    if (!node) {
      const cidr = held.get(name);
      if (cidr) {
        set.release(cidr);
        held.delete(name);
      }
      return;
    }
    if (podCidrOf(node)) return observe(node);
    let cidr = held.get(name);
    if (!cidr) {
      cidr = set.allocate();
      if (!cidr) {
        recorder.event(node, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (no free /${ctx.options.nodeCidrMaskSize} left in ${ctx.options.clusterCidr})`);
        return;
      }
      held.set(name, cidr);
    }
    try {
      await ctx.client.patch(resourcePath(R.nodes, undefined, name), { metadata: { uid: node.metadata.uid }, spec: { podCIDR: cidr, podCIDRs: [cidr] } }, 'merge');
      recorder.event(node, 'Normal', 'CIDRAssignmentSucceeded', `Node ${name} got pod CIDR ${cidr}`);
    } catch (e) {
      if (isNotFound(e)) {
        set.release(cidr);
        held.delete(name);
        return;
      }
      throw e;
    }
  }

  return {
    name: 'node-ipam-controller',
    setup() {
      nodes.on({
        add: (n) => queue.add(n.metadata.name!),
        update: (_o, n) => queue.add(n.metadata.name!),
        delete: (n) => queue.add(n.metadata.name!),
      });
    },
    run() {
      for (const n of nodes.list()) observe(n);
      for (const n of nodes.list()) queue.add(n.metadata.name!);
    },
    stop() {
      queue.shutdown();
    },
  };
};
