// Joining a node from another host, without an admin credential:
//   GET  /cacerts         (no authentication) the cluster CA, which the agent checks against the
//                         hash in its K10 token before trusting it;
//   POST /skiff/v1/join   (Bearer <join credential>, body {nodeName}) issues a credential for that
//                         one node, stored as a hash in kube-system/node-credential-<node>.
// Join credentials are the server's permanent join secret and Kubernetes bootstrap tokens
// (Secrets kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token). They are good
// for joining only: the API proper is reached with the per-node credential.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KObject } from '../../pkg/api/types.js';
import { isDns1123Subdomain } from '../../pkg/api/validation.js';
import { logger } from '../../pkg/log/logger.js';
import type { WatchCache } from '../cache/watch-cache.js';
import type { ResourceRegistry } from '../registry/generic.js';
import { systemContext } from '../bootstrap.js';
import { errors, StatusError } from '../status.js';
import { send, sendError, sendJson } from '../http/respond.js';
import { decodeBody, readBody } from '../http/body.js';
import { BOOTSTRAP_SECRET_PREFIX, BOOTSTRAP_TOKEN_TYPE, CACERTS_PATH, JOIN_PATH, parseBootstrapToken, parseJoinToken, rfc3339, type JoinResponse } from './join-token.js';

export { CACERTS_PATH, JOIN_PATH, type JoinResponse };
import { NODE_CREDENTIAL_NAMESPACE, NODE_CREDENTIAL_TYPE, TOKEN_HASH_KEY, nodeCredentialName, tokenSha256 } from './node-credentials.js';

/** The paths this module answers, before (and instead of) the API server's authentication. */
export const JOIN_PATHS: ReadonlySet<string> = new Set([CACERTS_PATH, JOIN_PATH]);

export const INVALID_JOIN_TOKEN = 'invalid join token';

const refused = (message: string) => new StatusError(401, 'Unauthorized', message);
const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));
const decoded = (data: Record<string, unknown> | undefined, key: string): string | undefined =>
  typeof data?.[key] === 'string' ? Buffer.from(data[key] as string, 'base64').toString('utf8') : undefined;

/**
 * Checks a join credential; returns what it was (for the audit annotation) or throws 401 with the
 * reason. An expired bootstrap token is named as such only to someone who knows its secret.
 */
export function checkJoinCredential(
  credential: string,
  opts: { joinSecret?: string; bootstrapSecret: (name: string) => KObject | undefined; now: Date },
): string {
  const bt = parseBootstrapToken(credential);
  if (!bt) {
    if (opts.joinSecret !== undefined && sameSecret(credential, opts.joinSecret)) return 'node-token';
    throw refused(INVALID_JOIN_TOKEN);
  }
  const secret = opts.bootstrapSecret(`${BOOTSTRAP_SECRET_PREFIX}${bt.id}`);
  if (!secret || secret.type !== BOOTSTRAP_TOKEN_TYPE || secret.metadata.deletionTimestamp) throw refused(INVALID_JOIN_TOKEN);
  const data = secret.data as Record<string, unknown> | undefined;
  const id = decoded(data, 'token-id');
  const stored = decoded(data, 'token-secret');
  if (id !== bt.id || stored === undefined || !sameSecret(bt.secret, stored)) throw refused(INVALID_JOIN_TOKEN);
  if (decoded(data, 'usage-bootstrap-authentication') !== 'true') throw refused(`join token ${bt.id} is not marked for authentication (usage-bootstrap-authentication: "true")`);
  const exp = decoded(data, 'expiration');
  if (exp !== undefined) {
    const at = Date.parse(exp);
    if (Number.isNaN(at)) throw refused(`join token ${bt.id} has an unreadable expiration "${exp}" (want RFC 3339)`);
    if (at <= opts.now.getTime()) throw refused(`join token ${bt.id} expired at ${exp}`);
  }
  return `${BOOTSTRAP_SECRET_PREFIX}${bt.id}`;
}

export interface JoinServiceOptions {
  cache: WatchCache;
  secrets: ResourceRegistry;
  caCert: string;
  /** the server's permanent join secret (DIR/node-token); without it only bootstrap tokens join */
  joinSecret?: string;
  now?: () => Date;
}

const MAX_JOIN_BODY = 64 * 1024;

export class JoinService {
  private readonly log = logger('join');

  constructor(private readonly opts: JoinServiceOptions) {}

  async serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      const method = req.method ?? 'GET';
      if (path === CACERTS_PATH) {
        if (method !== 'GET' && method !== 'HEAD') throw errors.methodNotAllowed(`${CACERTS_PATH} only supports GET`);
        send(res, 200, this.opts.caCert, { contentType: 'application/x-pem-file' });
        return;
      }
      if (method !== 'POST') throw errors.methodNotAllowed(`${JOIN_PATH} only supports POST`);
      const header = req.headers['authorization'];
      if (!header?.startsWith('Bearer ')) throw refused('a join token is required (Authorization: Bearer <token>)');
      const now = this.opts.now?.() ?? new Date();
      let via: string;
      try {
        // Accept the whole K10 token as well as its credential part.
        let credential: string;
        try {
          credential = parseJoinToken(header.slice(7)).credential;
        } catch {
          throw refused(INVALID_JOIN_TOKEN);
        }
        via = checkJoinCredential(credential, {
          joinSecret: this.opts.joinSecret,
          bootstrapSecret: (name) => this.opts.cache.get(`/registry/core/secrets/kube-system/${name}`)?.obj,
          now,
        });
      } catch (e) {
        this.log.warn({ from: req.socket.remoteAddress, reason: (e as Error).message }, 'join refused');
        throw e;
      }
      const body = decodeBody(await readBody(req, MAX_JOIN_BODY), req.headers['content-type'], ['application/json']) as { nodeName?: unknown } | undefined;
      const node = body?.nodeName;
      if (typeof node !== 'string' || !node) throw errors.badRequest('the join request needs {"nodeName": "<name>"}');
      // The credential Secret is named after the node, so the name must fit that too.
      const problems = [...isDns1123Subdomain(node), ...isDns1123Subdomain(nodeCredentialName(node))];
      if (problems.length) throw errors.badRequest(`invalid node name "${node}": ${problems[0]}`);
      const token = await this.issue(node, via, now);
      this.log.info({ node, via, from: req.socket.remoteAddress }, 'node joined');
      const answer: JoinResponse = { apiVersion: 'skiff.dev/v1', kind: 'NodeCredential', nodeName: node, username: `system:node:${node}`, token, caCert: this.opts.caCert };
      sendJson(res, 200, answer);
    } catch (err) {
      if (!req.readableEnded) req.resume();
      sendError(res, err);
    }
  }

  /** Creates the node's credential, or replaces it (a re-join invalidates the old token). */
  private async issue(node: string, via: string, now: Date): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const data = { [TOKEN_HASH_KEY]: Buffer.from(tokenSha256(token)).toString('base64') };
    const annotations = { 'skiff.dev/joined-with': via, 'skiff.dev/issued-at': rfc3339(now) };
    const name = nodeCredentialName(node);
    const ctx = systemContext('skiff-join');
    const replace = async () => {
      const cur = this.opts.secrets.get(NODE_CREDENTIAL_NAMESPACE, name).obj;
      if (cur.type !== NODE_CREDENTIAL_TYPE) {
        throw new StatusError(409, 'Conflict', `secret ${NODE_CREDENTIAL_NAMESPACE}/${name} exists with type ${String(cur.type)}, not ${NODE_CREDENTIAL_TYPE}: delete it and join again`);
      }
      await this.opts.secrets.modifyWith(ctx, NODE_CREDENTIAL_NAMESPACE, name, (o) => ({
        ...o,
        metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, ...annotations } },
        data,
      }));
    };
    const exists = () => this.opts.cache.get(`/registry/core/secrets/${NODE_CREDENTIAL_NAMESPACE}/${name}`) !== undefined;
    if (exists()) {
      await replace();
      return token;
    }
    try {
      await this.opts.secrets.create(ctx, NODE_CREDENTIAL_NAMESPACE, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: NODE_CREDENTIAL_NAMESPACE, annotations },
        type: NODE_CREDENTIAL_TYPE,
        data,
      });
    } catch (e) {
      // Two joins of the same node at once: the later one wins.
      if (!(e instanceof StatusError && e.reason === 'AlreadyExists')) throw e;
      await replace();
    }
    return token;
  }
}
