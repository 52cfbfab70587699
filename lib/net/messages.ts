/**
 * The typed, validated messages of the relay protocol (PROTOCOL.md section 7): the message types
 * and the tables that parse and serialize them. Everything that arrives is checked here, at the
 * edge, and built field by field, so the rest of the code never sees an unchecked object and
 * unknown fields are never passed through.
 *
 * In the typed messages, byte fields stay base64 strings as on the wire (type `Base64`), but only
 * once they have been strictly decoded and their exact length (and, for public keys, their
 * validity) checked, so `fromBase64(field, len)` on them cannot fail.
 *
 * The codec library is codec.ts, the limits limits.ts, the handshake payloads
 * handshake-payloads.ts; their names are re-exported here for the modules that import them.
 * Errors: as codec.ts lists them, plus an unknown `t` -> `bad_message`.
 */
import { ChatError } from '../errors';
import {
  array,
  type Base64,
  bool,
  type Codec,
  count,
  ed25519Key,
  envelope,
  fail,
  type Fields,
  id,
  isObject,
  type JsonObject,
  limitsCodec,
  millis,
  missingOr,
  name,
  nullable,
  object,
  oneOf,
  optional,
  own,
  parseJson,
  pattern,
  rid,
  signature,
  text,
  toBytes,
  u32,
  x25519Key,
} from './codec';
import { canonName } from '../names';
import {
  MAX_MESSAGE_BYTES,
  MAX_MULTI_RECIPIENTS,
  MAX_OPKS_PER_PUBLISH,
  MAX_PRESENCE_BATCH,
  MAX_TEXT_LEN,
  MAX_WATCH_PER_REQUEST,
} from './limits';

export * from './limits';
export * from './handshake-payloads';
export type { Base64 } from './codec';

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
/** A user's registered identity, as `error identity_changed` reports it (section 7). */
export interface IdentityInfo {
  readonly user: string;
  readonly signKey: Base64;
  readonly dhKey: Base64;
  readonly idcert: Base64;
}

/** One recipient of a `send.multi`: `for` as in `send` (the signKey the copy was sealed for). */
export interface MultiRecipient {
  readonly user: string;
  readonly for?: Base64;
}

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
  /**
   * One envelope (a group message, section 10) for up to MAX_MULTI_RECIPIENTS users, each copy
   * queued and acked per recipient exactly as a `send`; answered per copy, in the order of `to`,
   * with the `sent` or `error` a `send` would get, each naming its recipient in `user`.
   */
  | {
      readonly t: 'send.multi';
      readonly rid: string;
      readonly id: string;
      readonly to: readonly MultiRecipient[];
      readonly env: Base64;
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
  /** `user`: the recipient this answer is about, in the answers to a `send.multi` only. */
  | {
      readonly t: 'sent';
      readonly rid: string;
      readonly id: string;
      readonly status: SendStatus;
      readonly user?: string;
    }
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
   * `user` names the recipient when the error is about one copy of a `send.multi`.
   */
  | {
      readonly t: 'error';
      readonly rid?: string;
      readonly code: string;
      readonly message: string;
      readonly id?: string;
      readonly identity?: IdentityInfo;
      readonly user?: string;
    };

export type ClientMessageType = ClientMessage['t'];
export type RelayMessageType = RelayMessage['t'];

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

/** 1 to MAX_MULTI_RECIPIENTS recipients, no name twice (by canonical name). */
const multiRecipients: Codec<readonly MultiRecipient[]> = (() => {
  const list = array(
    object<MultiRecipient>({ user: name, for: optional(ed25519Key) }),
    MAX_MULTI_RECIPIENTS,
    'too_large',
    1,
  );
  return {
    decode(v, field) {
      const to = list.decode(v, field);
      if (new Set(to.map((r) => canonName(r.user))).size !== to.length) {
        fail('bad_message', `field ${field} names a recipient twice`);
      }
      return to;
    },
    encode: (v) => list.encode(v),
  };
})();

/** `{t, ...fields}` for each message type; `t` itself is handled by `messageCodec`. */
type Bodies<M extends { t: string }> = { readonly [K in M['t']]: Fields<Omit<Extract<M, { t: K }>, 't'>> };

const CLIENT_BODIES: Bodies<ClientMessage> = {
  list: { rid },
  'keys.publish': { rid, spk: signedPrekey, opks: array(oneTimePrekey, MAX_OPKS_PER_PUBLISH, 'too_large') },
  'keys.fetch': { rid, user: name },
  send: { rid, id, to: name, env: envelope, for: optional(ed25519Key) },
  'send.multi': { rid, id, to: multiRecipients, env: envelope },
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
  sent: { rid, id, status: oneOf<SendStatus>(['delivered', 'queued']), user: optional(name) },
  deliver: { id, from: name, env: envelope, ts: millis },
  ping: { rid },
  pong: { rid },
  error: {
    rid: optional(rid),
    code: pattern(/^[a-z0-9_]{1,64}$/, 'an error code'),
    message: text(MAX_TEXT_LEN),
    id: optional(id),
    identity: optional(identityInfo),
    user: optional(name),
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
