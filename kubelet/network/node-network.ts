// The node's share of the cluster network, beside the pod bridge: the VXLAN overlay to every other
// node's pod CIDR (peers from the Node objects — the store defines the cluster), the Services data
// path (kube-proxy's job, nftables) and the cluster DNS on the bridge gateway. One informer each
// for Nodes, Services and Endpoints feeds all three; every change is applied as a whole desired
// state, so missed or repeated events cannot leave stale rules behind.
import type { KObject } from '../../pkg/api/types.js';
import { Informer } from '../../pkg/client/informer.js';
import { R } from '../../pkg/client/informer-factory.js';
import { resourcePath, type RestClient } from '../../pkg/client/rest.js';
import type { Logger } from '../../pkg/log/logger.js';
import { ClusterDNS } from '../dns/server.js';
import { peersFromNodes, VxlanOverlay } from './overlay.js';
import { ServiceProxy } from './service-proxy.js';
import type { PodNetwork } from './pod-network.js';
import type { NodeNetworks } from './networks-node.js';
import { NETWORKS } from '../../pkg/api/networks.js';

export interface NodeNetworkOptions {
  client: RestClient;
  nodeName: string;
  /** the node's underlay address (InternalIP): the VTEP and a NodePort address */
  nodeIP: string;
  clusterCIDR: string;
  /** opens (or returns) the node's pod bridge network for its pod CIDR */
  podNetwork(podCIDR: string): Promise<PodNetwork>;
  /** VXLAN between nodes (default on) */
  overlay?: boolean;
  /** further Networks (the Network CRD) on this node: bridges, VXLANs, isolation rules */
  networks?: NodeNetworks;
  /** the nftables table of the Services rules (one per agent; default skiff-svc) */
  serviceTable?: string;
  /** cluster DNS on the bridge gateway, port 53 (default on) */
  dns?: boolean;
  clusterDomain?: string;
  log: Logger;
}

export class NodeNetwork {
  private readonly nodes: Informer;
  private readonly services: Informer;
  private readonly endpoints: Informer;
  private readonly networkObjects: Informer;
  private overlay?: VxlanOverlay;
  private proxy?: ServiceProxy;
  private dnsServer?: ClusterDNS;
  private podCIDR?: string;
  private syncing = false;
  private again = false;
  private stopped = false;

  constructor(private readonly o: NodeNetworkOptions) {
    this.nodes = new Informer(o.client, R.nodes, {});
    this.services = new Informer(o.client, R.services, {});
    this.endpoints = new Informer(o.client, R.endpoints, {});
    this.networkObjects = new Informer(o.client, NETWORKS, {});
  }

  private get informers(): Informer[] {
    return this.o.networks ? [this.nodes, this.services, this.endpoints, this.networkObjects] : [this.nodes, this.services, this.endpoints];
  }

  async start(): Promise<void> {
    const kick = () => this.kick();
    for (const inf of this.informers) inf.on({ add: kick, update: kick, delete: kick });
    this.proxy = new ServiceProxy({ table: this.o.serviceTable, nodeIPs: [this.o.nodeIP], clusterCIDR: this.o.clusterCIDR, log: this.o.log });
    await Promise.all(this.informers.map((i) => i.start()));
    this.kick();
  }

  /** Applies the whole desired state; one pass at a time, the latest state wins. */
  private kick(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    void this.sync()
      .catch((err) => this.o.log.warn({ err: (err as Error).message }, 'node network sync failed'))
      .finally(() => {
        this.syncing = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async sync(): Promise<void> {
    const nodes = this.nodes.list();
    const self = nodes.find((n) => n.metadata.name === this.o.nodeName);
    const podCIDR = (self?.spec as { podCIDR?: string } | undefined)?.podCIDR;
    if (podCIDR && podCIDR !== this.podCIDR) await this.attach(podCIDR, self!);
    if (this.overlay) await this.overlay.sync(peersFromNodes(nodes, this.o.nodeName));
    if (this.o.networks) await this.o.networks.sync(this.networkObjects.list(), nodes);
    const services = this.services.list();
    const endpoints = this.endpoints.list();
    this.proxy?.update(services, endpoints);
    this.dnsServer?.update(services, endpoints);
  }

  /** The node got (or changed) its pod CIDR: bridge, overlay, DNS on the gateway. */
  private async attach(podCIDR: string, self: KObject): Promise<void> {
    this.podCIDR = podCIDR;
    const net = await this.o.podNetwork(podCIDR);
    await net.ensureBridge();
    if (this.o.overlay !== false) {
      await this.overlay?.destroy();
      this.overlay = await VxlanOverlay.open({ localIP: this.o.nodeIP, podCIDR });
      await this.publish(self, this.overlay.annotations());
    }
    if (this.o.dns !== false) {
      await this.dnsServer?.stop();
      const dns = new ClusterDNS({ domain: this.o.clusterDomain, listen: [{ host: net.gateway, port: 53 }], log: this.o.log });
      try {
        await dns.start();
        this.dnsServer = dns;
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message, address: `${net.gateway}:53` }, 'cluster DNS could not listen: pods with dnsPolicy ClusterFirst cannot resolve names');
      }
    }
  }

  /** Puts the overlay's VTEP address and MAC on our Node, where the other nodes read them. */
  private async publish(self: KObject, annotations: Record<string, string>): Promise<void> {
    const have = self.metadata.annotations ?? {};
    if (Object.entries(annotations).every(([k, v]) => have[k] === v)) return;
    await this.o.client.patch(resourcePath(R.nodes, undefined, this.o.nodeName), { metadata: { annotations } }, 'merge');
  }

  /** Stops watching; rules, routes and the overlay stay (pods keep their connectivity while the agent is away). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const inf of this.informers) inf.stop();
    await this.dnsServer?.stop();
  }
}
