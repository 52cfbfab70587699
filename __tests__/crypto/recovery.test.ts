import fc from 'fast-check';
import { concatBytes, ed25519KeyPair, sign, utf8, x25519KeyPair } from '../../lib/crypto/primitives';
import {
  RECOVERY_CODE_BYTES,
  formatRecoveryCode,
  newRecoveryCode,
  parseRecoveryCode,
  recoveryKeyPair,
  recoveryProof,
  verifyRecoveryProof,
} from '../../lib/crypto/recovery';
import { codeOf } from '../helpers/error-code';

describe('recovery code', () => {
  it('round-trips any 20 bytes through its printed form', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: RECOVERY_CODE_BYTES, maxLength: RECOVERY_CODE_BYTES }), (b) => {
        const printed = formatRecoveryCode(b);
        expect(printed).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}$/);
        expect(parseRecoveryCode(printed)).toEqual(b);
      }),
    );
  });

  it('forgives case, spaces, missing dashes and look-alike letters when typed back', () => {
    const b = new Uint8Array(RECOVERY_CODE_BYTES).fill(0);
    b[19] = 0x21; // ends in ...0001 00001 → "11" in the last characters
    const printed = formatRecoveryCode(b);
    const typed = printed.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l');
    expect(parseRecoveryCode(typed)).toEqual(b);
  });

  it('refuses a code of the wrong length or with a foreign character, as bad_key', () => {
    const printed = newRecoveryCode();
    expect(codeOf(() => parseRecoveryCode(printed.slice(0, -1)))).toBe('bad_key');
    expect(codeOf(() => parseRecoveryCode(`${printed}0`))).toBe('bad_key');
    expect(codeOf(() => parseRecoveryCode(printed.replace(/^./, 'U')))).toBe('bad_key');
  });

  it('derives the same key from the code however it was typed, another key from another code', () => {
    const printed = newRecoveryCode();
    const a = recoveryKeyPair(printed);
    expect(recoveryKeyPair(printed.toLowerCase().replace(/-/g, '')).publicKey).toEqual(a.publicKey);
    expect(recoveryKeyPair(newRecoveryCode()).publicKey).not.toEqual(a.publicKey);
  });
});

describe('recovery proof', () => {
  const rk = recoveryKeyPair(newRecoveryCode());
  const signKey = ed25519KeyPair().publicKey;
  const dhKey = x25519KeyPair().publicKey;

  it('verifies for the name and identity it was made for', () => {
    const proof = recoveryProof(rk.secretKey, 'eve', signKey, dhKey);
    expect(verifyRecoveryProof(rk.publicKey, proof, 'eve', signKey, dhKey)).toBe(true);
  });

  it('fails for another name, another identity, another recovery key or a flipped bit', () => {
    const proof = recoveryProof(rk.secretKey, 'eve', signKey, dhKey);
    expect(verifyRecoveryProof(rk.publicKey, proof, 'eva', signKey, dhKey)).toBe(false);
    expect(verifyRecoveryProof(rk.publicKey, proof, 'eve', ed25519KeyPair().publicKey, dhKey)).toBe(false);
    expect(verifyRecoveryProof(rk.publicKey, proof, 'eve', signKey, x25519KeyPair().publicKey)).toBe(false);
    expect(verifyRecoveryProof(ed25519KeyPair().publicKey, proof, 'eve', signKey, dhKey)).toBe(false);
    const bad = Uint8Array.from(proof);
    bad[10] ^= 1;
    expect(verifyRecoveryProof(rk.publicKey, bad, 'eve', signKey, dhKey)).toBe(false);
  });

  it('is bound to its own context: the same bytes signed as an idcert do not verify', () => {
    const data = concatBytes(Uint8Array.of(3), utf8('eve'), signKey, dhKey);
    const other = sign(rk.secretKey, 'chatsecure-idcert-v1', data);
    expect(verifyRecoveryProof(rk.publicKey, other, 'eve', signKey, dhKey)).toBe(false);
    const right = sign(rk.secretKey, 'chatsecure-recover-v1', data);
    expect(verifyRecoveryProof(rk.publicKey, right, 'eve', signKey, dhKey)).toBe(true);
  });
});

describe('recovery key pair and proof inputs', () => {
  const bytes = Uint8Array.from({ length: RECOVERY_CODE_BYTES }, (_, i) => i * 7 + 1);

  it('the code as bytes or as typed gives the same key pair, and the caller’s bytes are left intact', () => {
    const copy = Uint8Array.from(bytes);
    const fromBytes = recoveryKeyPair(bytes);
    expect(bytes).toEqual(copy);
    expect(recoveryKeyPair(formatRecoveryCode(bytes)).publicKey).toEqual(fromBytes.publicKey);
    expect(recoveryKeyPair(bytes).publicKey).toEqual(fromBytes.publicKey);
  });

  it('only a code of exactly 20 bytes can be printed', () => {
    for (const n of [0, RECOVERY_CODE_BYTES - 1, RECOVERY_CODE_BYTES + 1])
      expect([n, codeOf(() => formatRecoveryCode(new Uint8Array(n)))]).toEqual([n, 'bad_key']);
  });

  it('a name of up to 255 bytes of UTF-8 can be signed for; a longer one is bad_name', () => {
    const rk = recoveryKeyPair(bytes);
    const id = ed25519KeyPair(new Uint8Array(32).fill(3));
    const dh = x25519KeyPair(new Uint8Array(32).fill(4));
    const ok = 'a'.repeat(255);
    const proof = recoveryProof(rk.secretKey, ok, id.publicKey, dh.publicKey);
    expect(verifyRecoveryProof(rk.publicKey, proof, ok, id.publicKey, dh.publicKey)).toBe(true);
    for (const name of ['a'.repeat(256), 'é'.repeat(128)])
      expect(codeOf(() => recoveryProof(rk.secretKey, name, id.publicKey, dh.publicKey))).toBe('bad_name');
  });
});
