/**
 * The plaintext inside an envelope (PROTOCOL.md section 8): JSON, one of three kinds, padded with
 * trailing spaces to a multiple of 256 bytes so the relay learns only coarse sizes. Receipts and
 * typing travel here, end to end, never as relay messages.
 */
import { ChatError } from '../errors';
import {
  parseJsonBytes,
  readArray,
  readBoolean,
  readObject,
  readSafeInteger,
  readString,
} from './json-fields';
import { utf8, type Bytes } from './primitives';

/** Message body limit (section 9). */
export const MAX_BODY_BYTES = 16 * 1024;
/** The serialized inner plaintext before padding (section 9); the padded form is at most the same. */
export const MAX_INNER_BYTES = 32 * 1024;
/** Padding granularity (section 8). */
export const PAD_BLOCK = 256;

const SPACE = 0x20;
/** Message ids are 32 lowercase hex characters (section 7). */
const ID_PATTERN = /^[0-9a-f]{32}$/;

export type ReceiptState = 'delivered' | 'read';

export type InnerMessage =
  | { readonly kind: 'text'; readonly id: string; readonly ts: number; readonly body: string }
  | { readonly kind: 'receipt'; readonly of: readonly string[]; readonly state: ReceiptState }
  | { readonly kind: 'typing'; readonly on: boolean };

export function isMessageId(s: unknown): s is string {
  return typeof s === 'string' && ID_PATTERN.test(s);
}

function checkBody(body: string): void {
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    throw new ChatError('too_large', `a message body is at most ${MAX_BODY_BYTES} bytes of UTF-8`);
  }
}

function checkFields(m: InnerMessage): void {
  switch (m.kind) {
    case 'text':
      if (!isMessageId(m.id))
        throw new ChatError('bad_message', 'a message id is 32 lowercase hex characters');
      if (!Number.isSafeInteger(m.ts) || m.ts < 0)
        throw new ChatError('bad_message', 'ts is a non-negative integer');
      checkBody(m.body);
      return;
    case 'receipt':
      if (m.of.length === 0 || !m.of.every(isMessageId)) {
        throw new ChatError('bad_message', 'a receipt names one or more message ids');
      }
      if (m.state !== 'delivered' && m.state !== 'read')
        throw new ChatError('bad_message', 'unknown receipt state');
      return;
    case 'typing':
      if (typeof m.on !== 'boolean') throw new ChatError('bad_message', 'typing.on is true or false');
      return;
  }
}

function toJSONText(m: InnerMessage): string {
  switch (m.kind) {
    case 'text':
      return JSON.stringify({ kind: m.kind, id: m.id, ts: m.ts, body: m.body });
    case 'receipt':
      return JSON.stringify({ kind: m.kind, of: m.of, state: m.state });
    case 'typing':
      return JSON.stringify({ kind: m.kind, on: m.on });
  }
}

/** Serializes and pads. `too_large` beyond the limits of section 9, `bad_message` for bad fields. */
export function encodeInnerMessage(m: InnerMessage): Bytes {
  checkFields(m);
  const json = utf8(toJSONText(m));
  if (json.length > MAX_INNER_BYTES)
    throw new ChatError('too_large', `a message is at most ${MAX_INNER_BYTES} bytes`);
  const padded = new Uint8Array(Math.ceil(json.length / PAD_BLOCK) * PAD_BLOCK).fill(SPACE);
  padded.set(json, 0);
  return padded;
}

/** Strict: padding as `encodeInnerMessage` makes it, exact fields per kind; else `bad_message`. */
export function parseInnerMessage(bytes: Bytes): InnerMessage {
  if (bytes.length === 0 || bytes.length % PAD_BLOCK !== 0) throw new ChatError('bad_message', 'bad padding');
  if (bytes.length > MAX_INNER_BYTES) throw new ChatError('too_large', 'the message is too large');
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === SPACE) end--;
  if (bytes.length - end >= PAD_BLOCK) throw new ChatError('bad_message', 'bad padding');
  const what = 'message';
  const value = parseJsonBytes(bytes.subarray(0, end), 'bad_message', what);
  const kind = readString(
    readObject(value, ['kind'], ['id', 'ts', 'body', 'of', 'state', 'on'], 'bad_message', what),
    'kind',
    'bad_message',
    what,
  );
  let m: InnerMessage;
  switch (kind) {
    case 'text': {
      const o = readObject(value, ['kind', 'id', 'ts', 'body'], [], 'bad_message', what);
      m = {
        kind,
        id: readString(o, 'id', 'bad_message', what),
        ts: readSafeInteger(o, 'ts', 'bad_message', what),
        body: readString(o, 'body', 'bad_message', what),
      };
      break;
    }
    case 'receipt': {
      const o = readObject(value, ['kind', 'of', 'state'], [], 'bad_message', what);
      const of = readArray(o, 'of', 'bad_message', what);
      const state = readString(o, 'state', 'bad_message', what);
      if (!of.every(isMessageId)) throw new ChatError('bad_message', 'a receipt names message ids');
      if (state !== 'delivered' && state !== 'read')
        throw new ChatError('bad_message', 'unknown receipt state');
      m = { kind, of: of as string[], state };
      break;
    }
    case 'typing': {
      const o = readObject(value, ['kind', 'on'], [], 'bad_message', what);
      m = { kind, on: readBoolean(o, 'on', 'bad_message', what) };
      break;
    }
    default:
      throw new ChatError('bad_message', 'unknown message kind');
  }
  checkFields(m);
  return m;
}
