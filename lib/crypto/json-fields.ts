/**
 * Strict readers for the JSON the end-to-end layer parses: envelopes from the network
 * ('bad_message') and files from the store ('corrupt_store'). Every field is checked for type and
 * length; unknown fields are refused, so a parsed object is exactly what the code expects.
 */
import { ChatError, isChatError, type ErrorCode } from '../errors';
import { isU32 } from './encoding';
import { fromBase64, type Bytes } from './primitives';

export type Fields = Readonly<Record<string, unknown>>;

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes strict UTF-8 (no replacement characters) and parses JSON. */
export function parseJsonBytes(input: Bytes | string, code: ErrorCode, what: string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    try {
      text = utf8Strict.decode(input);
    } catch {
      throw new ChatError(code, `${what} is not valid UTF-8`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ChatError(code, `${what} is not valid JSON`);
  }
}

/** A plain object whose keys are all of `required` and any of `optional`, nothing else. */
export function readObject(
  value: unknown,
  required: readonly string[],
  optional: readonly string[],
  code: ErrorCode,
  what: string,
): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ChatError(code, `${what} must be a JSON object`);
  }
  const obj = value as Fields;
  for (const key of Object.keys(obj)) {
    if (!required.includes(key) && !optional.includes(key)) {
      throw new ChatError(code, `${what} has an unexpected field`);
    }
  }
  for (const key of required) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) throw new ChatError(code, `${what} lacks "${key}"`);
  }
  return obj;
}

export function readBytes(
  obj: Fields,
  key: string,
  length: number | undefined,
  code: ErrorCode,
  what: string,
): Bytes {
  try {
    return fromBase64(obj[key] as string, length, `${what}.${key}`);
  } catch (err) {
    if (isChatError(err)) throw new ChatError(code, err.message);
    throw err;
  }
}

export function readU32(obj: Fields, key: string, code: ErrorCode, what: string): number {
  const v = obj[key];
  if (!isU32(v)) throw new ChatError(code, `${what}.${key} must be an integer from 0 to 2^32-1`);
  return v;
}

export function readSafeInteger(obj: Fields, key: string, code: ErrorCode, what: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ChatError(code, `${what}.${key} must be a non-negative integer`);
  }
  return v;
}

export function readBoolean(obj: Fields, key: string, code: ErrorCode, what: string): boolean {
  const v = obj[key];
  if (typeof v !== 'boolean') throw new ChatError(code, `${what}.${key} must be true or false`);
  return v;
}

export function readString(obj: Fields, key: string, code: ErrorCode, what: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new ChatError(code, `${what}.${key} must be a string`);
  return v;
}

export function readArray(obj: Fields, key: string, code: ErrorCode, what: string): readonly unknown[] {
  const v = obj[key];
  if (!Array.isArray(v)) throw new ChatError(code, `${what}.${key} must be an array`);
  return v;
}
