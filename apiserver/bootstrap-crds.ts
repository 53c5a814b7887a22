// The CustomResourceDefinitions skiff ships (DESIGN §4: gitops.skiff.dev/v1alpha1 Sync,
// networking.skiff.dev/v1alpha1 Network). They are embedded here, not read from manifests/crds
// at run time, so that an installed server never depends on where its checkout lives;
// test/unit/gitops/gitops.test.ts and test/unit/networks.test.ts keep manifests/crds/*.yaml equal
// to these definitions.
import type { KObject } from '../pkg/api/types.js';
import type { ResourceRegistry } from './registry/generic.js';
import { StatusError } from './status.js';
import { systemContext } from './bootstrap.js';

const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$', description: 'a Go-style duration: 30s, 5m, 1h30m' };

const condition = {
  type: 'object',
  required: ['type', 'status'],
  properties: {
    type: { type: 'string' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64' },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string' },
    message: { type: 'string' },
  },
};

const inventoryEntry = {
  type: 'object',
  required: ['apiVersion', 'kind', 'name'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    namespace: { type: 'string' },
    name: { type: 'string' },
  },
};

export const SYNC_CRD: KObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'syncs.gitops.skiff.dev', labels: { 'app.kubernetes.io/part-of': 'skiff' } },
  spec: {
    group: 'gitops.skiff.dev',
    names: { plural: 'syncs', singular: 'sync', kind: 'Sync', listKind: 'SyncList', categories: ['skiff', 'gitops'] },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Revision', type: 'string', jsonPath: '.status.lastAppliedRevision' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'Keeps the objects of a git repository folder or a host directory applied to the cluster.',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                required: ['source'],
                properties: {
                  source: {
                    type: 'object',
                    description: 'exactly one of git or directory',
                    properties: {
                      git: {
                        type: 'object',
                        required: ['url'],
                        properties: {
                          url: { type: 'string', minLength: 1, description: 'anything `git fetch` accepts: https://, ssh://, user@host:path, file://, a local path' },
                          ref: { type: 'string', description: 'branch, tag or commit (default: the remote HEAD)' },
                          path: { type: 'string', description: 'folder inside the repository (default: its root)' },
                          secretRef: {
                            type: 'object',
                            required: ['name'],
                            description: 'a Secret in the Sync namespace: username+password or bearerToken for https, identity (+ known_hosts) for ssh',
                            properties: { name: { type: 'string' } },
                          },
                        },
                      },
                      directory: {
                        type: 'object',
                        required: ['path'],
                        properties: { path: { type: 'string', minLength: 1, description: 'a file or folder on the host running the controller' } },
                      },
                    },
                  },
                  interval: { ...duration, description: 'how often the source is fetched and everything re-applied (default 1m)' },
                  prune: { type: 'boolean', description: 'delete objects this Sync applied before and no longer declares' },
                  suspend: { type: 'boolean', description: 'stop fetching, applying and correcting drift' },
                  targetNamespace: { type: 'string', description: 'namespace for namespaced objects that name none' },
                  dependsOn: {
                    type: 'array',
                    items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, namespace: { type: 'string' } } },
                  },
                  wait: { type: 'boolean', description: 'Ready only once applied Deployments, StatefulSets, DaemonSets and Jobs are available or complete' },
                  timeout: { ...duration, description: 'how long wait may take (default 5m)' },
                },
              },
              status: {
                type: 'object',
                properties: {
                  observedGeneration: { type: 'integer', format: 'int64' },
                  conditions: { type: 'array', items: condition },
                  lastAppliedRevision: { type: 'string' },
                  lastAttemptedRevision: { type: 'string' },
                  lastSyncTime: { type: 'string', format: 'date-time' },
                  inventory: { type: 'object', properties: { entries: { type: 'array', items: inventoryEntry } } },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const ipv4Cidr = {
  type: 'string',
  pattern: '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$',
};

// DESIGN §7: networking.skiff.dev/v1alpha1 Network, reconciled by controllers/network. Rules the
// schema cannot say (spec.cni required for driver cni, subnet conflicts) become the Ready condition.
export const NETWORK_CRD: KObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'networks.networking.skiff.dev', labels: { 'app.kubernetes.io/part-of': 'skiff' } },
  spec: {
    group: 'networking.skiff.dev',
    names: { plural: 'networks', singular: 'network', kind: 'Network', listKind: 'NetworkList', shortNames: ['net'], categories: ['skiff'] },
    scope: 'Cluster',
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Driver', type: 'string', jsonPath: '.spec.driver' },
          { name: 'Subnet', type: 'string', jsonPath: '.status.subnet' },
          { name: 'Scope', type: 'string', jsonPath: '.status.scope' },
          { name: 'Pods', type: 'integer', jsonPath: '.status.pods' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'A pod network: a bridge on each node, a VXLAN overlay across nodes, or any CNI plugin. Pods join it with the annotation networking.skiff.dev/networks.',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                default: {},
                properties: {
                  driver: { type: 'string', enum: ['bridge', 'overlay', 'cni'], default: 'overlay', description: 'bridge: local to each node; overlay: VXLAN across nodes; cni: the plugin configured in spec.cni' },
                  subnet: { ...ipv4Cidr, description: 'the IPv4 range of the network (bridge and overlay default: a /16 allocated from the cluster network range; cni: the host-local range of the plugin when not given)' },
                  internal: { type: 'boolean', description: 'no egress: traffic leaves only to other members of the network' },
                  vni: { type: 'integer', minimum: 1, maximum: 16777215, description: 'VXLAN id of an overlay network (default: allocated from 4096 up)' },
                  cni: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'a CNI network configuration (a plugin, or a conflist with plugins); required for driver cni. scope: global marks a plugin that spans nodes' },
                  nodeSubnetPrefix: { type: 'integer', minimum: 1, maximum: 30, default: 24, description: 'prefix length of the slice of the subnet each node gets' },
                },
              },
              status: {
                type: 'object',
                properties: {
                  observedGeneration: { type: 'integer', format: 'int64' },
                  scope: { type: 'string', enum: ['local', 'global'] },
                  subnet: { type: 'string' },
                  vni: { type: 'integer' },
                  nodes: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['name', 'subnet'],
                      properties: { name: { type: 'string' }, subnet: { type: 'string' }, bridge: { type: 'string' } },
                    },
                  },
                  pods: { type: 'integer' },
                  conditions: { type: 'array', items: condition },
                },
              },
            },
          },
        },
      },
    ],
  },
};

export const BUILTIN_CRDS: KObject[] = [SYNC_CRD, NETWORK_CRD];

type Api = { registry(g: string, v: string, p: string): ResourceRegistry | undefined };

/** Creates the built-in CRDs, or brings their spec back to this build's definition. */
export async function bootstrapCrds(api: Api): Promise<void> {
  const reg = api.registry('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  if (!reg) throw new Error('bootstrapCrds: customresourcedefinitions are not served');
  for (const crd of BUILTIN_CRDS) {
    const name = crd.metadata.name!;
    let cur: KObject | undefined;
    try {
      cur = reg.get(undefined, name).obj;
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
    try {
      if (!cur) await reg.create(systemContext(), undefined, structuredClone(crd));
      else if (JSON.stringify(cur.spec) !== JSON.stringify(crd.spec) || cur.metadata.labels?.['app.kubernetes.io/part-of'] !== 'skiff') {
        await reg.modifyWith(systemContext(), undefined, name, (o) => ({ ...o, spec: structuredClone(crd.spec), metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...crd.metadata.labels } } }));
      }
    } catch (e) {
      // Another server of the same cluster did it first.
      if (!(e instanceof StatusError && (e.reason === 'AlreadyExists' || e.code === 409))) throw e;
    }
  }
}
