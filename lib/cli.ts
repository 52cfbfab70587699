/**
 * The `chatsecure` command line: one binary that is the relay (`--serve`), the client
 * (`--user NAME`) and a few tools (`fingerprint`, `logs`). Parsing only; each mode lives in
 * its own module. Wrong or missing arguments print one sentence and exit with status 2.
 */
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { ChatError, isChatError } from './errors';
import { isValidName } from './names';

import { VERSION } from './version';

export { VERSION };

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5000;

export interface CommonOptions {
  dataDir?: string;
  logFile?: string;
  logLevel?: string;
  debug: boolean;
}

/** `chatsecure logs [FILE]` (lib/logs-command.ts). */
export interface LogsOptions extends CommonOptions {
  file?: string;
  user?: string;
  follow: boolean;
  level?: string;
  since?: string;
  grep?: string;
  json: boolean;
}

export interface ServeOptions extends CommonOptions {
  host: string;
  port: number;
}

export interface UserOptions extends CommonOptions {
  user: string;
  server: { host: string; port: number };
  plain: boolean;
  json: boolean;
  acceptNewServer: boolean;
  serverFingerprint?: string;
  passphraseFile?: string;
  readReceipts: boolean;
  bell: boolean;
  /** Remove this relay's pinned key from known_servers, then exit (a relay key that changed on purpose). */
  forgetServer?: string;
  /** Register a new identity under the name with the recovery code (read from the TTY or stdin). */
  recover?: boolean;
}

export type Command =
  | { kind: 'help'; text: string }
  | { kind: 'version'; version: string }
  | { kind: 'serve'; opts: ServeOptions }
  | { kind: 'user'; opts: UserOptions }
  | { kind: 'fingerprint'; opts: CommonOptions & { serve: boolean; user?: string } }
  | {
      kind: 'logs';
      opts: LogsOptions;
    };

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** `host:port`, `[v6]:port`, or a bare host (port 5000). */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(s);
  if (!m) throw new ChatError('bad_args', `--server must be HOST:PORT, not "${s}"`);
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!(port >= 1 && port <= 65535))
    throw new ChatError('bad_args', `--server has a port out of range: ${m[3]}`);
  return { host: m[1] ?? m[2], port };
}

function common(argv: Argv) {
  return argv
    .option('data-dir', {
      type: 'string',
      describe: 'where keys, stores and logs live (default $CHATSECURE_HOME or ~/.chatsecure)',
    })
    .option('log-file', { type: 'string', describe: 'write the log here instead of <data-dir>/logs/' })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'log level (default info)' })
    .option('debug', {
      type: 'boolean',
      default: false,
      describe: 'log more detail (level debug), never secrets',
    });
}

function commonOpts(a: Record<string, unknown>): CommonOptions {
  return {
    dataDir: a['data-dir'] as string | undefined,
    logFile: a['log-file'] as string | undefined,
    logLevel: a['log-level'] as string | undefined,
    debug: Boolean(a.debug),
  };
}

/** Parses the arguments into a command. Throws ChatError('bad_args') with one sentence. */
export function parseArgs(args: string[]): Command {
  let command: Command | undefined;
  const parser = common(yargs(args))
    .scriptName('chatsecure')
    .usage(
      'ChatSecure: a secure instant messenger for the terminal.\n\n' +
        'Usage:\n  chatsecure --serve [--host H] [--port P]     run the relay\n' +
        '  chatsecure --user NAME [--server H:P]        open the client\n' +
        '  chatsecure fingerprint [--serve | --user N]  print a key fingerprint\n' +
        '  chatsecure logs [FILE]                       read log files back, pretty',
    )
    .command(
      'fingerprint',
      "print the relay's fingerprint (--serve) or a user's identity fingerprint (--user NAME)",
      (y) =>
        common(y)
          .option('serve', { type: 'boolean', default: false, describe: "the relay's key" })
          .option('user', { type: 'string', describe: "a user's identity key" }),
      (a) => {
        if (a.user !== undefined && !isValidName(a.user))
          throw new ChatError('bad_name', `"${a.user}" is not a valid name`);
        if (a.serve && a.user !== undefined)
          throw new ChatError('bad_args', 'choose one: --serve or --user NAME');
        if (!a.serve && a.user === undefined) a.serve = true;
        command = { kind: 'fingerprint', opts: { ...commonOpts(a), serve: Boolean(a.serve), user: a.user } };
      },
    )
    .command(
      'logs [file]',
      'pretty-print log files (the relay log, or the log of --user)',
      (y) =>
        common(y)
          .positional('file', {
            type: 'string',
            describe: 'a log file (default: the relay log or that of --user)',
          })
          .option('user', { type: 'string', describe: "read this user's client log" })
          .option('follow', {
            alias: 'f',
            type: 'boolean',
            default: false,
            describe: 'keep reading new lines',
          })
          .option('level', { type: 'string', choices: LOG_LEVELS, describe: 'only this level and above' })
          .option('since', { type: 'string', describe: 'only lines since 10m, 2h, 1d or an ISO time' })
          .option('grep', { type: 'string', describe: 'only lines containing TEXT' })
          .option('json', { type: 'boolean', default: false, describe: 'print the matching raw JSON lines' }),
      (a) => {
        command = {
          kind: 'logs',
          opts: {
            ...commonOpts(a),
            file: a.file,
            user: a.user,
            follow: a.follow,
            level: a.level,
            since: a.since,
            grep: a.grep,
            json: a.json,
          },
        };
      },
    )
    .option('serve', { type: 'boolean', default: false, describe: 'run the relay' })
    .option('host', { type: 'string', default: DEFAULT_HOST, describe: 'relay: address to listen on' })
    .option('port', { type: 'number', default: DEFAULT_PORT, describe: 'relay: port to listen on' })
    .option('user', { type: 'string', describe: 'client: your user name (1-32 of A-Z a-z 0-9 _ . -)' })
    .option('server', {
      type: 'string',
      default: `${DEFAULT_HOST}:${DEFAULT_PORT}`,
      describe: 'client: relay HOST:PORT',
    })
    .option('plain', {
      type: 'boolean',
      default: false,
      describe: 'client: line mode instead of the full screen',
    })
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'client: line mode, one JSON object per event',
    })
    .option('accept-new-server', {
      type: 'boolean',
      default: false,
      describe: 'client: trust an unknown relay key',
    })
    .option('server-fingerprint', {
      type: 'string',
      describe: "client: the relay's expected SHA256:... fingerprint",
    })
    .option('passphrase-file', { type: 'string', describe: 'client: file holding the identity passphrase' })
    .option('read-receipts', {
      type: 'boolean',
      default: true,
      describe: 'client: send read receipts (--no-read-receipts)',
    })
    .option('bell', {
      type: 'boolean',
      default: true,
      describe: 'client: ring on a message off screen (--no-bell)',
    })
    .option('recover', {
      type: 'boolean',
      describe: 'client: lost your data dir? take your name back with your recovery code (asked for)',
    })
    .option('forget-server', {
      type: 'string',
      describe: "client: remove HOST:PORT's pinned key from known_servers (after an expected key change)",
    })
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (isChatError(err)) throw err;
      // yargs spreads some reports over lines ("Invalid values:\n  Argument: ..."): keep them, on one line.
      const lines = (msg || err?.message || 'invalid arguments').split('\n').map((l) => l.trim());
      throw new ChatError('bad_args', lines.filter(Boolean).join(' '));
    });

  // With a callback, yargs hands over the help or version text instead of printing it; the
  // command handlers do not run for --help, so `command` stays unset.
  let output = '';
  const a = parser.parse(args, {}, (_err, _argv, out) => {
    output = out;
  }) as Awaited<ReturnType<typeof parser.parseSync>>;
  if (a.help) return { kind: 'help', text: output };
  if (a.version) return { kind: 'version', version: VERSION };
  if (command) return command;
  if (a._.length > 0)
    throw new ChatError('bad_args', `unknown command "${String(a._[0])}"; see chatsecure --help`);
  const port = a.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ChatError('bad_args', '--port must be a whole number from 0 to 65535');
  }
  if (a.serve && a.user !== undefined) throw new ChatError('bad_args', 'choose one: --serve or --user NAME');
  if (a.serve) return { kind: 'serve', opts: { ...commonOpts(a), host: a.host, port } };
  if (a.user === undefined) {
    throw new ChatError(
      'bad_args',
      'say --serve to run a relay or --user NAME to chat; see chatsecure --help',
    );
  }
  if (!isValidName(a.user)) {
    throw new ChatError(
      'bad_args',
      `"${a.user}" is not a valid name: use 1 to 32 letters, digits, "_", "." or "-"`,
    );
  }
  if (a['server-fingerprint'] !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(a['server-fingerprint'])) {
    throw new ChatError(
      'bad_args',
      '--server-fingerprint must look like SHA256: followed by 43 base64 characters',
    );
  }
  return {
    kind: 'user',
    opts: {
      ...commonOpts(a),
      user: a.user,
      server: parseHostPort(a.server),
      plain: a.plain || a.json,
      json: a.json,
      acceptNewServer: a['accept-new-server'],
      serverFingerprint: a['server-fingerprint'],
      passphraseFile: a['passphrase-file'],
      readReceipts: a['read-receipts'],
      bell: a.bell,
      ...(a.recover === true ? { recover: true } : {}),
      ...(a['forget-server'] !== undefined
        ? {
            forgetServer: ((hp) => `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`)(
              parseHostPort(a['forget-server']),
            ),
          }
        : {}),
    },
  };
}

/** Exit statuses: 0 fine, 1 failure at run time, 2 wrong or missing arguments. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export async function main(args: string[]): Promise<void> {
  let cmd: Command;
  try {
    cmd = parseArgs(args);
  } catch (err) {
    const msg = isChatError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`chatsecure: ${msg}\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }
  try {
    switch (cmd.kind) {
      case 'help':
        process.stdout.write(`${cmd.text}\n`);
        break;
      case 'version':
        process.stdout.write(`${cmd.version}\n`);
        break;
      case 'serve':
        await (await import('./server/serve.js')).serve(cmd.opts);
        break;
      case 'user':
        await (await import('./client/run.js')).runClient(cmd.opts);
        break;
      case 'fingerprint':
        await (await import('./fingerprint-command.js')).printFingerprint(cmd.opts);
        break;
      case 'logs':
        await (await import('./logs-command.js')).runLogs(cmd.opts);
        break;
    }
  } catch (err) {
    const msg = isChatError(err)
      ? `${err.message} (${err.code})`
      : err instanceof Error
        ? err.message
        : String(err);
    process.stderr.write(`chatsecure: ${msg}\n`);
    process.exitCode = isChatError(err, 'bad_args') ? EXIT_USAGE : EXIT_FAILURE;
  }
}
