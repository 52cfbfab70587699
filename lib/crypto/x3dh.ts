/**
 * X3DH session setup (PROTOCOL.md section 8, Signal's X3DH with IK = dhKey):
 *   SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 32 × 0xFF || DH1 || DH2 || DH3 [|| DH4],
 *                    info "ChatSecure_X3DH_v1", 32 bytes)
 *   DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B).
 * No I/O: the initiator gets the fields for the wire and the secret for the ratchet (as libsignal's
 * handshake returns both); the responder is handed the prekeys the envelope names.
 */
import { ChatError } from '../errors';
import { canonName, checkName } from '../names';
import {
  identitiesEqual,
  publicIdentity,
  verifyPublicIdentity,
  type Identity,
  type PublicIdentity,
} from './identity';
import { verifySignedPreKey, type PreKeyBundle } from './prekeys';
import {
  checkX25519Public,
  concatBytes,
  hkdfSha256,
  utf8,
  wipe,
  X25519_KEY_LEN,
  type Bytes,
  type KeyPair,
  x25519NativeWith,
  x25519KeyPair,
} from './primitives';
import { systemRandom, type RandomSource } from './random-source';

const X3DH_INFO = 'ChatSecure_X3DH_v1';
const AD_LABEL = 'ChatSecure_AD_v1';
const SHARED_SECRET_LEN = 32;
/** 32 × 0xFF before the DH outputs, as Signal's X3DH does for X25519 (domain separation from XEdDSA). */
const X3DH_PAD = new Uint8Array(32).fill(0xff);
const ZERO_SALT = new Uint8Array(32);

/** The X3DH fields of a prekey envelope: who starts, with which ephemeral key and which prekeys. */
export interface X3dhInitiation {
  readonly ik: PublicIdentity;
  readonly ek: Bytes;
  readonly spkId: number;
  readonly opkId?: number;
}

export interface X3dhInitiatorResult {
  /** For the wire (the prekey envelope's `ik`, `ek`, `spk`, `opk`). */
  readonly message: X3dhInitiation;
  /** SK: the ratchet's first root key. Secret. */
  readonly sharedSecret: Bytes;
  /** Bob's signed prekey: the initiator's first remote ratchet key. */
  readonly theirSignedPreKey: Bytes;
  /** The session's associated data (initiator = us). */
  readonly ad: Bytes;
}

export interface X3dhResponderResult {
  readonly sharedSecret: Bytes;
  readonly ad: Bytes;
}

/**
 * `AD = "ChatSecure_AD_v1" || u8(len nA) || nA || signKey_A || dhKey_A || u8(len nB) || nB ||
 * signKey_B || dhKey_B`, n = canon(name); A is the initiator (section 8).
 */
export function associatedData(
  initiatorName: string,
  initiator: PublicIdentity,
  responderName: string,
  responder: PublicIdentity,
): Bytes {
  const nA = utf8(canonName(checkName(initiatorName)));
  const nB = utf8(canonName(checkName(responderName)));
  return concatBytes(
    utf8(AD_LABEL),
    Uint8Array.of(nA.length),
    nA,
    initiator.signKey,
    initiator.dhKey,
    Uint8Array.of(nB.length),
    nB,
    responder.signKey,
    responder.dhKey,
  );
}

function deriveSharedSecret(dhs: Bytes[]): Bytes {
  const ikm = concatBytes(X3DH_PAD, ...dhs);
  const sk = hkdfSha256(ikm, ZERO_SALT, X3DH_INFO, SHARED_SECRET_LEN);
  wipe(ikm);
  for (const dh of dhs) wipe(dh);
  return sk;
}

export interface X3dhInitiateParams {
  readonly ours: Identity;
  readonly ourName: string;
  readonly theirName: string;
  readonly bundle: PreKeyBundle;
  /** The identity pinned for `theirName`, if any: a bundle with another one is refused. */
  readonly pinned?: PublicIdentity;
  readonly random?: RandomSource;
}

/**
 * Alice's side. Verifies the bundle first (idcert and signed-prekey signature: `bad_key`; an
 * identity other than the pinned one: `identity_changed`), then runs the three or four DHs.
 */
export function x3dhInitiate(p: X3dhInitiateParams): X3dhInitiatorResult {
  const { bundle } = p;
  verifyPublicIdentity(bundle.identity);
  if (p.pinned && !identitiesEqual(p.pinned, bundle.identity)) {
    throw new ChatError(
      'identity_changed',
      'this contact’s identity differs from the one pinned',
      'x3dh.initiate',
    );
  }
  verifySignedPreKey(bundle.identity.signKey, bundle.spk);
  if (bundle.opk) checkX25519Public(bundle.opk.pub, 'one-time prekey');

  const ek: KeyPair = x25519KeyPair((p.random ?? systemRandom)(X25519_KEY_LEN));
  const dhs = [
    x25519NativeWith(p.ours.dhKey, bundle.spk.pub), // DH1 = DH(IK_A, SPK_B)
    x25519NativeWith(ek, bundle.identity.dhKey), // DH2 = DH(EK_A, IK_B)
    x25519NativeWith(ek, bundle.spk.pub), // DH3 = DH(EK_A, SPK_B)
  ];
  if (bundle.opk) dhs.push(x25519NativeWith(ek, bundle.opk.pub)); // DH4 = DH(EK_A, OPK_B)
  wipe(ek.secretKey);

  const ours = publicIdentity(p.ours);
  return {
    message: {
      ik: ours,
      ek: ek.publicKey,
      spkId: bundle.spk.id,
      ...(bundle.opk ? { opkId: bundle.opk.id } : {}),
    },
    sharedSecret: deriveSharedSecret(dhs),
    theirSignedPreKey: bundle.spk.pub,
    ad: associatedData(p.ourName, ours, p.theirName, bundle.identity),
  };
}

export interface X3dhRespondParams {
  readonly ours: Identity;
  readonly ourName: string;
  readonly theirName: string;
  readonly message: X3dhInitiation;
  /** The signed prekey named by `message.spkId`. */
  readonly signedPreKey: KeyPair;
  /** The one-time prekey named by `message.opkId`; required exactly when it names one. */
  readonly oneTimePreKey?: KeyPair;
}

/** Bob's side: verifies `ik` (`bad_key`) and `ek`, then the same DHs mirrored. */
export function x3dhRespond(p: X3dhRespondParams): X3dhResponderResult {
  const { message: m } = p;
  verifyPublicIdentity(m.ik);
  checkX25519Public(m.ek, 'ephemeral key');
  if ((m.opkId !== undefined) !== (p.oneTimePreKey !== undefined)) {
    // Never fall back to three DHs when a one-time prekey was named (section 8).
    throw new ChatError('no_session', 'the one-time prekey this envelope names is not held', 'x3dh.respond');
  }
  const dhs = [
    x25519NativeWith(p.signedPreKey, m.ik.dhKey), // DH1
    x25519NativeWith(p.ours.dhKey, m.ek), // DH2
    x25519NativeWith(p.signedPreKey, m.ek), // DH3
  ];
  if (p.oneTimePreKey) dhs.push(x25519NativeWith(p.oneTimePreKey, m.ek)); // DH4
  return {
    sharedSecret: deriveSharedSecret(dhs),
    ad: associatedData(p.theirName, m.ik, p.ourName, publicIdentity(p.ours)),
  };
}
