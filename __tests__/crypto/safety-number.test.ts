import { publicIdentity } from '../../lib/crypto/identity';
import { concatBytes, sha512, utf8 } from '../../lib/crypto/primitives';
import { formatSafetyNumber, safetyNumber } from '../../lib/crypto/safety-number';
import { makeUser } from './e2e-helpers';

/** Fixed keys (identities from fixed seeds) → a fixed number, computed once and checked in. */
const VECTOR = {
  alice: {
    signKey: 'f23d9ab0e5fd6a5c0fd5ac11c7f9cc5d5a3c7e61d4b7fd1d05f4b9d5c2a2f10e',
    dhKey: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  },
  bob: {
    signKey: '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29',
    dhKey: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  },
  number: '495740299729354499517386549239826505406833722507204430766862',
};

function hexBytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

describe('safety number (PROTOCOL.md section 3)', () => {
  const a = {
    name: 'Alice',
    identity: { signKey: hexBytes(VECTOR.alice.signKey), dhKey: hexBytes(VECTOR.alice.dhKey) },
  };
  const b = {
    name: 'bob',
    identity: { signKey: hexBytes(VECTOR.bob.signKey), dhKey: hexBytes(VECTOR.bob.dhKey) },
  };

  test('test vector: fixed keys and names give a fixed number', () => {
    expect(safetyNumber(a, b)).toBe(VECTOR.number);
  });

  test('symmetric, 60 digits, case of names does not matter', () => {
    const n = safetyNumber(a, b);
    expect(n).toMatch(/^\d{60}$/);
    expect(safetyNumber(b, a)).toBe(n);
    expect(safetyNumber({ ...a, name: 'ALICE' }, { ...b, name: 'Bob' })).toBe(n);
  });

  test('each half follows the formula by hand', () => {
    const k = concatBytes(a.identity.signKey, a.identity.dhKey);
    let h = concatBytes(Uint8Array.of(0, 0), k, utf8('alice'));
    for (let i = 0; i < 5200; i++) h = sha512(h, k);
    let digits = '';
    for (let g = 0; g < 6; g++) {
      const v = Number(BigInt('0x' + Buffer.from(h.subarray(g * 5, g * 5 + 5)).toString('hex')) % 100000n);
      digits += String(v).padStart(5, '0');
    }
    const n = safetyNumber(a, b);
    expect([n.slice(0, 30), n.slice(30)]).toContain(digits);
    expect(n.slice(0, 30) < n.slice(30)).toBe(true);
  });

  test('a changed identity or name changes the number', () => {
    const n = safetyNumber(a, b);
    const eve = makeUser('Eve', 40, 0);
    expect(safetyNumber(a, { name: 'bob', identity: publicIdentity(eve.identity) })).not.toBe(n);
    expect(safetyNumber(a, { ...b, name: 'bobby' })).not.toBe(n);
  });

  test('formatted as 12 groups of 5', () => {
    const f = formatSafetyNumber(safetyNumber(a, b));
    expect(f).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(f.replace(/ /g, '')).toBe(safetyNumber(a, b));
  });
});
