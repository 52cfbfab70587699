/**
 * Chain keys and KDF_CK (PROTOCOL.md section 8): message key = HMAC-SHA256(ck, 0x01),
 * next chain key = HMAC-SHA256(ck, 0x02). Our sending chain and their receiving chain are distinct
 * types (vodozemac's `ChainKey` / `RemoteChainKey`).
 */
import { hmacSha256, type Bytes } from '../primitives';
import { asMessageKey, type MessageKey } from './message-key';
import type { Brand } from './ratchet-key';

export type SendingChainKey = Brand<Bytes, 'SendingChainKey'>;
export type ReceivingChainKey = Brand<Bytes, 'ReceivingChainKey'>;

const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
const CHAIN_KEY_SEED = Uint8Array.of(0x02);

export function asSendingChainKey(b: Bytes): SendingChainKey {
  return b as SendingChainKey;
}

export function asReceivingChainKey(b: Bytes): ReceivingChainKey {
  return b as ReceivingChainKey;
}

/** One KDF_CK step: the message key for this index and the chain key for the next. */
export function stepChain<C extends SendingChainKey | ReceivingChainKey>(
  ck: C,
): { messageKey: MessageKey; next: C } {
  return {
    messageKey: asMessageKey(hmacSha256(ck, MESSAGE_KEY_SEED)),
    next: hmacSha256(ck, CHAIN_KEY_SEED) as C,
  };
}
