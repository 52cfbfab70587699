/**
 * The Double Ratchet (PROTOCOL.md section 8, Signal's specification) as a pure state machine:
 * `ratchetEncrypt(state, …)` and `ratchetDecrypt(state, …)` return the next state and never touch the
 * one they were given. A decrypt builds its next state in locals and returns it only after the AEAD
 * tag checks (as vodozemac and libsignal do), so a forged or garbled message changes nothing.
 */
import { ChatError } from '../../errors';
import { U32_MAX } from '../encoding';
import { wipe, type Bytes } from '../primitives';
import type { RandomSource } from '../random-source';
import { stepChain, type ReceivingChainKey, type SendingChainKey } from './chain-key';
import { encodeHeader, type EnvelopeType, type IncomingHeader } from './header';
import { decryptWithMessageKey, encryptWithMessageKey, type MessageKey } from './message-key';
import {
  generateRatchetKeyPair,
  sameRatchetKey,
  type OurRatchetKeyPair,
  type TheirRatchetPublic,
} from './ratchet-key';
import {
  advanceRootForReceiving,
  advanceRootForSending,
  rootKeyFromSharedSecret,
  type RootKey,
} from './root-key';
import { storeSkippedKeys, takeSkippedKey, type SkippedKey } from './skipped-keys';

/**
 * Largest gap a message may open in one chain (`n − Nr`, and `pn − Nr` at a DH step), checked before
 * any key is derived (section 8): a peer cannot make us run the KDF more than this per message.
 */
export const MAX_SKIP = 1000;
/**
 * Their ratchet keys whose chains we moved past, remembered (public keys and final index only) so a
 * replayed old message reads as `duplicate_message` rather than a new DH step. Beyond this many, a
 * replay still fails, as `decrypt_failed`.
 */
export const MAX_RETIRED_CHAINS = 50;

export interface SendingChain {
  readonly chainKey: SendingChainKey;
  /** Ns: index of the next message we send. */
  readonly n: number;
}

export interface ReceivingChain {
  readonly theirKey: TheirRatchetPublic;
  readonly chainKey: ReceivingChainKey;
  /** Nr: index of the next message we expect. */
  readonly n: number;
}

export interface RetiredChain {
  readonly theirKey: TheirRatchetPublic;
  /** Every message of that chain had an index below this; their keys went to the skipped store. */
  readonly end: number;
}

export interface RatchetState {
  readonly rootKey: RootKey;
  /** DHs: our current ratchet key pair. */
  readonly ours: OurRatchetKeyPair;
  /** Absent for the responder until the first message arrives (it cannot send before). */
  readonly sending?: SendingChain;
  readonly receiving?: ReceivingChain;
  /** PN: length of our previous sending chain. */
  readonly pn: number;
  readonly retired: readonly RetiredChain[];
  readonly skipped: readonly SkippedKey[];
}

/** Alice: her first ratchet key is fresh (not EK); Bob's signed prekey is his (section 8). */
export function initInitiatorRatchet(
  sk: Bytes,
  theirSignedPreKey: TheirRatchetPublic,
  random: RandomSource,
): RatchetState {
  const ours = generateRatchetKeyPair(random);
  const { rootKey, chainKey } = advanceRootForSending(rootKeyFromSharedSecret(sk), ours, theirSignedPreKey);
  return { rootKey, ours, sending: { chainKey, n: 0 }, pn: 0, retired: [], skipped: [] };
}

/** Bob: his signed prekey is his first ratchet key; he sends only after Alice's first message. */
export function initResponderRatchet(sk: Bytes, ourSignedPreKey: OurRatchetKeyPair): RatchetState {
  return { rootKey: rootKeyFromSharedSecret(sk), ours: ourSignedPreKey, pn: 0, retired: [], skipped: [] };
}

export interface RatchetEncrypted {
  readonly header: Bytes;
  readonly ciphertext: Bytes;
  readonly state: RatchetState;
}

/** Encrypts with the next sending key. The returned state must be stored before the bytes leave. */
export function ratchetEncrypt(
  state: RatchetState,
  type: EnvelopeType,
  ad: Bytes,
  plaintext: Bytes,
): RatchetEncrypted {
  const sending = state.sending;
  if (!sending) throw new ChatError('bad_state', 'this session cannot send before it has received a message');
  if (sending.n >= U32_MAX) throw new ChatError('bad_state', 'this sending chain is exhausted');
  const { messageKey, next } = stepChain(sending.chainKey);
  const header = encodeHeader({ type, dh: state.ours.publicKey, pn: state.pn, n: sending.n });
  const ciphertext = encryptWithMessageKey(messageKey, ad, header, plaintext);
  wipe(messageKey);
  return { header, ciphertext, state: { ...state, sending: { chainKey: next, n: sending.n + 1 } } };
}

export interface RatchetDecryptInput {
  readonly header: IncomingHeader;
  /** The header's exact bytes: they are part of the AEAD's associated data. */
  readonly headerBytes: Bytes;
  readonly ciphertext: Bytes;
  readonly ad: Bytes;
  /** Wall-clock ms, for skipped-key expiry. */
  readonly now: number;
  /** For the new ratchet key of a DH step. */
  readonly random: RandomSource;
}

export interface RatchetDecrypted {
  readonly plaintext: Bytes;
  readonly state: RatchetState;
}

function checkGap(target: number, from: number): void {
  if (target > from && target - from > MAX_SKIP) {
    throw new ChatError(
      'too_many_skipped',
      `a message skips more than ${MAX_SKIP} messages`,
      'ratchet.decrypt',
    );
  }
}

/** Derives the keys of messages `chain.n .. until-1` (to keep as skipped) and moves the chain past them. */
function skipTo(
  chain: ReceivingChain,
  until: number,
  now: number,
): { chain: ReceivingChain; skipped: SkippedKey[] } {
  let chainKey = chain.chainKey;
  const skipped: SkippedKey[] = [];
  for (let n = chain.n; n < until; n++) {
    const step = stepChain(chainKey);
    skipped.push({ dh: chain.theirKey, n, mk: step.messageKey, storedAt: now });
    chainKey = step.next;
  }
  return { chain: { ...chain, chainKey, n: Math.max(chain.n, until) }, skipped };
}

/** The key of message `n` (n ≥ chain.n), the keys it skips, and the chain after it. */
function keyAt(
  chain: ReceivingChain,
  n: number,
  now: number,
): { mk: MessageKey; chain: ReceivingChain; skipped: SkippedKey[] } {
  const upTo = skipTo(chain, n, now);
  const step = stepChain(upTo.chain.chainKey);
  return {
    mk: step.messageKey,
    chain: { ...upTo.chain, chainKey: step.next, n: n + 1 },
    skipped: upTo.skipped,
  };
}

/**
 * Decrypts one message. Errors, each leaving `state` as it was: `duplicate_message` (its key was
 * used or has expired), `too_many_skipped`, `decrypt_failed` (the tag did not verify), `bad_key`.
 */
export function ratchetDecrypt(state: RatchetState, input: RatchetDecryptInput): RatchetDecrypted {
  const { header: h, headerBytes, ciphertext, ad, now } = input;
  const open = (mk: MessageKey): Bytes => decryptWithMessageKey(mk, ad, headerBytes, ciphertext);

  // 1. A message we skipped earlier.
  const held = takeSkippedKey(state.skipped, h.dh, h.n, now);
  if (held) {
    const plaintext = open(held.mk);
    return { plaintext, state: { ...state, skipped: storeSkippedKeys(held.rest, [], now) } };
  }

  // 2. The current receiving chain.
  const receiving = state.receiving;
  if (receiving && sameRatchetKey(receiving.theirKey, h.dh)) {
    if (h.n < receiving.n)
      throw new ChatError('duplicate_message', 'this message key was already used', 'ratchet.decrypt');
    checkGap(h.n, receiving.n);
    const next = keyAt(receiving, h.n, now);
    const plaintext = open(next.mk);
    return {
      plaintext,
      state: { ...state, receiving: next.chain, skipped: storeSkippedKeys(state.skipped, next.skipped, now) },
    };
  }

  // 3. A chain we already moved past: its unreceived keys were kept in step 1's store.
  const retired = state.retired.find((r) => sameRatchetKey(r.theirKey, h.dh));
  if (retired) {
    if (h.n < retired.end)
      throw new ChatError('duplicate_message', 'this message key was already used', 'ratchet.decrypt');
    throw new ChatError('decrypt_failed', 'decryption failed', 'ratchet.decrypt');
  }

  // 4. A new ratchet key from them: a DH step. Both gaps are checked before deriving anything.
  if (receiving) checkGap(h.pn, receiving.n);
  checkGap(h.n, 0);
  let skipped: SkippedKey[] = [];
  let retiredChains = state.retired;
  if (receiving) {
    const old = skipTo(receiving, h.pn, now);
    skipped = old.skipped;
    retiredChains = [...state.retired, { theirKey: receiving.theirKey, end: old.chain.n }].slice(
      -MAX_RETIRED_CHAINS,
    );
  }
  const recv = advanceRootForReceiving(state.rootKey, state.ours, h.dh);
  const ours = generateRatchetKeyPair(input.random);
  const send = advanceRootForSending(recv.rootKey, ours, h.dh);
  const next = keyAt({ theirKey: h.dh, chainKey: recv.chainKey, n: 0 }, h.n, now);
  const plaintext = open(next.mk);
  return {
    plaintext,
    state: {
      rootKey: send.rootKey,
      ours,
      sending: { chainKey: send.chainKey, n: 0 },
      receiving: next.chain,
      pn: state.sending?.n ?? 0,
      retired: retiredChains,
      skipped: storeSkippedKeys(state.skipped, [...skipped, ...next.skipped], now),
    },
  };
}
