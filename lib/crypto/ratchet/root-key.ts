/**
 * The root key and KDF_RK (PROTOCOL.md section 8): HKDF-SHA256(salt = root key, ikm = DH output,
 * info "ChatSecure_Ratchet_v1", 64 bytes) → new root key (first 32), chain key (last 32).
 */
import { hkdfSha256, wipe, type Bytes } from '../primitives';
import {
  asReceivingChainKey,
  asSendingChainKey,
  type ReceivingChainKey,
  type SendingChainKey,
} from './chain-key';
import { ratchetDh, type Brand, type OurRatchetKeyPair, type TheirRatchetPublic } from './ratchet-key';

export type RootKey = Brand<Bytes, 'RootKey'>;

const RATCHET_INFO = 'ChatSecure_Ratchet_v1';
const KEY_LEN = 32;

/** The X3DH output SK is the first root key. */
export function rootKeyFromSharedSecret(sk: Bytes): RootKey {
  return Uint8Array.from(sk) as RootKey;
}

function kdfRk(rootKey: RootKey, ours: OurRatchetKeyPair, theirs: TheirRatchetPublic): [RootKey, Bytes] {
  const dh = ratchetDh(ours, theirs);
  const out = hkdfSha256(dh, rootKey, RATCHET_INFO, 2 * KEY_LEN);
  wipe(dh);
  return [out.slice(0, KEY_LEN) as RootKey, out.slice(KEY_LEN)];
}

/** A DH step with our new ratchet key: the next root key and our new sending chain. */
export function advanceRootForSending(
  rootKey: RootKey,
  ours: OurRatchetKeyPair,
  theirs: TheirRatchetPublic,
): { rootKey: RootKey; chainKey: SendingChainKey } {
  const [rk, ck] = kdfRk(rootKey, ours, theirs);
  return { rootKey: rk, chainKey: asSendingChainKey(ck) };
}

/** A DH step with their new ratchet key: the next root key and their new (receiving) chain. */
export function advanceRootForReceiving(
  rootKey: RootKey,
  ours: OurRatchetKeyPair,
  theirs: TheirRatchetPublic,
): { rootKey: RootKey; chainKey: ReceivingChainKey } {
  const [rk, ck] = kdfRk(rootKey, ours, theirs);
  return { rootKey: rk, chainKey: asReceivingChainKey(ck) };
}
