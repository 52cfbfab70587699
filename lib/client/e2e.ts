/**
 * The end-to-end layer bound to the client's store (PROTOCOL.md section 8): which session
 * sends, building sessions from bundles, decrypting deliveries with the store updated in one
 * transaction, and our prekeys. The crypto is in lib/crypto (pure); this file only decides
 * what to load and what to save, as libsignal's stores do.
 */
import { type Identity, identitiesEqual } from '../crypto/identity';
import { encodeInnerMessage, type InnerMessage, parseInnerMessage } from '../crypto/inner-message';
import {
  makeOneTimePreKeys,
  makeSignedPreKey,
  oneTimePreKeysToAdd,
  type PreKeyBundle,
  SIGNED_PREKEY_KEEP_MS,
  SIGNED_PREKEY_ROTATE_MS,
  ONE_TIME_PREKEYS_AT_REGISTRATION,
} from '../crypto/prekeys';
import { sha256, toBase64, toHex } from '../crypto/primitives';
import { canSend, type Session } from '../crypto/ratchet/session';
import {
  decryptEnvelope,
  encryptMessage,
  initiateSession,
  type DecryptResult,
} from '../crypto/session-manager';
import { ChatError } from '../errors';
import { parseJsonBytes } from '../crypto/json-fields';
import { PAD_BLOCK } from '../crypto/inner-message';
import { encodeGroupInner, isGroupKind, parseGroupInner, type GroupInner } from './groups/inner';
import { canonName } from '../names';
import type { SignedPrekey as WireSignedPrekey, OneTimePrekey as WireOneTimePrekey } from '../net/messages';
import { SessionMemo } from './session-memo';
import { contactIdentity, type Contacts } from './contacts';
import type { ClientStore } from './store';

export interface PrekeyUpload {
  readonly spk: WireSignedPrekey;
  readonly opks: WireOneTimePrekey[];
}

/** What a pairwise envelope carries: a text, receipt or typing notice, or a group message of 10.1. */
export type PairwiseInner = InnerMessage | GroupInner;

/**
 * The kind of a padded inner plaintext, or undefined when it is not a JSON object with a string
 * `kind` (the strict parser then reports it). Only to choose the parser: each stays strict.
 */
function kindOf(plaintext: Uint8Array): string | undefined {
  let end = plaintext.length;
  while (end > 0 && plaintext[end - 1] === 0x20) end--;
  if (plaintext.length === 0 || plaintext.length % PAD_BLOCK !== 0) return undefined;
  try {
    const v = parseJsonBytes(plaintext.subarray(0, end), 'bad_message', 'message') as unknown;
    const kind = typeof v === 'object' && v !== null ? (v as { kind?: unknown }).kind : undefined;
    return typeof kind === 'string' ? kind : undefined;
  } catch {
    // Not JSON: parseInnerMessage reports it with its own code and sentence.
    return undefined;
  }
}

/** Section 8.5 and 10.1: `group.*` kinds go to the group parser, everything else to the inner one. */
export function parsePairwiseInner(plaintext: Uint8Array): PairwiseInner {
  const kind = kindOf(plaintext);
  return kind !== undefined && isGroupKind(kind) ? parseGroupInner(plaintext) : parseInnerMessage(plaintext);
}

function encodePairwiseInner(m: PairwiseInner): Uint8Array {
  return isGroupKind(m.kind) ? encodeGroupInner(m as GroupInner) : encodeInnerMessage(m as InnerMessage);
}

export type Decrypted =
  | { readonly t: 'message'; readonly inner: PairwiseInner; readonly pinned: boolean }
  /** The inner id was already seen: the session advanced, nothing to show. */
  | { readonly t: 'duplicate' };

/** The seen-table key of an envelope decrypted once (kept SEEN_TTL_MS, longer than skipped keys). */
function envelopeKey(env: Uint8Array): string {
  return `env:${toHex(sha256(env))}`;
}

/** The seen-table key of a session's first message: its id hashes their identity and base key. */
function firstMessageKey(s: Session): string {
  return `x3dh:${s.id}`;
}

export class EndToEnd {
  private readonly memo = new SessionMemo();

  constructor(
    private readonly store: ClientStore,
    /** The one owner of trust: this layer reads pins and reports changes, never writes a contact. */
    private readonly contacts: Contacts,
    private readonly identity: Identity,
    private readonly name: string,
    private readonly now: () => number,
  ) {}

  private get ours() {
    return { identity: this.identity, name: this.name };
  }

  /** The contact's live sessions, the one to send with first. */
  private loadSessions(peer: string): Session[] {
    return this.store
      .sessions(peer)
      .filter((r) => !r.archived)
      .sort((a, b) => b.lastUsed - a.lastUsed)
      .map((r) => this.memo.parse(peer, r.sessionId, r.state));
  }

  private saveSession(peer: string, s: Session, lastUsed: number): void {
    this.store.saveSession(peer, s.id, this.memo.serialize(peer, s), lastUsed);
  }

  /** Section 8: the session that most recently decrypted an incoming message sends. */
  sendingSession(peer: string): Session | undefined {
    const live = this.loadSessions(peer).filter(canSend);
    live.sort((a, b) => (b.lastDecryptedAt ?? 0) - (a.lastDecryptedAt ?? 0));
    return live[0];
  }

  hasSession(peer: string): boolean {
    return this.sendingSession(peer) !== undefined;
  }

  /**
   * Builds a session from a bundle. Pins the identity if none is pinned; a bundle whose
   * identity differs from the pin is `identity_changed` (the contact is marked changed).
   */
  startSession(theirName: string, bundle: PreKeyBundle): void {
    const peer = canonName(theirName);
    const contact = this.contacts.get(peer);
    if (contact?.state === 'changed') {
      throw new ChatError(
        'identity_changed',
        `the safety number with ${contact.name} changed; verify it first`,
      );
    }
    const pinned = contact ? contactIdentity(contact) : undefined;
    if (pinned && !identitiesEqual(pinned, bundle.identity)) {
      // Only a verified identity becomes pending (issue 9, point 3): `bad_key` otherwise.
      this.contacts.recordChange(theirName, bundle.identity);
      throw new ChatError('identity_changed', `the safety number with ${theirName} changed; verify it first`);
    }
    const { session } = initiateSession({
      ours: this.ours,
      theirName,
      bundle,
      ...(pinned ? { pinned } : {}),
    });
    this.store.transaction(() => {
      if (!contact) this.contacts.pinFirst(theirName, bundle.identity);
      this.saveSession(peer, session, this.now());
    });
  }

  /**
   * Encrypts one inner message and saves the advanced sending chain with `alsoStore` in the
   * same transaction, before the bytes can leave the process (section 8).
   */
  encrypt(peer: string, inner: PairwiseInner, alsoStore: (envelope: Uint8Array) => void): Uint8Array {
    const session = this.sendingSession(peer);
    if (!session) throw new ChatError('no_session', 'no session with this contact yet');
    const { envelopeBytes, session: next } = encryptMessage(session, encodePairwiseInner(inner));
    this.store.transaction(() => {
      this.saveSession(peer, next, next.lastDecryptedAt ?? this.now());
      alsoStore(envelopeBytes);
    });
    return envelopeBytes;
  }

  /**
   * Decrypts a delivery from `fromName` and, in ONE transaction, saves the ratchet step, pins a
   * first identity, consumes the one-time prekey, and runs `alsoStore` (which stores the message).
   * Every failure throws a coded error and changes nothing.
   */
  decrypt(fromName: string, env: Uint8Array, alsoStore: (inner: PairwiseInner) => void): Decrypted {
    const peer = canonName(fromName);
    const pinned = this.contacts.pinned(peer);
    // Only sessions with the pinned identity may decrypt (issue 9, point 1): a replaced identity's
    // session never decrypts again, and so never becomes the sending one.
    const all = this.store
      .sessions(peer)
      .map((r) => this.memo.parse(peer, r.sessionId, r.state))
      .filter((s) => !pinned || identitiesEqual(s.theirIdentity, pinned));
    const envKey = envelopeKey(env);
    const result: DecryptResult = decryptEnvelope({
      ours: this.ours,
      fromName,
      envelopeBytes: env,
      sessions: all,
      ...(pinned ? { pinned } : {}),
      prekeys: {
        signedPreKey: (id) => {
          const s = this.store.signedPrekeys().find((k) => k.id === id);
          return s ? { secretKey: s.secret, publicKey: s.pub } : undefined;
        },
        oneTimePreKey: (id) => {
          const o = this.store.oneTimePrekey(id);
          return o ? { secretKey: o.secret, publicKey: o.pub } : undefined;
        },
      },
      now: this.now(),
    });
    // Issue 9, point 5: a first message without a one-time prekey is refused when its
    // (identity, base key) pair was used before, also after its session is gone.
    const baseKey = result.t === 'new' ? firstMessageKey(result.session) : undefined;
    if (baseKey !== undefined && this.store.seenRecently(peer, baseKey)) {
      throw new ChatError('duplicate_message', 'a first message replayed', 'e2e.decrypt');
    }
    const inner = parsePairwiseInner(result.plaintext);
    let duplicate = false;
    let newlyPinned = false;
    this.store.transaction(() => {
      this.saveSession(peer, result.session, this.now());
      this.store.rememberSeen(peer, envKey, this.now());
      if (baseKey !== undefined) this.store.rememberSeen(peer, baseKey, this.now());
      if (result.t === 'new') {
        this.store.archiveSessions(peer, undefined, result.session.id);
        if (result.consumedOpkId !== undefined) this.store.deleteOneTimePrekey(result.consumedOpkId);
        if (!pinned) newlyPinned = this.contacts.pinFirst(fromName, result.theirIdentity) === 'pinned';
      }
      if (inner.kind === 'text') {
        if (this.store.seenRecently(peer, inner.id)) {
          duplicate = true;
          return;
        }
        this.store.rememberSeen(peer, inner.id, this.now());
      }
      alsoStore(inner);
    });
    return duplicate ? { t: 'duplicate' } : { t: 'message', inner, pinned: newlyPinned };
  }

  /**
   * After `duplicate_message`: true if this very envelope was decrypted before (a redelivery, to
   * drop silently); false if its key expired or was evicted (to report, issue 9 point 6).
   */
  alreadyDecrypted(fromName: string, env: Uint8Array): boolean {
    return this.store.seenRecently(canonName(fromName), envelopeKey(env));
  }

  /** On `/accept`: the old identity's sessions are deleted for good (issue 9, point 1). */
  retireSessions(peer: string): void {
    this.store.deleteSessions(peer);
  }

  // -------------------------------------------------------------------------------------------
  // Our prekeys (section 3)

  private currentSignedPrekey() {
    const all = this.store.signedPrekeys();
    return all.sort((a, b) => b.createdAt - a.createdAt)[0];
  }

  /**
   * What to publish at login: a new signed prekey when there is none or it is 7 days old, and
   * 100 one-time prekeys when none is held. Undefined when nothing is due. `force` republishes
   * the current ones (a relay that does not know us yet).
   */
  prekeysDue(force: boolean): PrekeyUpload | undefined {
    const now = this.now();
    let spk = this.currentSignedPrekey();
    let fresh = false;
    if (!spk || now - spk.createdAt >= SIGNED_PREKEY_ROTATE_MS) {
      const id = this.store.nextPrekeyId(1);
      const made = makeSignedPreKey(this.identity, id, now);
      spk = {
        id,
        secret: made.keyPair.secretKey,
        pub: made.keyPair.publicKey,
        sig: made.sig,
        createdAt: now,
      };
      this.store.saveSignedPrekey(spk);
      fresh = true;
    }
    // Retired signed prekeys are kept 14 more days for envelopes still queued for them.
    for (const old of this.store.signedPrekeys()) {
      if (old.id !== spk.id && now - old.createdAt > SIGNED_PREKEY_ROTATE_MS + SIGNED_PREKEY_KEEP_MS) {
        this.store.deleteSignedPrekey(old.id);
      }
    }
    let opks: WireOneTimePrekey[] = [];
    if (this.store.countOneTimePrekeys() === 0) {
      opks = this.makeOneTimePrekeys(ONE_TIME_PREKEYS_AT_REGISTRATION);
      fresh = true;
    }
    if (!fresh && !force) return undefined;
    return { spk: { id: spk.id, pub: toBase64(spk.pub), sig: toBase64(spk.sig) }, opks };
  }

  /** Top-up after `keys.low` (fewer than 20 left on the relay). */
  topUp(remaining: number): PrekeyUpload | undefined {
    const add = oneTimePreKeysToAdd(remaining);
    if (add <= 0) return undefined;
    const spk = this.currentSignedPrekey();
    if (!spk) return undefined;
    return {
      spk: { id: spk.id, pub: toBase64(spk.pub), sig: toBase64(spk.sig) },
      opks: this.makeOneTimePrekeys(add),
    };
  }

  private makeOneTimePrekeys(count: number): WireOneTimePrekey[] {
    const first = this.store.nextPrekeyId(count);
    const made = makeOneTimePreKeys(first, count);
    this.store.saveOneTimePrekeys(
      made.map((k) => ({ id: k.id, secret: k.keyPair.secretKey, pub: k.keyPair.publicKey })),
    );
    return made.map((k) => ({ id: k.id, pub: toBase64(k.keyPair.publicKey) }));
  }
}
