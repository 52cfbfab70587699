/**
 * Crypto primitive rates, tweetnacl and Node's native crypto side by side (issue 6). This file is
 * the only one outside lib/crypto/primitives.ts that touches tweetnacl or node:crypto directly:
 * comparing the libraries is its purpose.
 *
 * tweetnacl has no ChaCha20-Poly1305, AES-GCM or SHA-256: its counterparts are secretbox
 * (XSalsa20-Poly1305) and SHA-512, shown on the same rows.
 */
import * as crypto from 'node:crypto';
import nacl from 'tweetnacl';
import { createIdentity, publicIdentity } from '../lib/crypto/identity';
import { encodeInnerMessage } from '../lib/crypto/inner-message';
import { makeSignedPreKey, publicSignedPreKey } from '../lib/crypto/prekeys';
import {
  aeadEncrypt,
  NativeX25519Key,
  randomBytes,
  sha256,
  sign,
  verify,
  x25519KeyPair,
  x25519Nacl,
  x25519Native,
} from '../lib/crypto/primitives';
import { decryptEnvelope, encryptMessage, initiateSession } from '../lib/crypto/session-manager';
import type { Session } from '../lib/crypto/ratchet/session';
import { opsPerSecond } from './stats';

export interface CryptoRow {
  readonly op: string;
  /** Operations a second; undefined when that side has no such primitive. */
  readonly tweetnacl?: number;
  readonly native?: number;
  readonly note?: string;
}

export function cryptoRates(msPerOp: number): CryptoRow[] {
  const rows: CryptoRow[] = [];
  const a = x25519KeyPair();
  const b = x25519KeyPair();
  const cachedKey = new NativeX25519Key(a.secretKey, a.publicKey);
  const peerKeyObject = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(b.publicKey).toString('base64url') },
    format: 'jwk',
  });
  const privKeyObject = crypto.createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'X25519',
      d: Buffer.from(a.secretKey).toString('base64url'),
      x: Buffer.from(a.publicKey).toString('base64url'),
    },
    format: 'jwk',
  });
  // tweetnacl's ladder is ~1 ms: cap its iterations so the row stays inside the time bound.
  rows.push({
    op: 'X25519 DH (lib: import both keys per call)',
    tweetnacl: opsPerSecond(() => x25519Nacl(a.secretKey, b.publicKey), msPerOp, 2000),
    native: opsPerSecond(() => x25519Native(a.secretKey, b.publicKey), msPerOp),
  });
  rows.push({
    op: 'X25519 DH (native: our key imported once)',
    native: opsPerSecond(() => cachedKey.dh(b.publicKey), msPerOp),
  });
  rows.push({
    op: 'X25519 DH (native: both keys imported)',
    native: opsPerSecond(
      () => crypto.diffieHellman({ privateKey: privKeyObject, publicKey: peerKeyObject }),
      msPerOp,
    ),
  });
  rows.push({
    op: 'X25519 key pair',
    tweetnacl: opsPerSecond(() => nacl.box.keyPair(), msPerOp, 2000),
    native: opsPerSecond(() => crypto.generateKeyPairSync('x25519'), msPerOp),
  });

  const seed = randomBytes(32);
  const ed = nacl.sign.keyPair.fromSeed(seed);
  const edPriv = crypto.createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(ed.publicKey).toString('base64url'),
    },
    format: 'jwk',
  });
  const edPub = crypto.createPublicKey(edPriv);
  const msg = randomBytes(32);
  const sigNacl = nacl.sign.detached(msg, ed.secretKey);
  const ctxSig = sign(ed.secretKey, 'chatsecure-idcert-v1', msg);
  rows.push({
    op: 'Ed25519 sign (32 B)',
    tweetnacl: opsPerSecond(() => nacl.sign.detached(msg, ed.secretKey), msPerOp, 1000),
    native: opsPerSecond(() => crypto.sign(null, msg, edPriv), msPerOp),
  });
  rows.push({
    op: 'Ed25519 verify (32 B)',
    tweetnacl: opsPerSecond(() => nacl.sign.detached.verify(msg, sigNacl, ed.publicKey), msPerOp, 500),
    native: opsPerSecond(() => crypto.verify(null, msg, edPub, sigNacl), msPerOp),
  });
  rows.push({
    op: 'Ed25519 verify (lib: JWK import per call)',
    native: opsPerSecond(() => verify(ed.publicKey, 'chatsecure-idcert-v1', msg, ctxSig), msPerOp),
  });

  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const nonce24 = randomBytes(24);
  const ad = new Uint8Array(0);
  for (const size of [100, 16 * 1024]) {
    const pt = randomBytes(size);
    const label = size === 100 ? '100 B' : '16 KiB';
    rows.push({
      op: `ChaChaPoly seal ${label} (nacl: secretbox)`,
      tweetnacl: opsPerSecond(() => nacl.secretbox(pt, nonce24, key), msPerOp, size > 1000 ? 2000 : 50_000),
      native: opsPerSecond(() => aeadEncrypt('ChaChaPoly', key, nonce, ad, pt), msPerOp),
    });
    rows.push({
      op: `AES-256-GCM seal ${label}`,
      native: opsPerSecond(() => aeadEncrypt('AESGCM', key, nonce, ad, pt), msPerOp),
    });
  }
  const h = randomBytes(100);
  rows.push({
    op: 'SHA-256 100 B (nacl: SHA-512)',
    tweetnacl: opsPerSecond(() => nacl.hash(h), msPerOp, 200_000),
    native: opsPerSecond(() => sha256(h), msPerOp),
  });
  rows.push(doubleRatchetRow(msPerOp));
  return rows;
}

/** The end-to-end cost a client pays per 100-byte text: encrypt then decrypt, one direction. */
function doubleRatchetRow(msPerOp: number): CryptoRow {
  const alice = createIdentity();
  const bob = createIdentity();
  const spk = makeSignedPreKey(bob, 1, Date.now());
  let { session: out } = initiateSession({
    ours: { identity: alice, name: 'alice' },
    theirName: 'bob',
    bundle: { identity: publicIdentity(bob), spk: publicSignedPreKey(spk) },
  });
  let inbound: Session[] = [];
  const prekeys = { signedPreKey: () => spk.keyPair, oneTimePreKey: () => undefined };
  let n = 0;
  const rate = opsPerSecond(
    () => {
      const body = 'x'.repeat(100);
      const id = (n++).toString(16).padStart(32, '0');
      const e = encryptMessage(out, encodeInnerMessage({ kind: 'text', id, ts: 1, body }));
      out = e.session;
      const d = decryptEnvelope({
        ours: { identity: bob, name: 'bob' },
        fromName: 'alice',
        envelopeBytes: e.envelopeBytes,
        sessions: inbound,
        prekeys,
        now: Date.now(),
      });
      inbound = [d.session];
    },
    msPerOp,
    100_000,
  );
  return { op: 'Double Ratchet encrypt+decrypt 100 B text', native: rate, note: 'lib session API' };
}
