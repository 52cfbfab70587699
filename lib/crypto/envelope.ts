/**
 * The end-to-end envelope (PROTOCOL.md section 8): JSON `{"v":1,"header":b64(H),"ct":b64}`; a
 * prekey envelope adds `"ik":{"signKey","dhKey","idcert"}, "ek", "spk" (id), "opk" (id, optional)`.
 * Parsing is strict (every failure is `bad_message`, or `too_large`) and checks that the type in H
 * agrees with the fields present; the header's fields themselves are read only from H.
 */
import { ChatError } from '../errors';
import { publicIdentityFromJSON, publicIdentityToJSON, type PublicIdentityJSON } from './identity';
import { MAX_INNER_BYTES, PAD_BLOCK } from './inner-message';
import { parseJsonBytes, readBytes, readObject, readU32 } from './json-fields';
import { toBase64, utf8, AEAD_TAG_LEN, X25519_KEY_LEN, type Bytes } from './primitives';
import { HEADER_LEN, parseHeader } from './ratchet/header';
import type { X3dhInitiation } from './x3dh';

export const ENVELOPE_VERSION = 1;
/**
 * The one limit on an envelope's bytes, used by the parser here and by the wire (lib/net/limits.ts):
 * the 32 KiB padded inner plaintext (section 9) plus its AEAD tag, header and JSON/base64 overhead
 * fits under 46 KiB (about 44 KiB at most), and 46 KiB in base64 still fits one frame.
 */
export const MAX_ENVELOPE_BYTES = 46 * 1024;

export type Envelope =
  | { readonly t: 'msg'; readonly header: Bytes; readonly ct: Bytes }
  | { readonly t: 'prekey'; readonly header: Bytes; readonly ct: Bytes; readonly x3dh: X3dhInitiation };

export interface EnvelopeJSON {
  readonly v: 1;
  readonly header: string;
  readonly ct: string;
  readonly ik?: PublicIdentityJSON;
  readonly ek?: string;
  readonly spk?: number;
  readonly opk?: number;
}

export function envelopeToJSON(env: Envelope): EnvelopeJSON {
  const base = { v: ENVELOPE_VERSION, header: toBase64(env.header), ct: toBase64(env.ct) } as const;
  switch (env.t) {
    case 'msg':
      return base;
    case 'prekey': {
      const x = env.x3dh;
      return {
        ...base,
        ik: publicIdentityToJSON(x.ik),
        ek: toBase64(x.ek),
        spk: x.spkId,
        ...(x.opkId !== undefined ? { opk: x.opkId } : {}),
      };
    }
  }
}

export function encodeEnvelope(env: Envelope): Bytes {
  return utf8(JSON.stringify(envelopeToJSON(env)));
}

/** Ciphertext of a padded inner message: whole pad blocks plus the tag, within the size limit. */
function checkCiphertextLength(ct: Bytes): void {
  const body = ct.length - AEAD_TAG_LEN;
  if (body < PAD_BLOCK || body % PAD_BLOCK !== 0 || body > MAX_INNER_BYTES) {
    throw new ChatError('bad_message', 'the envelope’s ciphertext has an impossible length');
  }
}

/** Validates an already-parsed JSON value as an envelope. */
export function envelopeFromJSON(value: unknown): Envelope {
  const what = 'envelope';
  const o = readObject(value, ['v', 'header', 'ct'], ['ik', 'ek', 'spk', 'opk'], 'bad_message', what);
  if (o.v !== ENVELOPE_VERSION) throw new ChatError('bad_message', 'unsupported envelope version');
  const header = readBytes(o, 'header', HEADER_LEN, 'bad_message', what);
  const ct = readBytes(o, 'ct', undefined, 'bad_message', what);
  checkCiphertextLength(ct);
  const type = parseHeader(header).type;
  switch (type) {
    case 'msg':
      readObject(value, ['v', 'header', 'ct'], [], 'bad_message', what);
      return { t: 'msg', header, ct };
    case 'prekey': {
      readObject(value, ['v', 'header', 'ct', 'ik', 'ek', 'spk'], ['opk'], 'bad_message', what);
      const x3dh: X3dhInitiation = {
        ik: publicIdentityFromJSON(o.ik, 'bad_message', 'envelope.ik'),
        ek: readBytes(o, 'ek', X25519_KEY_LEN, 'bad_message', what),
        spkId: readU32(o, 'spk', 'bad_message', what),
        ...(o.opk !== undefined ? { opkId: readU32(o, 'opk', 'bad_message', what) } : {}),
      };
      return { t: 'prekey', header, ct, x3dh };
    }
  }
}

/** Parses envelope bytes (UTF-8 JSON) strictly. */
export function parseEnvelope(input: Bytes | string): Envelope {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > MAX_ENVELOPE_BYTES)
    throw new ChatError('too_large', `the envelope is larger than ${MAX_ENVELOPE_BYTES} bytes`);
  return envelopeFromJSON(parseJsonBytes(input, 'bad_message', 'envelope'));
}
