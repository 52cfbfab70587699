/**
 * The user's recovery code on disk (issue 9, point 8): `<userDir>/recovery.json`, mode 0600, next
 * to the identity and sealed with the same passphrase when the identity is sealed. Its public key
 * goes to the relay at every login (`recovery`); the code itself never leaves this file and the
 * screen it is shown on.
 */
import * as path from 'node:path';
import { newRecoveryCode, parseRecoveryCode, formatRecoveryCode } from '../crypto/recovery';
import { fromBase64, openWithPassphrase, sealWithPassphrase, toBase64 } from '../crypto/primitives';
import { ChatError } from '../errors';
import { readSecretFile, writeSecretFile } from '../secret-file';

export const RECOVERY_FILE = 'recovery.json';

interface RecoveryFile {
  readonly v: 1;
  readonly code?: string;
  readonly sealed?: { salt: string; nonce: string; box: string };
}

function write(dir: string, code: string, passphrase: string | undefined): void {
  const body: RecoveryFile =
    passphrase === undefined
      ? { v: 1, code }
      : (() => {
          const s = sealWithPassphrase(passphrase, parseRecoveryCode(code));
          return { v: 1, sealed: { salt: toBase64(s.salt), nonce: toBase64(s.nonce), box: toBase64(s.box) } };
        })();
  writeSecretFile(path.join(dir, RECOVERY_FILE), JSON.stringify(body));
}

/** The recovery code kept in `dir`, made (and written 0600) on the first run. */
export function loadOrCreateRecoveryCode(
  dir: string,
  passphrase?: string,
  code?: string,
): { code: string; created: boolean } {
  const file = path.join(dir, RECOVERY_FILE);
  const raw = readSecretFile(file);
  if (raw === undefined || code !== undefined) {
    const made = code ?? newRecoveryCode();
    write(dir, made, passphrase);
    return { code: made, created: raw === undefined };
  }
  let f: RecoveryFile;
  try {
    f = JSON.parse(raw.toString('utf8')) as RecoveryFile;
  } catch {
    throw new ChatError('corrupt_store', `the recovery file ${file} is damaged`);
  }
  if (typeof f.code === 'string')
    return { code: formatRecoveryCode(parseRecoveryCode(f.code)), created: false };
  if (f.sealed && passphrase !== undefined) {
    const bytes = openWithPassphrase(passphrase, {
      salt: fromBase64(f.sealed.salt),
      nonce: fromBase64(f.sealed.nonce),
      box: fromBase64(f.sealed.box),
    });
    return { code: formatRecoveryCode(bytes), created: false };
  }
  if (f.sealed) throw new ChatError('bad_passphrase', 'the recovery code is sealed: give the passphrase');
  throw new ChatError('corrupt_store', `the recovery file ${file} is damaged`);
}
