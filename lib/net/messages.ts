/**
 * The typed, validated messages of the relay protocol: the handshake payloads of PROTOCOL.md
 * section 5 and the client <-> relay messages of section 7. Everything that arrives is checked
 * here, at the edge, and built field by field, so the rest of the code never sees an unchecked
 * object and unknown fields are never passed through.
 *
 * In the typed messages, byte fields stay base64 strings as on the wire (type `Base64`), but only
 * once they have been strictly decoded and their exact length (and, for public keys, their
 * validity) checked, so `fromBase64(field, len)` on them cannot fail.
 *
 * Errors (all ChatError, operation `messages.parse`): bad UTF-8, bad JSON, a non-object, an
 * unknown `t`, a missing or wrong-typed field -> `bad_message` (the text names the field, never
 * its value); a malformed user name -> `bad_name`; an oversized envelope, hello or list ->
 * `too_large`; a handshake `v` other than 1 -> `unsupported_version`.
 */
import { ChatError, type ErrorCode } from '../errors';
import { checkEd25519Public, checkX25519Public, fromBase64 } from '../crypto/primitives';
import { isValidName } from '../names';
import { MAX_FRAME_PAYLOAD } from './framing';

// ---------------------------------------------------------------------------------------------
// Limits

/** ClientHello and ServerHello are cleartext and unauthenticated: 1 KiB each (PROTOCOL.md section 5). */
export const MAX_HELLO_BYTES = 1024;
/**
 * An end-to-end envelope, decoded: the 32 KiB padded inner plaintext (section 9) plus its AEAD
 * tag, header and JSON/base64 overhead fits under 46 KiB (about 44 KiB at most), and 46 KiB in base64 still fits one frame.
 */
export const MAX_ENVELOPE_BYTES = 46 * 1024;
/** One-time prekeys per `keys.publish`: 100 at registration, topped up below 20 (section 3). */
export const MAX_OPKS_PER_PUBLISH = 200;
/** A request id is the client's own label, echoed back; short and printable so it can be logged. */
export const MAX_RID_LEN = 64;
/** Message ids are 16 random bytes written as 32 lowercase hex characters (section 7). */
export const ID_HEX_LEN = 32;
/** Suites in a ClientHello/ServerHello list: a client offers a handful, never dozens. */
export const MAX_SUITES = 16;
/** Longest suite name; Noise names are short ASCII (`Noise_XX_25519_ChaChaPoly_SHA256`). */
export const MAX_SUITE_NAME_LEN = 64;
/** Relay-supplied text shown to a person (error message, server name, version): bounded and printable. */
export const MAX_TEXT_LEN = 512;
/** Entries in ServerInfo `limits`. */
export const MAX_LIMIT_ENTRIES = 32;
/** Any message is one Noise transport payload, itself inside one frame (section 4). */
export const MAX_MESSAGE_BYTES = MAX_FRAME_PAYLOAD;
/** The protocol version this code speaks (section 5). */
export const PROTOCOL_VERSION = 1;
/** The `app` of a ClientHello. */
export const APP_NAME = 'chatsecure';

const KEY_LEN = 32;
const SIG_LEN = 64;
const U32_MAX = 0xffffffff;
const ID_PATTERN = /^[0-9a-f]{32}$/;
const RID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const SUITE_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
const LIMIT_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
// C0 and C1 controls and DEL: relay text reaches a terminal, where they could forge the screen.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

// ---------------------------------------------------------------------------------------------
// Types

/** Standard padded base64 (PROTOCOL.md section 2), already checked by the parser. */
export type Base64 = string;

/** A signed prekey as published and handed out (section 3). */
export interface SignedPrekey {
  readonly id: number;
  readonly pub: Base64;
  readonly sig: Base64;
}

export interface OneTimePrekey {
  readonly id: number;
  readonly pub: Base64;
}

export interface UserEntry {
  readonly name: string;
  readonly online: boolean;
  /** Milliseconds since the epoch, relay clock; null if never seen. */
  readonly lastSeen: number | null;
}

export type SendStatus = 'delivered' | 'queued';

export interface PresenceChange {
  readonly user: string;
  readonly online: boolean;
}

/** Names per `presence.watch` / `presence.unwatch` request. */
export const MAX_WATCH_PER_REQUEST = 100;
/** Names one connection may watch at once (held in memory only, never stored or logged). */
export const MAX_WATCHED = 1000;

/** A user's registered identity, as `error identity_changed` reports it (section 7). */
export interface IdentityInfo {
  readonly user: string;
  readonly signKey: Base64;
  readonly dhKey: Base64;
  readonly idcert: Base64;
}

/** Presence changes per `presence.batch` frame: 1,000 names of at most 32 characters fit easily. */
export const MAX_PRESENCE_BATCH = 1000;

/** Client -> relay (section 7). */
export type ClientMessage =
  | { readonly t: 'list'; readonly rid: string }
  | {
      readonly t: 'keys.publish';
      readonly rid: string;
      readonly spk: SignedPrekey;
      readonly opks: readonly OneTimePrekey[];
    }
  | { readonly t: 'keys.fetch'; readonly rid: string; readonly user: string }
  | {
      readonly t: 'send';
      readonly rid: string;
      readonly id: string;
      readonly to: string;
      readonly env: Base64;
      /**
       * The recipient's `signKey` the envelope was sealed for. The relay compares it with the
       * registered one and refuses a mismatch with `error identity_changed` (section 7).
       * Optional so an older client still works (then nothing is compared).
       */
      readonly for?: Base64;
    }
  | { readonly t: 'ack'; readonly id: string }
  /** Ask for presence changes of these users; answered with `presence.batch` carrying the rid. */
  | { readonly t: 'presence.watch'; readonly rid: string; readonly users: readonly string[] }
  /** Stop watching these users; answered with an empty `presence.batch` carrying the rid. */
  | { readonly t: 'presence.unwatch'; readonly rid: string; readonly users: readonly string[] }
  | { readonly t: 'ping'; readonly rid: string }
  | { readonly t: 'pong'; readonly rid: string };

/** Relay -> client (section 7). */
export type RelayMessage =
  /**
   * First message after login. `users` (online names) is sent only by relays older than
   * presence by subscription; `limits` repeats the limits that apply to this connection.
   */
  | {
      readonly t: 'welcome';
      readonly users?: readonly string[];
      readonly queued: number;
      readonly limits?: Readonly<Record<string, number>>;
    }
  /** Paged: every page but the last has `more: true` (a large directory does not fit one frame). */
  | {
      readonly t: 'users';
      readonly rid: string;
      readonly users: readonly UserEntry[];
      readonly more?: boolean;
    }
  | { readonly t: 'presence'; readonly user: string; readonly online: boolean }
  /** Several presence changes of one moment in one frame (a login storm), oldest first. */
  /** With `rid`, the answer to `presence.watch` / `presence.unwatch` (the watched users' state). */
  | { readonly t: 'presence.batch'; readonly changes: readonly PresenceChange[]; readonly rid?: string }
  | {
      readonly t: 'keys.bundle';
      readonly rid: string;
      readonly user: string;
      readonly signKey: Base64;
      readonly dhKey: Base64;
      readonly idcert: Base64;
      readonly spk: SignedPrekey;
      readonly opk?: OneTimePrekey;
    }
  /** Unsolicited when fewer than 20 one-time prekeys are left; with `rid`, the answer to `keys.publish`. */
  | { readonly t: 'keys.low'; readonly remaining: number; readonly rid?: string }
  | { readonly t: 'sent'; readonly rid: string; readonly id: string; readonly status: SendStatus }
  | {
      readonly t: 'deliver';
      readonly id: string;
      readonly from: string;
      readonly env: Base64;
      readonly ts: number;
    }
  | { readonly t: 'ping'; readonly rid: string }
  | { readonly t: 'pong'; readonly rid: string }
  /**
   * `id` names the refused `send` (when a send was refused); `identity` comes with
   * `identity_changed`: the recipient's registered identity, to be verified by the client.
   */
  | {
      readonly t: 'error';
      readonly rid?: string;
      readonly code: string;
      readonly message: string;
      readonly id?: string;
      readonly identity?: IdentityInfo;
    };

export type ClientMessageType = ClientMessage['t'];
export type RelayMessageType = RelayMessage['t'];

/** Handshake message 0, cleartext (section 5.1). */
export interface ClientHello {
  readonly v: 1;
  readonly app: 'chatsecure';
  readonly suites: readonly string[];
}

/** Handshake reply, cleartext (section 5.2): the chosen suite, or a refusal listing the relay's. */
export type ServerHello =
  | { readonly v: 1; readonly suite: string }
  | { readonly v: 1; readonly error: 'no_common_suite'; readonly suites: readonly string[] };

/** Payload of Noise message 2 (section 5.3). */
export interface ServerInfo {
  readonly server: string;
  readonly version: string;
  readonly limits: Readonly<Record<string, number>>;
}

/** Payload of Noise message 3 (section 5.3). */
export interface LoginPayload {
  readonly user: string;
  readonly signKey: Base64;
  readonly idcert: Base64;
  /**
   * The public half of the user's recovery key (Ed25519). Stored with the name at registration,
   * and set or replaced at a later login of the same identity.
   */
  readonly recovery?: Base64;
  /**
   * Registration lock (section 5.3): with `recovery`, a signature by that recovery key over
   * `"chatsecure-recover-v1" 0x00 || u8(len canon) || canon || signKey || dhKey`. It lets a new
   * identity take over a name whose stored recovery key equals `recovery`.
   */
  readonly recover?: Base64;
}

// ---------------------------------------------------------------------------------------------
// Codecs: one table drives both parsing and serializing, so the two cannot drift apart.

type Json = unknown;
type JsonObject = Record<string, unknown>;

interface Codec<T> {
  /** Checks a JSON value and returns the typed value; `field` names it in errors. */
  decode(v: Json, field: string): T;
  encode(v: T): Json;
}

const OP = 'messages.parse';

function fail(code: ErrorCode, text: string): never {
  throw new ChatError(code, text, OP);
}

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own properties only: `constructor` or `__proto__` must never come from a prototype. */
function own(o: JsonObject, k: string): Json {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

function missingOr(v: Json, field: string, what: string): never {
  if (v === undefined) fail('bad_message', `field ${field} is missing`);
  fail('bad_message', `field ${field} must be ${what}`);
}

function pattern(re: RegExp, what: string, code: ErrorCode = 'bad_message'): Codec<string> {
  return {
    decode(v, field) {
      if (typeof v !== 'string') missingOr(v, field, what);
      if (!re.test(v)) fail(code, `field ${field} must be ${what}`);
      return v;
    },
    encode: (v) => v,
  };
}

const rid = pattern(RID_PATTERN, `1 to ${MAX_RID_LEN} characters of A-Z, a-z, 0-9, "_" or "-"`);
const id = pattern(ID_PATTERN, `${ID_HEX_LEN} lowercase hex characters`);

/** User names (section 3): a malformed one is `bad_name`, so the relay can answer with that code. */
const name: Codec<string> = {
  decode(v, field) {
    if (typeof v !== 'string') missingOr(v, field, 'a name');
    if (!isValidName(v))
      fail('bad_name', `field ${field}: a name is 1 to 32 letters, digits, "_", "." or "-"`);
    return v;
  },
  encode: (v) => v,
};

function text(max: number): Codec<string> {
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

function literal<L extends string | number>(value: L): Codec<L> {
  return {
    decode(v, field) {
      if (v !== value) missingOr(v, field, JSON.stringify(value));
      return value;
    },
    encode: (v) => v,
  };
}

const bool: Codec<boolean> = {
  decode(v, field) {
    if (typeof v !== 'boolean') missingOr(v, field, 'true or false');
    return v;
  },
  encode: (v) => v,
};

function integer(max: number, what: string): Codec<number> {
  return {
    decode(v, field) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) missingOr(v, field, what);
      return v;
    },
    encode: (v) => v,
  };
}

const u32 = integer(U32_MAX, 'an integer from 0 to 2^32-1');
const count = integer(Number.MAX_SAFE_INTEGER, 'a non-negative integer');
const millis = integer(Number.MAX_SAFE_INTEGER, 'a non-negative integer of milliseconds');

function nullable<T>(c: Codec<T>): Codec<T | null> {
  return {
    decode: (v, field) => (v === null ? null : c.decode(v, field)),
    encode: (v) => (v === null ? null : c.encode(v)),
  };
}

function optional<T>(c: Codec<T>): Codec<T | undefined> {
  return {
    decode: (v, field) => (v === undefined ? undefined : c.decode(v, field)),
    encode: (v) => (v === undefined ? undefined : c.encode(v)),
  };
}

function oneOf<L extends string>(values: readonly L[]): Codec<L> {
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
function bytes(len: number, check?: (b: Uint8Array) => void): Codec<Base64> {
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

const x25519Key = bytes(KEY_LEN, (b) => checkX25519Public(b));
const ed25519Key = bytes(KEY_LEN, (b) => checkEd25519Public(b));
const signature = bytes(SIG_LEN);

/** The opaque end-to-end envelope: 1 to MAX_ENVELOPE_BYTES bytes of strict base64. */
const envelope: Codec<Base64> = {
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

function array<T>(c: Codec<T>, max: number, overCode: ErrorCode, min = 0): Codec<readonly T[]> {
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

type Fields<T> = { readonly [K in keyof T]-?: Codec<T[K]> };

/** An object built field by field from `fields`; any other property is dropped. */
function object<T>(fields: Fields<T>): Codec<T> {
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

const signedPrekey = object<SignedPrekey>({ id: u32, pub: x25519Key, sig: signature });
const oneTimePrekey = object<OneTimePrekey>({ id: u32, pub: x25519Key });
const userEntry = object<UserEntry>({ name, online: bool, lastSeen: nullable(millis) });
const presenceChange = object<PresenceChange>({ user: name, online: bool });
const identityInfo = object<IdentityInfo>({
  user: name,
  signKey: ed25519Key,
  dhKey: x25519Key,
  idcert: signature,
});
const watchList = array(name, MAX_WATCH_PER_REQUEST, 'too_large', 1);

const limitsCodec: Codec<Readonly<Record<string, number>>> = {
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

/** `{t, ...fields}` for each message type; `t` itself is handled by `messageCodec`. */
type Bodies<M extends { t: string }> = { readonly [K in M['t']]: Fields<Omit<Extract<M, { t: K }>, 't'>> };

const CLIENT_BODIES: Bodies<ClientMessage> = {
  list: { rid },
  'keys.publish': { rid, spk: signedPrekey, opks: array(oneTimePrekey, MAX_OPKS_PER_PUBLISH, 'too_large') },
  'keys.fetch': { rid, user: name },
  send: { rid, id, to: name, env: envelope, for: optional(ed25519Key) },
  ack: { id },
  'presence.watch': { rid, users: watchList },
  'presence.unwatch': { rid, users: watchList },
  ping: { rid },
  pong: { rid },
};

const RELAY_BODIES: Bodies<RelayMessage> = {
  welcome: {
    users: optional(array(name, Number.MAX_SAFE_INTEGER, 'too_large')),
    queued: count,
    limits: optional(limitsCodec),
  },
  users: { rid, users: array(userEntry, Number.MAX_SAFE_INTEGER, 'too_large'), more: optional(bool) },
  presence: { user: name, online: bool },
  'presence.batch': { changes: array(presenceChange, MAX_PRESENCE_BATCH, 'too_large'), rid: optional(rid) },
  'keys.bundle': {
    rid,
    user: name,
    signKey: ed25519Key,
    dhKey: x25519Key,
    idcert: signature,
    spk: signedPrekey,
    opk: optional(oneTimePrekey),
  },
  'keys.low': { remaining: count, rid: optional(rid) },
  sent: { rid, id, status: oneOf<SendStatus>(['delivered', 'queued']) },
  deliver: { id, from: name, env: envelope, ts: millis },
  ping: { rid },
  pong: { rid },
  error: {
    rid: optional(rid),
    code: pattern(/^[a-z0-9_]{1,64}$/, 'an error code'),
    message: text(MAX_TEXT_LEN),
    id: optional(id),
    identity: optional(identityInfo),
  },
};

function messageCodec<M extends { t: string }>(bodies: Bodies<M>): Codec<M> {
  const codecs = new Map<string, Codec<unknown>>();
  for (const t of Object.keys(bodies)) {
    codecs.set(t, object(bodies[t as M['t']] as Fields<JsonObject>) as Codec<unknown>);
  }
  return {
    decode(v) {
      if (!isObject(v)) fail('bad_message', 'a message must be a JSON object');
      const t = own(v, 't');
      if (typeof t !== 'string') missingOr(t, 't', 'a string');
      const c = codecs.get(t);
      if (!c) fail('bad_message', 'unknown message type');
      return { t, ...(c.decode(v, '') as object) } as M;
    },
    encode(m) {
      const c = codecs.get(m.t);
      if (!c) throw new ChatError('bad_message', 'unknown message type', 'messages.serialize');
      return { t: m.t, ...(c.encode(m) as object) };
    },
  };
}

const clientMessage = messageCodec<ClientMessage>(CLIENT_BODIES);
const relayMessage = messageCodec<RelayMessage>(RELAY_BODIES);
const clientMessageTypes = new Set<string>(Object.keys(CLIENT_BODIES));

// ---------------------------------------------------------------------------------------------
// Bytes <-> JSON

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function parseJson(b: Uint8Array, max: number, what: string): JsonObject {
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

function toBytes(v: Json): Uint8Array {
  return new Uint8Array(Buffer.from(JSON.stringify(v), 'utf8'));
}

/** A handshake payload's version: absent or not an integer is malformed; another integer is unsupported. */
function checkVersion(o: JsonObject): 1 {
  const v = own(o, 'v');
  if (typeof v !== 'number' || !Number.isInteger(v)) missingOr(v, 'v', 'an integer');
  if (v !== PROTOCOL_VERSION) fail('unsupported_version', `protocol version ${v} is not supported`);
  return PROTOCOL_VERSION;
}

// ---------------------------------------------------------------------------------------------
// Section 7 messages

export function parseClientMessage(b: Uint8Array): ClientMessage {
  return clientMessage.decode(parseJson(b, MAX_MESSAGE_BYTES, 'a message'), '');
}

export function parseRelayMessage(b: Uint8Array): RelayMessage {
  return relayMessage.decode(parseJson(b, MAX_MESSAGE_BYTES, 'a message'), '');
}

/**
 * UTF-8 JSON of a typed message, byte fields in base64. Only the fields of its type are written.
 * `ping`/`pong` exist in both directions with the same shape, so either codec serves them.
 */
export function serializeMessage(msg: ClientMessage | RelayMessage): Uint8Array {
  const wire = clientMessageTypes.has(msg.t)
    ? clientMessage.encode(msg as ClientMessage)
    : relayMessage.encode(msg as RelayMessage);
  return toBytes(wire);
}

// ---------------------------------------------------------------------------------------------
// Section 5 handshake payloads

const suite = pattern(SUITE_PATTERN, `a suite name of 1 to ${MAX_SUITE_NAME_LEN} characters`);
const suiteList = array(suite, MAX_SUITES, 'bad_message');

export function parseClientHello(b: Uint8Array): ClientHello {
  const o = parseJson(b, MAX_HELLO_BYTES, 'ClientHello');
  const v = checkVersion(o);
  return {
    v,
    app: literal(APP_NAME).decode(own(o, 'app'), 'app'),
    suites: suiteList.decode(own(o, 'suites'), 'suites'),
  };
}

export function serializeClientHello(h: ClientHello): Uint8Array {
  return checkedHello(toBytes({ v: h.v, app: h.app, suites: [...h.suites] }), 'ClientHello');
}

export function parseServerHello(b: Uint8Array): ServerHello {
  const o = parseJson(b, MAX_HELLO_BYTES, 'ServerHello');
  const v = checkVersion(o);
  if (own(o, 'error') !== undefined) {
    const error = literal('no_common_suite').decode(own(o, 'error'), 'error');
    return { v, error, suites: suiteList.decode(own(o, 'suites'), 'suites') };
  }
  return { v, suite: suite.decode(own(o, 'suite'), 'suite') };
}

export function serializeServerHello(h: ServerHello): Uint8Array {
  const wire = 'suite' in h ? { v: h.v, suite: h.suite } : { v: h.v, error: h.error, suites: [...h.suites] };
  return checkedHello(toBytes(wire), 'ServerHello');
}

function checkedHello(b: Uint8Array, what: string): Uint8Array {
  if (b.length > MAX_HELLO_BYTES) {
    throw new ChatError('too_large', `${what} is larger than ${MAX_HELLO_BYTES} bytes`, 'messages.serialize');
  }
  return b;
}

const serverInfo = object<ServerInfo>({
  server: text(MAX_TEXT_LEN),
  version: text(MAX_TEXT_LEN),
  limits: limitsCodec,
});

export function parseServerInfo(b: Uint8Array): ServerInfo {
  return serverInfo.decode(parseJson(b, MAX_MESSAGE_BYTES, 'ServerInfo'), '');
}

export function serializeServerInfo(i: ServerInfo): Uint8Array {
  return toBytes(serverInfo.encode(i));
}

const loginPayload = object<LoginPayload>({
  user: name,
  signKey: ed25519Key,
  idcert: signature,
  recovery: optional(ed25519Key),
  recover: optional(signature),
});

export function parseLoginPayload(b: Uint8Array): LoginPayload {
  return loginPayload.decode(parseJson(b, MAX_MESSAGE_BYTES, 'login payload'), '');
}

export function serializeLoginPayload(p: LoginPayload): Uint8Array {
  return toBytes(loginPayload.encode(p));
}
