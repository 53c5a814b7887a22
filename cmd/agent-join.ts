// The agent's side of joining from another host: fetch the cluster CA without verification, accept
// it only if its sha256 is the one in the K10 token, then, over connections pinned to that CA,
// trade the join credential for a credential of this node. That credential is kept in
// DATA/agent/kubeconfig (0600) and reused on restart; if the server refuses it, the agent joins
// again with the token.
import { request as httpsRequest } from 'node:https';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { ApiError, RestClient } from '../pkg/client/rest.js';
import { CACERTS_PATH, JOIN_PATH, caHash, JoinTokenFormatError, parseJoinToken, type JoinResponse, type JoinToken } from '../apiserver/auth/join-token.js';
import { kubeconfigYaml } from './kubeconfig.js';
import { UsageError } from './flags.js';
import { logger } from '../pkg/log/logger.js';

export interface JoinOptions {
  server: string;
  tokenFile: string;
  /** a CA file instead of discovery (required for a bare credential without a CA hash) */
  caFile?: string;
  dataDir: string;
  nodeName: string;
  userAgent: string;
}

export function agentKubeconfigPath(dataDir: string): string {
  return join(dataDir, 'agent', 'kubeconfig');
}

/** GET /cacerts without verifying the server: what comes back is checked against the token's hash. */
export function fetchCaCerts(server: string, timeoutMs = 30_000): Promise<string> {
  const url = new URL(CACERTS_PATH, server);
  if (url.protocol !== 'https:') return Promise.reject(new UsageError(`--server ${server}: must be an https:// URL`));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', rejectUnauthorized: false, headers: { Accept: 'application/x-pem-file' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode === 200) resolve(Buffer.concat(chunks).toString('utf8'));
        else reject(new Error(`${url.href} answered HTTP ${res.statusCode}: is ${server} a skiff server?`));
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new Error(`cannot fetch the cluster CA from ${url.href}: ${e.message}`)));
    req.end();
  });
}

export function caMismatchMessage(expected: string, got: string): string {
  return `the server's CA does not match the token: expected sha256 ${expected}, got ${got} — wrong server or tampered connection`;
}

function readToken(file: string): JoinToken {
  try {
    return parseJoinToken(readFileSync(file, 'utf8'));
  } catch (e) {
    if (e instanceof JoinTokenFormatError) throw new UsageError(`--token-file ${file}: ${e.message}`);
    throw e;
  }
}

/** The CA to pin: the --ca-file, or the server's, checked against the token. */
async function trustedCa(o: JoinOptions, token: JoinToken): Promise<string> {
  if (o.caFile) {
    const ca = readFileSync(o.caFile, 'utf8');
    if (token.caHash && caHash(ca) !== token.caHash) {
      throw new Error(`--ca-file ${o.caFile} does not match the token: expected sha256 ${token.caHash}, got ${caHash(ca)}`);
    }
    return ca;
  }
  if (!token.caHash) {
    throw new UsageError(`the token in ${o.tokenFile} carries no CA hash (it is not K10<sha256>::<credential>): give --ca-file as well, or use the server's DIR/node-token`);
  }
  const ca = await fetchCaCerts(o.server);
  const got = caHash(ca);
  if (got !== token.caHash) throw new Error(caMismatchMessage(token.caHash, got));
  return ca;
}

interface Saved {
  ca: string;
  token: string;
}

/** The stored credential, if it is for this node and for the cluster the token (or CA file) names. */
function loadSaved(path: string, o: JoinOptions, token: JoinToken): Saved | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const kc = yaml.load(readFileSync(path, 'utf8')) as {
      clusters?: { cluster?: { 'certificate-authority-data'?: string } }[];
      users?: { name?: string; user?: { token?: string } }[];
    };
    const ca = Buffer.from(kc.clusters?.[0]?.cluster?.['certificate-authority-data'] ?? '', 'base64').toString('utf8');
    const user = kc.users?.[0];
    if (!ca || !user?.user?.token || user.name !== `system:node:${o.nodeName}`) return undefined;
    const expected = token.caHash ?? (o.caFile ? caHash(readFileSync(o.caFile, 'utf8')) : undefined);
    if (expected && caHash(ca) !== expected) return undefined;
    return { ca, token: user.user.token };
  } catch {
    return undefined;
  }
}

async function whoami(client: RestClient): Promise<string | undefined> {
  const r = await client.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  return r.status?.userInfo?.username;
}

/** Joins (or reuses a stored credential) and returns a client authenticated as system:node:<name>. */
export async function joinCluster(o: JoinOptions): Promise<RestClient> {
  const log = logger('join');
  const token = readToken(o.tokenFile);
  const path = agentKubeconfigPath(o.dataDir);
  const saved = loadSaved(path, o, token);
  if (saved) {
    const client = new RestClient({ server: o.server, ca: saved.ca, token: saved.token, userAgent: o.userAgent });
    try {
      if ((await whoami(client)) === `system:node:${o.nodeName}`) return client;
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 401)) {
        client.close();
        throw e;
      }
    }
    client.close();
    log.warn({ node: o.nodeName }, 'the stored node credential was refused; joining again');
  }

  const ca = await trustedCa(o, token);
  const joiner = new RestClient({ server: o.server, ca, token: token.credential, userAgent: o.userAgent });
  let answer: JoinResponse;
  try {
    answer = await joiner.request<JoinResponse>('POST', JOIN_PATH, { body: { nodeName: o.nodeName } });
  } catch (e) {
    if (e instanceof ApiError) throw new Error(`join refused by ${o.server}: ${e.message}`);
    throw e;
  } finally {
    joiner.close();
  }
  if (!answer?.token) throw new Error(`join: ${o.server} answered without a node credential`);
  mkdirSync(join(o.dataDir, 'agent'), { recursive: true, mode: 0o700 });
  writeFileSync(path, kubeconfigYaml(o.server, ca, answer.token, `system:node:${o.nodeName}`), { mode: 0o600 });
  // writeFileSync keeps the mode of a file that already existed.
  chmodSync(path, 0o600);
  log.info({ node: o.nodeName, kubeconfig: path }, 'joined the cluster');
  return new RestClient({ server: o.server, ca, token: answer.token, userAgent: o.userAgent });
}
