/** Small byte encodings shared by the end-to-end layer (PROTOCOL.md sections 3 and 8). */
import { ChatError } from '../errors';
import type { Bytes } from './primitives';

export const U32_MAX = 0xffffffff;

export function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

/** `n` as 4 bytes, big-endian. */
export function u32be(n: number): Bytes {
  if (!isU32(n)) throw new ChatError('bad_state', 'a u32 field is out of range');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

export function readU32be(b: Bytes, offset: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(offset, false);
}
