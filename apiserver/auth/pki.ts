// The cluster's certificate authority, the apiserver's serving certificate and its client certificate for
// node servers. Generated once into the data dir with the openssl command (Node can make keys but not
// X.509 certificates) and reused on every later start, so kubeconfigs stay valid across restarts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces, hostname } from 'node:os';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  dir: string;
  /** the certificate the API server presents to node servers (kubectl logs/exec/port-forward) */
  kubeletClientCert?: string;
  kubeletClientKey?: string;
}

/** The name node servers let in: only the API server calls them. */
export const KUBELET_CLIENT_CN = 'skiff:apiserver-kubelet-client';

/** Where ensurePki keeps its files under DATA_DIR/tls. */
export function pkiPaths(dataDir: string): { dir: string; caCert: string; serverCert: string; serverKey: string; kubeletClientCert: string; kubeletClientKey: string } {
  const dir = join(dataDir, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    kubeletClientCert: join(dir, 'apiserver-kubelet-client.crt'),
    kubeletClientKey: join(dir, 'apiserver-kubelet-client.key'),
  };
}

/** Runs one openssl command in cwd; its stderr becomes the error. */
export function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/** Addresses the serving certificate must name: loopback, this host's addresses and name, plus extra. */
function subjectAltNames(extra: string[]): string {
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) ips.add(a.address.split('%')[0]!);
  const dns = new Set<string>(['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', hostname()]);
  for (const e of extra) (/^[0-9.:a-fA-F]+$/.test(e) && e.includes('.') || e.includes(':') ? ips : dns).add(e);
  return [...[...dns].map((d) => `DNS:${d}`), ...[...ips].map((i) => `IP:${i}`)].join(',');
}

/**
 * Loads the PKI from DIR/tls, creating it on first start. extraNames are added to the serving
 * certificate (the --bind address, for instance) when it is first made.
 */
export function ensurePki(dataDir: string, extraNames: string[] = []): Pki {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCertPath = join(dir, 'ca.crt');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  if (!existsSync(caCertPath) || !existsSync(join(dir, 'ca.key'))) {
    // EC P-256: fast to generate, accepted by Go's TLS stack (kubectl) and Node.
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '3650', '-subj', '/CN=skiff-ca', '-out', 'ca.crt'], dir);
  }
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
    openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=skiff-apiserver', '-out', 'server.csr'], dir);
    writeFileSync(
      join(dir, 'server.ext'),
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${subjectAltNames(extraNames)}\n`,
    );
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650', '-sha256', '-extfile', 'server.ext', '-out', 'server.crt'], dir);
  }
  const kc = pkiPaths(dataDir);
  if (!existsSync(kc.kubeletClientCert) || !existsSync(kc.kubeletClientKey)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'apiserver-kubelet-client.key'], dir);
    openssl(['req', '-new', '-key', 'apiserver-kubelet-client.key', '-subj', `/CN=${KUBELET_CLIENT_CN}`, '-out', 'apiserver-kubelet-client.csr'], dir);
    writeFileSync(join(dir, 'apiserver-kubelet-client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    openssl(['x509', '-req', '-in', 'apiserver-kubelet-client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650', '-sha256', '-extfile', 'apiserver-kubelet-client.ext', '-out', 'apiserver-kubelet-client.crt'], dir);
  }
  for (const f of ['ca.key', 'server.key', 'apiserver-kubelet-client.key']) chmodSync(join(dir, f), 0o600);
  return {
    caCert: readFileSync(caCertPath, 'utf8'),
    serverCert: readFileSync(certPath, 'utf8'),
    serverKey: readFileSync(keyPath, 'utf8'),
    dir,
    kubeletClientCert: readFileSync(kc.kubeletClientCert, 'utf8'),
    kubeletClientKey: readFileSync(kc.kubeletClientKey, 'utf8'),
  };
}
