/**
 * The end-to-end layer as the client core uses it (PROTOCOL.md section 8), still pure: the client
 * passes in its identity, the contact's sessions, the pin and a prekey lookup, and stores what comes
 * back (one transaction per decrypted message). Storage is the caller's, as libsignal's stores are.
 */
import { ChatError, isChatError, type ErrorCode } from '../errors';
import { canonName, checkName } from '../names';
import { encodeEnvelope, parseEnvelope, type Envelope } from './envelope';
import { identitiesEqual, verifyPublicIdentity, type Identity, type PublicIdentity } from './identity';
import type { PreKeyBundle } from './prekeys';
import type { Bytes, KeyPair } from './primitives';
import { systemRandom, type RandomSource } from './random-source';
import {
  createInitiatorSession,
  createResponderSession,
  sessionDecrypt,
  sessionEncrypt,
  sessionMatchesBase,
  type Session,
} from './ratchet/session';
import { x3dhInitiate, x3dhRespond } from './x3dh';

export interface LocalUser {
  readonly identity: Identity;
  readonly name: string;
}

/** Read-only access to our prekeys by id; `undefined` when the key is no longer held. */
export interface PreKeyLookup {
  signedPreKey(id: number): KeyPair | undefined;
  oneTimePreKey(id: number): KeyPair | undefined;
}

export interface InitiateParams {
  readonly ours: LocalUser;
  readonly theirName: string;
  readonly bundle: PreKeyBundle;
  /** The identity pinned for `theirName`: a bundle with another is `identity_changed`. */
  readonly pinned?: PublicIdentity;
  readonly random?: RandomSource;
}

/**
 * Starts a session from a bundle (X3DH, then the initiator's ratchet). Throws `bad_key` for a bundle
 * whose idcert or signed-prekey signature does not verify, `identity_changed` against the pin.
 */
export function initiateSession(p: InitiateParams): { session: Session; theirIdentity: PublicIdentity } {
  const random = p.random ?? systemRandom;
  const x = x3dhInitiate({
    ours: p.ours.identity,
    ourName: p.ours.name,
    theirName: p.theirName,
    bundle: p.bundle,
    random,
    ...(p.pinned ? { pinned: p.pinned } : {}),
  });
  const session = createInitiatorSession({
    theirName: p.theirName,
    theirIdentity: p.bundle.identity,
    x3dh: x.message,
    sharedSecret: x.sharedSecret,
    ad: x.ad,
    theirSignedPreKey: x.theirSignedPreKey,
    random,
  });
  return { session, theirIdentity: p.bundle.identity };
}

/**
 * Encrypts padded plaintext (`encodeInnerMessage`). Store the returned session before sending the
 * bytes; a resend sends the same bytes, never re-encrypts (section 8).
 */
export function encryptMessage(
  session: Session,
  plaintext: Bytes,
): { envelopeBytes: Bytes; session: Session } {
  const out = sessionEncrypt(session, plaintext);
  return { envelopeBytes: encodeEnvelope(out.envelope), session: out.session };
}

export interface DecryptParams {
  readonly ours: LocalUser;
  /** `deliver.from`: only this contact's sessions are tried. */
  readonly fromName: string;
  readonly envelopeBytes: Bytes | string;
  /** This contact's sessions, the one to try first first (current, then archived). */
  readonly sessions: readonly Session[];
  /** The identity pinned for `fromName`, if any. */
  readonly pinned?: PublicIdentity;
  readonly prekeys: PreKeyLookup;
  /** Wall-clock ms (skipped-key expiry). */
  readonly now: number;
  readonly random?: RandomSource;
}

/**
 * What a successful decrypt gives the client to store in one transaction.
 * - `existing`: replace `session` (same `id`) in the store.
 * - `new`: store `session`, archive the contact's older ones (at most 40), and delete the one-time
 *   prekey `consumedOpkId` if set. Pin `theirIdentity` if nothing was pinned.
 */
export type DecryptResult =
  | { readonly t: 'existing'; readonly plaintext: Bytes; readonly session: Session }
  | {
      readonly t: 'new';
      readonly plaintext: Bytes;
      readonly session: Session;
      readonly theirIdentity: PublicIdentity;
      readonly consumedOpkId?: number;
    };

/** When every session fails, the most telling error wins: a replay is a replay. */
const ERROR_RANK: readonly ErrorCode[] = ['duplicate_message', 'too_many_skipped'];

function pickError(errors: unknown[]): unknown {
  for (const code of ERROR_RANK) {
    const e = errors.find((err) => isChatError(err, code));
    if (e) return e;
  }
  return errors[0];
}

/**
 * Decrypts an envelope from `fromName`, following the responder rules of section 8. Every failure
 * is a coded ChatError and changes nothing: `bad_message`, `bad_key` (bad idcert), `identity_changed`
 * (a prekey envelope from an identity other than the pin), `no_session` (no session, or a prekey the
 * envelope names is not held; never a fallback), `duplicate_message`, `too_many_skipped`, `decrypt_failed`.
 */
export function decryptEnvelope(p: DecryptParams): DecryptResult {
  const random = p.random ?? systemRandom;
  const from = canonName(checkName(p.fromName));
  const envelope = parseEnvelope(p.envelopeBytes);
  const sessions = p.sessions.filter((s) => s.theirName === from);
  switch (envelope.t) {
    case 'prekey':
      return decryptPreKey(p, from, envelope, sessions, random);
    case 'msg': {
      const errors: unknown[] = [];
      for (const s of sessions) {
        try {
          const out = sessionDecrypt(s, envelope, p.now, random);
          return { t: 'existing', plaintext: out.plaintext, session: out.session };
        } catch (err) {
          if (!isChatError(err)) throw err;
          errors.push(err);
        }
      }
      if (errors.length === 0)
        throw new ChatError('no_session', 'no session with this contact', 'e2e.decrypt');
      throw pickError(errors);
    }
  }
}

function decryptPreKey(
  p: DecryptParams,
  from: string,
  envelope: Extract<Envelope, { t: 'prekey' }>,
  sessions: readonly Session[],
  random: RandomSource,
): DecryptResult {
  const x = envelope.x3dh;
  if (p.pinned && !identitiesEqual(p.pinned, x.ik)) {
    // Only a verified identity can be reported as a change (issue 9, point 3): a bad idcert is
    // `bad_key`, so a relay cannot flip a contact to "changed" with no cryptographic effort.
    verifyPublicIdentity(x.ik);
    throw new ChatError(
      'identity_changed',
      'this contact’s identity differs from the one pinned',
      'e2e.decrypt',
    );
  }
  // A prekey envelope of a session we already built decrypts in that session (section 8). Its `ik`
  // equals, idcert included, the one verified when the session was built: no need to verify again.
  const existing = sessions.find((s) => s.role === 'responder' && sessionMatchesBase(s, x));
  if (existing) {
    const out = sessionDecrypt(existing, envelope, p.now, random);
    return { t: 'existing', plaintext: out.plaintext, session: out.session };
  }
  verifyPublicIdentity(x.ik);
  const spk = p.prekeys.signedPreKey(x.spkId);
  if (!spk)
    throw new ChatError(
      'no_session',
      'the signed prekey this envelope names is no longer held',
      'e2e.decrypt',
    );
  let opk: KeyPair | undefined;
  if (x.opkId !== undefined) {
    opk = p.prekeys.oneTimePreKey(x.opkId);
    if (!opk)
      throw new ChatError(
        'no_session',
        'the one-time prekey this envelope names is no longer held',
        'e2e.decrypt',
      );
  }
  const r = x3dhRespond({
    ours: p.ours.identity,
    ourName: p.ours.name,
    theirName: from,
    message: x,
    signedPreKey: spk,
    ...(opk ? { oneTimePreKey: opk } : {}),
  });
  // Built fresh, so it is already a copy: it reaches the caller only if the message decrypts.
  const fresh = createResponderSession({
    theirName: from,
    x3dh: x,
    sharedSecret: r.sharedSecret,
    ad: r.ad,
    signedPreKey: spk,
  });
  const out = sessionDecrypt(fresh, envelope, p.now, random);
  return {
    t: 'new',
    plaintext: out.plaintext,
    session: out.session,
    theirIdentity: x.ik,
    ...(x.opkId !== undefined ? { consumedOpkId: x.opkId } : {}),
  };
}
