/**
 * The strict JSON readers every parser of the end-to-end layer is built on: each refusal carries
 * the caller's error code (bad_message for the network, corrupt_store for files), never a TypeError.
 */
import { isU32, u32be, readU32be, U32_MAX } from '../../lib/crypto/encoding';
import {
  parseJsonBytes,
  readArray,
  readBoolean,
  readBytes,
  readObject,
  readSafeInteger,
  readString,
  readU32,
} from '../../lib/crypto/json-fields';
import { toBase64, utf8 } from '../../lib/crypto/primitives';
import { codeOf } from '../helpers/error-code';

const CODE = 'corrupt_store';

describe('strict JSON readers', () => {
  test('bytes must be valid UTF-8, even inside a JSON string', () => {
    expect(parseJsonBytes(utf8('{"a":"é"}'), CODE, 'file')).toEqual({ a: 'é' });
    const invalid = Uint8Array.from([...utf8('{"a":"'), 0xff, ...utf8('"}')]);
    expect(codeOf(() => parseJsonBytes(invalid, CODE, 'file'))).toBe(CODE);
  });

  test('text that is not JSON is refused with the caller’s code, from bytes or a string', () => {
    expect(codeOf(() => parseJsonBytes(utf8('{"a":'), CODE, 'file'))).toBe(CODE);
    expect(codeOf(() => parseJsonBytes('{"a":', 'bad_message', 'envelope'))).toBe('bad_message');
    expect(parseJsonBytes('[1]', CODE, 'file')).toEqual([1]);
  });

  test('an object must be a plain object with all required fields and no others', () => {
    const ok = { a: 1, b: 2 };
    expect(readObject(ok, ['a'], ['b'], CODE, 'x')).toBe(ok);
    expect(readObject({ a: 1 }, ['a'], ['b'], CODE, 'x')).toEqual({ a: 1 });
    for (const v of [null, 5, 'ab', [], [1], undefined, true])
      expect(codeOf(() => readObject(v, [], [], CODE, 'x'))).toBe(CODE);
    expect(codeOf(() => readObject({ b: 2 }, ['a'], ['b'], CODE, 'x'))).toBe(CODE);
    expect(codeOf(() => readObject({ a: 1, b: 2 }, ['a', 'b', 'c'], [], CODE, 'x'))).toBe(CODE);
    expect(codeOf(() => readObject({ a: 1, z: 0 }, ['a'], ['b'], CODE, 'x'))).toBe(CODE);
    // An inherited property is not a field.
    expect(codeOf(() => readObject(Object.create({ a: 1 }), ['a'], [], CODE, 'x'))).toBe(CODE);
  });

  test('base64 fields: canonical, of the expected length, refused with the caller’s code', () => {
    const b = Uint8Array.from([1, 2, 3, 4]);
    expect(readBytes({ k: toBase64(b) }, 'k', 4, CODE, 'x')).toEqual(b);
    for (const v of ['AQIDBA', 'AQIDBA==x', 5, undefined])
      expect(codeOf(() => readBytes({ k: v }, 'k', 4, CODE, 'x'))).toBe(CODE);
    expect(codeOf(() => readBytes({ k: toBase64(b) }, 'k', 5, CODE, 'x'))).toBe(CODE);
  });

  test('u32 and safe integers: whole, non-negative, in range', () => {
    expect(readU32({ k: 0 }, 'k', CODE, 'x')).toBe(0);
    expect(readU32({ k: U32_MAX }, 'k', CODE, 'x')).toBe(U32_MAX);
    for (const v of [-1, 1.5, U32_MAX + 1, '1', null])
      expect(codeOf(() => readU32({ k: v }, 'k', CODE, 'x'))).toBe(CODE);
    expect(readSafeInteger({ k: 0 }, 'k', CODE, 'x')).toBe(0);
    expect(readSafeInteger({ k: Number.MAX_SAFE_INTEGER }, 'k', CODE, 'x')).toBe(Number.MAX_SAFE_INTEGER);
    for (const v of [-1, 1.5, 2 ** 53, '1', null, true, NaN])
      expect(codeOf(() => readSafeInteger({ k: v }, 'k', CODE, 'x'))).toBe(CODE);
  });

  test('booleans, strings and arrays are exactly that type', () => {
    expect(readBoolean({ k: false }, 'k', CODE, 'x')).toBe(false);
    expect(readString({ k: '' }, 'k', CODE, 'x')).toBe('');
    expect(readArray({ k: [] }, 'k', CODE, 'x')).toEqual([]);
    for (const v of [0, 'true', null]) expect(codeOf(() => readBoolean({ k: v }, 'k', CODE, 'x'))).toBe(CODE);
    for (const v of [0, ['a'], null]) expect(codeOf(() => readString({ k: v }, 'k', CODE, 'x'))).toBe(CODE);
    for (const v of [{ length: 0 }, 'ab', null])
      expect(codeOf(() => readArray({ k: v }, 'k', CODE, 'x'))).toBe(CODE);
  });
});

describe('u32 encoding', () => {
  test('a u32 is a whole number from 0 to 2^32-1', () => {
    for (const n of [0, 1, U32_MAX]) expect(isU32(n)).toBe(true);
    for (const n of [-1, U32_MAX + 1, 1.5, NaN, Infinity, '1', null]) expect(isU32(n)).toBe(false);
    expect(U32_MAX).toBe(2 ** 32 - 1);
  });

  test('big-endian, four bytes; out of range is bad_state', () => {
    expect([...u32be(0x01020304)]).toEqual([1, 2, 3, 4]);
    expect(readU32be(Uint8Array.from([9, 0xff, 0xff, 0xff, 0xfe]), 1)).toBe(U32_MAX - 1);
    for (const n of [-1, U32_MAX + 1, 0.5]) expect(codeOf(() => u32be(n))).toBe('bad_state');
  });
});
