// Node socket errors rewritten in the words Go's net package uses, because users read probe
// failures in events and compare them with what a real kubelet says.

const CONNECT: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ETIMEDOUT: 'connect: connection timed out',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
  EACCES: 'connect: permission denied',
};

interface SysError extends Error {
  code?: string;
  hostname?: string;
}

/**
 * Text of a failed dial or exchange with hostPort, the way Go would print it.
 * `local` is the local address of the connection when one was established.
 */
export function goNetError(err: unknown, host: string, hostPort: string, local?: string): string {
  const e = err as SysError;
  const code = e?.code ?? '';
  if (CONNECT[code]) return `dial tcp ${hostPort}: ${CONNECT[code]}`;
  if (code === 'ENOTFOUND') return `dial tcp: lookup ${host}: no such host`;
  if (code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: Temporary failure in name resolution`;
  const conn = local ? `${local}->${hostPort}` : hostPort;
  // Node says "socket hang up" when the peer closed before answering; Go sees end of stream.
  if (code === 'ECONNRESET' && e.message === 'socket hang up') return 'EOF';
  if (code === 'ECONNRESET') return `read tcp ${conn}: read: connection reset by peer`;
  if (code === 'EPIPE') return `write tcp ${conn}: write: broken pipe`;
  if (code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_')) return 'net/http: HTTP/1.x transport connection broken: malformed HTTP response';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(e?.message ?? '')) {
    return 'tls: first record does not look like a TLS handshake';
  }
  if (code.startsWith('ERR_SSL') || code === 'EPROTO') return `tls: ${e.message}`;
  return e?.message ?? String(err);
}
