// The admin kubeconfig: cluster CA, server URL and the admin bearer token.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';

export function kubeconfigYaml(server: string, caCert: string, token: string, user = 'skiff-admin'): string {
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'skiff', cluster: { server, 'certificate-authority-data': Buffer.from(caCert).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'skiff', context: { cluster: 'skiff', user, namespace: 'default' } }],
    'current-context': 'skiff',
    preferences: {},
  });
}

export function writeKubeconfig(dataDir: string, server: string, caCert: string, token: string): string {
  const path = join(dataDir, 'kubeconfig');
  writeFileSync(path, kubeconfigYaml(server, caCert, token), { mode: 0o600 });
  return path;
}

export function readKubeconfig(dataDir: string): string {
  const path = join(dataDir, 'kubeconfig');
  if (!existsSync(path)) throw new Error(`no kubeconfig in ${dataDir}: start \`skiff server --data-dir ${dataDir}\` first`);
  return readFileSync(path, 'utf8');
}
