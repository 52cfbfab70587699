/**
 * lib/crypto/primitives.ts: the native X25519 is byte-identical to tweetnacl's on random keys
 * (PROTOCOL.md section 2 allows it only with that proof), all-zero and small-order results are
 * refused, AEADs round-trip and refuse tampering and short tags, base64 is strict, SHA-256 and
 * HMAC-SHA256 through libsodium equal node:crypto's.
 */
import * as crypto from 'node:crypto';
import fc from 'fast-check';
import {
  aeadDecrypt,
  aeadEncrypt,
  checkEd25519Public,
  checkX25519Public,
  constantTimeEqual,
  ed25519KeyPair,
  fingerprint,
  fromBase64,
  hkdfSha256,
  hmacSha256,
  NativeX25519Key,
  openWithPassphrase,
  sealWithPassphrase,
  sha256,
  sign,
  toBase64,
  verify,
  verifyNacl,
  x25519,
  x25519KeyPair,
  x25519KeyPairNative,
  x25519Nacl,
  x25519PublicKey,
  x25519PublicKeyNacl,
} from '../../lib/crypto/primitives';
import { isChatError } from '../../lib/errors';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('X25519', () => {
  it('native and tweetnacl give identical public keys and shared secrets on random keys', () => {
    fc.assert(
      fc.property(key32, key32, (a, b) => {
        const pa = x25519PublicKeyNacl(a);
        const pb = x25519PublicKeyNacl(b);
        expect(hex(x25519PublicKey(a))).toBe(hex(pa));
        const viaNacl = x25519Nacl(a, pb);
        expect(hex(x25519(a, pb))).toBe(hex(viaNacl));
        expect(hex(new NativeX25519Key(a, pa).dh(pb))).toBe(hex(viaNacl));
        expect(hex(x25519Nacl(b, pa))).toBe(hex(viaNacl));
      }),
      { numRuns: 50 },
    );
  });

  it('keys from Node’s generator (DER export) work with tweetnacl', () => {
    const k = x25519KeyPairNative();
    expect(hex(x25519PublicKeyNacl(k.secretKey))).toBe(hex(k.publicKey));
  });

  it('matches RFC 7748 section 6.1', () => {
    const a = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
    const bPub = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex');
    expect(hex(x25519PublicKey(a))).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(hex(x25519(a, bPub))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('refuses an all-zero result and small-order public keys', () => {
    const sk = x25519KeyPair().secretKey;
    for (const f of [x25519, x25519Nacl]) {
      let err: unknown;
      try {
        f(sk, new Uint8Array(32));
      } catch (e) {
        err = e;
      }
      expect(isChatError(err, 'bad_key')).toBe(true);
    }
    expect(() => checkX25519Public(new Uint8Array(32))).toThrow();
    expect(() => checkX25519Public(Uint8Array.from([1, ...new Array(31).fill(0)]))).toThrow();
    expect(() => checkX25519Public(x25519KeyPair().publicKey)).not.toThrow();
  });
});

describe('Ed25519 with contexts', () => {
  it('verifies only the same context, data and key', () => {
    const k = ed25519KeyPair();
    const data = crypto.randomBytes(40);
    const sig = sign(k.secretKey, 'chatsecure-idcert-v1', data);
    expect(verify(k.publicKey, 'chatsecure-idcert-v1', data, sig)).toBe(true);
    expect(verify(k.publicKey, 'chatsecure-spk-v1', data, sig)).toBe(false);
    expect(verify(ed25519KeyPair().publicKey, 'chatsecure-idcert-v1', data, sig)).toBe(false);
    data[0] ^= 1;
    expect(verify(k.publicKey, 'chatsecure-idcert-v1', data, sig)).toBe(false);
  });

  it('native verify agrees with tweetnacl on random keys, data and flips', () => {
    fc.assert(
      fc.property(key32, fc.uint8Array({ maxLength: 100 }), fc.nat(), (seed, data, flip) => {
        const k = ed25519KeyPair(seed);
        const sig = sign(k.secretKey, 'chatsecure-spk-v1', data);
        expect(verify(k.publicKey, 'chatsecure-spk-v1', data, sig)).toBe(true);
        expect(verifyNacl(k.publicKey, 'chatsecure-spk-v1', data, sig)).toBe(true);
        const bad = Uint8Array.from(sig);
        bad[flip % 64] ^= 1 << (flip % 8);
        expect(verify(k.publicKey, 'chatsecure-spk-v1', data, bad)).toBe(
          verifyNacl(k.publicKey, 'chatsecure-spk-v1', data, bad),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('refuses the identity point, with which a zero signature would verify everything', () => {
    const identity = Buffer.from('0100000000000000000000000000000000000000000000000000000000000000', 'hex');
    expect(() => checkEd25519Public(identity)).toThrow();
    expect(verify(identity, 'chatsecure-idcert-v1', Buffer.from('x'), new Uint8Array(64))).toBe(false);
  });
});

describe('AEAD', () => {
  for (const cipher of ['ChaChaPoly', 'AESGCM'] as const) {
    it(`${cipher} round-trips and refuses any flipped byte`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 40 }),
          fc.nat(),
          (pt, ad, flip) => {
            const key = crypto.randomBytes(32);
            const nonce = crypto.randomBytes(12);
            const ct = aeadEncrypt(cipher, key, nonce, ad, pt);
            expect(hex(aeadDecrypt(cipher, key, nonce, ad, ct))).toBe(hex(pt));
            const bad = Uint8Array.from(ct);
            bad[flip % bad.length] ^= 0x80;
            expect(() => aeadDecrypt(cipher, key, nonce, ad, bad)).toThrow(/decryption failed/);
          },
        ),
        { numRuns: 40 },
      );
    });
  }

  it('refuses a truncated 4-byte AES-GCM tag', () => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(12);
    const ct = aeadEncrypt('AESGCM', key, nonce, new Uint8Array(0), Buffer.from('hello'));
    const short = ct.subarray(0, ct.length - 12);
    expect(() => aeadDecrypt('AESGCM', key, nonce, new Uint8Array(0), short)).toThrow();
  });
});

describe('encodings, HKDF, comparisons, sealing', () => {
  it('decodes base64 strictly', () => {
    const b = crypto.randomBytes(32);
    expect(hex(fromBase64(toBase64(b), 32))).toBe(hex(b));
    for (const junk of [
      'not base64!',
      toBase64(b).replace(/=$/, ''),
      toBase64(b) + '\n',
      toBase64(b).slice(1),
    ]) {
      expect(() => fromBase64(junk, 32)).toThrow();
    }
    expect(() => fromBase64(toBase64(b), 31)).toThrow();
  });

  it('matches RFC 5869 test case 1', () => {
    const okm = hkdfSha256(
      Buffer.from('0b'.repeat(22), 'hex'),
      Buffer.from('000102030405060708090a0b0c', 'hex'),
      Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'),
      42,
    );
    expect(hex(okm)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  it('compares in constant time, and false for other lengths', () => {
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(constantTimeEqual(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
  });

  it('prints SSH-style fingerprints', () => {
    expect(fingerprint(new Uint8Array(32))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('seals with a passphrase, and a wrong one is bad_passphrase', () => {
    const secret = crypto.randomBytes(64);
    const sealed = sealWithPassphrase('correct horse', secret);
    expect(hex(openWithPassphrase('correct horse', sealed))).toBe(hex(secret));
    let err: unknown;
    try {
      openWithPassphrase('wrong', sealed);
    } catch (e) {
      err = e;
    }
    expect(isChatError(err, 'bad_passphrase')).toBe(true);
  });
});

describe('SHA-256 and HMAC-SHA256 (libsodium) match node:crypto', () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  const nodeHmac = (key: Uint8Array, parts: Uint8Array[]) => {
    const h = crypto.createHmac('sha256', key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  };
  const nodeSha = (parts: Uint8Array[]) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest('hex');
  };

  it('HMAC for keys of 0-130 bytes (under, at and over the 64-byte block) and messages from empty, in parts', () => {
    fc.assert(
      fc.property(bytes(130), fc.array(bytes(200), { maxLength: 4 }), (key, parts) => {
        expect(hex(hmacSha256(key, ...parts))).toBe(nodeHmac(key, parts));
      }),
      { numRuns: 300 },
    );
    for (const len of [0, 1, 31, 32, 63, 64, 65, 128, 130]) {
      const key = crypto.randomBytes(len);
      const msg = crypto.randomBytes(len);
      expect(hex(hmacSha256(key))).toBe(nodeHmac(key, []));
      expect(hex(hmacSha256(key, new Uint8Array(0)))).toBe(nodeHmac(key, []));
      expect(hex(hmacSha256(key, msg))).toBe(nodeHmac(key, [msg]));
    }
  });

  it('HMAC of a long key after a short one, and of views into larger buffers', () => {
    const long = crypto.randomBytes(100);
    const short = crypto.randomBytes(3);
    const msg = crypto.randomBytes(50);
    expect(hex(hmacSha256(long, msg))).toBe(nodeHmac(long, [msg]));
    expect(hex(hmacSha256(short, msg))).toBe(nodeHmac(short, [msg]));
    const big = crypto.randomBytes(200);
    const view = new Uint8Array(big.buffer, big.byteOffset + 7, 40);
    expect(hex(hmacSha256(view, view.subarray(5, 9)))).toBe(nodeHmac(view, [view.subarray(5, 9)]));
  });

  it('SHA-256 of any parts, empty included', () => {
    fc.assert(
      fc.property(fc.array(bytes(200), { maxLength: 4 }), (parts) => {
        expect(hex(sha256(...parts))).toBe(nodeSha(parts));
      }),
      { numRuns: 300 },
    );
    expect(hex(sha256())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
