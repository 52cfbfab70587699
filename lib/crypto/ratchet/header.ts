/**
 * The message header H (PROTOCOL.md section 8), 42 bytes:
 *   0x01 || type (0x01 prekey, 0x02 msg) || dh (32) || pn (u32 BE) || n (u32 BE).
 * It is authenticated as part of the AEAD's associated data; its fields are read only from here.
 */
import { ChatError } from '../../errors';
import { readU32be, u32be } from '../encoding';
import { concatBytes, X25519_KEY_LEN, type Bytes } from '../primitives';
import { theirRatchetPublic, type OurRatchetPublic, type TheirRatchetPublic } from './ratchet-key';

export const HEADER_LEN = 42;
const HEADER_VERSION = 0x01;

export type EnvelopeType = 'prekey' | 'msg';

const TYPE_BYTE: Record<EnvelopeType, number> = { prekey: 0x01, msg: 0x02 };

/** A header we write: `dh` is our ratchet key. */
export interface OutgoingHeader {
  readonly type: EnvelopeType;
  readonly dh: OurRatchetPublic;
  readonly pn: number;
  readonly n: number;
}

/** A header we read: `dh` is theirs. */
export interface IncomingHeader {
  readonly type: EnvelopeType;
  readonly dh: TheirRatchetPublic;
  readonly pn: number;
  readonly n: number;
}

export function encodeHeader(h: OutgoingHeader): Bytes {
  return concatBytes(Uint8Array.of(HEADER_VERSION, TYPE_BYTE[h.type]), h.dh, u32be(h.pn), u32be(h.n));
}

/** Strict: exact length, known version and type (`bad_message`), a usable ratchet key (`bad_key`). */
export function parseHeader(bytes: Bytes): IncomingHeader {
  if (bytes.length !== HEADER_LEN) throw new ChatError('bad_message', 'a message header is 42 bytes');
  if (bytes[0] !== HEADER_VERSION) throw new ChatError('bad_message', 'unknown message header version');
  let type: EnvelopeType;
  switch (bytes[1]) {
    case TYPE_BYTE.prekey:
      type = 'prekey';
      break;
    case TYPE_BYTE.msg:
      type = 'msg';
      break;
    default:
      throw new ChatError('bad_message', 'unknown message type');
  }
  const dh = theirRatchetPublic(bytes.slice(2, 2 + X25519_KEY_LEN));
  return { type, dh, pn: readU32be(bytes, 2 + X25519_KEY_LEN), n: readU32be(bytes, 6 + X25519_KEY_LEN) };
}
