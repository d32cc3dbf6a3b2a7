// src/weights/sha256.ts, the synchronous SHA-256 used where neither node:crypto nor WebCrypto can
// be (encodeTensorFile; pages that are not a secure context): against node:crypto on the FIPS
// 180-4 example messages and on seeded random bytes of every length around the block (64) and
// padding (56) boundaries, and as sha256Hex (WebCrypto when present) on the same bytes.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256Hex, sha256HexSync } from '../src/weights/sha256.js';
import { rng } from '../src/harness/random.js';

const nodeSha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('sha256: the FIPS 180-4 examples ("abc", the 448-bit message, a million "a")', () => {
  const enc = new TextEncoder();
  assert.is(sha256HexSync(enc.encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.is(sha256HexSync(enc.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.is(sha256HexSync(enc.encode('a'.repeat(1_000_000))), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  assert.is(sha256HexSync(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('sha256: equals node:crypto on random bytes of lengths 0-300 and on subarrays at odd offsets', () => {
  const rand = rng(6);
  const bytes = new Uint8Array(1000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
  for (let n = 0; n <= 300; n++) {
    const b = bytes.subarray(n % 7, (n % 7) + n);
    assert.is(sha256HexSync(b), nodeSha(b), `length ${n}, offset ${n % 7}`);
  }
});

test('sha256: sha256Hex (WebCrypto in Node) agrees with the synchronous one', async () => {
  const b = new Uint8Array(5000).map((_, i) => (i * 7919) & 0xff);
  assert.is(await sha256Hex(b), sha256HexSync(b));
  assert.is(await sha256Hex(b.subarray(3, 4000)), nodeSha(b.subarray(3, 4000)));
});

test.run();
