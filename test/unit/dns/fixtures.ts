// Services and Endpoints shared by the DNS tests, shaped as the API server stores them.
import type { KObject } from '../../../pkg/api/types.js';

export function service(ns: string, name: string, spec: Record<string, unknown>): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec };
}

export function endpoints(ns: string, name: string, subsets: Record<string, unknown>[]): KObject {
  return { apiVersion: 'v1', kind: 'Endpoints', metadata: { namespace: ns, name }, subsets };
}

export function clusterFixtures(): { services: KObject[]; endpoints: KObject[] } {
  return {
    services: [
      service('default', 'web', {
        type: 'ClusterIP',
        clusterIP: '10.96.0.10',
        clusterIPs: ['10.96.0.10'],
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      }),
      service('data', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }),
      service('data', 'empty', { clusterIP: 'None', ports: [{ name: 'x', port: 1 }] }),
      service('default', 'ext', { type: 'ExternalName', externalName: 'example.org' }),
      service('default', 'inner', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
      service('default', 'dual', { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11', 'fd00::11'], ports: [{ port: 443 }] }),
    ],
    endpoints: [
      endpoints('default', 'web', [
        {
          addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.1.6' }],
          notReadyAddresses: [{ ip: '10.244.1.7' }],
          ports: [
            { name: 'http', port: 8080, protocol: 'TCP' },
            { name: 'dns', port: 53, protocol: 'UDP' },
          ],
        },
      ]),
      endpoints('data', 'db', [
        {
          addresses: [
            { ip: '10.244.2.3', hostname: 'db-0' },
            { ip: '10.244.2.4', hostname: 'db-1' },
            { ip: '10.244.2.9' },
          ],
          notReadyAddresses: [{ ip: '10.244.2.5', hostname: 'db-2' }],
          ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
        },
      ]),
      endpoints('data', 'empty', []),
    ],
  };
}
