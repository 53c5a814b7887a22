// `--storage nats://h1:4222,h2:4222,h3:4222[/STREAM][?replicas=N&...]` and the connection
// options that come from separate flags (credentials, TLS).

export interface NatsAuthOptions {
  /** a NATS .creds file (JWT + NKey seed) */
  credsFile?: string;
  /** a file holding a bearer token */
  tokenFile?: string;
  user?: string;
  password?: string;
  /** CA bundle to verify the NATS servers with (turns TLS on) */
  tlsCaFile?: string;
  /** client certificate and key for mutual TLS */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

export interface NatsStoreOptions extends NatsAuthOptions {
  servers: string[];
  /** the JetStream stream holding the state; also names its subjects */
  stream: string;
  /** replicas for a stream this store creates; default 3 when the cluster has 3 or more nodes, else 1 */
  replicas?: number;
  /** how long a write keeps retrying through leader elections and reconnects before 503 */
  writeTimeoutMs: number;
  /** how long a read waits to catch up with the stream before answering from what it has */
  readSyncTimeoutMs: number;
  /** how long opening waits for NATS and for the initial load */
  openTimeoutMs: number;
}

export const DEFAULT_STREAM = 'SKIFF';

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`storage spec: ${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** Parses the `--storage` value; throws with the expected form on anything else. */
export function parseNatsSpec(spec: string, auth: NatsAuthOptions = {}): NatsStoreOptions {
  const form = 'expected nats://HOST:PORT[,HOST:PORT...][/STREAM][?replicas=N&write-timeout-ms=N]';
  // Each server may repeat the scheme (nats://h1:4222,nats://h2:4222): drop the inner ones first.
  const m = /^(nats|tls):\/\/([^/?]+)(?:\/([^?]*))?(?:\?(.*))?$/.exec(spec.replace(/,\s*(nats|tls):\/\//g, ','));
  if (!m) throw new Error(`storage spec "${spec}": ${form}`);
  const scheme = m[1]!;
  const servers = m[2]!.split(',').map((s) => s.trim().replace(/^(nats|tls):\/\//, '')).filter((s) => s.length > 0);
  if (servers.length === 0) throw new Error(`storage spec "${spec}": no servers; ${form}`);
  for (const s of servers) {
    if (!/^[^:\s]+(:\d+)?$/.test(s) && !/^\[[0-9a-fA-F:]+\](:\d+)?$/.test(s)) throw new Error(`storage spec "${spec}": bad server "${s}"; ${form}`);
  }
  const stream = m[3] ? decodeURIComponent(m[3]) : DEFAULT_STREAM;
  if (!STREAM_NAME.test(stream)) throw new Error(`storage spec "${spec}": stream name "${stream}" must be 1-64 of A-Z a-z 0-9 _ -`);
  const opts: NatsStoreOptions = {
    ...auth,
    servers: servers.map((s) => `${scheme}://${s}`),
    stream,
    writeTimeoutMs: 10_000,
    readSyncTimeoutMs: 2_000,
    openTimeoutMs: 30_000,
  };
  for (const [name, value] of new URLSearchParams(m[4] ?? '')) {
    if (name === 'replicas') opts.replicas = positiveInt(name, value);
    else if (name === 'write-timeout-ms') opts.writeTimeoutMs = positiveInt(name, value);
    else if (name === 'read-sync-timeout-ms') opts.readSyncTimeoutMs = positiveInt(name, value);
    else if (name === 'open-timeout-ms') opts.openTimeoutMs = positiveInt(name, value);
    else throw new Error(`storage spec "${spec}": unknown option "${name}"; ${form}`);
  }
  if (opts.replicas !== undefined && opts.replicas > 5) throw new Error(`storage spec "${spec}": replicas must be 1-5 (JetStream's limit)`);
  return opts;
}
