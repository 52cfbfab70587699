/**
 * Sender keys for group messages (docs/protocol.md section 10.3), after Signal's Sender Keys
 * (libsignal `sender_keys.rs`: SenderChainKey, SenderMessageKey, SenderKeyState, SenderKeyRecord).
 *
 * Each member has, per group, a chain key and an Ed25519 signing key. It sends both to every other
 * member over the pairwise sessions (a *distribution*), then encrypts each group message once:
 *
 *   message key seed = HMAC-SHA256(ck, 0x01), next ck = HMAC-SHA256(ck, 0x02)   (libsignal's seeds)
 *   key || nonce     = HKDF-SHA256(ikm = seed, salt = 32 zero bytes, "ChatSecure_Group_v1", 44)
 *   ct               = ChaCha20-Poly1305(key, nonce, ad = the message header, padded plaintext)
 *   sig              = Ed25519(signing key, "chatsecure-group-v1" 0x00 || header || ct)
 *
 * (libsignal derives an AES-CBC key and IV with info "WhisperGroup"; we keep the project's one AEAD.)
 * The chain only moves forward: a receiver keeps a bounded window of skipped keys (count and age)
 * and refuses what is behind it, so a replayed message is `duplicate_message`.
 *
 * Pure: no I/O, no clock (`now` is passed in), randomness injected. States are immutable values;
 * every operation returns the next state, which the caller stores (DESIGN.md "Where data lives").
 */
import { ChatError, type ErrorCode } from '../errors';
import { PAD_BLOCK, MAX_INNER_BYTES } from './inner-message';
import {
  aeadDecrypt,
  aeadEncrypt,
  checkEd25519Public,
  concatBytes,
  constantTimeEqual,
  ed25519KeyPair,
  fromBase64,
  hkdfSha256,
  hmacSha256,
  sign,
  toBase64,
  verify,
  wipe,
  AEAD_KEY_LEN,
  AEAD_NONCE_LEN,
  AEAD_TAG_LEN,
  ED25519_PUBLIC_LEN,
  ED25519_SECRET_LEN,
  ED25519_SIG_LEN,
  type Bytes,
  type KeyPair,
} from './primitives';
import type { RandomSource } from './random-source';

/** Version byte of a distribution and of a group message. */
export const SENDER_KEY_VERSION = 1;
/** A group message's first byte: never `{`, so a client tells it from a pairwise JSON envelope. */
export const GROUP_MESSAGE_MAGIC = 0x47; // 'G'
export const GROUP_ID_LEN = 16;
export const CHAIN_KEY_LEN = 32;
/** version || group id || key id (u32) || iteration (u32) || chain key || signing public key. */
export const DISTRIBUTION_LEN = 1 + GROUP_ID_LEN + 4 + 4 + CHAIN_KEY_LEN + ED25519_PUBLIC_LEN;
/** magic || version || group id || key id (u32) || iteration (u32). */
export const GROUP_HEADER_LEN = 2 + GROUP_ID_LEN + 4 + 4;
/** The largest ciphertext: the 32 KiB padded inner plaintext (section 9) and its tag. */
export const MAX_GROUP_CIPHERTEXT = MAX_INNER_BYTES + AEAD_TAG_LEN;
export const MAX_GROUP_MESSAGE_LEN = GROUP_HEADER_LEN + MAX_GROUP_CIPHERTEXT + ED25519_SIG_LEN;
/**
 * Keys a single message may skip ahead. libsignal allows 25,000 (MAX_FORWARD_JUMPS); we keep the
 * pairwise ratchet's 1000 (section 8.3): a member sending more than that while another is away is
 * unusual, and each skipped key costs an HMAC and memory.
 */
export const MAX_FORWARD_JUMP = 1000;
/** Skipped keys kept per sender (libsignal's MAX_MESSAGE_KEYS); the oldest go first. */
export const MAX_SKIPPED_GROUP_KEYS = 2000;
/** A skipped key older than this is dropped, as in the pairwise ratchet (section 8.3). */
export const SKIPPED_GROUP_KEY_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Sender key states kept per (group, sender), newest first (libsignal's MAX_SENDER_KEY_STATES). */
export const MAX_SENDER_KEY_STATES = 5;
/** The last iteration a chain may use; past it the sender must rotate. */
export const MAX_ITERATION = 0xffffffff;

const OP = 'sender-keys';
const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
const CHAIN_KEY_SEED = Uint8Array.of(0x02);
const GROUP_INFO = 'ChatSecure_Group_v1';
const ZERO_SALT = new Uint8Array(32);

function fail(code: ErrorCode, message: string): never {
  throw new ChatError(code, message, OP);
}

// ---------------------------------------------------------------------------------------------
// States

/** Our own sending chain in one group. `iteration` is the index of the next message key. */
export interface OwnSenderKey {
  readonly kind: 'own';
  readonly groupId: Bytes;
  readonly keyId: number;
  readonly iteration: number;
  readonly chainKey: Bytes;
  readonly signing: KeyPair;
}

export interface SkippedGroupKey {
  readonly iteration: number;
  readonly seed: Bytes;
  /** Wall-clock ms when it was derived; drives expiry. */
  readonly storedAt: number;
}

/** Another member's chain, as received in its distribution and moved forward by its messages. */
export interface PeerSenderKey {
  readonly kind: 'peer';
  readonly groupId: Bytes;
  readonly keyId: number;
  /** The next iteration not yet derived; anything below is either in `skipped` or gone. */
  readonly iteration: number;
  readonly chainKey: Bytes;
  readonly signingPublic: Bytes;
  readonly skipped: readonly SkippedGroupKey[];
}

/** Every chain held for one (group, sender), newest first, at most MAX_SENDER_KEY_STATES. */
export interface SenderKeyRecord {
  readonly states: readonly PeerSenderKey[];
}

export const EMPTY_SENDER_KEY_RECORD: SenderKeyRecord = { states: [] };

function readU32(b: Bytes, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off);
}

function u32(n: number): Bytes {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function stepChain(ck: Bytes): { seed: Bytes; next: Bytes } {
  return { seed: hmacSha256(ck, MESSAGE_KEY_SEED), next: hmacSha256(ck, CHAIN_KEY_SEED) };
}

function expand(seed: Bytes): { key: Bytes; nonce: Bytes } {
  const okm = hkdfSha256(seed, ZERO_SALT, GROUP_INFO, AEAD_KEY_LEN + AEAD_NONCE_LEN);
  return { key: okm.subarray(0, AEAD_KEY_LEN), nonce: okm.subarray(AEAD_KEY_LEN) };
}

/**
 * A fresh chain and signing key for `groupId`: at creation, and at every rotation. `previous`: the
 * key ids this member used in the group before, never drawn again (receivers refuse a second key
 * under an id they hold).
 */
export function createOwnSenderKey(
  groupId: Bytes,
  random: RandomSource,
  previous: readonly number[] = [],
): OwnSenderKey {
  if (groupId.length !== GROUP_ID_LEN) fail('bad_message', `a group id is ${GROUP_ID_LEN} bytes`);
  let keyId = readU32(random(4), 0);
  while (previous.includes(keyId)) keyId = readU32(random(4), 0);
  return {
    kind: 'own',
    groupId: Uint8Array.from(groupId),
    keyId,
    iteration: 0,
    chainKey: random(CHAIN_KEY_LEN),
    signing: ed25519KeyPair(random(32)),
  };
}

// ---------------------------------------------------------------------------------------------
// Distribution

export interface SenderKeyDistribution {
  readonly groupId: Bytes;
  readonly keyId: number;
  readonly iteration: number;
  readonly chainKey: Bytes;
  readonly signingPublic: Bytes;
}

/** What a member sends, pairwise, to each other member: the chain as it is now, never earlier. */
export function distributionOf(own: OwnSenderKey): SenderKeyDistribution {
  return {
    groupId: own.groupId,
    keyId: own.keyId,
    iteration: own.iteration,
    chainKey: own.chainKey,
    signingPublic: own.signing.publicKey,
  };
}

export function encodeDistribution(d: SenderKeyDistribution): Bytes {
  return concatBytes(
    Uint8Array.of(SENDER_KEY_VERSION),
    d.groupId,
    u32(d.keyId),
    u32(d.iteration),
    d.chainKey,
    d.signingPublic,
  );
}

/** Strict: exact length, version 1, a usable signing key; else `bad_message` / `bad_key`. */
export function parseDistribution(b: Bytes): SenderKeyDistribution {
  if (!(b instanceof Uint8Array) || b.length !== DISTRIBUTION_LEN) {
    fail('bad_message', `a sender key distribution is ${DISTRIBUTION_LEN} bytes`);
  }
  if (b[0] !== SENDER_KEY_VERSION) fail('bad_message', 'unknown sender key distribution version');
  let off = 1;
  const take = (n: number) => Uint8Array.from(b.subarray(off, (off += n)));
  const groupId = take(GROUP_ID_LEN);
  const keyId = readU32(take(4), 0);
  const iteration = readU32(take(4), 0);
  const chainKey = take(CHAIN_KEY_LEN);
  const signingPublic = take(ED25519_PUBLIC_LEN);
  checkEd25519Public(signingPublic, 'the sender signing key');
  return { groupId, keyId, iteration, chainKey, signingPublic };
}

/**
 * Adds a member's distribution to its record. The same key id again (a resend) changes nothing;
 * the same key id with another signing key is refused (`bad_key`), so the first key stays.
 */
export function acceptDistribution(record: SenderKeyRecord, d: SenderKeyDistribution): SenderKeyRecord {
  const existing = record.states.find((s) => s.keyId === d.keyId);
  if (existing) {
    if (
      !constantTimeEqual(existing.groupId, d.groupId) ||
      !constantTimeEqual(existing.signingPublic, d.signingPublic)
    ) {
      fail('bad_key', 'a different sender key arrived under a key id already held');
    }
    return record;
  }
  const state: PeerSenderKey = {
    kind: 'peer',
    groupId: d.groupId,
    keyId: d.keyId,
    iteration: d.iteration,
    chainKey: d.chainKey,
    signingPublic: d.signingPublic,
    skipped: [],
  };
  return { states: [state, ...record.states].slice(0, MAX_SENDER_KEY_STATES) };
}

// ---------------------------------------------------------------------------------------------
// Group messages

export interface GroupMessage {
  readonly groupId: Bytes;
  readonly keyId: number;
  readonly iteration: number;
  readonly ciphertext: Bytes;
  readonly signature: Bytes;
  /** header || ciphertext: what the signature covers. */
  readonly signed: Bytes;
}

function header(groupId: Bytes, keyId: number, iteration: number): Bytes {
  return concatBytes(
    Uint8Array.of(GROUP_MESSAGE_MAGIC, SENDER_KEY_VERSION),
    groupId,
    u32(keyId),
    u32(iteration),
  );
}

function checkCiphertextLength(n: number): void {
  if (n < PAD_BLOCK + AEAD_TAG_LEN || n > MAX_GROUP_CIPHERTEXT || (n - AEAD_TAG_LEN) % PAD_BLOCK !== 0) {
    fail('bad_message', `a group ciphertext is whole ${PAD_BLOCK}-byte blocks and a tag`);
  }
}

/** Strict: magic, version, lengths (whole pad blocks, at most 32 KiB); else `bad_message`. */
export function parseGroupMessage(b: Bytes): GroupMessage {
  if (!(b instanceof Uint8Array)) fail('bad_message', 'a group message must be bytes');
  if (b.length > MAX_GROUP_MESSAGE_LEN)
    fail('too_large', `a group message is at most ${MAX_GROUP_MESSAGE_LEN} bytes`);
  if (b.length < GROUP_HEADER_LEN + ED25519_SIG_LEN) fail('bad_message', 'a group message is too short');
  if (b[0] !== GROUP_MESSAGE_MAGIC) fail('bad_message', 'not a group message');
  if (b[1] !== SENDER_KEY_VERSION) fail('bad_message', 'unknown group message version');
  const ctEnd = b.length - ED25519_SIG_LEN;
  checkCiphertextLength(ctEnd - GROUP_HEADER_LEN);
  return {
    groupId: Uint8Array.from(b.subarray(2, 2 + GROUP_ID_LEN)),
    keyId: readU32(b, 2 + GROUP_ID_LEN),
    iteration: readU32(b, 2 + GROUP_ID_LEN + 4),
    ciphertext: Uint8Array.from(b.subarray(GROUP_HEADER_LEN, ctEnd)),
    signature: Uint8Array.from(b.subarray(ctEnd)),
    signed: Uint8Array.from(b.subarray(0, ctEnd)),
  };
}

/**
 * Stores the advanced chain (and, ideally in the same transaction, the outgoing message) before the
 * message is handed back. If it throws, no message is returned, so the message key never leaves
 * the process; once it resolves, a crash can only resume from the advanced chain.
 */
export type CommitSenderStep = (next: OwnSenderKey, message: Bytes) => void | Promise<void>;

/**
 * Encrypts `padded` (an inner message already padded to whole 256-byte blocks) once for the whole
 * group, signs it, commits the chain step, and only then returns the message bytes.
 */
export async function sealGroupMessage(
  own: OwnSenderKey,
  padded: Bytes,
  commit: CommitSenderStep,
): Promise<{ message: Bytes; own: OwnSenderKey }> {
  checkCiphertextLength(padded.length + AEAD_TAG_LEN);
  if (own.iteration >= MAX_ITERATION) fail('bad_state', 'this sender key is used up; rotate it');
  const { seed, next } = stepChain(own.chainKey);
  const h = header(own.groupId, own.keyId, own.iteration);
  const { key, nonce } = expand(seed);
  let ct: Bytes;
  try {
    ct = aeadEncrypt('ChaChaPoly', key, nonce, h, padded);
  } finally {
    wipe(key);
    wipe(seed);
  }
  const signed = concatBytes(h, ct);
  const message = concatBytes(signed, sign(own.signing.secretKey, 'chatsecure-group-v1', signed));
  const advanced: OwnSenderKey = { ...own, iteration: own.iteration + 1, chainKey: next };
  await commit(advanced, message);
  return { message, own: advanced };
}

function live(k: SkippedGroupKey, now: number): boolean {
  return now - k.storedAt < SKIPPED_GROUP_KEY_TTL_MS;
}

/** The message key seed for `iteration`, and the state with it consumed. Nothing is mutated. */
function keyFor(s: PeerSenderKey, iteration: number, now: number): { seed: Bytes; next: PeerSenderKey } {
  if (iteration < s.iteration) {
    const i = s.skipped.findIndex((k) => k.iteration === iteration);
    if (i < 0 || !live(s.skipped[i], now)) {
      fail('duplicate_message', 'this group message key was already used or has expired');
    }
    return { seed: s.skipped[i].seed, next: { ...s, skipped: s.skipped.filter((_, j) => j !== i) } };
  }
  if (iteration - s.iteration > MAX_FORWARD_JUMP) {
    fail('too_many_skipped', `a group message may skip at most ${MAX_FORWARD_JUMP} keys`);
  }
  const added: SkippedGroupKey[] = [];
  let ck = s.chainKey;
  for (let n = s.iteration; n < iteration; n++) {
    const step = stepChain(ck);
    added.push({ iteration: n, seed: step.seed, storedAt: now });
    ck = step.next;
  }
  const last = stepChain(ck);
  const kept = [...s.skipped, ...added].filter((k) => live(k, now));
  const skipped =
    kept.length > MAX_SKIPPED_GROUP_KEYS ? kept.slice(kept.length - MAX_SKIPPED_GROUP_KEYS) : kept;
  return { seed: last.seed, next: { ...s, iteration: iteration + 1, chainKey: last.next, skipped } };
}

/**
 * Verifies and decrypts a group message from the member whose record this is. The signature is
 * checked first, against the signing key that member distributed pairwise, then the chain moves on
 * a copy, kept only once the AEAD tag checks (vodozemac: state changes only after authentication).
 *
 * Errors: `no_session` (no chain with that key id: never distributed to us, or rotated away from
 * us), `decrypt_failed` (signature or tag), `duplicate_message`, `too_many_skipped`.
 */
export function openGroupMessage(
  record: SenderKeyRecord,
  msg: GroupMessage,
  now: number,
): { plaintext: Bytes; record: SenderKeyRecord } {
  const at = record.states.findIndex(
    (s) => s.keyId === msg.keyId && constantTimeEqual(s.groupId, msg.groupId),
  );
  if (at < 0) fail('no_session', 'no sender key for this group message');
  const state = record.states[at];
  if (!verify(state.signingPublic, 'chatsecure-group-v1', msg.signed, msg.signature)) {
    fail('decrypt_failed', 'decryption failed');
  }
  const { seed, next } = keyFor(state, msg.iteration, now);
  const { key, nonce } = expand(seed);
  let plaintext: Bytes;
  try {
    plaintext = aeadDecrypt(
      'ChaChaPoly',
      key,
      nonce,
      msg.signed.subarray(0, GROUP_HEADER_LEN),
      msg.ciphertext,
    );
  } finally {
    wipe(key);
  }
  const states = record.states.map((s, i) => (i === at ? next : s));
  return { plaintext, record: { states } };
}

// ---------------------------------------------------------------------------------------------
// Storage form: JSON text, for the client's store (secrets: the store's file is 0600).

interface OwnJSON {
  v: 1;
  groupId: string;
  keyId: number;
  iteration: number;
  chainKey: string;
  signSecret: string;
}

export function serializeOwnSenderKey(own: OwnSenderKey): string {
  const j: OwnJSON = {
    v: 1,
    groupId: toBase64(own.groupId),
    keyId: own.keyId,
    iteration: own.iteration,
    chainKey: toBase64(own.chainKey),
    signSecret: toBase64(own.signing.secretKey),
  };
  return JSON.stringify(j);
}

function readJson(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail('corrupt_store', 'a stored sender key is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail('corrupt_store', 'a stored sender key is not an object');
  const o = v as Record<string, unknown>;
  if (o.v !== 1) fail('corrupt_store', 'unknown stored sender key version');
  return o;
}

function storedInt(o: Record<string, unknown>, k: string): number {
  const n = o[k];
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_ITERATION) {
    fail('corrupt_store', `stored sender key field ${k} is not a u32`);
  }
  return n;
}

function storedBytes(o: Record<string, unknown>, k: string, len: number): Bytes {
  const s = o[k];
  if (typeof s !== 'string') fail('corrupt_store', `stored sender key field ${k} is missing`);
  try {
    return fromBase64(s, len, k);
  } catch {
    fail('corrupt_store', `stored sender key field ${k} is malformed`);
  }
}

export function parseOwnSenderKey(text: string): OwnSenderKey {
  const o = readJson(text);
  const secretKey = storedBytes(o, 'signSecret', ED25519_SECRET_LEN);
  const signing = ed25519KeyPair(secretKey.subarray(0, 32));
  if (!constantTimeEqual(signing.publicKey, secretKey.subarray(32))) {
    fail('corrupt_store', 'stored sender signing key does not match its public half');
  }
  return {
    kind: 'own',
    groupId: storedBytes(o, 'groupId', GROUP_ID_LEN),
    keyId: storedInt(o, 'keyId'),
    iteration: storedInt(o, 'iteration'),
    chainKey: storedBytes(o, 'chainKey', CHAIN_KEY_LEN),
    signing,
  };
}

export function serializeSenderKeyRecord(r: SenderKeyRecord): string {
  return JSON.stringify({
    v: 1,
    states: r.states.map((s) => ({
      groupId: toBase64(s.groupId),
      keyId: s.keyId,
      iteration: s.iteration,
      chainKey: toBase64(s.chainKey),
      signingPublic: toBase64(s.signingPublic),
      skipped: s.skipped.map((k) => [k.iteration, toBase64(k.seed), k.storedAt]),
    })),
  });
}

export function parseSenderKeyRecord(text: string): SenderKeyRecord {
  const o = readJson(text);
  if (!Array.isArray(o.states) || o.states.length > MAX_SENDER_KEY_STATES) {
    fail('corrupt_store', 'stored sender key record has a malformed state list');
  }
  const states = (o.states as unknown[]).map((raw): PeerSenderKey => {
    if (typeof raw !== 'object' || raw === null)
      fail('corrupt_store', 'stored sender key state is malformed');
    const s = raw as Record<string, unknown>;
    if (!Array.isArray(s.skipped) || s.skipped.length > MAX_SKIPPED_GROUP_KEYS) {
      fail('corrupt_store', 'stored skipped group keys are malformed');
    }
    const skipped = (s.skipped as unknown[]).map((k): SkippedGroupKey => {
      if (!Array.isArray(k) || k.length !== 3)
        fail('corrupt_store', 'a stored skipped group key is malformed');
      const [iteration, seed, storedAt] = k as unknown[];
      const fields = { iteration, seed, storedAt, v: 1 };
      return {
        iteration: storedInt(fields, 'iteration'),
        seed: storedBytes(fields, 'seed', 32),
        storedAt:
          typeof storedAt === 'number' && Number.isSafeInteger(storedAt)
            ? storedAt
            : fail('corrupt_store', 'a stored skipped key time is malformed'),
      };
    });
    return {
      kind: 'peer',
      groupId: storedBytes(s, 'groupId', GROUP_ID_LEN),
      keyId: storedInt(s, 'keyId'),
      iteration: storedInt(s, 'iteration'),
      chainKey: storedBytes(s, 'chainKey', CHAIN_KEY_LEN),
      signingPublic: storedBytes(s, 'signingPublic', ED25519_PUBLIC_LEN),
      skipped,
    };
  });
  return { states };
}
