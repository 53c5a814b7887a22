// A node that runs real containers: the OCI pod runtime (conmon + crun/runc, images, CNI bridge
// network, volumes), real probes, the node server on the kubelet port for logs/exec/port-forward,
// and the agent that registers the Node and runs the pod workers. `skiff agent` and `skiff server`
// (unless --disable-agent) both start one.
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { RestClient } from '../pkg/client/rest.js';
import { EventRecorder } from '../pkg/client/events.js';
import { logger } from '../pkg/log/logger.js';
import { NodeAgent, type AgentTiming } from './agent.js';
import { AgentHost } from './agent-host.js';
import { StatusManager } from './status-manager.js';
import { RealProber } from './prober/real.js';
import { OciPodRuntime } from './runtime/oci-pod-runtime.js';
import { NodeServer } from './server/node-server.js';
import { ensureServingCert } from './server/serving-cert.js';
import type { NodeIdentity } from './node-object.js';
import type { OciRuntimeName } from './runtime/oci/oci-binary.js';
import { KUBELET_CLIENT_CN } from '../apiserver/auth/pki.js';
import { NodeNetwork } from './network/node-network.js';
import { NodeNetworks } from './network/networks-node.js';
import { gatewayFor } from './network/pod-network.js';
import { ImageGC } from './image-gc.js';
import { StaticPods } from './static-pods.js';
import { underlayMTU } from './network/mtu.js';
import { podMtuFor } from './network/overlay-plan.js';
import { ObjectWatches } from './volumes/object-watches.js';

export interface RealNodeOptions {
  client: RestClient;
  /** the cluster CA: the node server only accepts the API server's client certificate signed by it */
  caCert: string;
  dataDir: string;
  runtime?: OciRuntimeName;
  identity: Omit<NodeIdentity, 'runtimeVersion' | 'kubeletPort'>;
  timing: AgentTiming;
  /** node server port (kubelet: 10250; 0 picks a free one) */
  kubeletPort?: number;
  clusterCIDR?: string;
  bridge?: string;
  netnsPrefix?: string;
  /** nameservers pods get; empty: the node serves the cluster DNS itself on its bridge gateway */
  clusterDNS?: string[];
  clusterDomain?: string;
  insecureRegistries?: string[];
  /** VXLAN to the other nodes' pod CIDRs (default on) */
  overlay?: boolean;
  /** folder of static pod manifests (kubelet's staticPodPath) */
  podManifestPath?: string;
}

export interface RealNode {
  agent: NodeAgent;
  runtime: OciPodRuntime;
  kubeletPort: number;
  stop(): Promise<void>;
}

export async function startRealNode(o: RealNodeOptions): Promise<RealNode> {
  if (process.getuid?.() !== 0) throw new Error('the node agent runs containers and needs root (or run the control plane only with --disable-agent)');
  const log = logger(`node/${o.identity.name}`);
  const events = new EventRecorder(o.client, 'kubelet', o.identity.name);
  const clusterCIDR = o.clusterCIDR ?? '10.42.0.0/16';
  const ownDNS = !o.clusterDNS?.length;
  let network: NodeNetwork | undefined;
  const networks = new NodeNetworks({ nodeName: o.identity.name, nodeIP: o.identity.address, stateDir: join(o.dataDir, 'networks'), table: `skiff-isolation-${o.bridge ?? 'skiff0'}`, log });
  const runtime = await OciPodRuntime.open({
    dataDir: o.dataDir,
    runtime: o.runtime,
    nodeName: o.identity.name,
    hostIP: o.identity.address,
    client: o.client,
    clusterCIDR,
    bridge: o.bridge,
    netnsPrefix: o.netnsPrefix,
    // Pods on the overlay get what VXLAN leaves of the underlay's MTU (the overlay device's own).
    mtu: o.overlay === false ? undefined : podMtuFor(underlayMTU(o.identity.address)),
    // Like kubelet's clusterDNS, the address is known before the server answers on it: pods made
    // while the node's DNS starts resolve once it does.
    clusterDNS: ownDNS ? (podCIDR) => (podCIDR ? [gatewayFor(podCIDR)] : undefined) : o.clusterDNS,
    clusterDomain: o.clusterDomain,
    attachNetworks: (pod, netnsPath, names) => networks.attach(pod, netnsPath, names),
    detachNetworks: (uid) => networks.detach(uid),
    insecureRegistries: o.insecureRegistries,
    allocatable: { cpu: o.identity.cpu ?? String(cpus().length), memory: o.identity.memory ?? `${Math.floor(totalmem() / 1024)}Ki` },
    event: (pod, type, reason, message) => events.event(pod, type, reason, message),
    log,
  });
  const cert = ensureServingCert(join(o.dataDir, 'agent'), o.identity.name, [o.identity.address]);
  const server = new NodeServer({
    runtime,
    cert: cert.cert,
    key: cert.key,
    caCert: o.caCert,
    allowedClientCN: KUBELET_CLIENT_CN,
    port: o.kubeletPort ?? 10250,
    // GET /pods (nodes/NAME/proxy/pods): the pods bound here, as the API has them.
    pods: async () => (await o.client.get<{ items: unknown[] }>('/api/v1/pods', { fieldSelector: `spec.nodeName=${o.identity.name}` })).items,
  });
  const port = await server.start();
  const statusManager = new StatusManager(o.client, 4);
  const imageGC = new ImageGC({ store: runtime.images, log });
  imageGC.start();
  const nodeExtras = async () => ({
    diskPressure: imageGC.diskPressure,
    // kubelet lists the node's images (largest first, at most 50) for the scheduler's image locality.
    images: (await runtime.images.list())
      .sort((a, b) => b.size - a.size)
      .slice(0, 50)
      .map((img) => ({ names: [...img.names, ...(img.repoDigests ?? [])], sizeBytes: img.size })),
  });
  // Changes to what pods mount come back to the agent, which knows the pods (it is made next).
  let onObjectChange: NodeAgent['objectChanged'] = () => undefined;
  const objectWatches = new ObjectWatches(o.client, (ref) => onObjectChange(ref), log);
  const agent = new NodeAgent(
    { ...o.identity, runtimeVersion: runtime.version, kubeletPort: port },
    {
      client: o.client,
      runtime,
      prober: new RealProber({ log }),
      statusManager,
      events,
      nodeExtras,
      refreshVolumes: (pod) => runtime.refreshVolumes(pod),
      objectWatches,
    },
    o.timing,
  );
  onObjectChange = (ref) => agent.objectChanged(ref);
  const host = new AgentHost(o.client, [agent], { spreadMs: o.timing.leaseRenewIntervalMs });
  await host.start();
  network = new NodeNetwork({
    client: o.client,
    nodeName: o.identity.name,
    nodeIP: o.identity.address,
    clusterCIDR,
    podNetwork: (cidr) => runtime.openNetwork(cidr),
    overlay: o.overlay,
    networks,
    dns: ownDNS,
    clusterDomain: o.clusterDomain,
    serviceTable: `skiff-svc-${o.bridge ?? 'skiff0'}`,
    log,
  });
  await network.start();
  const staticPods = o.podManifestPath ? new StaticPods({ client: o.client, nodeName: o.identity.name, dir: o.podManifestPath, log }) : undefined;
  await staticPods?.start();
  return {
    agent,
    runtime,
    kubeletPort: port,
    async stop() {
      // Containers outlive the agent (conmon holds them): only our own loops stop here.
      host.stop();
      imageGC.stop();
      await staticPods?.stop();
      await network?.stop();
      statusManager.shutdown();
      await server.stop();
      runtime.close();
    },
  };
}
