/**
 * The relay's static X25519 key (PROTOCOL.md section 3): created on the first `--serve`,
 * kept in the server data dir with mode 0600, loaded on every later start.
 */
import * as path from 'node:path';
import {
  fingerprint,
  fromBase64,
  type KeyPair,
  toBase64,
  x25519KeyPair,
  x25519PublicKey,
  constantTimeEqual,
} from '../crypto/primitives';
import { certValidity, parseRelayCertFile, type RelayCertificate } from '../crypto/relay-cert';
import { dbKeyExists, loadOrCreateDbKey } from '../db-key';
import { ChatError, isChatError } from '../errors';
import { readFileIfExists } from '../paths';
import { readSecretFile, writeSecretFile } from '../secret-file';

export const RELAY_KEY_FILE = 'relay.key';
/** The key of relay.db under `--encrypt-store` (lib/db-key.ts, never sealed: the relay runs unattended). */
export const RELAY_STORE_KEY_FILE = 'relay.db.key';

export function relayKeyPath(serverDir: string): string {
  return path.join(serverDir, RELAY_KEY_FILE);
}

/** Loads the relay key; undefined when there is none yet. A damaged file is an error, never replaced. */
export function loadRelayKey(serverDir: string): KeyPair | undefined {
  const file = relayKeyPath(serverDir);
  const raw = readSecretFile(file);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw.toString('utf8')) as { v?: unknown; secretKey?: unknown; publicKey?: unknown };
    if (v.v !== 1 || typeof v.secretKey !== 'string' || typeof v.publicKey !== 'string')
      throw new Error('fields');
    const secretKey = fromBase64(v.secretKey, 32);
    const publicKey = fromBase64(v.publicKey, 32);
    if (!constantTimeEqual(x25519PublicKey(secretKey), publicKey)) throw new Error('mismatch');
    return { secretKey, publicKey };
  } catch {
    throw new ChatError('corrupt_store', `the relay key file ${file} is damaged; restore it from a backup`);
  }
}

export function loadOrCreateRelayKey(serverDir: string): { key: KeyPair; created: boolean } {
  const existing = loadRelayKey(serverDir);
  if (existing) return { key: existing, created: false };
  const key = x25519KeyPair();
  const body = JSON.stringify({
    v: 1,
    secretKey: toBase64(key.secretKey),
    publicKey: toBase64(key.publicKey),
  });
  writeSecretFile(relayKeyPath(serverDir), body + '\n');
  return { key, created: true };
}

/** A certificate file larger than this is not one (the largest certificate takes 306 bytes). */
const MAX_CERT_FILE_BYTES = 4096;

/**
 * `--relay-cert FILE` (docs/protocol.md section 6.1): the relay's certificate, checked at start
 * so a relay never serves a certificate that no client would accept: it must be well formed,
 * certify this relay's own key, and be valid now. The signature is the clients' check (the relay
 * does not need to know the authority). Every failure is `server_cert_invalid` or
 * `server_cert_expired` with a sentence naming the file.
 */
export function loadRelayCert(file: string, key: KeyPair, nowMs: number): RelayCertificate {
  const raw = readFileIfExists(file);
  if (!raw)
    throw new ChatError('server_cert_invalid', `the relay certificate ${file} does not exist`, 'relayCert');
  let cert: RelayCertificate;
  try {
    if (raw.length > MAX_CERT_FILE_BYTES) throw new ChatError('server_cert_invalid', 'the file is too large');
    cert = parseRelayCertFile(raw.toString('utf8'));
  } catch (err) {
    const why = isChatError(err) ? err.message : 'unreadable';
    throw new ChatError('server_cert_invalid', `${file} is not a relay certificate: ${why}`, 'relayCert');
  }
  if (!constantTimeEqual(cert.relayKey, key.publicKey)) {
    throw new ChatError(
      'server_cert_invalid',
      `${file} certifies the key ${fingerprint(cert.relayKey)}, but this relay's key is ` +
        `${fingerprint(key.publicKey)}: sign this relay's key (chatsecure admin relay-key prints it)`,
      'relayCert',
    );
  }
  const now = Math.floor(nowMs / 1000);
  const { from, until } = certValidity(cert);
  if (now >= cert.notAfter)
    throw new ChatError(
      'server_cert_expired',
      `the relay certificate ${file} expired at ${until}`,
      'relayCert',
    );
  if (now < cert.notBefore)
    throw new ChatError(
      'server_cert_expired',
      `the relay certificate ${file} is not valid before ${from}`,
      'relayCert',
    );
  return cert;
}

/**
 * The key of relay.db: made (0600, beside relay.key) when `--encrypt-store` is given, and used
 * whenever the file exists, so a store once encrypted stays encrypted without the option.
 * Undefined for a plain store.
 */
export function relayStoreKey(
  serverDir: string,
  encryptStore: boolean,
): { key: Uint8Array; created: boolean } | undefined {
  const file = path.join(serverDir, RELAY_STORE_KEY_FILE);
  if (!encryptStore && !dbKeyExists(file)) return undefined;
  return loadOrCreateDbKey(file);
}
