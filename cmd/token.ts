// `skiff token create`: makes a Kubernetes bootstrap token (a Secret in kube-system, through the
// API with an admin kubeconfig) and prints the full K10 join token for `skiff agent --token-file`.
// The CA hash comes from the server's /cacerts, read over a connection verified with the
// kubeconfig's CA, so it is exactly what a joining agent will compare.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { RestClient } from '../pkg/client/rest.js';
import { bootstrapTokenSecret, CACERTS_PATH, formatJoinToken, generateBootstrapToken } from '../apiserver/auth/join-token.js';
import { parseDurationMs } from './duration.js';
import { UsageError, type FlagSpec, type FlagValues } from './flags.js';

export const tokenFlags: FlagSpec[] = [
  { name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: "the server's data dir (its admin kubeconfig is used)" },
  { name: 'kubeconfig', type: 'string', help: 'an admin kubeconfig instead of DIR/kubeconfig' },
  { name: 'ttl', type: 'string', default: '24h', help: 'how long the token joins nodes (0 = never expires)' },
  { name: 'description', type: 'string', help: 'stored with the token' },
];

function caFromServer(client: RestClient): Promise<string> {
  const url = new URL(CACERTS_PATH, client.config.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', ca: client.config.ca, rejectUnauthorized: !client.config.insecure }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`${url.href} answered HTTP ${res.statusCode}`))));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${url.href}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function create(v: FlagValues): Promise<void> {
  const kubeconfig = v['kubeconfig'] ? resolve(String(v['kubeconfig'])) : join(resolve(String(v['data-dir'])), 'kubeconfig');
  if (!existsSync(kubeconfig)) throw new UsageError(`token create: ${kubeconfig} does not exist (give --data-dir of a started server, or --kubeconfig)`);
  const ttlMs = parseDurationMs(String(v['ttl']), 'ttl');
  const client = RestClient.fromKubeconfig(kubeconfig, 'skiff-token');
  try {
    const ca = await caFromServer(client);
    const t = generateBootstrapToken();
    const secret = bootstrapTokenSecret(t.id, t.secret, {
      expiration: ttlMs > 0 ? new Date(Date.now() + ttlMs) : undefined,
      description: v['description'] ? String(v['description']) : `made by skiff token create${ttlMs > 0 ? ` (ttl ${String(v['ttl'])})` : ''}`,
    });
    await client.create('/api/v1/namespaces/kube-system/secrets', secret);
    process.stdout.write(formatJoinToken(ca, t.token) + '\n');
  } finally {
    client.close();
  }
}

export async function runToken(v: FlagValues, positional: string[]): Promise<void> {
  const [sub, ...rest] = positional;
  if (sub !== 'create') throw new UsageError(sub ? `token: unknown subcommand "${sub}" (only create)` : 'token: give a subcommand: skiff token create [--ttl 24h]');
  if (rest.length) throw new UsageError(`token create: unexpected argument "${rest[0]}"`);
  await create(v);
}
