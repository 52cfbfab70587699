/**
 * Prekeys (PROTOCOL.md section 3): the signed prekey, `sig = Ed25519-sign(signKey,
 * "chatsecure-spk-v1" 0x00 || id(u32 BE) || public)`, and one-time prekeys with increasing u32 ids.
 * Also the bundle a relay hands out (`keys.bundle`, section 7) and the stored forms of both kinds.
 */
import { ChatError, type ErrorCode } from '../errors';
import { isU32, u32be, U32_MAX } from './encoding';
import {
  publicIdentityFromJSON,
  publicIdentityToJSON,
  type Identity,
  type PublicIdentity,
  type PublicIdentityJSON,
} from './identity';
import { parseJsonBytes, readBytes, readObject, readSafeInteger, readU32, type Fields } from './json-fields';
import {
  checkX25519Public,
  concatBytes,
  constantTimeEqual,
  sign,
  toBase64,
  verify,
  ED25519_SIG_LEN,
  X25519_KEY_LEN,
  type Bytes,
  type KeyPair,
  x25519KeyPair,
} from './primitives';
import { systemRandom, type RandomSource } from './random-source';
import { redactWith } from './redact';

const DAY_MS = 24 * 60 * 60 * 1000;

/** One-time prekeys uploaded at registration (PROTOCOL.md section 3). */
export const ONE_TIME_PREKEYS_AT_REGISTRATION = 100;
/** The relay sends `keys.low` below this many; the client then tops up (section 3, 7). */
export const ONE_TIME_PREKEYS_LOW_WATER = 20;
/** The signed prekey is replaced this often (section 3), to bound what one stolen prekey exposes. */
export const SIGNED_PREKEY_ROTATE_MS = 7 * DAY_MS;
/** A replaced signed prekey is kept this long for envelopes still queued for it (section 3). */
export const SIGNED_PREKEY_KEEP_MS = 14 * DAY_MS;

export interface SignedPreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
  readonly sig: Bytes;
  /** Wall-clock ms when it was made; drives rotation. */
  readonly createdAt: number;
}

export interface PublicSignedPreKey {
  readonly id: number;
  readonly pub: Bytes;
  readonly sig: Bytes;
}

export interface OneTimePreKey {
  readonly id: number;
  readonly keyPair: KeyPair;
}

export interface PublicOneTimePreKey {
  readonly id: number;
  readonly pub: Bytes;
}

/** What `keys.fetch` returns: a user's identity, signed prekey and perhaps one one-time prekey. */
export interface PreKeyBundle {
  readonly identity: PublicIdentity;
  readonly spk: PublicSignedPreKey;
  readonly opk?: PublicOneTimePreKey;
}

function redactedPair(kp: KeyPair): KeyPair {
  return redactWith({ publicKey: kp.publicKey, secretKey: kp.secretKey }, () => ({
    publicKey: toBase64(kp.publicKey),
    secretKey: '[redacted]',
  }));
}

function spkSignedData(id: number, pub: Bytes): Bytes {
  return concatBytes(u32be(id), pub);
}

function checkId(id: number): void {
  if (!isU32(id)) throw new ChatError('bad_state', 'a prekey id is a u32');
}

export function makeSignedPreKey(
  identity: Identity,
  id: number,
  now: number,
  random: RandomSource = systemRandom,
): SignedPreKey {
  checkId(id);
  const keyPair = redactedPair(x25519KeyPair(random(X25519_KEY_LEN)));
  const sig = sign(identity.signKey.secretKey, 'chatsecure-spk-v1', spkSignedData(id, keyPair.publicKey));
  return { id, keyPair, sig, createdAt: now };
}

export function publicSignedPreKey(spk: SignedPreKey): PublicSignedPreKey {
  return { id: spk.id, pub: spk.keyPair.publicKey, sig: spk.sig };
}

/** Refuses a small-order prekey or a signature that `signKey` did not make: `bad_key`. */
export function verifySignedPreKey(signKey: Bytes, spk: PublicSignedPreKey): void {
  checkX25519Public(spk.pub, 'signed prekey');
  if (!verify(signKey, 'chatsecure-spk-v1', spkSignedData(spk.id, spk.pub), spk.sig)) {
    throw new ChatError('bad_key', 'the signed prekey’s signature does not verify', 'prekeys.verify');
  }
}

/** `count` one-time prekeys with ids `firstId`, `firstId + 1`, … (ids never reused, section 3). */
export function makeOneTimePreKeys(
  firstId: number,
  count: number,
  random: RandomSource = systemRandom,
): OneTimePreKey[] {
  checkId(firstId);
  if (!Number.isInteger(count) || count < 0 || firstId + count - 1 > U32_MAX) {
    throw new ChatError('bad_state', 'the prekey id space is exhausted');
  }
  const out: OneTimePreKey[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ id: firstId + i, keyPair: redactedPair(x25519KeyPair(random(X25519_KEY_LEN))) });
  }
  return out;
}

export function publicOneTimePreKey(opk: OneTimePreKey): PublicOneTimePreKey {
  return { id: opk.id, pub: opk.keyPair.publicKey };
}

/** The id after `lastId` (or 1 for the first key); ids are u32 and never wrap. */
export function nextPreKeyId(lastId: number | undefined): number {
  const next = lastId === undefined ? 1 : lastId + 1;
  if (!isU32(next)) throw new ChatError('bad_state', 'the prekey id space is exhausted');
  return next;
}

/** True when the current signed prekey is due for replacement. */
export function signedPreKeyDue(spk: Pick<SignedPreKey, 'createdAt'>, now: number): boolean {
  return now - spk.createdAt >= SIGNED_PREKEY_ROTATE_MS;
}

/** True when a signed prekey replaced at `retiredAt` may be deleted. */
export function retiredSignedPreKeyExpired(retiredAt: number, now: number): boolean {
  return now - retiredAt >= SIGNED_PREKEY_KEEP_MS;
}

/** How many one-time prekeys to upload when the relay reports `remaining` (0 unless below the low water). */
export function oneTimePreKeysToAdd(remaining: number): number {
  return remaining < ONE_TIME_PREKEYS_LOW_WATER
    ? ONE_TIME_PREKEYS_AT_REGISTRATION - Math.max(0, remaining)
    : 0;
}

// ---------------------------------------------------------------------------------------------
// Wire forms (base64 fields, section 7)

export interface PublicSignedPreKeyJSON {
  readonly id: number;
  readonly pub: string;
  readonly sig: string;
}

export interface PublicOneTimePreKeyJSON {
  readonly id: number;
  readonly pub: string;
}

export interface PreKeyBundleJSON extends PublicIdentityJSON {
  readonly spk: PublicSignedPreKeyJSON;
  readonly opk?: PublicOneTimePreKeyJSON;
}

export function publicSignedPreKeyToJSON(spk: PublicSignedPreKey): PublicSignedPreKeyJSON {
  return { id: spk.id, pub: toBase64(spk.pub), sig: toBase64(spk.sig) };
}

export function publicSignedPreKeyFromJSON(
  value: unknown,
  code: ErrorCode = 'bad_message',
): PublicSignedPreKey {
  const o = readObject(value, ['id', 'pub', 'sig'], [], code, 'spk');
  return {
    id: readU32(o, 'id', code, 'spk'),
    pub: readBytes(o, 'pub', X25519_KEY_LEN, code, 'spk'),
    sig: readBytes(o, 'sig', ED25519_SIG_LEN, code, 'spk'),
  };
}

export function publicOneTimePreKeyToJSON(opk: PublicOneTimePreKey): PublicOneTimePreKeyJSON {
  return { id: opk.id, pub: toBase64(opk.pub) };
}

export function publicOneTimePreKeyFromJSON(
  value: unknown,
  code: ErrorCode = 'bad_message',
): PublicOneTimePreKey {
  const o = readObject(value, ['id', 'pub'], [], code, 'opk');
  return { id: readU32(o, 'id', code, 'opk'), pub: readBytes(o, 'pub', X25519_KEY_LEN, code, 'opk') };
}

export function preKeyBundleToJSON(bundle: PreKeyBundle): PreKeyBundleJSON {
  return {
    ...publicIdentityToJSON(bundle.identity),
    spk: publicSignedPreKeyToJSON(bundle.spk),
    ...(bundle.opk ? { opk: publicOneTimePreKeyToJSON(bundle.opk) } : {}),
  };
}

/**
 * The bundle fields of a `keys.bundle` message (section 7). The message's own `t`, `rid` and `user`
 * are allowed and ignored; anything else is `bad_message`. Structure only: `x3dhInitiate` verifies.
 */
export function preKeyBundleFromJSON(value: unknown): PreKeyBundle {
  const o = readObject(
    value,
    ['signKey', 'dhKey', 'idcert', 'spk'],
    ['opk', 't', 'rid', 'user'],
    'bad_message',
    'bundle',
  );
  const identity = publicIdentityFromJSON(
    { signKey: o.signKey, dhKey: o.dhKey, idcert: o.idcert },
    'bad_message',
    'bundle',
  );
  const spk = publicSignedPreKeyFromJSON(o.spk);
  return o.opk === undefined ? { identity, spk } : { identity, spk, opk: publicOneTimePreKeyFromJSON(o.opk) };
}

// ---------------------------------------------------------------------------------------------
// Stored forms (secret halves included: for the client's store only, never for logs)

function readKeyPair(o: Fields, what: string): KeyPair {
  const pub = readBytes(o, 'pub', X25519_KEY_LEN, 'corrupt_store', what);
  const kp = x25519KeyPair(readBytes(o, 'sec', X25519_KEY_LEN, 'corrupt_store', what));
  if (!constantTimeEqual(kp.publicKey, pub))
    throw new ChatError('corrupt_store', `a stored ${what} does not match its public key`);
  return redactedPair(kp);
}

export function serializeSignedPreKeyForStorage(spk: SignedPreKey): string {
  return JSON.stringify({
    id: spk.id,
    pub: toBase64(spk.keyPair.publicKey),
    sec: toBase64(spk.keyPair.secretKey),
    sig: toBase64(spk.sig),
    createdAt: spk.createdAt,
  });
}

export function parseSignedPreKeyFromStorage(text: string): SignedPreKey {
  const what = 'signed prekey';
  const o = readObject(
    parseJsonBytes(text, 'corrupt_store', what),
    ['id', 'pub', 'sec', 'sig', 'createdAt'],
    [],
    'corrupt_store',
    what,
  );
  return {
    id: readU32(o, 'id', 'corrupt_store', what),
    keyPair: readKeyPair(o, what),
    sig: readBytes(o, 'sig', ED25519_SIG_LEN, 'corrupt_store', what),
    createdAt: readSafeInteger(o, 'createdAt', 'corrupt_store', what),
  };
}

export function serializeOneTimePreKeyForStorage(opk: OneTimePreKey): string {
  return JSON.stringify({
    id: opk.id,
    pub: toBase64(opk.keyPair.publicKey),
    sec: toBase64(opk.keyPair.secretKey),
  });
}

export function parseOneTimePreKeyFromStorage(text: string): OneTimePreKey {
  const what = 'one-time prekey';
  const o = readObject(
    parseJsonBytes(text, 'corrupt_store', what),
    ['id', 'pub', 'sec'],
    [],
    'corrupt_store',
    what,
  );
  return { id: readU32(o, 'id', 'corrupt_store', what), keyPair: readKeyPair(o, what) };
}
