/**
 * The recovery key of the registration lock (docs/protocol.md 7.1), as Signal's registration
 * lock does with its PIN: at first run the client makes a random recovery code, shows it once,
 * and registers the public half of a key derived from it with the name. A user who lost the data
 * dir types the code again; the key it derives signs the new identity, and the relay hands the
 * name over only for a proof that verifies under the stored public key.
 *
 * The code is 20 random bytes (160 bits) written as 32 Crockford base32 characters in eight
 * groups of four (`7K3M-...`): case, spaces, dashes and the look-alikes O/o → 0, I/i/L/l → 1 are
 * forgiven when it is typed back.
 */
import { ChatError } from '../errors';
import {
  concatBytes,
  ed25519KeyPair,
  hkdfSha256,
  randomBytes,
  sign,
  verify,
  wipe,
  type Bytes,
  type KeyPair,
} from './primitives';

export const RECOVERY_CODE_BYTES = 20;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUP = 4;
const KDF_INFO = 'ChatSecure_Recovery_v1';

/** A fresh random recovery code, grouped for display. */
export function newRecoveryCode(random: (n: number) => Bytes = randomBytes): string {
  return formatRecoveryCode(random(RECOVERY_CODE_BYTES));
}

/** 20 bytes → 32 base32 characters in groups of four. */
export function formatRecoveryCode(code: Bytes): string {
  if (code.length !== RECOVERY_CODE_BYTES)
    throw new ChatError('bad_key', `a recovery code holds ${RECOVERY_CODE_BYTES} bytes`);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of code) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(new RegExp(`.{1,${GROUP}}`, 'g'))!.join('-');
}

/** The code's bytes from what a person typed; `bad_key` if it is not a whole, valid code. */
export function parseRecoveryCode(typed: string): Bytes {
  const clean = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  const chars = (RECOVERY_CODE_BYTES * 8) / 5;
  if (clean.length !== chars) {
    throw new ChatError('bad_key', `a recovery code has ${chars} letters and digits`);
  }
  const out = new Uint8Array(RECOVERY_CODE_BYTES);
  let bits = 0;
  let value = 0;
  let i = 0;
  for (const c of clean) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new ChatError('bad_key', 'a recovery code holds only letters and digits');
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[i++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  return out;
}

/** The Ed25519 key pair a code stands for: HKDF-SHA256(code, salt 32 × 0, "ChatSecure_Recovery_v1"). */
export function recoveryKeyPair(code: string | Bytes): KeyPair {
  const bytes = typeof code === 'string' ? parseRecoveryCode(code) : code;
  const seed = hkdfSha256(bytes, new Uint8Array(32), KDF_INFO, 32);
  try {
    return ed25519KeyPair(seed);
  } finally {
    wipe(seed);
    if (typeof code === 'string') wipe(bytes);
  }
}

function proofData(canon: string, signKey: Bytes, dhKey: Bytes): Bytes {
  const name = new TextEncoder().encode(canon);
  if (name.length > 255) throw new ChatError('bad_name', 'a name is at most 32 characters');
  return concatBytes(Uint8Array.of(name.length), name, signKey, dhKey);
}

/** The `recover` field of the login payload: the recovery key signs the name and the new identity. */
export function recoveryProof(recoverySecret: Bytes, canon: string, signKey: Bytes, dhKey: Bytes): Bytes {
  return sign(recoverySecret, 'chatsecure-recover-v1', proofData(canon, signKey, dhKey));
}

/** The relay's check of a `recover` proof against the recovery key stored with the name. */
export function verifyRecoveryProof(
  recoveryPublic: Bytes,
  proof: Bytes,
  canon: string,
  signKey: Bytes,
  dhKey: Bytes,
): boolean {
  return verify(recoveryPublic, 'chatsecure-recover-v1', proofData(canon, signKey, dhKey), proof);
}
