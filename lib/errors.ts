/**
 * The one error registry. Every error that crosses a module carries a stable `code`
 * (PROTOCOL.md section 9 for the wire ones, plus local ones); the text is for people,
 * the code is for programs and tests. Each code equals its key, so `ErrorCode.name_taken`
 * is `'name_taken'` and a test keeps this list and docs/protocol.md in step.
 */
export const WIRE_ERROR_CODES = [
  'bad_frame',
  'bad_message',
  'unsupported_version',
  'no_common_suite',
  'handshake_failed',
  'name_taken',
  'identity_taken',
  'bad_name',
  'unknown_user',
  'too_large',
  'rate_limited',
  'queue_full',
  'replaced',
  'internal',
  /** A `send` was sealed for an identity the recipient no longer has (the error names the new one). */
  'identity_changed',
] as const;

/** Codes that never travel on the wire: raised and handled inside one process. */
export const LOCAL_ERROR_CODES = [
  /** An AEAD tag, a signature or a MAC did not verify. Tell the peer only "decryption failed". */
  'decrypt_failed',
  /** A key is malformed, of small order, or a DH produced all zeros. */
  'bad_key',
  /** A Noise CipherState reached its nonce limit (2^64-1). */
  'nonce_exhausted',
  /** A handshake state machine was used out of order or after it finished. */
  'bad_state',
  /** A Noise protocol name or pattern this engine does not implement. */
  'unsupported_pattern',
  /** The relay's key is not in known_servers and nobody has accepted it yet. */
  'server_key_unknown',
  /** The relay's key differs from the one pinned in known_servers. */
  'server_key_changed',
  /** The relay's certificate is missing, malformed, from an untrusted authority, forged or for another key. */
  'server_cert_invalid',
  /** The relay's certificate is outside its validity window (expired, or not valid yet). */
  'server_cert_expired',
  /** The handshake did not complete within its deadline. */
  'handshake_timeout',
  /** The connection closed (or could not be opened). */
  'connection_closed',
  /** A sealed secret could not be opened with the passphrase given. */
  'bad_passphrase',
  /** Another process holds this data dir's lock. */
  'locked',
  /** The store could not be read or written (full disk, read-only dir, corrupt file). */
  'storage_failed',
  /** A stored file is corrupt or truncated; it is reported, never silently replaced. */
  'corrupt_store',
  /** Command line arguments are wrong or missing. */
  'bad_args',
  /** Too many messages were skipped in one ratchet chain (PROTOCOL.md section 8). */
  'too_many_skipped',
  /** A message key was already used or has expired. */
  'duplicate_message',
  /** A session or prekey that an envelope needs is not held. */
  'no_session',
  /** `/accept` with no safety-number change waiting for that contact. */
  'nothing_to_accept',
  /** An envelope whose message key expired or was evicted: it can no longer be decrypted. */
  'message_expired',
  /** A group name or id that names no group we are or were in (section 10). */
  'unknown_group',
  /** A group change that only an admin may make (add, remove, rename). */
  'not_admin',
  /** A group action (send, change) in a group we left or were removed from, or by a non-member. */
  'not_member',
] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];
export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number];
export type ErrorCode = WireErrorCode | LocalErrorCode;

export const ErrorCode = Object.fromEntries(
  [...WIRE_ERROR_CODES, ...LOCAL_ERROR_CODES].map((c) => [c, c]),
) as { readonly [K in ErrorCode]: K };

/**
 * Codes of ordinary events, not faults: a connection that closed. Their errors carry no stack
 * trace (`stack` is only the name and message): every close makes one or two, and capturing the
 * stack was 1.5 % of the relay's CPU per connection (issue 12).
 */
const WITHOUT_STACK: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['connection_closed']);

export class ChatError extends Error {
  readonly code: ErrorCode;
  /** What was being done when it failed (`noise.readMessage`, `relay.route`, …). */
  readonly operation?: string;

  constructor(code: ErrorCode, message: string, operation?: string) {
    const limit = Error.stackTraceLimit;
    if (WITHOUT_STACK.has(code)) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'ChatError';
    this.code = code;
    this.operation = operation;
  }
}

/** Type guard: `isChatError(err, 'name_taken')`, or any ChatError without a code. */
export function isChatError(err: unknown, code?: ErrorCode): err is ChatError {
  return err instanceof ChatError && (code === undefined || err.code === code);
}

export function isWireErrorCode(code: string): code is WireErrorCode {
  return (WIRE_ERROR_CODES as readonly string[]).includes(code);
}
