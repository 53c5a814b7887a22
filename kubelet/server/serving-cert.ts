// The node server's own TLS certificate. A joined agent holds the cluster CA certificate but not its
// key, so it signs its serving certificate itself (as a kubelet without a bootstrapped serving
// certificate does); the API server does not verify it. Made once in the data dir with openssl
// (Node cannot write X.509 certificates) and reused.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from '../../apiserver/auth/pki.js';

export interface ServingCert {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}


/**
 * Loads DIR/kubelet.crt and DIR/kubelet.key, creating them (EC P-256, ten years, self-signed) when
 * missing. names are the node's host name and addresses, put in subjectAltName.
 */
export function ensureServingCert(dir: string, nodeName: string, names: string[] = []): ServingCert {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'kubelet.crt');
  const keyFile = join(dir, 'kubelet.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const ips = new Set<string>(['127.0.0.1']);
    const dns = new Set<string>([nodeName, 'localhost']);
    for (const n of names) (/^[0-9.]+$/.test(n) || n.includes(':') ? ips : dns).add(n);
    const san = [...[...dns].map((d) => `DNS:${d}`), ...[...ips].map((i) => `IP:${i}`)].join(',');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'kubelet.key'], dir);
    openssl(['req', '-x509', '-new', '-key', 'kubelet.key', '-sha256', '-days', '3650', '-subj', `/CN=${nodeName}@skiff-kubelet`, '-extensions', 'v3_node', '-config', writeConfig(dir, san), '-out', 'kubelet.crt'], dir);
  }
  chmodSync(keyFile, 0o600);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** A minimal openssl config whose v3_node section carries the extensions (req -x509 reads them there). */
function writeConfig(dir: string, san: string): string {
  const path = join(dir, 'kubelet.cnf');
  writeFileSync(
    path,
    `[req]\ndistinguished_name=dn\n[dn]\n[v3_node]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  return 'kubelet.cnf';
}
