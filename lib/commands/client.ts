/**
 * `chatsecure --user NAME`, the client's composition root (the one place that joins lib/client
 * and lib/ui, so lib/client imports nothing from lib/ui): locks the user's data dir, opens the log, the identity, the database
 * key and the (encrypted) store, and runs the full-screen UI on a terminal or the line mode
 * otherwise.
 *
 * Passphrase (issue 13, point 4): one from `--passphrase-file` or `CHATSECURE_PASSPHRASE` is tried
 * once; one typed at the prompt may be retried, three tries in all, each wrong one told in a
 * sentence, then exit 1. A wrong passphrase writes nothing: every file is opened before any is
 * created.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatError, isChatError } from '../errors';
import { closeLogger, createLogger, flushLogger } from '../log';
import { ensurePrivateDir, logFile, resolveDataDir, userDir } from '../paths';
import { Client } from '../client/client';
import { parseRecoveryCode, formatRecoveryCode } from '../crypto/recovery';
import { readSecretFile } from '../secret-file';
import { identityNeedsPassphrase, identityPath } from '../client/identity-store';
import { KnownServers } from '../client/known-servers';
import { lockDataDir } from '../lock';
import { openClientStore } from '../client/sqlite-store';

import {
  DB_KEY_FILE,
  KNOWN_SERVERS_FILE,
  PASSPHRASE_TRIES,
  dbKeyPath,
  needsPassphrase,
  openSecrets,
  type Secrets,
} from '../client/secrets';
import type { EmojiMode } from '../ui/width';
import type { CommonOptions, EmojiOption, Theme } from './options';

/** `--emoji` to the screen's emoji mode: `auto` probes the terminal. */
const EMOJI_MODES: Readonly<Record<EmojiOption, EmojiMode | 'probe'>> = {
  auto: 'probe',
  plain: 'flatten',
  full: 'joined+zwj+vs16',
};

export { DB_KEY_FILE, KNOWN_SERVERS_FILE, dbKeyPath, needsPassphrase, openSecrets };

export interface UserOptions extends CommonOptions {
  user: string;
  server: { host: string; port: number };
  plain: boolean;
  json: boolean;
  acceptNewServer: boolean;
  serverFingerprint?: string;
  /** `--trust-authority SHA256:...`: trust relays certified by this authority (docs/protocol.md 6.1). */
  trustAuthority?: string[];
  passphraseFile?: string;
  readReceipts: boolean;
  bell: boolean;
  /** Remove this relay's pinned key from known_servers, then exit (a relay key that changed on purpose). */
  forgetServer?: string;
  /** Register a new identity under the name with the recovery code (read from the TTY or stdin). */
  recover?: boolean;
  /** A desktop notification through the terminal (OSC 777 / OSC 9) for a message off screen. */
  notify: boolean;
  /** Run this command for a message off screen (the UI decides what it is told; never the text). */
  notifyCommand?: string;
  theme: Theme;
  /** How emoji sequences are drawn in the full screen (options.ts `EmojiOption`). */
  emoji: EmojiOption;
  /** Mouse support in the full-screen UI (clicks, wheel). */
  mouse: boolean;
}

/** Prompts for the passphrase, up to PASSPHRASE_TRIES times, until `openSecrets` accepts it. */
async function unlockAtPrompt(user: string, dir: string, typedCode: string | undefined): Promise<Secrets> {
  const { askPassphraseDialog } = await import('../ui/screen/passphrase-prompt.js');
  let note: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const passphrase = await askPassphraseDialog({ user, note });
    if (passphrase === undefined) throw new ChatError('bad_passphrase', 'no passphrase given');
    try {
      return openSecrets(dir, passphrase, typedCode);
    } catch (err) {
      if (!isChatError(err, 'bad_passphrase')) throw err;
      if (attempt >= PASSPHRASE_TRIES) {
        throw new ChatError(
          'bad_passphrase',
          `the passphrase was wrong ${PASSPHRASE_TRIES} times; nothing was changed`,
        );
      }
      note = `That passphrase is wrong (try ${attempt} of ${PASSPHRASE_TRIES}).`;
    }
  }
}

/** The passphrase from `file` (its first line), else `$CHATSECURE_PASSPHRASE`, else undefined. */
export function readPassphrase(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (file) {
    try {
      return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ChatError(
        'bad_args',
        `cannot read the passphrase file ${file} (${(err as NodeJS.ErrnoException).code})`,
      );
    }
  }
  return env.CHATSECURE_PASSPHRASE || undefined;
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
    const given = readPassphrase(opts.passphraseFile);
    const ask = given === undefined && needsPassphrase(dir);
    if (ask && !interactive) {
      throw new ChatError(
        'bad_passphrase',
        'this identity is sealed: give its passphrase with --passphrase-file or CHATSECURE_PASSPHRASE',
      );
    }
    let typedCode: string | undefined;
    if (opts.recover) {
      if (readSecretFile(identityPath(dir)) !== undefined) {
        throw new ChatError(
          'bad_args',
          `${opts.user} still has an identity in ${dir}: --recover is for a lost data dir`,
        );
      }
      typedCode = await askRecoveryCode();
    }
    const { identity, created, recovery, dbKey } = ask
      ? await unlockAtPrompt(opts.user, dir, typedCode)
      : openSecrets(dir, given, typedCode);
    // Only whether it is sealed is logged, never the passphrase.
    if (created) logger.info({ sealed: identityNeedsPassphrase(dir) }, 'created a new identity');
    store = openClientStore(dir, { key: dbKey });
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
      trustAuthorities: opts.trustAuthority,
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
        emoji: EMOJI_MODES[opts.emoji],
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
