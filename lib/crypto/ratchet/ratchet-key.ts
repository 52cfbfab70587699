/**
 * The DH ratchet's key pairs (PROTOCOL.md section 8). Ours and theirs are different branded types,
 * as vodozemac keeps `RatchetKey` and `RemoteRatchetKey` apart, so the two cannot be swapped.
 */
import {
  checkX25519Public,
  constantTimeEqual,
  X25519_KEY_LEN,
  type Bytes,
  type KeyPair,
  x25519NativeWith,
  x25519KeyPair,
} from '../primitives';
import type { RandomSource } from '../random-source';

declare const brand: unique symbol;
/** A nominal type over a structural one: `Brand<Bytes, 'RootKey'>` is not assignable from plain bytes. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type OurRatchetPublic = Brand<Bytes, 'OurRatchetPublic'>;
export type OurRatchetSecret = Brand<Bytes, 'OurRatchetSecret'>;
export type TheirRatchetPublic = Brand<Bytes, 'TheirRatchetPublic'>;

export interface OurRatchetKeyPair {
  readonly publicKey: OurRatchetPublic;
  readonly secretKey: OurRatchetSecret;
}

export function generateRatchetKeyPair(random: RandomSource): OurRatchetKeyPair {
  return ourRatchetKeyPair(x25519KeyPair(random(X25519_KEY_LEN)));
}

/** Adopts a key pair we hold (a fresh one, or the responder's signed prekey) as our ratchet key. */
export function ourRatchetKeyPair(kp: KeyPair): OurRatchetKeyPair {
  return { publicKey: kp.publicKey as OurRatchetPublic, secretKey: kp.secretKey as OurRatchetSecret };
}

/** Adopts a peer's key as a ratchet key, refusing small-order encodings (`bad_key`). */
export function theirRatchetPublic(pub: Bytes): TheirRatchetPublic {
  checkX25519Public(pub, 'ratchet key');
  return pub as TheirRatchetPublic;
}

export function ratchetDh(ours: OurRatchetKeyPair, theirs: TheirRatchetPublic): Bytes {
  return x25519NativeWith(ours, theirs);
}

export function sameRatchetKey(a: TheirRatchetPublic, b: TheirRatchetPublic): boolean {
  return constantTimeEqual(a, b);
}
