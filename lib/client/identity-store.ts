/**
 * A user's identity on disk (PROTOCOL.md section 3): `<userDir>/identity.json`, mode 0600,
 * created on the first run, sealed with the passphrase when one is given. A wrong passphrase
 * is a clear error, never a silent new identity.
 */
import * as path from 'node:path';
import {
  createIdentity,
  type Identity,
  isSealed,
  parseIdentity,
  publicIdentityFromJSON,
  serializeIdentity,
  type PublicIdentity,
} from '../crypto/identity';
import { ChatError } from '../errors';
import { userDir } from '../paths';
import { readSecretFile, writeSecretFile } from '../secret-file';

export const IDENTITY_FILE = 'identity.json';

export function identityPath(dir: string): string {
  return path.join(dir, IDENTITY_FILE);
}

/** Whether the identity in `dir` exists and is sealed (so a passphrase must be asked for). */
export function identityNeedsPassphrase(dir: string): boolean {
  const raw = readSecretFile(identityPath(dir));
  return raw !== undefined && isSealed(raw.toString('utf8'));
}

export function loadOrCreateIdentity(
  dir: string,
  passphrase?: string,
): { identity: Identity; created: boolean } {
  const file = identityPath(dir);
  const raw = readSecretFile(file);
  if (raw) return { identity: parseIdentity(raw.toString('utf8'), passphrase), created: false };
  const identity = createIdentity();
  writeSecretFile(file, serializeIdentity(identity, passphrase));
  return { identity, created: true };
}

/** The public half only, without any passphrase (for `chatsecure fingerprint --user`). */
export function loadPublicIdentity(dataDir: string, name: string): PublicIdentity | undefined {
  const raw = readSecretFile(identityPath(userDir(dataDir, name)));
  if (!raw) return undefined;
  let v: { signKey?: unknown; dhKey?: unknown; idcert?: unknown };
  try {
    v = JSON.parse(raw.toString('utf8')) as typeof v;
  } catch {
    throw new ChatError('corrupt_store', `the identity file of ${name} is damaged`);
  }
  return publicIdentityFromJSON(
    { signKey: v.signKey, dhKey: v.dhKey, idcert: v.idcert },
    'corrupt_store',
    'identity file',
  );
}
