/**
 * `chatsecure passphrase --user NAME [--remove] [--new-passphrase-file F]` (issue 13, point 4):
 * sets, changes or removes the passphrase that seals the user's identity, recovery code and
 * database key. Only those small files are written again; client.db keeps its key and is never
 * re-encrypted.
 *
 * The current passphrase comes from `--passphrase-file`, `$CHATSECURE_PASSPHRASE` or the prompt;
 * the new one from `--new-passphrase-file` or the prompt (asked twice). Every sealed file is
 * opened with the current passphrase before anything is written, so a wrong one changes nothing.
 * The user's data dir is locked, so no client of that user runs meanwhile.
 */
import * as path from 'node:path';
import { dbKeyPath, needsPassphrase } from '../client/secrets';
import { readPassphrase } from './client';
import { identityPath, loadOrCreateIdentity } from '../client/identity-store';
import { loadOrCreateRecoveryCode, RECOVERY_FILE } from '../client/recovery-store';
import { serializeIdentity } from '../crypto/identity';
import { dbKeyExists, loadOrCreateDbKey, resealDbKey } from '../db-key';
import { ChatError, isChatError } from '../errors';
import { lockDataDir } from '../lock';
import { resolveDataDir, userDir } from '../paths';
import { readSecretFile, writeSecretFile } from '../secret-file';
import type { CommonOptions } from './options';

/** `chatsecure passphrase --user NAME`: set, change or remove the passphrase (issue 13). */
export interface PassphraseOptions extends CommonOptions {
  user: string;
  /** The current passphrase, when there is one (else the prompt or CHATSECURE_PASSPHRASE). */
  passphraseFile?: string;
  /** The new passphrase (else the prompt, asked twice). */
  newPassphraseFile?: string;
  /** Remove the passphrase: the secrets are kept in 0600 files unsealed. */
  remove: boolean;
}

async function prompt(user: string, confirm: boolean): Promise<string> {
  const { askPassphraseDialog } = await import('../ui/screen/passphrase-prompt.js');
  const p = await askPassphraseDialog({ user, confirm });
  if (p === undefined) throw new ChatError('bad_passphrase', 'no passphrase given; nothing was changed');
  return p;
}

export async function runPassphrase(
  opts: PassphraseOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const dir = userDir(resolveDataDir(opts.dataDir), opts.user);
  if (readSecretFile(identityPath(dir)) === undefined)
    throw new ChatError('bad_args', `${opts.user} has no identity in ${dir}`);
  const tty = Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
  const lock = lockDataDir(dir);
  try {
    const sealed = needsPassphrase(dir);
    if (opts.remove && !sealed) {
      out.write(`${opts.user} has no passphrase; nothing was changed.\n`);
      return;
    }
    let current: string | undefined;
    if (sealed) {
      current = readPassphrase(opts.passphraseFile);
      if (current === undefined) {
        if (!tty)
          throw new ChatError(
            'bad_passphrase',
            'give the current passphrase with --passphrase-file or CHATSECURE_PASSPHRASE',
          );
        current = await prompt(opts.user, false);
      }
    }
    let next: string | undefined;
    if (!opts.remove) {
      next = readPassphrase(opts.newPassphraseFile, {});
      if (next === undefined) {
        if (!tty) throw new ChatError('bad_args', 'give the new passphrase with --new-passphrase-file');
        next = await prompt(opts.user, true);
      }
      if (next.length === 0) throw new ChatError('bad_passphrase', 'an empty passphrase protects nothing');
    }
    // Each file opened with the current passphrase, or with the new one where an interrupted run
    // of this command already re-sealed it (so running it again finishes the job). A wrong
    // current passphrase throws here, before any write.
    const open = <T>(fn: (p: string | undefined) => T): { value: T; with: string | undefined } => {
      try {
        return { value: fn(current), with: current };
      } catch (err) {
        if (!isChatError(err, 'bad_passphrase') || next === current) throw err;
        try {
          return { value: fn(next), with: next };
        } catch {
          throw err;
        }
      }
    };
    const keyFile = dbKeyPath(dir);
    const key = dbKeyExists(keyFile) ? open((p) => loadOrCreateDbKey(keyFile, p)) : undefined;
    const { identity } = open((p) => loadOrCreateIdentity(dir, p)).value;
    const hasRecovery = readSecretFile(path.join(dir, RECOVERY_FILE)) !== undefined;
    const recovery = hasRecovery ? open((p) => loadOrCreateRecoveryCode(dir, p)).value.code : undefined;

    const identityText = serializeIdentity(identity, next);
    if (key !== undefined) resealDbKey(keyFile, key.with, next);
    writeSecretFile(identityPath(dir), identityText);
    if (recovery !== undefined) loadOrCreateRecoveryCode(dir, next, recovery);
    const verb = opts.remove ? 'removed' : sealed ? 'changed' : 'set';
    out.write(
      `The passphrase of ${opts.user} was ${verb}: the identity, the recovery code and the database key ` +
        'were sealed again; the database itself was not rewritten.\n',
    );
  } finally {
    lock.release();
  }
}
