/**
 * What the relay keeps (DESIGN.md, "Where data lives"): the directory (name → identity), prekeys,
 * and the offline queue. Routing code sees only this interface; SQLite (sqlite-store.ts) is the
 * default backend.
 *
 * Every operation returns a Promise so that a networked backend (Redis, for several relays) can be
 * added without touching routing code. The SQLite backend does its work synchronously at the call,
 * so two calls made in order also happen in that order.
 *
 * Failures reject with ChatError `storage_failed` or `corrupt_store`; misuse (an unknown user, a
 * malformed id) rejects with the wire code the router would send.
 */
import { type Base64, checkedBytes } from '../net/codec';

/** PROTOCOL.md section 9: envelopes queued per offline user. */
export const QUEUE_MAX_PER_RECIPIENT = 10_000;
/** PROTOCOL.md section 9: no one sender may fill more than a tenth of someone's queue. */
export const QUEUE_MAX_PER_SENDER = 1_000;
/** PROTOCOL.md section 9: queued envelopes are kept 30 days. */
export const QUEUE_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** What registration stores; the router has already checked `idcert` (PROTOCOL.md section 3). */
export interface NewUser {
  /** The name as registered (display case). */
  readonly name: string;
  /** `canonName(name)`. */
  readonly canon: string;
  readonly signKey: Uint8Array;
  readonly dhKey: Uint8Array;
  readonly idcert: Uint8Array;
  /**
   * The public half of the user's recovery key (Ed25519, docs/protocol.md 7.1): stored with the
   * name; a new identity may take the name over only with a proof signed by it.
   */
  readonly recovery?: Uint8Array;
}

export interface UserRecord extends NewUser {
  readonly registeredAt: number;
  /** Last time the user was seen online (ms since the epoch); set at registration. */
  readonly lastSeen: number;
}

/**
 * - `ok`: a new name, now held by this identity;
 * - `existing`: this identity already holds this name (a login);
 * - `name_taken`: another identity holds the name;
 * - `identity_taken`: this identity already holds another name (one identity, one name).
 */
export type RegisterResult = 'ok' | 'existing' | 'name_taken' | 'identity_taken';

export interface SignedPrekey {
  /** u32 (PROTOCOL.md section 3). */
  readonly id: number;
  readonly pub: Uint8Array;
  /** Checked by the router against the registered signKey before publishing. */
  readonly sig: Uint8Array;
}

export interface OneTimePrekey {
  readonly id: number;
  readonly pub: Uint8Array;
}

/** `duplicate_id`: an opk id this user already published (even one since handed out). */
export type PublishResult = 'ok' | 'duplicate_id';

export interface PrekeyBundle {
  readonly spk: SignedPrekey;
  /** Absent when none is left (PROTOCOL.md section 7, `keys.bundle`). */
  readonly opk?: OneTimePrekey;
}

/**
 * An envelope as `enqueue` takes it: `env` is its bytes, or the base64 the wire parser already
 * checked (lib/net), decoded only when it is written (issue 12: an envelope acked before its
 * commit is never decoded, and holds no buffer while it waits).
 */
export interface NewEnvelope extends Omit<QueuedEnvelope, 'env'> {
  readonly env: Uint8Array | Base64;
}

/** A NewEnvelope's bytes. */
export function envelopeBytes(env: Uint8Array | Base64): Uint8Array {
  return typeof env === 'string' ? checkedBytes(env) : env;
}

export interface QueuedEnvelope {
  /** The outer id (32 lowercase hex), unique per recipient. */
  readonly id: string;
  /** Recipient, canonical. */
  readonly to: string;
  /** Sender, as registered (display case). */
  readonly from: string;
  /** Opaque end-to-end envelope bytes. */
  readonly env: Uint8Array;
  /** Relay clock when it was accepted (ms since the epoch). */
  readonly ts: number;
}

/** `duplicate`: an envelope with this id already waits for this recipient (a resend). */
export type EnqueueResult = 'ok' | 'queue_full' | 'duplicate';

/** How many envelopes may wait for the recipient, in all and from this sender (the relay's limits). */
export interface QueueCaps {
  readonly perRecipient: number;
  readonly perSender: number;
}

/**
 * - `ok`: the name now belongs to the new identity, its old prekeys and queue are gone;
 * - `unknown_user`: nobody holds the name (register it instead);
 * - `identity_taken`: the new identity already holds another name.
 */
export type ReplaceResult = 'ok' | 'unknown_user' | 'identity_taken';

export interface RelayStore {
  // Directory (PROTOCOL.md section 3, handshake message 3).
  /** One atomic insert: concurrent registrations of one name by two identities cannot both win. */
  register(user: NewUser, now: number): Promise<RegisterResult>;
  lookup(canon: string): Promise<UserRecord | undefined>;
  /**
   * The display name of each canonical name, in order; undefined where nobody holds it. What
   * `presence.watch` needs of a user who is not online (issue 12: a whole record per watched
   * name, keys and certificate copied out, was 5 % of the relay's time in a login storm).
   */
  displayNames(canons: readonly string[]): Promise<(string | undefined)[]>;
  /**
   * Registration lock (docs/protocol.md 7.1): in one transaction, the name's identity becomes
   * `user`'s (signKey, dhKey, idcert, recovery, registeredAt = now), and the old identity's
   * prekeys (used opk ids included) and queued envelopes are deleted. The router has already
   * verified the recovery proof against the stored recovery key.
   */
  replaceIdentity(user: NewUser, now: number): Promise<ReplaceResult>;
  /** Sets or replaces the recovery key stored with the name (a login of its own identity). */
  setRecovery(canon: string, recovery: Uint8Array): Promise<void>;
  /** Every registered user, ordered by canonical name. */
  listUsers(): Promise<UserRecord[]>;
  setLastSeen(canon: string, now: number): Promise<void>;
  /** Operator command (PROTOCOL.md 8.4): forget the user, their prekeys and their queue. */
  freeName(canon: string): Promise<boolean>;

  // Prekeys (PROTOCOL.md sections 3 and 7, `keys.*`).
  /** All or nothing: one duplicate opk id refuses the whole request. Replaces the signed prekey. */
  publishPrekeys(
    canon: string,
    spk: SignedPrekey | undefined,
    opks: readonly OneTimePrekey[],
  ): Promise<PublishResult>;
  /**
   * The signed prekey and, when `takeOpk` (default true), the oldest unused one-time prekey,
   * which is consumed; undefined without an spk. `takeOpk` false: the relay's per-target limit
   * on one-time prekeys handed out is reached, so the bundle carries none.
   */
  takeBundle(canon: string, takeOpk?: boolean): Promise<PrekeyBundle | undefined>;
  /** One-time prekeys not yet handed out. */
  countOpks(canon: string): Promise<number>;

  // Offline queue (PROTOCOL.md sections 7 and 9).
  /**
   * Durable (synchronous = FULL) once it resolves, unless an early ack cancelled it (below): only
   * then may the router answer `sent`.
   * `queue_full` when the recipient already holds `caps.perRecipient` envelopes, or
   * `caps.perSender` from this sender (defaults: QUEUE_MAX_PER_RECIPIENT, QUEUE_MAX_PER_SENDER).
   *
   * `committed` (issue 12), when given, is called with the same result as soon as the write is
   * committed and visible to every later read and write of this store, which may be before it is
   * on disk: the relay delivers to an online recipient then, while the fsync runs, and answers
   * `sent` only when the promise resolves. A later `ack` is ordered after it, so it deletes the
   * row. A backend without such a step (Redis) does not call it. If it throws, the promise
   * rejects with that error.
   *
   * `early` (issue 12): the recipient is online. A store may then call `committed('ok')` before
   * the commit, when it can tell the write will be accepted, and let an `ack` of the id that
   * comes before the commit cancel the write: the promise then resolves 'ok' at that ack (the
   * recipient holds the envelope, so the relay is no longer needed for it). If the write fails
   * after an early `committed`, the promise rejects as usual.
   */
  enqueue(
    env: NewEnvelope,
    caps?: QueueCaps,
    committed?: (result: EnqueueResult) => void,
    early?: boolean,
  ): Promise<EnqueueResult>;
  /**
   * `enqueue(env, caps, committed, true)` as a store with an early step takes it, without a
   * promise (issue 12: the promise, its reaction and the closures around them were most of what
   * each message in flight held, copied by every scavenge): when the envelope may go before its
   * commit, queues it and returns true, and the caller delivers it now (where `enqueue` would
   * have called `committed('ok')`). `done` is called once, never before this returns: with no
   * error when the recipient's ack cancelled the insert (`cancelEarly`) or the insert is on
   * disk, or with the error the write failed with. Otherwise returns false having done nothing,
   * and the caller uses `enqueue`.
   */
  enqueueEarly?(env: NewEnvelope, caps: QueueCaps, done: (err: unknown) => void): boolean;
  /**
   * The recipient's ack, when it is of an envelope delivered early and not yet committed:
   * cancels the insert (nothing is written), settles its enqueue and returns true, all before
   * returning. False, having done nothing, for any other id: that ack goes to `ack`.
   */
  cancelEarly?(canon: string, id: string): boolean;
  /** In arrival order; at most `limit` when given. */
  pending(canon: string, limit?: number): Promise<QueuedEnvelope[]>;
  /**
   * Delete on the recipient's `ack`; false if there was nothing to delete. Resolves once the
   * delete is visible to reads, which may be before it is on disk: after a crash the envelope
   * may be delivered again, and the recipient drops it by its id (docs/protocol.md section 7).
   */
  ack(canon: string, id: string): Promise<boolean>;
  /**
   * True when a `pending` read sees every `ack` called before it, settled or not (SQLite: a read
   * commits the batch first). The relay then keeps no set of acks under way for `pump` to skip
   * (issue 12: an add and a delete per message).
   */
  readonly readsSeeAcks?: boolean;
  countQueued(canon: string): Promise<number>;
  /** Delete envelopes older than QUEUE_TTL_MS; returns how many. */
  expire(now: number): Promise<number>;

  close(): Promise<void>;
}
