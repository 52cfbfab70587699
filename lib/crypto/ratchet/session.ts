/**
 * One end-to-end session with one contact (PROTOCOL.md section 8): the X3DH facts it was built from,
 * its associated data, and its Double Ratchet state. A `Session` is immutable: encrypt and decrypt
 * return a new one, which the client stores (decrypt on a copy, commit on success).
 *
 * The ratchet state (every secret) lives outside the object, in a WeakMap, so printing or logging a
 * session shows only its public facts. `serializeSessionForStorage` is the one way to get the secrets
 * out, and it is for the client's store only.
 */
import { ChatError } from '../../errors';
import { canonName, checkName, isValidName } from '../../names';
import type { Envelope } from '../envelope';
import {
  identitiesEqual,
  publicIdentityFromJSON,
  publicIdentityToJSON,
  type PublicIdentity,
} from '../identity';
import {
  parseJsonBytes,
  readArray,
  readBoolean,
  readBytes,
  readObject,
  readSafeInteger,
  readString,
  readU32,
  type Fields,
} from '../json-fields';
import {
  concatBytes,
  constantTimeEqual,
  sha256,
  toBase64,
  toHex,
  x25519PublicKey,
  X25519_KEY_LEN,
  type Bytes,
} from '../primitives';
import type { RandomSource } from '../random-source';
import { redactWith } from '../redact';
import type { X3dhInitiation } from '../x3dh';
import { asReceivingChainKey, asSendingChainKey } from './chain-key';
import {
  initInitiatorRatchet,
  initResponderRatchet,
  ratchetDecrypt,
  ratchetEncrypt,
  type RatchetState,
} from './double-ratchet';
import { parseHeader } from './header';
import { asMessageKey } from './message-key';
import { ourRatchetKeyPair, theirRatchetPublic, type OurRatchetKeyPair } from './ratchet-key';
import { rootKeyFromSharedSecret } from './root-key';
import type { SkippedKey } from './skipped-keys';

export type SessionRole = 'initiator' | 'responder';

export interface SessionInfo {
  /** Hex SHA-256 of the base key (initiator's signKey || dhKey || EK): the same on both sides. */
  readonly id: string;
  readonly role: SessionRole;
  /** canon(name) of the contact. */
  readonly theirName: string;
  readonly theirIdentity: PublicIdentity;
  /** AD of section 8, fixed for the session's life. */
  readonly ad: Bytes;
  /** The X3DH fields that created it; a prekey envelope with the same ones belongs to it. */
  readonly base: X3dhInitiation;
  /** Initiator only: still sending `prekey` envelopes, because no reply has decrypted yet. */
  readonly awaitingReply: boolean;
  /** Wall-clock ms of the last message that decrypted in it (picks the session to send with). */
  readonly lastDecryptedAt?: number;
}

const ratchets = new WeakMap<Session, RatchetState>();

export class Session implements SessionInfo {
  readonly id: string;
  readonly role: SessionRole;
  readonly theirName: string;
  readonly theirIdentity: PublicIdentity;
  readonly ad: Bytes;
  readonly base: X3dhInitiation;
  readonly awaitingReply: boolean;
  readonly lastDecryptedAt?: number;

  constructor(info: SessionInfo, ratchet: RatchetState) {
    this.id = info.id;
    this.role = info.role;
    this.theirName = info.theirName;
    this.theirIdentity = info.theirIdentity;
    this.ad = info.ad;
    this.base = info.base;
    this.awaitingReply = info.awaitingReply;
    if (info.lastDecryptedAt !== undefined) this.lastDecryptedAt = info.lastDecryptedAt;
    ratchets.set(this, ratchet);
    redactWith(this, () => this.describe());
  }

  /** A log-safe summary: public facts and counters, no key material. */
  describe(): Record<string, unknown> {
    const r = ratchetOf(this);
    return {
      id: this.id,
      role: this.role,
      theirName: this.theirName,
      awaitingReply: this.awaitingReply,
      sent: r.sending?.n ?? 0,
      received: r.receiving?.n ?? 0,
      skippedKeys: r.skipped.length,
    };
  }
}

function ratchetOf(s: Session): RatchetState {
  const r = ratchets.get(s);
  if (!r) throw new ChatError('bad_state', 'not a session made by this module');
  return r;
}

function with_(s: Session, changes: Partial<SessionInfo>, ratchet: RatchetState): Session {
  return new Session({ ...infoOf(s), ...changes }, ratchet);
}

function infoOf(s: Session): SessionInfo {
  return {
    id: s.id,
    role: s.role,
    theirName: s.theirName,
    theirIdentity: s.theirIdentity,
    ad: s.ad,
    base: s.base,
    awaitingReply: s.awaitingReply,
    ...(s.lastDecryptedAt !== undefined ? { lastDecryptedAt: s.lastDecryptedAt } : {}),
  };
}

export function sessionId(base: X3dhInitiation): string {
  return toHex(sha256(concatBytes(base.ik.signKey, base.ik.dhKey, base.ek)));
}

/**
 * True when a prekey envelope's X3DH fields are exactly those this session was built from, idcert
 * included, so its `ik` is one already verified and a tampered field never matches.
 */
export function sessionMatchesBase(s: Session, x: X3dhInitiation): boolean {
  const sameIk = identitiesEqual(s.base.ik, x.ik);
  const sameCert = constantTimeEqual(s.base.ik.idcert, x.ik.idcert);
  const sameEk = constantTimeEqual(s.base.ek, x.ek);
  return sameIk && sameCert && sameEk && s.base.spkId === x.spkId && s.base.opkId === x.opkId;
}

export interface NewInitiatorSession {
  readonly theirName: string;
  readonly theirIdentity: PublicIdentity;
  readonly x3dh: X3dhInitiation;
  readonly sharedSecret: Bytes;
  readonly ad: Bytes;
  readonly theirSignedPreKey: Bytes;
  readonly random: RandomSource;
}

export function createInitiatorSession(p: NewInitiatorSession): Session {
  const ratchet = initInitiatorRatchet(p.sharedSecret, theirRatchetPublic(p.theirSignedPreKey), p.random);
  return new Session(
    {
      id: sessionId(p.x3dh),
      role: 'initiator',
      theirName: canonName(checkName(p.theirName)),
      theirIdentity: p.theirIdentity,
      ad: p.ad,
      base: p.x3dh,
      awaitingReply: true,
    },
    ratchet,
  );
}

export interface NewResponderSession {
  readonly theirName: string;
  readonly x3dh: X3dhInitiation;
  readonly sharedSecret: Bytes;
  readonly ad: Bytes;
  readonly signedPreKey: { readonly publicKey: Bytes; readonly secretKey: Bytes };
}

export function createResponderSession(p: NewResponderSession): Session {
  return new Session(
    {
      id: sessionId(p.x3dh),
      role: 'responder',
      theirName: canonName(checkName(p.theirName)),
      theirIdentity: p.x3dh.ik,
      ad: p.ad,
      base: p.x3dh,
      awaitingReply: false,
    },
    initResponderRatchet(p.sharedSecret, ourRatchetKeyPair(p.signedPreKey)),
  );
}

/** True when this session can send now (a responder can only after the first message arrives). */
export function canSend(s: Session): boolean {
  return ratchetOf(s).sending !== undefined;
}

/**
 * Encrypts padded plaintext: a `prekey` envelope while the initiator awaits a reply, else `msg`.
 * The returned session must be stored before the envelope leaves the process (section 8).
 */
export function sessionEncrypt(s: Session, plaintext: Bytes): { envelope: Envelope; session: Session } {
  const type = s.awaitingReply ? 'prekey' : 'msg';
  const out = ratchetEncrypt(ratchetOf(s), type, s.ad, plaintext);
  const session = with_(s, {}, out.state);
  const envelope: Envelope =
    type === 'prekey'
      ? { t: 'prekey', header: out.header, ct: out.ciphertext, x3dh: s.base }
      : { t: 'msg', header: out.header, ct: out.ciphertext };
  return { envelope, session };
}

/**
 * Decrypts in this session. On success the new session has `awaitingReply` cleared (the initiator
 * stops sending prekey envelopes) and `lastDecryptedAt = now`; on failure `s` is untouched.
 */
export function sessionDecrypt(
  s: Session,
  envelope: Envelope,
  now: number,
  random: RandomSource,
): { plaintext: Bytes; session: Session } {
  const out = ratchetDecrypt(ratchetOf(s), {
    header: parseHeader(envelope.header),
    headerBytes: envelope.header,
    ciphertext: envelope.ct,
    ad: s.ad,
    now,
    random,
  });
  return {
    plaintext: out.plaintext,
    session: with_(s, { awaitingReply: false, lastDecryptedAt: now }, out.state),
  };
}

// ---------------------------------------------------------------------------------------------
// Storage form. Holds every secret of the session: write it only to the client's store (0600).

const STORE_VERSION = 1;
const CODE = 'corrupt_store';
const WHAT = 'stored session';

export function serializeSessionForStorage(s: Session): string {
  const r = ratchetOf(s);
  const b64 = toBase64;
  return JSON.stringify({
    v: STORE_VERSION,
    id: s.id,
    role: s.role,
    theirName: s.theirName,
    theirIdentity: publicIdentityToJSON(s.theirIdentity),
    ad: b64(s.ad),
    base: {
      ik: publicIdentityToJSON(s.base.ik),
      ek: b64(s.base.ek),
      spk: s.base.spkId,
      ...(s.base.opkId !== undefined ? { opk: s.base.opkId } : {}),
    },
    awaitingReply: s.awaitingReply,
    ...(s.lastDecryptedAt !== undefined ? { lastDecryptedAt: s.lastDecryptedAt } : {}),
    ratchet: {
      rootKey: b64(r.rootKey),
      ourPublic: b64(r.ours.publicKey),
      ourSecret: b64(r.ours.secretKey),
      ...(r.sending ? { sending: { ck: b64(r.sending.chainKey), n: r.sending.n } } : {}),
      ...(r.receiving
        ? { receiving: { their: b64(r.receiving.theirKey), ck: b64(r.receiving.chainKey), n: r.receiving.n } }
        : {}),
      pn: r.pn,
      retired: r.retired.map((c) => ({ their: b64(c.theirKey), end: c.end })),
      skipped: r.skipped.map((k) => ({ their: b64(k.dh), n: k.n, mk: b64(k.mk), at: k.storedAt })),
    },
  });
}

function readKey(o: Fields, key: string): Bytes {
  return readBytes(o, key, X25519_KEY_LEN, CODE, WHAT);
}

function readTheirKey(o: Fields, key: string): ReturnType<typeof theirRatchetPublic> {
  try {
    return theirRatchetPublic(readKey(o, key));
  } catch {
    throw new ChatError(CODE, 'a stored session holds an unusable ratchet key');
  }
}

function readOurs(o: Fields): OurRatchetKeyPair {
  const pub = readKey(o, 'ourPublic');
  const sec = readKey(o, 'ourSecret');
  if (!constantTimeEqual(x25519PublicKey(sec), pub))
    throw new ChatError(CODE, 'a stored session’s ratchet key is inconsistent');
  return ourRatchetKeyPair({ publicKey: pub, secretKey: sec });
}

function readRatchet(value: unknown): RatchetState {
  const o = readObject(
    value,
    ['rootKey', 'ourPublic', 'ourSecret', 'pn', 'retired', 'skipped'],
    ['sending', 'receiving'],
    CODE,
    WHAT,
  );
  const sending = o.sending === undefined ? undefined : readObject(o.sending, ['ck', 'n'], [], CODE, WHAT);
  const receiving =
    o.receiving === undefined ? undefined : readObject(o.receiving, ['their', 'ck', 'n'], [], CODE, WHAT);
  const skipped: SkippedKey[] = readArray(o, 'skipped', CODE, WHAT).map((v) => {
    const k = readObject(v, ['their', 'n', 'mk', 'at'], [], CODE, WHAT);
    return {
      dh: readTheirKey(k, 'their'),
      n: readU32(k, 'n', CODE, WHAT),
      mk: asMessageKey(readKey(k, 'mk')),
      storedAt: readSafeInteger(k, 'at', CODE, WHAT),
    };
  });
  return {
    rootKey: rootKeyFromSharedSecret(readKey(o, 'rootKey')),
    ours: readOurs(o),
    ...(sending
      ? {
          sending: {
            chainKey: asSendingChainKey(readKey(sending, 'ck')),
            n: readU32(sending, 'n', CODE, WHAT),
          },
        }
      : {}),
    ...(receiving
      ? {
          receiving: {
            theirKey: readTheirKey(receiving, 'their'),
            chainKey: asReceivingChainKey(readKey(receiving, 'ck')),
            n: readU32(receiving, 'n', CODE, WHAT),
          },
        }
      : {}),
    pn: readU32(o, 'pn', CODE, WHAT),
    retired: readArray(o, 'retired', CODE, WHAT).map((v) => {
      const c = readObject(v, ['their', 'end'], [], CODE, WHAT);
      return { theirKey: readTheirKey(c, 'their'), end: readU32(c, 'end', CODE, WHAT) };
    }),
    skipped,
  };
}

/** Reads what `serializeSessionForStorage` wrote; anything else is `corrupt_store`. */
export function parseSessionFromStorage(text: string): Session {
  const o = readObject(
    parseJsonBytes(text, CODE, WHAT),
    ['v', 'id', 'role', 'theirName', 'theirIdentity', 'ad', 'base', 'awaitingReply', 'ratchet'],
    ['lastDecryptedAt'],
    CODE,
    WHAT,
  );
  if (o.v !== STORE_VERSION) throw new ChatError(CODE, 'unknown stored session version');
  const role = readString(o, 'role', CODE, WHAT);
  if (role !== 'initiator' && role !== 'responder') throw new ChatError(CODE, 'unknown session role');
  const b = readObject(o.base, ['ik', 'ek', 'spk'], ['opk'], CODE, WHAT);
  const base: X3dhInitiation = {
    ik: publicIdentityFromJSON(b.ik, CODE, WHAT),
    ek: readKey(b, 'ek'),
    spkId: readU32(b, 'spk', CODE, WHAT),
    ...(b.opk !== undefined ? { opkId: readU32(b, 'opk', CODE, WHAT) } : {}),
  };
  const id = readString(o, 'id', CODE, WHAT);
  if (id !== sessionId(base)) throw new ChatError(CODE, 'a stored session’s id does not match its base key');
  const theirName = readString(o, 'theirName', CODE, WHAT);
  if (!isValidName(theirName) || theirName !== canonName(theirName)) {
    throw new ChatError(CODE, 'a stored session has a bad contact name');
  }
  return new Session(
    {
      id,
      role,
      theirName,
      theirIdentity: publicIdentityFromJSON(o.theirIdentity, CODE, WHAT),
      ad: readBytes(o, 'ad', undefined, CODE, WHAT),
      base,
      awaitingReply: readBoolean(o, 'awaitingReply', CODE, WHAT),
      ...(o.lastDecryptedAt !== undefined
        ? { lastDecryptedAt: readSafeInteger(o, 'lastDecryptedAt', CODE, WHAT) }
        : {}),
    },
    readRatchet(o.ratchet),
  );
}
