/**
 * Everything one user's client keeps, except the identity file and known_servers (DESIGN.md,
 * "Where data lives"): outbox, history, dedupe ids, contacts, ratchet sessions, prekey secrets,
 * envelopes held for a contact whose identity changed, and small settings. SQLite
 * (sqlite-store.ts) is the default backend.
 *
 * The interface is synchronous on purpose: `transaction(fn)` must commit a ratchet step and the
 * message it decrypted together (PROTOCOL.md section 8), and an outgoing envelope must be stored
 * before it is sent, with nothing able to interleave.
 *
 * Failures throw ChatError `storage_failed` or `corrupt_store`.
 */
import type { GroupStore } from './groups/group-store';

/** PROTOCOL.md section 8: duplicates are detected by the inner id, per contact, kept 30 days. */
export const SEEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** PROTOCOL.md section 8: archived sessions kept per contact, as libsignal does. */
export const ARCHIVED_SESSIONS_MAX = 40;
/**
 * Envelopes held for one contact whose identity changed (PROTOCOL.md 8.4). The relay lets one
 * sender queue at most 1,000 for us; holding ten times that bounds the disk a hostile sender can
 * take while the user has not decided.
 */
export const HELD_PER_CONTACT_MAX = 10_000;

// ---------------------------------------------------------------------------------------------
// Outbox

export interface OutgoingRecord {
  /** Outer id (32 lowercase hex), reused on every resend. */
  readonly id: string;
  /** Recipient name as the user typed or the contact holds it. */
  readonly to: string;
  /** The exact bytes to send; a resend transmits these and never re-encrypts (section 8). */
  readonly envelope: Uint8Array;
  readonly createdAt: number;
}

/**
 * A text typed but not yet encrypted (no session yet, or the contact's identity changed and waits
 * for `/accept`): everything needed to seal it later. Its plaintext is also in the history.
 */
export interface UnsentText {
  /** Inner id (the history's id, and the outbox id once sealed). */
  readonly id: string;
  /** Contact, canonical. */
  readonly peer: string;
  readonly peerName: string;
  readonly body: string;
  readonly ts: number;
  /**
   * A pairwise group inner message (docs/protocol.md 10.1), as the JSON of `GroupInner`, instead of
   * a text (`body` is then empty): state, changes and sender keys wait for a session like texts.
   */
  readonly inner?: string;
}

/** The relay's `sent` status (PROTOCOL.md section 7). */
export type SentStatus = 'delivered' | 'queued';

// ---------------------------------------------------------------------------------------------
// History

export type Direction = 'in' | 'out';

/**
 * Outgoing: sending → sent | queued → delivered → read, or sending → failed (final: the relay
 * answered `unknown_user`). Incoming: received → shown.
 * A state never moves backwards (a late `delivered` receipt does not undo `read`).
 */
export type OutgoingState = 'sending' | 'sent' | 'queued' | 'delivered' | 'read' | 'failed';
export type IncomingState = 'received' | 'shown';
export type MessageState = OutgoingState | IncomingState;

export interface NewMessage {
  /** Inner id (section 8), unique per (peer, direction). */
  readonly id: string;
  /** Contact, canonical. */
  readonly peer: string;
  /** Contact as displayed. */
  readonly peerName: string;
  readonly direction: Direction;
  readonly body: string;
  /** The sender's claim; shown, never used for order. */
  readonly ts: number;
  /** Our clock when it was stored; history is ordered by arrival. */
  readonly localTs: number;
  readonly state: MessageState;
  /** Group id (32 hex) when this is a group message; then `peer` is the conversation key '#'+id. */
  readonly group?: string;
  /** Incoming group message: the display name of the member who wrote it (peer-supplied: neutralise). */
  readonly sender?: string;
}

export interface MessageRecord extends NewMessage {
  /** Position in local arrival order; pass as `before` to page back through history. */
  readonly seq: number;
}

export interface Conversation {
  readonly peer: string;
  readonly peerName: string;
  /** localTs of its latest message. */
  readonly lastTs: number;
  /** Incoming messages not yet shown. */
  readonly unread: number;
}

// ---------------------------------------------------------------------------------------------
// Contacts (PROTOCOL.md 8.4)

export interface Identity {
  readonly name: string;
  readonly canon: string;
  readonly signKey: Uint8Array;
  readonly dhKey: Uint8Array;
  readonly idcert: Uint8Array;
}

export type ContactState = 'unverified' | 'verified' | 'changed';

export interface Contact extends Identity {
  readonly verified: boolean;
  /** `changed` while a different identity waits for the user to accept it. */
  readonly state: ContactState;
  readonly pendingIdentity?: Identity;
  readonly pinnedAt: number;
}

/**
 * - `pinned`: first identity seen for this name, now pinned;
 * - `unchanged`: the same identity was already pinned;
 * - `changed`: another identity is pinned; nothing was written (call `markChanged`).
 */
export type PinResult = 'pinned' | 'unchanged' | 'changed';

// ---------------------------------------------------------------------------------------------
// Ratchet sessions and prekeys

export interface SessionRecord {
  readonly sessionId: string;
  /** Serialized by lib/crypto/ratchet; opaque here. */
  readonly state: string;
  readonly lastUsed: number;
  readonly archived: boolean;
}

export interface SignedPrekeySecret {
  readonly id: number;
  readonly secret: Uint8Array;
  readonly pub: Uint8Array;
  readonly sig: Uint8Array;
  readonly createdAt: number;
}

export interface OneTimePrekeySecret {
  readonly id: number;
  readonly secret: Uint8Array;
  readonly pub: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Held envelopes

export interface HeldEnvelope {
  /** Outer id from `deliver`. */
  readonly id: string;
  /** `deliver.from`, as displayed. */
  readonly from: string;
  readonly env: Uint8Array;
  /** `deliver.ts`, the relay's clock. */
  readonly ts: number;
}

export type HoldResult = 'held' | 'duplicate' | 'full';

export interface KeyValue {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
  delete(key: string): void;
}

/**
 * What waits to be sent: sealed envelopes (stored BEFORE the first send, DESIGN.md, removed once
 * the relay answers `sent`) and texts not sealed yet. Every operation is an index lookup or
 * touches one entry: O(1) in the size of the outbox.
 */
export interface OutboxStore {
  queueOutgoing(rec: OutgoingRecord): void;
  /** Not yet acknowledged by the relay, oldest first (at most `limit`). */
  pendingOutgoing(limit?: number): OutgoingRecord[];
  /** One outbox entry by id (an index lookup), or undefined. */
  outgoing(id: string): OutgoingRecord | undefined;
  /** The relay took responsibility: the envelope leaves the outbox. False if it was not there. */
  markSent(id: string, status: SentStatus): boolean;

  /** A text to seal later, after the ones already waiting for the same contact. */
  queueUnsent(text: UnsentText): void;
  /** The texts waiting for `peer`, oldest first. */
  unsentFor(peer: string): UnsentText[];
  /** Contacts with texts waiting, the one waiting longest first. */
  unsentPeers(): string[];
  hasUnsent(peer: string): boolean;
  countUnsent(): number;
  /** Sealed into the outbox, failed or deleted; false if it was not waiting. */
  removeUnsent(peer: string, id: string): boolean;
}

/**
 * History, dedupe ids, and envelopes held while a contact's identity change waits for the
 * user (8.4).
 */
export interface MessageStore {
  /** False if (peer, id, direction) is already stored: receiver-side dedupe. */
  addMessage(msg: NewMessage): boolean;
  /** The latest `limit` messages (all when absent) with seq < `before`, oldest first. */
  history(peer: string, limit?: number, before?: number): MessageRecord[];
  /** One message by its id and direction (an index lookup), or undefined. */
  message(peer: string, id: string, direction: Direction): MessageRecord | undefined;
  /**
   * Move a message forward; outgoing states address the message we sent, incoming states the one
   * we received. False if it does not exist or is already at or past that state.
   */
  setState(peer: string, id: string, state: MessageState): boolean;
  /** Remove one message (either direction); false if there was none. */
  deleteMessage(peer: string, id: string): boolean;
  /** One row per contact with history, latest first. */
  conversations(): Conversation[];
  /** Mark incoming messages shown; returns their ids, oldest first (for the read receipt). */
  markRead(peer: string): string[];
  unreadCount(peer: string): number;

  // Inner ids already seen, per contact (PROTOCOL.md section 8), kept SEEN_TTL_MS.
  seenRecently(peer: string, id: string): boolean;
  rememberSeen(peer: string, id: string, now: number): void;
  /** Forget ids older than SEEN_TTL_MS; returns how many. */
  expireSeen(now: number): number;

  holdIncoming(env: HeldEnvelope): HoldResult;
  /** Held for `peer` (canonical), in arrival order. */
  heldIncoming(peer: string): HeldEnvelope[];
  /** Remove and return them, in arrival order. */
  releaseHeld(peer: string): HeldEnvelope[];
}

/** Pinned identities and their trust (PROTOCOL.md 8.4); lib/client/contacts.ts is its one user. */
export interface ContactStore {
  getContact(canon: string): Contact | undefined;
  /** Pin a first-seen identity; never replaces a different one (see PinResult). */
  pinContact(identity: Identity, now: number): PinResult;
  /** False if there is no such contact. */
  setVerified(canon: string, verified: boolean): boolean;
  /** Record a different identity for a pinned contact; sending is blocked until `acceptChange`. */
  markChanged(canon: string, pending: Identity): void;
  /** Pin the pending identity, clear `verified`, archive the old sessions (8.4). False if none pending. */
  acceptChange(canon: string, now?: number): boolean;
  contacts(): Contact[];
}

/** Ratchet sessions (opaque blobs), most recently used first, active before archived. */
export interface SessionStore {
  sessions(peer: string): SessionRecord[];
  /** Insert or replace; a saved session is active (an archived one that decrypted comes back). */
  saveSession(peer: string, sessionId: string, state: string, lastUsed: number): void;
  /**
   * Archive the peer's sessions except `exceptSessionId`, then delete archived ones beyond
   * `keepAtMost`, least recently used first.
   */
  archiveSessions(peer: string, keepAtMost?: number, exceptSessionId?: string): void;
  /** Delete every session of `peer` for good (a replaced identity's, issue 9); returns how many. */
  deleteSessions(peer: string): number;
}

/** Our prekey secrets (section 3). */
export interface PreKeyStore {
  saveSignedPrekey(spk: SignedPrekeySecret): void;
  /** Newest first. */
  signedPrekeys(): SignedPrekeySecret[];
  deleteSignedPrekey(id: number): boolean;
  saveOneTimePrekeys(opks: readonly OneTimePrekeySecret[]): void;
  /** Read without removing. */
  oneTimePrekey(id: number): OneTimePrekeySecret | undefined;
  /**
   * Remove and return. Call it inside `transaction()` with the saveSession that uses it, so a
   * failure afterwards puts it back (PROTOCOL.md section 8).
   */
  takeOneTimePrekey(id: number): OneTimePrekeySecret | undefined;
  deleteOneTimePrekey(id: number): boolean;
  countOneTimePrekeys(): number;
  /** Reserve `count` consecutive never-used u32 ids; returns the first. */
  nextPrekeyId(count?: number): number;
}

/**
 * The five stores of one user, split by kind as libsignal splits them, in one database so that
 * `transaction` spans them all.
 */
export interface ClientStore extends OutboxStore, MessageStore, ContactStore, SessionStore, PreKeyStore {
  /** Run `fn` in one transaction (nestable); a throw rolls back everything it wrote. `fn` must be synchronous. */
  transaction<T>(fn: () => T): T;

  /** Small settings (e.g. the last relay fingerprint). */
  readonly kv: KeyValue;

  /** Groups (lib/client/groups/group-store.ts), in the same database and transactions. */
  readonly groups: GroupStore;

  close(): void;
}
