/**
 * `chatsecure --user NAME`: locks the user's data dir, opens the log, the identity and the
 * store, and runs the full-screen UI on a terminal or the line mode otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UserOptions } from '../cli';
import { ChatError } from '../errors';
import { closeLogger, createLogger, flushLogger } from '../log';
import { ensurePrivateDir, logFile, resolveDataDir, userDir } from '../paths';
import { Client } from './client';
import { parseRecoveryCode, formatRecoveryCode } from '../crypto/recovery';
import { readFileIfExists } from '../paths';
import { identityNeedsPassphrase, identityPath, loadOrCreateIdentity } from './identity-store';
import { loadOrCreateRecoveryCode } from './recovery-store';
import { KnownServers } from './known-servers';
import { lockDataDir } from '../lock';
import { openClientStore } from './sqlite-store';

export const KNOWN_SERVERS_FILE = 'known_servers';

function readPassphrase(opts: UserOptions): string | undefined {
  if (opts.passphraseFile) {
    try {
      return fs.readFileSync(opts.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ChatError(
        'bad_args',
        `cannot read the passphrase file ${opts.passphraseFile} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  return process.env.CHATSECURE_PASSPHRASE || undefined;
}

/** `--recover`: the code from a prompt on a terminal, else the first line of stdin (for scripts). */
async function askRecoveryCode(): Promise<string> {
  const readline = await import('node:readline');
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  if (process.stdin.isTTY) process.stdout.write('Recovery code: ');
  const line = await new Promise<string | undefined>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(undefined));
  });
  rl.close();
  if (line === undefined) throw new ChatError('bad_args', 'no recovery code given');
  return formatRecoveryCode(parseRecoveryCode(line.trim()));
}

export async function runClient(opts: UserOptions): Promise<void> {
  const dataDir = resolveDataDir(opts.dataDir);
  const dir = userDir(dataDir, opts.user);
  ensurePrivateDir(dir);
  if (opts.forgetServer !== undefined) {
    const removed = new KnownServers(path.join(dir, KNOWN_SERVERS_FILE)).forget(opts.forgetServer);
    process.stdout.write(
      removed
        ? `Removed the pinned key of ${opts.forgetServer}; the next connection asks you to trust its new key.\n`
        : `No key was pinned for ${opts.forgetServer}.\n`,
    );
    return;
  }
  const lock = lockDataDir(dir);
  const file = opts.logFile ?? logFile(dataDir, { user: opts.user });
  const logger = createLogger({ file, level: opts.logLevel, debug: opts.debug, name: opts.user });
  const interactive = !opts.plain && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
  let store: ReturnType<typeof openClientStore> | undefined;
  let client: Client | undefined;
  try {
    let passphrase = readPassphrase(opts);
    if (passphrase === undefined && identityNeedsPassphrase(dir)) {
      if (!interactive) {
        throw new ChatError(
          'bad_passphrase',
          'this identity is sealed: give its passphrase with --passphrase-file or CHATSECURE_PASSPHRASE',
        );
      }
      const { askPassphraseDialog } = await import('../ui/screen/passphrase-prompt.js');
      passphrase = await askPassphraseDialog({ user: opts.user });
      if (passphrase === undefined) throw new ChatError('bad_passphrase', 'no passphrase given');
    }
    let typedCode: string | undefined;
    if (opts.recover) {
      if (readFileIfExists(identityPath(dir)) !== undefined) {
        throw new ChatError(
          'bad_args',
          `${opts.user} still has an identity in ${dir}: --recover is for a lost data dir`,
        );
      }
      typedCode = await askRecoveryCode();
    }
    const { identity, created } = loadOrCreateIdentity(dir, passphrase);
    const recovery = loadOrCreateRecoveryCode(dir, passphrase, typedCode);
    // Only whether it is sealed is logged, never the passphrase.
    const sealed = passphrase !== undefined;
    if (created) logger.info({ sealed }, 'created a new identity');
    store = openClientStore(dir);
    const knownServersFile = path.join(dir, KNOWN_SERVERS_FILE);
    client = new Client({
      name: opts.user,
      host: opts.server.host,
      port: opts.server.port,
      identity,
      store,
      knownServers: new KnownServers(knownServersFile),
      knownServersFile,
      logger,
      logFile: file,
      acceptNewServer: opts.acceptNewServer,
      serverFingerprint: opts.serverFingerprint,
      readReceipts: opts.readReceipts,
      recoveryCode: recovery.code,
      recoveryCodeNew: recovery.created && !opts.recover,
      recover: opts.recover === true,
    });
    let status: number;
    if (interactive) {
      const { runScreen, notifyStyle } = await import('../ui/screen/run-screen.js');
      status = await runScreen(client, {
        bell: opts.bell,
        readReceipts: opts.readReceipts,
        theme: opts.theme,
        mouse: opts.mouse,
        ...(opts.notify ? { notify: notifyStyle(process.env) } : {}),
        ...(opts.notifyCommand !== undefined ? { notifyCommand: opts.notifyCommand } : {}),
        onExit: () => flushLogger(logger),
      });
    } else {
      const { runLineMode } = await import('../ui/line-mode.js');
      status = await runLineMode(client, { json: opts.json, input: process.stdin, output: process.stdout });
    }
    process.exitCode = status;
  } finally {
    await client?.close().catch(() => undefined);
    store?.close();
    lock.release();
    await closeLogger(logger);
  }
}
