/**
 * Every size and count limit of the wire (docs/protocol.md section 9), defined once. The codecs
 * (codec.ts), the message tables (messages.ts), the handshake payloads (handshake-payloads.ts),
 * the channel (secure-channel.ts) and the relay read them from here.
 */
import { MAX_FRAME_PAYLOAD } from './framing';

/** The end-to-end envelope's limit is the envelope's own (lib/crypto/envelope.ts). */
export { MAX_ENVELOPE_BYTES } from '../crypto/envelope';
export { MAX_FRAME_PAYLOAD } from './framing';

/** ClientHello and ServerHello are cleartext and unauthenticated: 1 KiB each (PROTOCOL.md section 5). */
export const MAX_HELLO_BYTES = 1024;
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
/** Names per `presence.watch` / `presence.unwatch` request. */
export const MAX_WATCH_PER_REQUEST = 100;
/** Names one connection may watch at once (held in memory only, never stored or logged). */
export const MAX_WATCHED = 1000;

/** Presence changes per `presence.batch` frame: 1,000 names of at most 32 characters fit easily. */
export const MAX_PRESENCE_BATCH = 1000;
/** Noise transport messages carry at most 65535 - 16 bytes of plaintext (section 5.4). */
export const MAX_TRANSPORT_PLAINTEXT = MAX_FRAME_PAYLOAD - 16;

/**
 * Recipients of one `send.multi` (docs/protocol.md section 10.5): a group has at most this many
 * other members, and the list with its `for` keys (about 90 bytes each) and a 32 KiB group message
 * in base64 still fits one frame.
 */
export const MAX_MULTI_RECIPIENTS = 100;
