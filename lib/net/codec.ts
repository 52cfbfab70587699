/**
 * The codec library of the wire (PROTOCOL.md section 2): small checked decoders/encoders that the
 * message tables (messages.ts) and the handshake payloads (handshake-payloads.ts) are built from.
 * One table drives both parsing and serializing, so the two cannot drift apart.
 *
 * Errors (all ChatError, operation `messages.parse`): bad UTF-8, bad JSON, a non-object, a
 * missing or wrong-typed field -> `bad_message` (the text names the field, never its value); a
 * malformed user name -> `bad_name`; an oversized envelope or list -> `too_large`.
 */
import { ChatError, type ErrorCode } from '../errors';
import { checkEd25519Public, checkX25519Public, fromBase64 } from '../crypto/primitives';
import { isValidName, NAME_RULE } from '../names';
import { ID_HEX_LEN, MAX_ENVELOPE_BYTES, MAX_LIMIT_ENTRIES, MAX_RID_LEN } from './limits';

/** Standard padded base64 (PROTOCOL.md section 2), already checked by the parser. */
export type Base64 = string;

const KEY_LEN = 32;
const SIG_LEN = 64;
const U32_MAX = 0xffffffff;
const ID_PATTERN = /^[0-9a-f]{32}$/;
/** A request id: also what `extractRid` accepts from a message that failed validation. */
export const RID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const LIMIT_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
// C0 and C1 controls and DEL: relay text reaches a terminal, where they could forge the screen.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export type Json = unknown;
export type JsonObject = Record<string, unknown>;

export interface Codec<T> {
  /** Checks a JSON value and returns the typed value; `field` names it in errors. */
  decode(v: Json, field: string): T;
  encode(v: T): Json;
}

const OP = 'messages.parse';

export function fail(code: ErrorCode, text: string): never {
  throw new ChatError(code, text, OP);
}

export function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own properties only: `constructor` or `__proto__` must never come from a prototype. */
export function own(o: JsonObject, k: string): Json {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

export function missingOr(v: Json, field: string, what: string): never {
  if (v === undefined) fail('bad_message', `field ${field} is missing`);
  fail('bad_message', `field ${field} must be ${what}`);
}

export function pattern(re: RegExp, what: string, code: ErrorCode = 'bad_message'): Codec<string> {
  return {
    decode(v, field) {
      if (typeof v !== 'string') missingOr(v, field, what);
      if (!re.test(v)) fail(code, `field ${field} must be ${what}`);
      return v;
    },
    encode: (v) => v,
  };
}

export const rid = pattern(RID_PATTERN, `1 to ${MAX_RID_LEN} characters of A-Z, a-z, 0-9, "_" or "-"`);
export const id = pattern(ID_PATTERN, `${ID_HEX_LEN} lowercase hex characters`);

/** User names (section 3): a malformed one is `bad_name`, so the relay can answer with that code. */
export const name: Codec<string> = {
  decode(v, field) {
    if (typeof v !== 'string') missingOr(v, field, 'a name');
    if (!isValidName(v)) fail('bad_name', `field ${field}: ${NAME_RULE}`);
    return v;
  },
  encode: (v) => v,
};

export function text(max: number): Codec<string> {
  return {
    decode(v, field) {
      if (typeof v !== 'string') missingOr(v, field, 'a string');
      if (v.length === 0 || v.length > max || CONTROL_CHARS.test(v)) {
        fail('bad_message', `field ${field} must be 1 to ${max} printable characters`);
      }
      return v;
    },
    encode: (v) => v,
  };
}

export function literal<L extends string | number>(value: L): Codec<L> {
  return {
    decode(v, field) {
      if (v !== value) missingOr(v, field, JSON.stringify(value));
      return value;
    },
    encode: (v) => v,
  };
}

export const bool: Codec<boolean> = {
  decode(v, field) {
    if (typeof v !== 'boolean') missingOr(v, field, 'true or false');
    return v;
  },
  encode: (v) => v,
};

export function integer(max: number, what: string): Codec<number> {
  return {
    decode(v, field) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) missingOr(v, field, what);
      return v;
    },
    encode: (v) => v,
  };
}

export const u32 = integer(U32_MAX, 'an integer from 0 to 2^32-1');
export const count = integer(Number.MAX_SAFE_INTEGER, 'a non-negative integer');
export const millis = integer(Number.MAX_SAFE_INTEGER, 'a non-negative integer of milliseconds');

export function nullable<T>(c: Codec<T>): Codec<T | null> {
  return {
    decode: (v, field) => (v === null ? null : c.decode(v, field)),
    encode: (v) => (v === null ? null : c.encode(v)),
  };
}

export function optional<T>(c: Codec<T>): Codec<T | undefined> {
  return {
    decode: (v, field) => (v === undefined ? undefined : c.decode(v, field)),
    encode: (v) => (v === undefined ? undefined : c.encode(v)),
  };
}

export function oneOf<L extends string>(values: readonly L[]): Codec<L> {
  return {
    decode(v, field) {
      if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
        missingOr(v, field, `one of ${values.join(', ')}`);
      }
      return v as L;
    },
    encode: (v) => v,
  };
}

/** Strict base64 of exactly `len` bytes (section 2), with an optional key check where it enters. */
export function bytes(len: number, check?: (b: Uint8Array) => void): Codec<Base64> {
  return {
    decode(v, field) {
      if (typeof v !== 'string') missingOr(v, field, `${len} bytes of base64`);
      const b = fromBase64(v, len, `field ${field}`);
      if (check) {
        try {
          check(b);
        } catch {
          fail('bad_message', `field ${field} is not a usable public key`);
        }
      }
      return v;
    },
    encode: (v) => v,
  };
}

export const x25519Key = bytes(KEY_LEN, (b) => checkX25519Public(b));
export const ed25519Key = bytes(KEY_LEN, (b) => checkEd25519Public(b));
export const signature = bytes(SIG_LEN);

/** The opaque end-to-end envelope: 1 to MAX_ENVELOPE_BYTES bytes of strict base64. */
export const envelope: Codec<Base64> = {
  decode(v, field) {
    if (typeof v !== 'string') missingOr(v, field, 'base64');
    // Refuse by length before decoding anything.
    if (v.length > Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4) {
      fail('too_large', `field ${field} holds more than ${MAX_ENVELOPE_BYTES} bytes`);
    }
    const b = fromBase64(v, undefined, `field ${field}`);
    if (b.length === 0) fail('bad_message', `field ${field} is empty`);
    if (b.length > MAX_ENVELOPE_BYTES)
      fail('too_large', `field ${field} holds more than ${MAX_ENVELOPE_BYTES} bytes`);
    return v;
  },
  encode: (v) => v,
};

/**
 * The bytes of a `Base64` field of a parsed message: the parser already decoded it strictly,
 * so this decodes without checking again (the strict check re-encodes the whole field; the
 * relay stores every envelope it is sent, issue 12).
 */
export function checkedBytes(v: Base64): Uint8Array {
  const b = Buffer.from(v, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Copies of `parts`, each a view of one new buffer: a typed array of its own costs an ArrayBuffer
 * and a backing store beside its bytes (~170 bytes), which counts for keys kept per connection
 * (issue 12).
 */
export function inOneBuffer(parts: readonly Uint8Array[]): Uint8Array[] {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  return parts.map((p) => {
    all.set(p, at);
    return all.subarray(at, (at += p.length));
  });
}

export function array<T>(c: Codec<T>, max: number, overCode: ErrorCode, min = 0): Codec<readonly T[]> {
  return {
    decode(v, field) {
      if (!Array.isArray(v)) missingOr(v, field, 'a list');
      if (v.length > max) fail(overCode, `field ${field} holds more than ${max} entries`);
      if (v.length < min) fail('bad_message', `field ${field} holds fewer than ${min} entries`);
      return v.map((e, i) => c.decode(e, `${field}[${i}]`));
    },
    encode: (v) => v.map((e) => c.encode(e)),
  };
}

export type Fields<T> = { readonly [K in keyof T]-?: Codec<T[K]> };

/** An object built field by field from `fields`; any other property is dropped. */
export function object<T>(fields: Fields<T>): Codec<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  return {
    decode(v, field) {
      if (!isObject(v)) missingOr(v, field, 'an object');
      const out: Partial<Record<keyof T, unknown>> = {};
      for (const k of keys) {
        const val = fields[k].decode(own(v, k), field ? `${field}.${k}` : k);
        if (val !== undefined) out[k] = val;
      }
      return out as T;
    },
    encode(v) {
      const out: JsonObject = {};
      for (const k of keys) {
        const val = fields[k].encode(v[k]);
        if (val !== undefined) out[k] = val;
      }
      return out;
    },
  };
}

export const limitsCodec: Codec<Readonly<Record<string, number>>> = {
  decode(v, field) {
    if (!isObject(v)) missingOr(v, field, 'an object');
    const keys = Object.keys(v);
    if (keys.length > MAX_LIMIT_ENTRIES)
      fail('bad_message', `field ${field} holds more than ${MAX_LIMIT_ENTRIES} entries`);
    const out: Record<string, number> = {};
    for (const k of keys) {
      // Checked before use as a key, so `__proto__` and friends never reach `out`.
      if (!LIMIT_KEY_PATTERN.test(k)) fail('bad_message', `field ${field} has a malformed key`);
      const n = v[k];
      if (typeof n !== 'number' || !Number.isFinite(n))
        fail('bad_message', `field ${field}.${k} must be a number`);
      out[k] = n;
    }
    return out;
  },
  encode: (v) => ({ ...v }),
};

// ---------------------------------------------------------------------------------------------
// Bytes <-> JSON

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function parseJson(b: Uint8Array, max: number, what: string): JsonObject {
  if (!(b instanceof Uint8Array)) fail('bad_message', `${what} must be bytes`);
  if (b.length > max) fail('too_large', `${what} is larger than ${max} bytes`);
  let s: string;
  try {
    s = utf8Decoder.decode(b);
  } catch {
    fail('bad_message', `${what} is not UTF-8`);
  }
  let v: Json;
  try {
    v = JSON.parse(s);
  } catch {
    fail('bad_message', `${what} is not JSON`);
  }
  if (!isObject(v)) fail('bad_message', `${what} must be a JSON object`);
  return v;
}

/** UTF-8 JSON as a plain Uint8Array view of the encoded bytes (no second copy per frame, issue 12). */
export function toBytes(v: Json): Uint8Array {
  const b = Buffer.from(JSON.stringify(v), 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
