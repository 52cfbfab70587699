/**
 * The key of an encrypted SQLite database (issue 13, point 1): 32 random bytes in a JSON file
 * (mode 0600, lib/secret-file.ts) next to the database.
 *
 * - Without a passphrase the key is stored as it is (`{"v":1,"key":...}`), as Signal Desktop does
 *   without a keychain: the database alone, in a backup or an indexer's copy of `*.db`, is useless.
 * - With a passphrase it is sealed: scrypt (N = 2^17, r = 8, p = 1, `maxmem` set) derives a
 *   secretbox key from the passphrase and a random salt. The parameters are written next to the
 *   sealed key, so a later release can raise them and still open an older file.
 *
 * Changing or removing the passphrase re-seals this small file (`resealDbKey`); the database
 * itself is never re-encrypted for it.
 */
import * as crypto from 'node:crypto';
import nacl from 'tweetnacl';
import { fromBase64, randomBytes, toBase64, wipe } from './crypto/primitives';
import { ChatError } from './errors';
import { readSecretFile, writeSecretFile } from './secret-file';

export const DB_KEY_LEN = 32;
const SALT_LEN = 16;

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly maxmem: number;
}

/** OWASP's current suggestion for scrypt is N = 2^17, r = 8, p = 1 (128 MiB of memory). */
export const DB_KEY_SCRYPT: ScryptParams = { N: 1 << 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 };
/** Bounds on parameters read from a file, so a damaged or hostile file cannot ask for gigabytes. */
const N_MAX = 1 << 22;
const MAXMEM_MAX = 4 * 1024 * 1024 * 1024;

interface PlainKeyFile {
  readonly v: 1;
  readonly key: string;
}

interface SealedKeyFile {
  readonly v: 1;
  readonly kdf: { readonly name: 'scrypt' } & ScryptParams;
  readonly salt: string;
  readonly nonce: string;
  readonly box: string;
}

function damaged(file: string): ChatError {
  return new ChatError(
    'corrupt_store',
    `the database key file ${file} is damaged; without it the database cannot be opened: restore it from a backup`,
    'db-key',
  );
}

function deriveKey(passphrase: string, salt: Uint8Array, params: ScryptParams): Uint8Array {
  if (passphrase.length === 0) throw new ChatError('bad_passphrase', 'an empty passphrase protects nothing');
  return new Uint8Array(
    crypto.scryptSync(Buffer.from(passphrase, 'utf8'), salt, 32, {
      N: params.N,
      r: params.r,
      p: params.p,
      maxmem: params.maxmem,
    }),
  );
}

function serialize(key: Uint8Array, passphrase: string | undefined): string {
  if (passphrase === undefined) {
    const body: PlainKeyFile = { v: 1, key: toBase64(key) };
    return JSON.stringify(body) + '\n';
  }
  const salt = randomBytes(SALT_LEN);
  const nonce = randomBytes(nacl.secretbox.nonceLength);
  const k = deriveKey(passphrase, salt, DB_KEY_SCRYPT);
  const box = nacl.secretbox(key, nonce, k);
  wipe(k);
  const body: SealedKeyFile = {
    v: 1,
    kdf: { name: 'scrypt', ...DB_KEY_SCRYPT },
    salt: toBase64(salt),
    nonce: toBase64(nonce),
    box: toBase64(box),
  };
  return JSON.stringify(body) + '\n';
}

type Parsed = { sealed: false; key: Uint8Array } | { sealed: true; file: SealedKeyFile };

function parse(raw: Buffer, file: string): Parsed {
  let v: Partial<PlainKeyFile & SealedKeyFile>;
  try {
    v = JSON.parse(raw.toString('utf8')) as typeof v;
  } catch {
    throw damaged(file);
  }
  if (typeof v !== 'object' || v === null || v.v !== 1) throw damaged(file);
  try {
    if (typeof v.key === 'string') return { sealed: false, key: fromBase64(v.key, DB_KEY_LEN) };
    const kdf = v.kdf;
    if (
      typeof kdf !== 'object' ||
      kdf === null ||
      kdf.name !== 'scrypt' ||
      ![kdf.N, kdf.r, kdf.p, kdf.maxmem].every((n) => Number.isSafeInteger(n) && n > 0) ||
      kdf.N > N_MAX ||
      kdf.maxmem > MAXMEM_MAX ||
      typeof v.salt !== 'string' ||
      typeof v.nonce !== 'string' ||
      typeof v.box !== 'string'
    )
      throw damaged(file);
    fromBase64(v.salt);
    fromBase64(v.nonce, nacl.secretbox.nonceLength);
    fromBase64(v.box, DB_KEY_LEN + nacl.secretbox.overheadLength);
    return { sealed: true, file: v as SealedKeyFile };
  } catch {
    throw damaged(file);
  }
}

/** Whether a key file exists at `file` and is sealed with a passphrase. */
export function dbKeyNeedsPassphrase(file: string): boolean {
  const raw = readSecretFile(file);
  return raw !== undefined && parse(raw, file).sealed;
}

/** Whether a key file exists at `file`. */
export function dbKeyExists(file: string): boolean {
  return readSecretFile(file) !== undefined;
}

function open(parsed: Parsed, passphrase: string | undefined): Uint8Array {
  if (!parsed.sealed) return parsed.key;
  if (passphrase === undefined)
    throw new ChatError(
      'bad_passphrase',
      'the database key is sealed with a passphrase; give the passphrase',
    );
  const f = parsed.file;
  const k = deriveKey(passphrase, fromBase64(f.salt), f.kdf);
  const key = nacl.secretbox.open(fromBase64(f.box), fromBase64(f.nonce), k);
  wipe(k);
  if (!key) throw new ChatError('bad_passphrase', 'the passphrase does not open the database key');
  return key;
}

/**
 * The database key kept at `file`; a new random one (sealed with `passphrase` when given) is
 * made and written 0600 on the first call. A sealed file needs its passphrase (`bad_passphrase`);
 * a file without one is opened even if a passphrase is given (the passphrase command seals it).
 */
export function loadOrCreateDbKey(file: string, passphrase?: string): { key: Uint8Array; created: boolean } {
  const raw = readSecretFile(file);
  if (raw !== undefined) return { key: open(parse(raw, file), passphrase), created: false };
  const key = randomBytes(DB_KEY_LEN);
  writeSecretFile(file, serialize(key, passphrase));
  return { key, created: true };
}

/**
 * Re-seals the key at `file`: opened with `oldPassphrase` (none for a plain file), written again
 * sealed with `newPassphrase` (or plain when it is undefined). The key itself does not change, so
 * the database is not touched. A wrong old passphrase changes nothing on disk.
 */
export function resealDbKey(file: string, oldPassphrase?: string, newPassphrase?: string): void {
  const raw = readSecretFile(file);
  if (raw === undefined)
    throw new ChatError('storage_failed', `there is no database key at ${file}`, 'db-key');
  const key = open(parse(raw, file), oldPassphrase);
  const text = serialize(key, newPassphrase);
  wipe(key);
  writeSecretFile(file, text);
}
