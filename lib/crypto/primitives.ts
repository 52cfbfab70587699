/**
 * Every cryptographic primitive ChatSecure uses, in one place (PROTOCOL.md section 2).
 * Nothing else in the code base imports tweetnacl or node:crypto for cryptography.
 *
 * Pure functions over bytes: no I/O, no clock. Randomness comes from `randomBytes`, and
 * every function that needs fresh keys takes them (or a generator) so tests can inject them.
 */
import * as crypto from 'node:crypto';
import nacl from 'tweetnacl';
import { ChatError } from '../errors';

/**
 * The few libsodium calls of the relay's hot paths (issue 12). ChaCha20-Poly1305 (IETF, 12-byte
 * nonce): one call into C per seal or open, where node:crypto builds a cipher object per frame
 * (~5x the seals a second for 100-byte frames, byte-identical output); AES-GCM stays with
 * node:crypto. X25519 on raw keys for the handshake (no KeyObject import or export). SHA-256 and
 * HMAC-SHA256 (RFC 2104 over libsodium's SHA-256, one preallocated state): a Noise handshake makes
 * ~16 HMACs and ~10 hashes, each a new hash object with node:crypto (a tenth of the relay's CPU
 * per handshake, issue 12). Ed25519 key pairs and signatures (tweetnacl's pure-JS ones cost
 * ~14 ms each here, ~120 ms inside jest).
 */
interface Sodium {
  /** Fills the buffer from the OS's CSPRNG (getrandom). */
  randombytes_buf(buf: Uint8Array): void;
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** X25519 on raw 32-byte keys; throws on an all-zero result (a small-order point). */
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  /** Ed25519 key pair from a 32-byte seed: sk is seed || pk (64 bytes), as tweetnacl's. */
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_hash_sha256_init(state: Uint8Array): void;
  crypto_hash_sha256_update(state: Uint8Array, m: Uint8Array): void;
  /** Writes the digest and wipes the state. */
  crypto_hash_sha256_final(state: Uint8Array, out: Uint8Array): void;
  readonly crypto_hash_sha256_STATEBYTES: number;
  /** Throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}
// sodium-native ships no type declarations; its prebuilt binary loads through node-gyp-build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sodium = require('sodium-native') as Sodium;

export type Bytes = Uint8Array;

export interface KeyPair {
  readonly publicKey: Bytes;
  readonly secretKey: Bytes;
}

export const X25519_KEY_LEN = 32;
export const ED25519_PUBLIC_LEN = 32;
export const ED25519_SECRET_LEN = 64;
export const ED25519_SIG_LEN = 64;
export const AEAD_KEY_LEN = 32;
export const AEAD_NONCE_LEN = 12;
export const AEAD_TAG_LEN = 16;

/** `n` bytes from the OS's CSPRNG (libsodium: a third of node:crypto's cost for 32 bytes). */
export function randomBytes(n: number): Bytes {
  const out = new Uint8Array(n);
  sodium.randombytes_buf(out);
  return out;
}

export function concatBytes(...parts: readonly Bytes[]): Bytes {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function utf8(s: string): Bytes {
  return new Uint8Array(Buffer.from(s, 'utf8'));
}

/** Overwrites a secret in place. Best effort: JavaScript may hold other copies. */
export function wipe(b: Bytes | undefined): void {
  if (b) b.fill(0);
}

/** Constant-time equality for MACs, keys and fingerprints. Lengths are not secret. */
export function constantTimeEqual(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  return crypto.timingSafeEqual(a, b);
}

function isAllZero(b: Bytes): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}

// ---------------------------------------------------------------------------------------------
// X25519

/**
 * The X25519 public keys of small order (and their non-canonical encodings), from
 * https://cr.yp.to/ecdh.html#validate: a DH with any of them yields a value an attacker knows.
 */
const SMALL_ORDER_X25519 = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
  '4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7',
  'd9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map((h) => Buffer.from(h, 'hex'));

/** Refuses a public key that is not 32 bytes or is one of the small-order encodings. */
export function checkX25519Public(pub: Bytes, what = 'X25519 public key'): void {
  if (pub.length !== X25519_KEY_LEN) throw new ChatError('bad_key', `${what} must be 32 bytes`);
  for (const bad of SMALL_ORDER_X25519) {
    if (constantTimeEqual(pub, bad)) throw new ChatError('bad_key', `${what} is of small order`);
  }
}

export function x25519KeyPair(seed?: Bytes): KeyPair {
  const secretKey = seed ? Uint8Array.from(seed) : randomBytes(X25519_KEY_LEN);
  return { publicKey: x25519PublicKey(secretKey), secretKey };
}

/**
 * The public half of an X25519 secret key, through libsodium: byte-identical to tweetnacl's
 * `scalarMult.base` (proved on random keys by __tests__/crypto/primitives.test.ts); tweetnacl's
 * ladder costs ~1 ms a call (~20 ms inside jest's VM contexts), Node's through a PKCS#8 import and
 * an SPKI export ~1.6 ms here, libsodium's ~30 µs.
 */
export function x25519PublicKey(secretKey: Bytes): Bytes {
  if (secretKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 secret key must be 32 bytes');
  const publicKey = new Uint8Array(X25519_KEY_LEN);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return publicKey;
}

/** tweetnacl's X25519 base-point multiplication, kept to prove the native path identical. */
export function x25519PublicKeyNacl(secretKey: Bytes): Bytes {
  return nacl.scalarMult.base(secretKey);
}

/**
 * X25519 as every layer uses it: Node's native implementation, proved byte-identical to
 * tweetnacl. An all-zero result is an error, never a key (PROTOCOL.md section 2).
 */
export function x25519(secretKey: Bytes, publicKey: Bytes): Bytes {
  return x25519Native(secretKey, publicKey);
}

/** X25519 with tweetnacl, kept to prove the native path identical. All-zero output is refused. */
export function x25519Nacl(secretKey: Bytes, publicKey: Bytes): Bytes {
  if (secretKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 secret key must be 32 bytes');
  if (publicKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 public key must be 32 bytes');
  const out = nacl.scalarMult(secretKey, publicKey);
  if (isAllZero(out)) throw new ChatError('bad_key', 'X25519 produced an all-zero shared secret');
  return out;
}

function b64url(b: Bytes): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/**
 * A secret X25519 key imported once into Node's native crypto, for the relay's hot path.
 * Imported through JWK (about 6 µs; DER import is about 80 µs on these machines). Never
 * exported through JWK: Node 20.20 can deadlock there.
 */
const EMPTY_KEY = new Uint8Array(0);

export class NativeX25519Key {
  private readonly key: crypto.KeyObject;

  constructor(secretKey: Bytes, publicKey: Bytes = x25519PublicKey(secretKey), key?: crypto.KeyObject) {
    this.key =
      key ??
      crypto.createPrivateKey({
        key: { kty: 'OKP', crv: 'X25519', d: b64url(secretKey), x: b64url(publicKey) },
        format: 'jwk',
      });
  }

  /** Wraps a key object Node generated (no import at all). */
  static fromKeyObject(key: crypto.KeyObject): NativeX25519Key {
    return new NativeX25519Key(EMPTY_KEY, EMPTY_KEY, key);
  }

  dh(publicKey: Bytes): Bytes {
    if (publicKey.length !== X25519_KEY_LEN)
      throw new ChatError('bad_key', 'X25519 public key must be 32 bytes');
    const pub = crypto.createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) },
      format: 'jwk',
    });
    let out: Bytes;
    try {
      out = new Uint8Array(crypto.diffieHellman({ privateKey: this.key, publicKey: pub }));
    } catch {
      // OpenSSL refuses some small-order points itself; report them like tweetnacl's zero output.
      throw new ChatError('bad_key', 'X25519 produced an all-zero shared secret');
    }
    if (isAllZero(out)) throw new ChatError('bad_key', 'X25519 produced an all-zero shared secret');
    return out;
  }
}

/** X25519 with Node's native crypto; byte-identical to `x25519` (a test proves it). */
export function x25519NativeWith(local: KeyPair, publicKey: Bytes): Bytes {
  let key = nativeKeys.get(local.secretKey);
  if (!key) {
    key = new NativeX25519Key(local.secretKey, local.publicKey);
    nativeKeys.set(local.secretKey, key);
  }
  return key.dh(publicKey);
}

/**
 * Native key objects by the secret key's bytes, so a key used for several DHs (the relay's
 * static key, a handshake's ephemeral) is imported once. Weak: it lives as long as the bytes.
 */
const nativeKeys = new WeakMap<Bytes, NativeX25519Key>();

/** X25519 with Node's native crypto, from a secret key alone. */
export function x25519Native(secretKey: Bytes, publicKey: Bytes): Bytes {
  if (secretKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 secret key must be 32 bytes');
  let key = nativeKeys.get(secretKey);
  if (!key) {
    key = new NativeX25519Key(secretKey);
    nativeKeys.set(secretKey, key);
  }
  return key.dh(publicKey);
}

/**
 * X25519 on raw keys through libsodium, for the handshake path (issue 12): no KeyObject import
 * or export per key (13 % of the relay's handshake time). Byte-identical to `x25519` (a test
 * proves it); an all-zero result is refused as everywhere else.
 */
export function x25519Raw(local: KeyPair, publicKey: Bytes): Bytes {
  if (local.secretKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 secret key must be 32 bytes');
  if (publicKey.length !== X25519_KEY_LEN)
    throw new ChatError('bad_key', 'X25519 public key must be 32 bytes');
  const out = new Uint8Array(X25519_KEY_LEN);
  try {
    sodium.crypto_scalarmult(out, local.secretKey, publicKey);
  } catch {
    throw new ChatError('bad_key', 'X25519 produced an all-zero shared secret');
  }
  return out;
}

/** A fresh X25519 pair as raw bytes (libsodium), for handshake ephemerals. */
export function x25519KeyPairRaw(): KeyPair {
  const secretKey = randomBytes(X25519_KEY_LEN);
  const publicKey = new Uint8Array(X25519_KEY_LEN);
  sodium.crypto_scalarmult_base(publicKey, secretKey);
  return { publicKey, secretKey };
}

/** Generates an X25519 pair with Node's generator, exporting through DER (never JWK). */
export function x25519KeyPairNative(): KeyPair {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const pair = {
    publicKey: new Uint8Array(spki.subarray(spki.length - 32)),
    secretKey: new Uint8Array(pkcs8.subarray(pkcs8.length - 32)),
  };
  nativeKeys.set(pair.secretKey, NativeX25519Key.fromKeyObject(privateKey));
  return pair;
}

// ---------------------------------------------------------------------------------------------
// Ed25519

/** The Ed25519 public keys of small order, which tweetnacl accepts (then a zero signature verifies). */
const SMALL_ORDER_ED25519 = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map((h) => Buffer.from(h, 'hex'));

export function checkEd25519Public(pub: Bytes, what = 'Ed25519 public key'): void {
  if (pub.length !== ED25519_PUBLIC_LEN) throw new ChatError('bad_key', `${what} must be 32 bytes`);
  for (const bad of SMALL_ORDER_ED25519) {
    if (constantTimeEqual(pub, bad)) throw new ChatError('bad_key', `${what} is of small order`);
  }
}

/**
 * An Ed25519 key pair from a seed (RFC 8032 section 5.1.5), through libsodium; the secret key is
 * seed || public key, as tweetnacl makes it (a test proves the two byte-identical).
 */
export function ed25519KeyPair(seed?: Bytes): KeyPair {
  const s = seed ?? randomBytes(32);
  if (s.length !== 32) throw new ChatError('bad_key', 'Ed25519 seed must be 32 bytes');
  const publicKey = new Uint8Array(ED25519_PUBLIC_LEN);
  const secretKey = new Uint8Array(ED25519_SECRET_LEN);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, s);
  return { publicKey, secretKey };
}

/** tweetnacl's key pair from a seed, kept to prove the libsodium path identical. */
export function ed25519KeyPairNacl(seed: Bytes): KeyPair {
  const kp = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: kp.publicKey, secretKey: kp.secretKey };
}

/** The signature contexts of PROTOCOL.md section 2. */
export type SignatureContext =
  | 'chatsecure-idcert-v1'
  | 'chatsecure-spk-v1'
  | 'chatsecure-recover-v1'
  | 'chatsecure-relaycert-v1'
  /** A group message signed with its sender's per-group signing key (lib/crypto/sender-keys.ts). */
  | 'chatsecure-group-v1';

function contextMessage(context: SignatureContext, data: Bytes): Bytes {
  return concatBytes(utf8(context), new Uint8Array([0]), data);
}

/**
 * Ed25519 over `context || 0x00 || data`, through libsodium: one call into C, where tweetnacl's
 * pure-JS signing costs ~14 ms a call (too slow for a group message per keystroke) and Node's
 * needs a key import per call. Ed25519 is deterministic (RFC 8032 section 5.1.6): a test proves
 * the bytes equal tweetnacl's.
 */
export function sign(secretKey: Bytes, context: SignatureContext, data: Bytes): Bytes {
  if (secretKey.length !== ED25519_SECRET_LEN)
    throw new ChatError('bad_key', 'Ed25519 secret key must be 64 bytes');
  const sig = new Uint8Array(ED25519_SIG_LEN);
  sodium.crypto_sign_detached(sig, contextMessage(context, data), secretKey);
  return sig;
}

/** tweetnacl's signature, kept to prove the libsodium path identical. */
export function signNacl(secretKey: Bytes, context: SignatureContext, data: Bytes): Bytes {
  return nacl.sign.detached(contextMessage(context, data), secretKey);
}

/** tweetnacl's verify, kept to prove the native path agrees. */
export function verifyNacl(
  publicKey: Bytes,
  context: SignatureContext,
  data: Bytes,
  signature: Bytes,
): boolean {
  return nacl.sign.detached.verify(contextMessage(context, data), signature, publicKey);
}

/** Verifies an Ed25519 signature made by `sign`; false for any failure, including a bad key. */
export function verify(publicKey: Bytes, context: SignatureContext, data: Bytes, signature: Bytes): boolean {
  if (signature.length !== ED25519_SIG_LEN) return false;
  try {
    checkEd25519Public(publicKey);
  } catch {
    return false;
  }
  // Node's native Ed25519 (OpenSSL, RFC 8032, also refusing non-canonical S): tweetnacl's pure-JS
  // verify costs ~5 ms a call, and 70-250 ms inside jest. A test proves they agree on tweetnacl signatures.
  const key = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) },
    format: 'jwk',
  });
  return crypto.verify(null, contextMessage(context, data), key, signature);
}

// ---------------------------------------------------------------------------------------------
// AEAD

export type AeadCipher = 'ChaChaPoly' | 'AESGCM';

function nodeCipherName(cipher: AeadCipher): 'chacha20-poly1305' | 'aes-256-gcm' {
  return cipher === 'ChaChaPoly' ? 'chacha20-poly1305' : 'aes-256-gcm';
}

/** AEAD encryption: returns ciphertext || 16-byte tag. */
export function aeadEncrypt(
  cipher: AeadCipher,
  key: Bytes,
  nonce: Bytes,
  ad: Bytes,
  plaintext: Bytes,
): Bytes {
  if (key.length !== AEAD_KEY_LEN) throw new ChatError('bad_key', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new ChatError('bad_key', 'AEAD nonce must be 12 bytes');
  if (cipher === 'ChaChaPoly') {
    const out = new Uint8Array(plaintext.length + AEAD_TAG_LEN);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
    return out;
  }
  const c = crypto.createCipheriv(nodeCipherName(cipher) as crypto.CipherGCMTypes, key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const head = c.update(plaintext);
  const tail = c.final();
  const tag = c.getAuthTag();
  const out = new Uint8Array(head.length + tail.length + AEAD_TAG_LEN);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(tag, head.length + tail.length);
  return out;
}

/** AEAD decryption of ciphertext || tag. A wrong tag throws `decrypt_failed`, never returns null. */
export function aeadDecrypt(cipher: AeadCipher, key: Bytes, nonce: Bytes, ad: Bytes, sealed: Bytes): Bytes {
  if (key.length !== AEAD_KEY_LEN) throw new ChatError('bad_key', 'AEAD key must be 32 bytes');
  if (nonce.length !== AEAD_NONCE_LEN) throw new ChatError('bad_key', 'AEAD nonce must be 12 bytes');
  if (sealed.length < AEAD_TAG_LEN) throw new ChatError('decrypt_failed', 'decryption failed');
  const ctLen = sealed.length - AEAD_TAG_LEN;
  if (cipher === 'ChaChaPoly') {
    const out = new Uint8Array(ctLen);
    try {
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, ad, nonce, key);
    } catch {
      // The tag did not verify (libsodium's only failure here); nothing was decrypted.
      throw new ChatError('decrypt_failed', 'decryption failed');
    }
    return out;
  }
  // authTagLength: 16 always; Node would otherwise accept a truncated 4-byte tag (PROTOCOL.md section 2).
  const d = crypto.createDecipheriv(nodeCipherName(cipher) as crypto.CipherGCMTypes, key, nonce, {
    authTagLength: AEAD_TAG_LEN,
  });
  d.setAAD(ad, { plaintextLength: ctLen });
  d.setAuthTag(sealed.subarray(ctLen));
  const head = d.update(sealed.subarray(0, ctLen));
  try {
    const tail = d.final();
    return tail.length
      ? concatBytes(head, tail)
      : new Uint8Array(head.buffer, head.byteOffset, head.byteLength);
  } catch {
    throw new ChatError('decrypt_failed', 'decryption failed');
  }
}

// ---------------------------------------------------------------------------------------------
// Hashes, HMAC, HKDF

const SHA256_LEN = 32;
const SHA256_BLOCK = 64;
/**
 * Scratch of `sha256` and `hmacSha256`, used only within one synchronous call: libsodium's final
 * wipes the state, and the HMAC key block and inner digest are wiped before the call returns.
 */
const sha256State = new Uint8Array(sodium.crypto_hash_sha256_STATEBYTES);
const hmacBlock = new Uint8Array(SHA256_BLOCK);
const hmacPad = new Uint8Array(SHA256_BLOCK);
const hmacInner = new Uint8Array(SHA256_LEN);

export function sha256(...parts: readonly Bytes[]): Bytes {
  const out = new Uint8Array(SHA256_LEN);
  sodium.crypto_hash_sha256_init(sha256State);
  for (const p of parts) sodium.crypto_hash_sha256_update(sha256State, p);
  sodium.crypto_hash_sha256_final(sha256State, out);
  return out;
}

export function sha512(...parts: readonly Bytes[]): Bytes {
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || parts)), K hashed if over a block. */
export function hmacSha256(key: Bytes, ...parts: readonly Bytes[]): Bytes {
  const k = key.length > SHA256_BLOCK ? sha256(key) : key;
  hmacBlock.set(k);
  hmacBlock.fill(0, k.length);
  const out = new Uint8Array(SHA256_LEN);
  try {
    for (let i = 0; i < SHA256_BLOCK; i++) hmacPad[i] = hmacBlock[i] ^ 0x36;
    sodium.crypto_hash_sha256_init(sha256State);
    sodium.crypto_hash_sha256_update(sha256State, hmacPad);
    for (const p of parts) sodium.crypto_hash_sha256_update(sha256State, p);
    sodium.crypto_hash_sha256_final(sha256State, hmacInner);
    for (let i = 0; i < SHA256_BLOCK; i++) hmacPad[i] = hmacBlock[i] ^ 0x5c;
    sodium.crypto_hash_sha256_init(sha256State);
    sodium.crypto_hash_sha256_update(sha256State, hmacPad);
    sodium.crypto_hash_sha256_update(sha256State, hmacInner);
    sodium.crypto_hash_sha256_final(sha256State, out);
  } finally {
    hmacBlock.fill(0);
    hmacPad.fill(0);
    hmacInner.fill(0);
  }
  return out;
}

/** HKDF-SHA256 as in RFC 5869. */
export function hkdfSha256(ikm: Bytes, salt: Bytes, info: Bytes | string, length: number): Bytes {
  const infoBytes = typeof info === 'string' ? utf8(info) : info;
  return new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, infoBytes, length));
}

// ---------------------------------------------------------------------------------------------
// Encodings and fingerprints

/**
 * Strict standard padded base64 (RFC 4648 section 4): re-encode and compare, then check the
 * exact length. Node's decoder alone accepts junk (PROTOCOL.md section 2).
 */
export function fromBase64(s: string, expectedLength?: number, what = 'base64 field'): Bytes {
  if (typeof s !== 'string') throw new ChatError('bad_message', `${what} must be a base64 string`);
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) throw new ChatError('bad_message', `${what} is not canonical base64`);
  if (expectedLength !== undefined && buf.length !== expectedLength) {
    throw new ChatError('bad_message', `${what} must hold ${expectedLength} bytes`);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function toBase64(b: Bytes): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function toHex(b: Bytes): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Bytes {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** SSH-style fingerprint: `SHA256:` + unpadded base64 of SHA-256 over the raw public key. */
export function fingerprint(publicKey: Bytes): string {
  return 'SHA256:' + Buffer.from(sha256(publicKey)).toString('base64').replace(/=+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Secrets at rest: scrypt + nacl.secretbox (PROTOCOL.md section 2)

export const SCRYPT_PARAMS = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
export const SALT_LEN = 16;
export const SECRETBOX_NONCE_LEN = nacl.secretbox.nonceLength;

export interface SealedSecret {
  readonly salt: Bytes;
  readonly nonce: Bytes;
  readonly box: Bytes;
}

function passphraseKey(passphrase: string, salt: Bytes): Bytes {
  return new Uint8Array(crypto.scryptSync(Buffer.from(passphrase, 'utf8'), salt, 32, SCRYPT_PARAMS));
}

export function sealWithPassphrase(
  passphrase: string,
  secret: Bytes,
  salt = randomBytes(SALT_LEN),
): SealedSecret {
  const key = passphraseKey(passphrase, salt);
  const nonce = randomBytes(SECRETBOX_NONCE_LEN);
  const box = nacl.secretbox(secret, nonce, key);
  wipe(key);
  return { salt, nonce, box };
}

export function openWithPassphrase(passphrase: string, sealed: SealedSecret): Bytes {
  const key = passphraseKey(passphrase, sealed.salt);
  const out = nacl.secretbox.open(sealed.box, sealed.nonce, key);
  wipe(key);
  if (!out) throw new ChatError('bad_passphrase', 'the passphrase does not open this identity');
  return out;
}

// ---------------------------------------------------------------------------------------------
// nacl.box, for the interim envelopes and local sealing

export function boxSeal(plaintext: Bytes, nonce: Bytes, theirPublic: Bytes, mySecret: Bytes): Bytes {
  return nacl.box(plaintext, nonce, theirPublic, mySecret);
}

export function boxOpen(sealed: Bytes, nonce: Bytes, theirPublic: Bytes, mySecret: Bytes): Bytes {
  const out = nacl.box.open(sealed, nonce, theirPublic, mySecret);
  if (!out) throw new ChatError('decrypt_failed', 'decryption failed');
  return out;
}

export const BOX_NONCE_LEN = nacl.box.nonceLength;
