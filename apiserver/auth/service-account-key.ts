// The key that signs service account tokens: made once into DIR/tls/service-account.key (next to
// the CA) and reused, so tokens already handed to pods stay valid across restarts. A key of its
// own rather than the CA's: rotating one must not force rotating the other.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_ACCOUNT_KEY_FILE = 'service-account.key';

export interface ServiceAccountKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Loads DIR/service-account.key, creating an EC P-256 key on first use. dir is the PKI's folder. */
export function ensureServiceAccountKey(dir: string): ServiceAccountKey {
  const path = join(dir, SERVICE_ACCOUNT_KEY_FILE);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    // Written aside then renamed: a crash must not leave a half key that the next start would reject.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    renameSync(tmp, path);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a usable private key: ${(e as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${path}: service account tokens are signed with ES256 and need an EC P-256 key`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
