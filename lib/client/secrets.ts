/**
 * The user's secrets at rest (issue 13): the identity, the recovery code and the key of client.db,
 * opened together with one passphrase. A wrong passphrase writes nothing: every file is opened
 * before any is created.
 */
import * as path from 'node:path';
import type { Identity } from '../crypto/identity';
import { dbKeyNeedsPassphrase, loadOrCreateDbKey } from '../db-key';
import { identityNeedsPassphrase, loadOrCreateIdentity } from './identity-store';
import { loadOrCreateRecoveryCode } from './recovery-store';

export const KNOWN_SERVERS_FILE = 'known_servers';
/** The key of client.db (lib/db-key.ts), sealed with the passphrase when the identity is. */
export const DB_KEY_FILE = 'client.db.key';
/** Tries at the passphrase prompt before `chatsecure --user` gives up with exit 1. */
export const PASSPHRASE_TRIES = 3;

export function dbKeyPath(dir: string): string {
  return path.join(dir, DB_KEY_FILE);
}

/** Whether the identity or the database key of the user in `dir` is sealed with a passphrase. */
export function needsPassphrase(dir: string): boolean {
  return identityNeedsPassphrase(dir) || dbKeyNeedsPassphrase(dbKeyPath(dir));
}

export interface Secrets {
  readonly identity: Identity;
  readonly created: boolean;
  readonly recovery: { code: string; created: boolean };
  readonly dbKey: Uint8Array;
}

/**
 * Opens (or makes) the identity, the recovery code and the database key with `passphrase`. A
 * wrong passphrase throws `bad_passphrase` before anything is written. A new database key is
 * sealed exactly when the identity is (a data dir from before issue 13 gets its key here).
 */
export function openSecrets(dir: string, passphrase: string | undefined, typedCode?: string): Secrets {
  const keyFile = dbKeyPath(dir);
  // A sealed key is opened first: reading only, so a wrong passphrase leaves every file as it was.
  let dbKey = dbKeyNeedsPassphrase(keyFile) ? loadOrCreateDbKey(keyFile, passphrase).key : undefined;
  const { identity, created } = loadOrCreateIdentity(dir, passphrase);
  const recovery = loadOrCreateRecoveryCode(dir, passphrase, typedCode);
  dbKey ??= loadOrCreateDbKey(keyFile, identityNeedsPassphrase(dir) ? passphrase : undefined).key;
  return { identity, created, recovery, dbKey };
}
