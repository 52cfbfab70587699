/**
 * Safety numbers (PROTOCOL.md section 3), built like Signal's numeric fingerprint: for each user
 * K = signKey || dhKey; h = 0x0000 || K || canon(name); 5200 times h = SHA-512(h || K); the first
 * 30 bytes give six 5-digit groups (each 5-byte big-endian chunk mod 100000). The two 30-digit
 * strings are ordered as ASCII strings and joined, so both users see the same 60 digits.
 */
import { canonName, checkName } from '../names';
import type { PublicIdentity } from './identity';
import { concatBytes, sha512, utf8, type Bytes } from './primitives';

/** Signal's iteration count: makes a second-preimage search on one half cost 5200 hashes per try. */
export const SAFETY_NUMBER_ITERATIONS = 5200;
const VERSION = Uint8Array.of(0x00, 0x00);
const GROUPS_PER_USER = 6;
const CHUNK_BYTES = 5;
const GROUP_DIGITS = 5;

export interface SafetyNumberParty {
  readonly name: string;
  readonly identity: Pick<PublicIdentity, 'signKey' | 'dhKey'>;
}

function digitsFor(p: SafetyNumberParty): string {
  const k = concatBytes(p.identity.signKey, p.identity.dhKey);
  let h: Bytes = concatBytes(VERSION, k, utf8(canonName(checkName(p.name))));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = sha512(h, k);
  let out = '';
  for (let g = 0; g < GROUPS_PER_USER; g++) {
    let v = 0;
    // 5 bytes fit a double exactly (2^40 < 2^53).
    for (let j = 0; j < CHUNK_BYTES; j++) v = v * 256 + h[g * CHUNK_BYTES + j];
    out += String(v % 100000).padStart(GROUP_DIGITS, '0');
  }
  return out;
}

/** The 60-digit safety number of two users; the same whichever side computes it. */
export function safetyNumber(a: SafetyNumberParty, b: SafetyNumberParty): string {
  const da = digitsFor(a);
  const db = digitsFor(b);
  return da < db ? da + db : db + da;
}

/** 12 groups of 5 digits separated by spaces, as `/verify` prints them. */
export function formatSafetyNumber(digits: string): string {
  return (digits.match(/\d{5}/g) ?? []).join(' ');
}
