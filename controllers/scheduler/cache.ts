// The scheduling cache: every node with the pods bound to it, plus the pods this scheduler has
// placed but not yet seen bound ("assumed"), so that decisions taken while bindings are in flight
// never over-commit a node. Decisions read only this cache, never the API.
import { NodeInfo, type PodInfo } from './node-info.js';
import { podHostPorts, podRequests } from './pod-requests.js';
import { compilePodAffinityTerm, type NamespaceLabels } from './predicates.js';
import type { Node, Pod } from './types.js';

export function podInfoOf(pod: Pod, nodeName: string, assumed: boolean): PodInfo {
  const ns = pod.metadata.namespace ?? 'default';
  const r = podRequests(pod.spec);
  return {
    key: `${ns}/${pod.metadata.name}`,
    uid: pod.metadata.uid ?? '',
    namespace: ns,
    labels: pod.metadata.labels ?? {},
    nodeName,
    cpu: r.cpu,
    memory: r.memory,
    ports: podHostPorts(pod.spec),
    antiAffinity: (pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => compilePodAffinityTerm(t, ns)),
    assumed,
  };
}

export class SchedulerCache {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly podNodes = new Map<string, string>();
  private present: NodeInfo[] = [];
  private presentDirty = false;
  /** pods with required anti-affinity terms, cluster-wide (most clusters have none) */
  antiAffinityPods = 0;
  /** namespace labels, for affinity terms with a namespaceSelector */
  nsLabels: NamespaceLabels = () => undefined;

  private info(name: string): NodeInfo {
    let n = this.nodes.get(name);
    if (!n) this.nodes.set(name, (n = new NodeInfo(name)));
    return n;
  }

  /** Adds or updates a node; true when anything a filter reads changed (or the node is new). */
  upsertNode(node: Node): boolean {
    const n = this.info(node.metadata.name!);
    const isNew = !n.node;
    const before = isNew ? '' : n.schedulingDigest;
    n.setNode(node);
    if (isNew) this.presentDirty = true;
    return isNew || before !== n.schedulingDigest;
  }

  removeNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    n.node = undefined;
    // Pods of a vanished node stay accounted until they go, in case the node comes back.
    if (n.pods.size === 0) this.nodes.delete(name);
    this.presentDirty = true;
  }

  /** Nodes that exist as Node objects, in name order. */
  nodeList(): NodeInfo[] {
    if (this.presentDirty) {
      this.present = [...this.nodes.values()].filter((n) => n.node).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.presentDirty = false;
    }
    return this.present;
  }

  /** Every node info, including those only referenced by pods (for affinity scans). */
  allNodes(): IterableIterator<NodeInfo> {
    return this.nodes.values();
  }

  getNode(name: string): NodeInfo | undefined {
    return this.nodes.get(name);
  }

  /** Accounts a pod on its node, replacing what was known of it (an assumed pod becomes confirmed). */
  addPod(p: PodInfo): void {
    this.removePod(p.key);
    this.info(p.nodeName).addPod(p);
    this.podNodes.set(p.key, p.nodeName);
    if (p.antiAffinity.length) this.antiAffinityPods++;
  }

  removePod(key: string): PodInfo | undefined {
    const nodeName = this.podNodes.get(key);
    if (nodeName === undefined) return undefined;
    this.podNodes.delete(key);
    const n = this.nodes.get(nodeName);
    const p = n?.removePod(key);
    if (p?.antiAffinity.length) this.antiAffinityPods--;
    if (n && !n.node && n.pods.size === 0) this.nodes.delete(nodeName);
    return p;
  }

  getPod(key: string): PodInfo | undefined {
    const nodeName = this.podNodes.get(key);
    return nodeName === undefined ? undefined : this.nodes.get(nodeName)?.pods.get(key);
  }

  isAssumed(key: string): boolean {
    return this.getPod(key)?.assumed === true;
  }

  /** Undoes an assumption after a failed binding; a pod already seen bound is left alone. */
  forget(key: string): void {
    if (this.isAssumed(key)) this.removePod(key);
  }

  get podCount(): number {
    return this.podNodes.size;
  }
}
