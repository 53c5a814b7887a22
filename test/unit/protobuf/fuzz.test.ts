import test from 'ava';
import { decodeKubernetesProtobuf } from '../../../apiserver/protobuf/decode.js';
import { StatusError } from '../../../apiserver/status.js';
import { KUBECTL_FIXTURES } from './fixtures.js';

/** A seeded generator, so a failure names a case that can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function check(body: Uint8Array): string | undefined {
  try {
    const out = decodeKubernetesProtobuf(body);
    JSON.stringify(out.object);
    return undefined;
  } catch (e) {
    if (e instanceof StatusError && (e.code === 400 || e.code === 415)) return undefined;
    return `${(e as Error)?.constructor?.name}: ${(e as Error)?.message} for ${Buffer.from(body).toString('hex')}`;
  }
}

test('random bytes only ever produce a 400 or 415', (t) => {
  const rand = rng(1);
  const magic = [0x6b, 0x38, 0x73, 0];
  for (let i = 0; i < 20000; i++) {
    const len = Math.floor(rand() * 64);
    const bytes = Array.from({ length: len }, () => Math.floor(rand() * 256));
    const body = Uint8Array.from(i % 2 ? [...magic, ...bytes] : bytes);
    const failure = check(body);
    if (failure) return t.fail(failure);
  }
  t.pass();
});

test('mutated kubectl bodies only ever produce a 400 or 415', (t) => {
  const rand = rng(2);
  const bodies = KUBECTL_FIXTURES.map((f) => Buffer.from(f.body, 'base64'));
  for (let i = 0; i < 30000; i++) {
    const src = bodies[i % bodies.length]!;
    const b = [...src];
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const pos = Math.floor(rand() * b.length);
      switch (Math.floor(rand() * 4)) {
        case 0:
          b[pos] = Math.floor(rand() * 256);
          break;
        case 1:
          b[pos]! ^= 1 << Math.floor(rand() * 8);
          break;
        case 2:
          b.splice(pos, 1 + Math.floor(rand() * 4));
          break;
        default:
          b.splice(pos, 0, Math.floor(rand() * 256));
      }
    }
    const failure = check(Uint8Array.from(b));
    if (failure) return t.fail(failure);
  }
  t.pass();
});
