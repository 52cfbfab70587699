/**
 * Relay certificates (docs/protocol.md section 6.1): one relay identity for N relays. An offline
 * relay-authority key (Ed25519) signs each relay's own Noise static key (X25519) with a relay id
 * and a validity window; the relay sends the certificate in Noise message 2's payload, and a
 * client that pins the authority checks it before message 3.
 *
 * Wire form (all integers big-endian), 147 to 210 bytes:
 *
 *   u8  version = 1
 *   32  relay key       the relay's X25519 Noise static public key
 *   32  authority key   the signer's Ed25519 public key
 *   u64 valid after     seconds since the Unix epoch (notBefore, inclusive)
 *   u64 valid before    seconds since the Unix epoch (notAfter, exclusive)
 *   u8  id length L     1 to 64
 *   L   relay id        ASCII, ^[A-Za-z0-9_.-]{1,64}$
 *   64  signature       Ed25519(authority, "chatsecure-relaycert-v1" 0x00 || all the bytes above)
 *
 * Pure: no clock (the caller passes `now`), no I/O, no randomness.
 */
import { ChatError, type ErrorCode } from '../errors';
import {
  type Bytes,
  checkEd25519Public,
  checkX25519Public,
  concatBytes,
  constantTimeEqual,
  ED25519_PUBLIC_LEN,
  ED25519_SECRET_LEN,
  ED25519_SIG_LEN,
  fingerprint,
  sha256,
  sign,
  verify,
  X25519_KEY_LEN,
} from './primitives';

export const RELAY_CERT_VERSION = 1;
export const RELAY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const RELAY_ID_MAX_LEN = 64;
/** version + relay key + authority key + two u64 times + id length. */
const FIXED_LEN = 1 + X25519_KEY_LEN + ED25519_PUBLIC_LEN + 8 + 8 + 1;
export const RELAY_CERT_MIN_LEN = FIXED_LEN + 1 + ED25519_SIG_LEN;
export const RELAY_CERT_MAX_LEN = FIXED_LEN + RELAY_ID_MAX_LEN + ED25519_SIG_LEN;
/**
 * Times are whole seconds below 2^40 (year 36812): far past any real expiry, and inside
 * JavaScript's exact integers even as milliseconds, so no reader rounds them.
 */
export const RELAY_CERT_MAX_TIME_S = 2 ** 40 - 1;
/** The longest validity a certificate may carry: 10 years. Longer is refused as malformed. */
export const RELAY_CERT_MAX_VALIDITY_S = 3650 * 86_400;
/** `sign` backdates notBefore by 5 minutes, so a client whose clock is a little behind accepts it. */
export const RELAY_CERT_BACKDATE_S = 300;

export interface RelayCertFields {
  /** The relay's X25519 Noise static public key. */
  readonly relayKey: Bytes;
  readonly relayId: string;
  /** Seconds since the epoch, inclusive. */
  readonly notBefore: number;
  /** Seconds since the epoch, exclusive. */
  readonly notAfter: number;
}

export interface RelayCertificate extends RelayCertFields {
  readonly authorityKey: Bytes;
  readonly signature: Bytes;
  /** The signed bytes (everything but the signature). */
  readonly body: Bytes;
  /** The whole certificate as it travels. */
  readonly bytes: Bytes;
}

const CONTEXT = 'chatsecure-relaycert-v1';

function invalid(text: string, code: ErrorCode = 'server_cert_invalid'): never {
  throw new ChatError(code, text, 'relayCert');
}

function u64(n: number): Bytes {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function checkTimes(notBefore: number, notAfter: number): void {
  for (const t of [notBefore, notAfter]) {
    if (!Number.isInteger(t) || t < 0 || t > RELAY_CERT_MAX_TIME_S)
      invalid(`a validity time must be whole seconds from 0 to 2^40-1`);
  }
  if (notAfter <= notBefore) invalid('the certificate ends before it starts');
  if (notAfter - notBefore > RELAY_CERT_MAX_VALIDITY_S)
    invalid('the certificate is valid for more than 3650 days');
}

function encodeBody(authorityKey: Bytes, f: RelayCertFields): Bytes {
  if (f.relayKey.length !== X25519_KEY_LEN) invalid('the relay key must be 32 bytes');
  if (!RELAY_ID_PATTERN.test(f.relayId)) invalid('a relay id is 1 to 64 letters, digits, "_", "." or "-"');
  checkTimes(f.notBefore, f.notAfter);
  return concatBytes(
    new Uint8Array([RELAY_CERT_VERSION]),
    f.relayKey,
    authorityKey,
    u64(f.notBefore),
    u64(f.notAfter),
    new Uint8Array([f.relayId.length]),
    new Uint8Array(Buffer.from(f.relayId, 'ascii')),
  );
}

/** The authority's Ed25519 public key inside its 64-byte tweetnacl secret key. */
function publicOf(authoritySecret: Bytes): Bytes {
  if (authoritySecret.length !== ED25519_SECRET_LEN)
    throw new ChatError('bad_key', 'an Ed25519 secret key must be 64 bytes');
  return authoritySecret.subarray(32);
}

/** Signs a certificate with the authority's secret key (64 bytes: seed || public). */
export function signRelayCert(authoritySecret: Bytes, fields: RelayCertFields): RelayCertificate {
  checkX25519Public(fields.relayKey, 'relay key');
  const authorityKey = publicOf(authoritySecret);
  const body = encodeBody(authorityKey, fields);
  const signature = sign(authoritySecret, CONTEXT, body);
  return decodeRelayCert(concatBytes(body, signature));
}

/**
 * The fields of a certificate for `relayKey`, valid from 5 minutes before `nowMs` for `days`
 * days (1 to 3650).
 */
export function relayCertFields(
  relayKey: Bytes,
  relayId: string,
  nowMs: number,
  days: number,
): RelayCertFields {
  if (!Number.isInteger(days) || days < 1 || days > 3650)
    throw new ChatError('bad_args', 'a certificate is valid for 1 to 3650 days');
  const notBefore = Math.floor(nowMs / 1000) - RELAY_CERT_BACKDATE_S;
  return { relayKey, relayId, notBefore, notAfter: notBefore + days * 86_400 };
}

/**
 * Parses a certificate strictly: exact length for its id, version 1, usable keys, an id of the
 * allowed characters, times in range and in order. It does not check the signature (that needs
 * a trusted authority: `verifyRelayCert`). Anything else is `server_cert_invalid`.
 */
export function decodeRelayCert(bytes: Bytes): RelayCertificate {
  if (!(bytes instanceof Uint8Array)) invalid('the certificate must be bytes');
  if (bytes.length < RELAY_CERT_MIN_LEN || bytes.length > RELAY_CERT_MAX_LEN)
    invalid(`the certificate must be ${RELAY_CERT_MIN_LEN} to ${RELAY_CERT_MAX_LEN} bytes`);
  const b = new Uint8Array(bytes);
  const view = new DataView(b.buffer);
  if (b[0] !== RELAY_CERT_VERSION) invalid(`certificate version ${b[0]} is not supported`);
  let at = 1;
  const relayKey = b.slice(at, (at += X25519_KEY_LEN));
  const authorityKey = b.slice(at, (at += ED25519_PUBLIC_LEN));
  const notBefore = Number(view.getBigUint64(at));
  const notAfter = Number(view.getBigUint64(at + 8));
  at += 16;
  const idLen = b[at++];
  if (b.length !== FIXED_LEN + idLen + ED25519_SIG_LEN)
    invalid('the certificate length does not match its relay id length');
  const idBytes = b.subarray(at, at + idLen);
  // Checked as bytes, before any decoding: only these ASCII characters, so nothing can reach a terminal.
  const relayId = String.fromCharCode(...idBytes);
  if (!RELAY_ID_PATTERN.test(relayId))
    invalid('the relay id must be 1 to 64 letters, digits, "_", "." or "-"');
  at += idLen;
  try {
    checkX25519Public(relayKey, 'relay key');
    checkEd25519Public(authorityKey, 'authority key');
  } catch {
    invalid('the certificate holds an unusable key');
  }
  checkTimes(notBefore, notAfter);
  return {
    relayKey,
    authorityKey,
    relayId,
    notBefore,
    notAfter,
    signature: b.slice(at),
    body: b.slice(0, at),
    bytes: b,
  };
}

/** `SHA256:...` of an authority's Ed25519 public key: what a client pins (docs/protocol.md 6.1). */
export function authorityFingerprint(authorityKey: Bytes): string {
  return fingerprint(authorityKey);
}

function isoSeconds(s: number): string {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The checks a client makes before Noise message 3 (docs/protocol.md 6.1), in this order:
 * 1. the certificate names an authority whose fingerprint is in `trusted` (SHA-256 hashes,
 *    compared in constant time);
 * 2. its signature verifies under that authority's key;
 * 3. the key it certifies equals `relayKey`, the static key the Noise handshake authenticated;
 * 4. `nowMs` lies in [notBefore, notAfter).
 * 1 to 3 fail with `server_cert_invalid`, 4 with `server_cert_expired`.
 */
export function verifyRelayCert(
  cert: RelayCertificate,
  opts: { readonly trusted: readonly Bytes[]; readonly relayKey: Bytes; readonly nowMs: number },
): void {
  const offered = sha256(cert.authorityKey);
  let known = false;
  for (const t of opts.trusted) known = constantTimeEqual(t, offered) || known;
  if (!known) {
    invalid(
      `the relay's certificate is signed by authority ${authorityFingerprint(cert.authorityKey)}, ` +
        'which is not trusted for this relay',
    );
  }
  if (!verify(cert.authorityKey, CONTEXT, cert.body, cert.signature))
    invalid("the relay's certificate signature does not verify: it was altered or forged");
  if (!constantTimeEqual(cert.relayKey, opts.relayKey)) {
    invalid(
      `the relay's certificate is for the key ${fingerprint(cert.relayKey)}, ` +
        `but the relay showed ${fingerprint(opts.relayKey)}`,
    );
  }
  const now = Math.floor(opts.nowMs / 1000);
  if (now < cert.notBefore)
    invalid(
      `the relay's certificate is not valid before ${isoSeconds(cert.notBefore)}`,
      'server_cert_expired',
    );
  if (now >= cert.notAfter)
    invalid(`the relay's certificate expired at ${isoSeconds(cert.notAfter)}`, 'server_cert_expired');
}

/** A certificate's validity times as ISO strings, for people. */
export function certValidity(cert: RelayCertFields): { from: string; until: string } {
  return { from: isoSeconds(cert.notBefore), until: isoSeconds(cert.notAfter) };
}

/** The first word of a certificate file (`--relay-cert FILE`): one line, the word, a space, base64. */
export const RELAY_CERT_FILE_TAG = 'chatsecure-relay-cert-v1';

export function formatRelayCertFile(cert: RelayCertificate): string {
  return `${RELAY_CERT_FILE_TAG} ${Buffer.from(cert.bytes).toString('base64')}\n`;
}

/** Parses a certificate file's text strictly; anything else is `server_cert_invalid`. */
export function parseRelayCertFile(text: string): RelayCertificate {
  const m = /^chatsecure-relay-cert-v1 ([A-Za-z0-9+/=]{1,400})\r?\n?$/.exec(text);
  if (!m) invalid(`a certificate file holds one line: ${RELAY_CERT_FILE_TAG} and the base64 certificate`);
  const b = Buffer.from(m[1], 'base64');
  if (b.toString('base64') !== m[1]) invalid('the certificate is not canonical base64');
  return decodeRelayCert(new Uint8Array(b));
}

/** One line for people: the relay id, the certified key, the authority and the validity. */
export function certSummary(cert: RelayCertificate): string {
  const { from, until } = certValidity(cert);
  return (
    `relay id ${cert.relayId}, key ${fingerprint(cert.relayKey)}, ` +
    `authority ${authorityFingerprint(cert.authorityKey)}, valid ${from} to ${until}`
  );
}
