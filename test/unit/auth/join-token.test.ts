// The K10 join-token format, bootstrap tokens, and the data-dir node-token file.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import {
  bootstrapTokenSecret,
  caHash,
  formatJoinToken,
  generateBootstrapToken,
  JoinTokenFormatError,
  parseBootstrapToken,
  parseJoinToken,
} from '../../../apiserver/auth/join-token.js';
import { ensureTokens } from '../../../apiserver/auth/tokens.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

test('a K10 token carries the sha256 of the CA PEM bytes and the credential', (t) => {
  const tok = formatJoinToken(PEM, 'abc123');
  const hex = createHash('sha256').update(PEM).digest('hex');
  t.is(tok, `K10${hex}::abc123`);
  t.deepEqual(parseJoinToken(tok + '\n'), { caHash: hex, credential: 'abc123' });
  t.is(caHash(Buffer.from(PEM)), hex);
});

test('a bare credential parses without a CA hash', (t) => {
  t.deepEqual(parseJoinToken('  deadbeef\n'), { credential: 'deadbeef' });
  t.deepEqual(parseJoinToken('abcdef.0123456789abcdef'), { credential: 'abcdef.0123456789abcdef' });
});

test('malformed tokens are refused with the reason', (t) => {
  t.throws(() => parseJoinToken(''), { instanceOf: JoinTokenFormatError, message: /empty/ });
  t.throws(() => parseJoinToken('K10abcd::secret'), { instanceOf: JoinTokenFormatError, message: /64 hex digits/ });
  t.throws(() => parseJoinToken(`K10${'a'.repeat(64)}::`), { instanceOf: JoinTokenFormatError, message: /no credential/ });
  t.throws(() => parseJoinToken('two words'), { instanceOf: JoinTokenFormatError });
});

test('bootstrap tokens: format, generation and their Secret', (t) => {
  t.deepEqual(parseBootstrapToken('abcdef.0123456789abcdef'), { id: 'abcdef', secret: '0123456789abcdef' });
  t.is(parseBootstrapToken('ABCDEF.0123456789abcdef'), undefined);
  t.is(parseBootstrapToken('abcdef.0123'), undefined);
  const g = generateBootstrapToken();
  t.deepEqual(parseBootstrapToken(g.token), { id: g.id, secret: g.secret });
  const s = bootstrapTokenSecret(g.id, g.secret, { expiration: new Date('2030-01-02T03:04:05.678Z') }) as any;
  t.is(s.metadata.name, `bootstrap-token-${g.id}`);
  t.is(s.metadata.namespace, 'kube-system');
  t.is(s.type, 'bootstrap.kubernetes.io/token');
  t.is(s.stringData.expiration, '2030-01-02T03:04:05Z');
  t.is(s.stringData['usage-bootstrap-authentication'], 'true');
});

test('ensureTokens writes DIR/node-token as K10 and keeps an older bare secret', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-tokens-'));
  try {
    writeFileSync(join(dir, 'node-token'), 'oldsecret\n');
    const tokens = ensureTokens(dir, PEM);
    t.is(tokens.node, 'oldsecret');
    t.is(readFileSync(join(dir, 'node-token'), 'utf8').trim(), formatJoinToken(PEM, 'oldsecret'));
    t.is(statSync(join(dir, 'node-token')).mode & 0o777, 0o600);
    // Again, and with a new CA: the secret stays, the hash follows the CA.
    t.is(ensureTokens(dir, PEM).node, 'oldsecret');
    const other = PEM.replace('MIIB', 'MIIC');
    t.is(ensureTokens(dir, other).nodeJoinToken, formatJoinToken(other, 'oldsecret'));
    // Without the CA (older callers) the file is read, not rewritten.
    t.is(ensureTokens(dir).node, 'oldsecret');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
