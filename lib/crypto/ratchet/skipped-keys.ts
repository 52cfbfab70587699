/**
 * Message keys of messages not yet received (PROTOCOL.md section 8): kept so late or reordered
 * messages decrypt, bounded so a peer cannot make us hold unbounded state. Immutable: every
 * operation returns a new list, which is what lets a decrypt work on a copy.
 */
import type { MessageKey } from './message-key';
import { sameRatchetKey, type TheirRatchetPublic } from './ratchet-key';

/** At most this many per session; the oldest go first (section 8, as libsignal's MAX_MESSAGE_KEYS). */
export const MAX_SKIPPED_KEYS = 2000;
/** A skipped key older than this is deleted (section 8): forward secrecy for messages that never come. */
export const SKIPPED_KEY_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface SkippedKey {
  /** Their ratchet key of the chain the message belongs to. */
  readonly dh: TheirRatchetPublic;
  readonly n: number;
  readonly mk: MessageKey;
  /** Wall-clock ms when it was stored; drives expiry. */
  readonly storedAt: number;
}

function live(k: SkippedKey, now: number): boolean {
  return now - k.storedAt < SKIPPED_KEY_TTL_MS;
}

/** The key for `(dh, n)` if held and not expired, and the list without it. */
export function takeSkippedKey(
  keys: readonly SkippedKey[],
  dh: TheirRatchetPublic,
  n: number,
  now: number,
): { mk: MessageKey; rest: SkippedKey[] } | undefined {
  const i = keys.findIndex((k) => k.n === n && sameRatchetKey(k.dh, dh));
  if (i < 0 || !live(keys[i], now)) return undefined;
  return { mk: keys[i].mk, rest: [...keys.slice(0, i), ...keys.slice(i + 1)] };
}

/** Appends `added` (oldest first), drops expired keys, and evicts the oldest beyond the limit. */
export function storeSkippedKeys(
  keys: readonly SkippedKey[],
  added: readonly SkippedKey[],
  now: number,
): SkippedKey[] {
  const all = [...keys, ...added].filter((k) => live(k, now));
  return all.length > MAX_SKIPPED_KEYS ? all.slice(all.length - MAX_SKIPPED_KEYS) : all;
}
