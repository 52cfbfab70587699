/**
 * A user's identity (PROTOCOL.md section 3): an Ed25519 signing pair (`signKey`) and an X25519 pair
 * (`dhKey`), bound by `idcert = Ed25519-sign(signKey, "chatsecure-idcert-v1" 0x00 || dhKey.public)`.
 * Also the identity file format: JSON, the secret halves sealed with scrypt + secretbox when a
 * passphrase is given (PROTOCOL.md section 2).
 */
import { ChatError, isChatError, type ErrorCode } from '../errors';
import {
  checkEd25519Public,
  checkX25519Public,
  constantTimeEqual,
  ed25519KeyPair,
  openWithPassphrase,
  SALT_LEN,
  SCRYPT_PARAMS,
  SECRETBOX_NONCE_LEN,
  sealWithPassphrase,
  sign,
  toBase64,
  verify,
  wipe,
  ED25519_PUBLIC_LEN,
  ED25519_SIG_LEN,
  X25519_KEY_LEN,
  type Bytes,
  type KeyPair,
  x25519KeyPair,
} from './primitives';
import { parseJsonBytes, readBytes, readObject, readString, readU32, type Fields } from './json-fields';
import { redactWith } from './redact';
import { systemRandom, type RandomSource } from './random-source';

export interface Identity {
  readonly signKey: KeyPair;
  readonly dhKey: KeyPair;
  readonly idcert: Bytes;
}

/** What peers see of an identity: in bundles, prekey envelopes and the relay directory. */
export interface PublicIdentity {
  readonly signKey: Bytes;
  readonly dhKey: Bytes;
  readonly idcert: Bytes;
}

/** The base64 form used on the wire (`ik` of a prekey envelope, `keys.bundle`). */
export interface PublicIdentityJSON {
  readonly signKey: string;
  readonly dhKey: string;
  readonly idcert: string;
}

const ED25519_SEED_LEN = 32;

function summary(kp: KeyPair): () => unknown {
  return () => ({ publicKey: toBase64(kp.publicKey), secretKey: '[redacted]' });
}

function redactedPair(kp: KeyPair): KeyPair {
  return redactWith({ publicKey: kp.publicKey, secretKey: kp.secretKey }, summary(kp));
}

/** Builds an identity from its two key pairs, computing the idcert that binds them. */
export function identityFromKeyPairs(signKey: KeyPair, dhKey: KeyPair): Identity {
  const idcert = sign(signKey.secretKey, 'chatsecure-idcert-v1', dhKey.publicKey);
  const id: Identity = { signKey: redactedPair(signKey), dhKey: redactedPair(dhKey), idcert };
  return redactWith(id, () => publicIdentityToJSON(publicIdentity(id)));
}

export function createIdentity(random: RandomSource = systemRandom): Identity {
  return identityFromKeyPairs(
    ed25519KeyPair(random(ED25519_SEED_LEN)),
    x25519KeyPair(random(X25519_KEY_LEN)),
  );
}

export function publicIdentity(id: Identity): PublicIdentity {
  return { signKey: id.signKey.publicKey, dhKey: id.dhKey.publicKey, idcert: id.idcert };
}

/**
 * Refuses small-order keys (PROTOCOL.md section 2) and an idcert that does not bind `dhKey` to
 * `signKey`. Every failure is `bad_key`.
 */
export function verifyPublicIdentity(pub: PublicIdentity): void {
  checkEd25519Public(pub.signKey, 'identity signing key');
  checkX25519Public(pub.dhKey, 'identity DH key');
  if (!verify(pub.signKey, 'chatsecure-idcert-v1', pub.dhKey, pub.idcert)) {
    throw new ChatError('bad_key', 'the identity certificate does not bind these keys', 'identity.verify');
  }
}

/**
 * Same identity: `signKey` and `dhKey` equal byte for byte, in constant time. The idcert is not
 * compared: signature bytes are never identifiers (PROTOCOL.md section 2).
 */
export function identitiesEqual(a: PublicIdentity, b: PublicIdentity): boolean {
  const sameSign = constantTimeEqual(a.signKey, b.signKey);
  const sameDh = constantTimeEqual(a.dhKey, b.dhKey);
  return sameSign && sameDh;
}

export function publicIdentityToJSON(pub: PublicIdentity): PublicIdentityJSON {
  return { signKey: toBase64(pub.signKey), dhKey: toBase64(pub.dhKey), idcert: toBase64(pub.idcert) };
}

/** Parses the structure only (lengths, base64); call `verifyPublicIdentity` before trusting it. */
export function publicIdentityFromJSON(
  value: unknown,
  code: ErrorCode = 'bad_message',
  what = 'identity',
): PublicIdentity {
  const o = readObject(value, ['signKey', 'dhKey', 'idcert'], [], code, what);
  return {
    signKey: readBytes(o, 'signKey', ED25519_PUBLIC_LEN, code, what),
    dhKey: readBytes(o, 'dhKey', X25519_KEY_LEN, code, what),
    idcert: readBytes(o, 'idcert', ED25519_SIG_LEN, code, what),
  };
}

// ---------------------------------------------------------------------------------------------
// The identity file. Plain:  {"v":1,"kind":"chatsecure-identity",<public>,"secret":{"t":"plain","signSeed","dhSecret"}}
// Sealed: "secret":{"t":"sealed","kdf":"scrypt","N","r","p","salt","nonce","box"}, box = secretbox(signSeed || dhSecret).

const FILE_KIND = 'chatsecure-identity';
const FILE_VERSION = 1;
const SEALED_SECRET_LEN = ED25519_SEED_LEN + X25519_KEY_LEN;
const SECRETBOX_TAG_LEN = 16;

type SecretSection =
  | { readonly t: 'plain'; readonly signSeed: Bytes; readonly dhSecret: Bytes }
  | {
      readonly t: 'sealed';
      readonly salt: Bytes;
      readonly nonce: Bytes;
      readonly box: Bytes;
    };

interface IdentityFile {
  readonly pub: PublicIdentity;
  readonly secret: SecretSection;
}

/**
 * The identity as the text of its file. With a passphrase the secret halves are sealed (scrypt +
 * secretbox); without one they are stored as they are, and the file's mode 0600 is their only guard.
 */
export function serializeIdentity(id: Identity, passphrase?: string): string {
  const signSeed = id.signKey.secretKey.subarray(0, ED25519_SEED_LEN);
  let secret: Record<string, unknown>;
  if (passphrase === undefined) {
    secret = { t: 'plain', signSeed: toBase64(signSeed), dhSecret: toBase64(id.dhKey.secretKey) };
  } else {
    if (passphrase.length === 0)
      throw new ChatError('bad_passphrase', 'an empty passphrase protects nothing');
    const both = new Uint8Array(SEALED_SECRET_LEN);
    both.set(signSeed, 0);
    both.set(id.dhKey.secretKey, ED25519_SEED_LEN);
    const sealed = sealWithPassphrase(passphrase, both);
    wipe(both);
    secret = {
      t: 'sealed',
      kdf: 'scrypt',
      N: SCRYPT_PARAMS.N,
      r: SCRYPT_PARAMS.r,
      p: SCRYPT_PARAMS.p,
      salt: toBase64(sealed.salt),
      nonce: toBase64(sealed.nonce),
      box: toBase64(sealed.box),
    };
  }
  return (
    JSON.stringify({
      v: FILE_VERSION,
      kind: FILE_KIND,
      ...publicIdentityToJSON(publicIdentity(id)),
      secret,
    }) + '\n'
  );
}

function readIdentityFile(text: string): IdentityFile {
  const code = 'corrupt_store';
  const what = 'identity file';
  const o = readObject(
    parseJsonBytes(text, code, what),
    ['v', 'kind', 'signKey', 'dhKey', 'idcert', 'secret'],
    [],
    code,
    what,
  );
  if (o.v !== FILE_VERSION || o.kind !== FILE_KIND)
    throw new ChatError(code, 'not a version 1 identity file');
  const pub = publicIdentityFromJSON({ signKey: o.signKey, dhKey: o.dhKey, idcert: o.idcert }, code, what);
  const s = o.secret as Fields;
  const t = readString(
    readObject(s, ['t'], ['signSeed', 'dhSecret', 'kdf', 'N', 'r', 'p', 'salt', 'nonce', 'box'], code, what),
    't',
    code,
    what,
  );
  if (t === 'plain') {
    const p = readObject(s, ['t', 'signSeed', 'dhSecret'], [], code, what);
    return {
      pub,
      secret: {
        t: 'plain',
        signSeed: readBytes(p, 'signSeed', ED25519_SEED_LEN, code, what),
        dhSecret: readBytes(p, 'dhSecret', X25519_KEY_LEN, code, what),
      },
    };
  }
  if (t === 'sealed') {
    const p = readObject(s, ['t', 'kdf', 'N', 'r', 'p', 'salt', 'nonce', 'box'], [], code, what);
    // Only the parameters PROTOCOL.md section 2 fixes; anything else is not a file we wrote.
    if (
      p.kdf !== 'scrypt' ||
      readU32(p, 'N', code, what) !== SCRYPT_PARAMS.N ||
      readU32(p, 'r', code, what) !== SCRYPT_PARAMS.r ||
      readU32(p, 'p', code, what) !== SCRYPT_PARAMS.p
    ) {
      throw new ChatError(code, 'the identity file uses unknown sealing parameters');
    }
    return {
      pub,
      secret: {
        t: 'sealed',
        salt: readBytes(p, 'salt', SALT_LEN, code, what),
        nonce: readBytes(p, 'nonce', SECRETBOX_NONCE_LEN, code, what),
        box: readBytes(p, 'box', SEALED_SECRET_LEN + SECRETBOX_TAG_LEN, code, what),
      },
    };
  }
  throw new ChatError(code, 'the identity file has an unknown secret format');
}

/** Whether the file's secret halves are sealed with a passphrase. A corrupt file is `corrupt_store`. */
export function isSealed(text: string): boolean {
  return readIdentityFile(text).secret.t === 'sealed';
}

/**
 * Reads an identity file. A sealed file needs its passphrase (`bad_passphrase` when it is missing or
 * wrong); a plain file ignores one. Keys that do not match their public halves, or an idcert that
 * does not verify, are `corrupt_store`.
 */
export function parseIdentity(text: string, passphrase?: string): Identity {
  const file = readIdentityFile(text);
  let signSeed: Bytes;
  let dhSecret: Bytes;
  switch (file.secret.t) {
    case 'plain':
      signSeed = file.secret.signSeed;
      dhSecret = file.secret.dhSecret;
      break;
    case 'sealed': {
      if (passphrase === undefined) {
        throw new ChatError(
          'bad_passphrase',
          'this identity is sealed with a passphrase; give the passphrase to unlock it',
        );
      }
      const both = openWithPassphrase(passphrase, file.secret);
      signSeed = both.slice(0, ED25519_SEED_LEN);
      dhSecret = both.slice(ED25519_SEED_LEN);
      wipe(both);
      break;
    }
  }
  const signKey = ed25519KeyPair(signSeed);
  const dhKey = x25519KeyPair(dhSecret);
  wipe(signSeed);
  if (
    !constantTimeEqual(signKey.publicKey, file.pub.signKey) ||
    !constantTimeEqual(dhKey.publicKey, file.pub.dhKey)
  ) {
    throw new ChatError('corrupt_store', 'the identity file’s secret keys do not match its public keys');
  }
  try {
    verifyPublicIdentity(file.pub);
  } catch (err) {
    if (isChatError(err, 'bad_key'))
      throw new ChatError('corrupt_store', 'the identity file’s certificate does not verify');
    throw err;
  }
  const id: Identity = {
    signKey: redactedPair(signKey),
    dhKey: redactedPair(dhKey),
    idcert: file.pub.idcert,
  };
  return redactWith(id, () => publicIdentityToJSON(publicIdentity(id)));
}
