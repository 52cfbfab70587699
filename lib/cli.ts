/**
 * The `chatsecure` command line: one binary that is the relay (`--serve`), the client
 * (`--user NAME`) and the tools in lib/commands/ (`fingerprint`, `logs`, `admin`, `config`,
 * `completion`). This file parses and dispatches; each command owns its options and its work.
 * Wrong or missing arguments, and a bad config file, print one sentence and exit with status 2.
 *
 * Where a setting comes from: the command line wins over the config file (lib/config.ts), the
 * file over the defaults. `chatsecure config --print` shows the outcome and the source of each.
 */
import yargs from 'yargs';
import type { Argv } from 'yargs';
import type { AdminAction } from './commands/admin';
import type { ConfigEntry, ConfigReport } from './commands/config';
import type { FingerprintOptions } from './commands/fingerprint';
import type { LogsOptions } from './commands/logs';
import type { CommonOptions, EmojiOption, Theme } from './commands/options';
import type { UserOptions } from './commands/client';
import type { PassphraseOptions } from './commands/passphrase';
import type { ServeOptions } from './commands/serve';
import { EMOJI_OPTIONS, THEMES } from './commands/options';
import {
  CONFIG_KEYS,
  type ConfigFile,
  type ConfigScope,
  LIMIT_KEYS,
  LOG_LEVELS,
  loadConfig,
  redactUrl,
  redisUrlProblem,
} from './config';
import { ChatError, isChatError } from './errors';
import { DEFAULT_HOST, DEFAULT_PORT, formatHostPort, parseHostPort } from './host-port';
import { LOG_TO_STDERR } from './log';
import { isValidName } from './names';
import { defaultConfigFile, locateDataDir } from './paths';
import { RELAY_ID_PATTERN } from './server/redis/cluster';
import { VERSION } from './version';

export { VERSION, DEFAULT_HOST, DEFAULT_PORT, parseHostPort };
export type { CommonOptions, LogsOptions, ServeOptions, UserOptions };

export type Command =
  | { kind: 'help'; text: string }
  | { kind: 'version'; version: string }
  /** A completion script (`chatsecure completion`) or the completions yargs computed for one. */
  | { kind: 'completion'; text: string }
  | { kind: 'serve'; opts: ServeOptions }
  | { kind: 'user'; opts: UserOptions }
  | { kind: 'fingerprint'; opts: FingerprintOptions }
  | { kind: 'logs'; opts: LogsOptions }
  | { kind: 'passphrase'; opts: PassphraseOptions }
  | { kind: 'admin'; opts: CommonOptions & { action: AdminAction } }
  | { kind: 'config'; opts: ConfigReport };

/** Default users listed per page by `admin users`. */
export const ADMIN_PAGE_SIZE = 50;
const SHELLS = ['bash', 'zsh'];

function common(argv: Argv) {
  return argv
    .option('config', {
      type: 'string',
      describe: 'the config file (default $XDG_CONFIG_HOME/chatsecure/config.toml)',
    })
    .option('data-dir', {
      type: 'string',
      describe:
        'where keys and stores live (default $CHATSECURE_HOME, else ~/.chatsecure if it exists, else $XDG_DATA_HOME/chatsecure)',
    })
    .option('log-file', {
      type: 'string',
      describe: 'write the log here instead of the default; "-" writes JSON lines to stderr (journald)',
    })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, describe: 'log level (default info)' })
    .option('debug', {
      type: 'boolean',
      default: false,
      describe: 'log more detail (level debug), never secrets',
    });
}

/**
 * The long option names given on the command line (`--x`, `--x=v`, `--no-x`), up to `--`: what
 * wins over the config file. yargs fills in defaults, so its result alone cannot tell.
 */
function givenOnCommandLine(args: readonly string[]): Set<string> {
  const given = new Set<string>();
  for (const a of args) {
    if (a === '--') break;
    const m = /^--(?:no-)?([a-z][a-z0-9-]*)(?:=|$)/.exec(a);
    if (m) given.add(m[1]);
  }
  return given;
}

/** The effective settings: the command line, else the config file, else yargs' default. */
class Settings {
  constructor(
    private readonly a: Record<string, unknown>,
    private readonly given: Set<string>,
    private readonly config: ConfigFile,
    private readonly scope: ConfigScope | 'tools',
  ) {}

  private fileApplies(key: string): boolean {
    if (!Object.hasOwn(this.config.values, key)) return false;
    const s = CONFIG_KEYS[key].scope;
    if (this.scope === 'tools') return key === 'data-dir';
    return s === 'both' || s === this.scope;
  }

  get configFile(): ConfigFile {
    return this.config;
  }

  withScope(scope: ConfigScope | 'tools'): Settings {
    return new Settings(this.a, this.given, this.config, scope);
  }

  fromFile(key: string): boolean {
    return !this.given.has(key) && this.fileApplies(key);
  }

  get<T>(key: string): T {
    return (this.fromFile(key) ? this.config.values[key] : this.a[key]) as T;
  }

  /** Prefixes a value's sentence with the file and line when the value came from the file. */
  check<T>(key: string, f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (isChatError(err) && this.fromFile(key)) {
        const line = this.config.lines[key];
        throw new ChatError('bad_args', `config file ${this.config.file} line ${line}: ${err.message}`);
      }
      throw err;
    }
  }

  source(key: string): string {
    if (this.given.has(key)) return 'command line';
    if (this.fileApplies(key)) return `${this.config.file} line ${this.config.lines[key]}`;
    return 'default';
  }

  common(): CommonOptions {
    return {
      dataDir: this.get<string | undefined>('data-dir'),
      logFile: this.get<string | undefined>('log-file'),
      logLevel: this.get<string | undefined>('log-level'),
      debug: Boolean(this.get('debug')),
    };
  }
}

function checkName(name: string, what: string): string {
  if (!isValidName(name))
    throw new ChatError(
      'bad_args',
      `${what} "${name}" is not a valid name: use 1 to 32 letters, digits, "_", "." or "-"`,
    );
  return name;
}

/** Parses the arguments into a command. Throws ChatError('bad_args') with one sentence. */
export function parseArgs(args: string[], env: NodeJS.ProcessEnv = process.env): Command {
  // yargs reads a lone `-` as a positional argument, not as the value of the option before it.
  const joined = args.flatMap((a, i) =>
    a === '--log-file' && args[i + 1] === '-'
      ? ['--log-file=-']
      : a === '-' && args[i - 1] === '--log-file'
        ? []
        : [a],
  );
  return withCompletionShell(joined, () => parseWithYargs(joined, env));
}

function parseWithYargs(args: string[], env: NodeJS.ProcessEnv): Command {
  let command: ((s: Settings) => Command) | undefined;
  const parser = common(yargs(args))
    .scriptName('chatsecure')
    .usage(
      'ChatSecure: a secure instant messenger for the terminal.\n\n' +
        'Usage:\n  chatsecure --serve [--host H] [--port P]     run the relay\n' +
        '  chatsecure --serve --cluster redis://H:P --relay-id ID   one of several relays on Redis\n' +
        '  chatsecure --user NAME [--server H:P]        open the client\n' +
        '  chatsecure fingerprint [--serve | --user N]  print a key fingerprint\n' +
        '  chatsecure logs [FILE]                       read log files back, pretty\n' +
        '  chatsecure admin users|user|free-name|fingerprint|relay-key|authority   operator commands\n' +
        '  chatsecure config --print                    the effective settings and their sources\n' +
        '  chatsecure passphrase --user NAME [--remove] set, change or remove a passphrase\n' +
        '  chatsecure completion [bash|zsh]             a shell completion script',
    )
    .command(
      'fingerprint',
      "print the relay's fingerprint (--serve) or a user's identity fingerprint (--user NAME)",
      (y) =>
        y
          .option('serve', { type: 'boolean', default: false, describe: "the relay's key" })
          .option('user', { type: 'string', describe: "a user's identity key" }),
      (a) => {
        if (a.user !== undefined && !isValidName(a.user))
          throw new ChatError('bad_name', `"${a.user}" is not a valid name`);
        if (a.serve && a.user !== undefined)
          throw new ChatError('bad_args', 'choose one: --serve or --user NAME');
        const serve = a.user === undefined;
        command = (s) => ({ kind: 'fingerprint', opts: { ...s.common(), serve, user: a.user } });
      },
    )
    .command(
      'passphrase',
      "set, change or remove the passphrase of a user's identity and database key (--user NAME)",
      (y) =>
        y
          .option('user', { type: 'string', demandOption: true, describe: 'whose passphrase' })
          .option('new-passphrase-file', {
            type: 'string',
            describe: 'file holding the new passphrase (default: asked twice at the terminal)',
          })
          .option('remove', { type: 'boolean', default: false, describe: 'remove the passphrase' }),
      (a) => {
        if (!isValidName(a.user)) throw new ChatError('bad_name', `"${a.user}" is not a valid name`);
        if (a.remove && a['new-passphrase-file'] !== undefined)
          throw new ChatError('bad_args', 'choose one: --remove or --new-passphrase-file');
        command = (s) => ({
          kind: 'passphrase',
          opts: {
            ...s.common(),
            user: a.user,
            passphraseFile: s.get<string | undefined>('passphrase-file'),
            newPassphraseFile: a['new-passphrase-file'],
            remove: a.remove,
          },
        });
      },
    )
    .command(
      'logs [file]',
      'pretty-print log files (the relay log, or the log of --user)',
      (y) =>
        y
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
        command = (s) => ({
          kind: 'logs',
          opts: {
            ...s.common(),
            file: a.file,
            user: a.user,
            follow: a.follow,
            level: a.level,
            since: a.since,
            grep: a.grep,
            json: a.json,
          },
        });
      },
    )
    .command('admin', "operator commands on the relay's data dir (stop the relay first for free-name)", (y) =>
      y
        .command(
          'users',
          'list registered users, a page at a time',
          (z) =>
            z
              .option('page', { type: 'number', default: 1, describe: 'which page (from 1)' })
              .option('page-size', {
                type: 'number',
                default: ADMIN_PAGE_SIZE,
                describe: 'users per page',
              }),
          (a) => {
            const page = a.page;
            const pageSize = a['page-size'];
            if (!Number.isInteger(page) || page < 1)
              throw new ChatError('bad_args', '--page must be a whole number from 1');
            if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
              throw new ChatError('bad_args', '--page-size must be a whole number from 1 to 10000');
            command = (s) => ({
              kind: 'admin',
              opts: { ...s.common(), action: { kind: 'users', page, pageSize } },
            });
          },
        )
        .command(
          'user <name>',
          'one user: registration, last seen, queued envelopes, identity fingerprint',
          (z) => z.positional('name', { type: 'string', demandOption: true }),
          (a) => {
            const name = checkName(a.name, 'user');
            command = (s) => ({ kind: 'admin', opts: { ...s.common(), action: { kind: 'user', name } } });
          },
        )
        .command(
          'free-name <name>',
          'forget a user, their prekeys and their queue, so the name can be registered again',
          (z) =>
            z
              .positional('name', { type: 'string', demandOption: true })
              .option('yes', { type: 'boolean', default: false, describe: 'do not ask for confirmation' }),
          (a) => {
            const name = checkName(a.name, 'user');
            const yes = a.yes;
            command = (s) => ({
              kind: 'admin',
              opts: { ...s.common(), action: { kind: 'free-name', name, yes } },
            });
          },
        )
        .command(
          'fingerprint',
          "the relay's key fingerprint",
          (z) => z,
          () => {
            command = (s) => ({ kind: 'admin', opts: { ...s.common(), action: { kind: 'fingerprint' } } });
          },
        )
        .command(
          'relay-key',
          "the relay's public key in base64, for `admin authority sign --relay-key`",
          (z) => z,
          () => {
            command = (s) => ({ kind: 'admin', opts: { ...s.common(), action: { kind: 'relay-key' } } });
          },
        )
        .command('authority', 'an offline relay authority: one identity for several relays', (z) =>
          authorityCommands(z, (action) => {
            command = (s) => ({ kind: 'admin', opts: { ...s.common(), action } });
          }),
        )
        .demandCommand(
          1,
          'say which: admin users, admin user NAME, admin free-name NAME, admin fingerprint, ' +
            'admin relay-key or admin authority create|sign|show',
        ),
    )
    .command(
      'config',
      'show the effective settings and where each came from (--print)',
      (y) => y.option('print', { type: 'boolean', default: false, describe: 'print the settings' }),
      (a) => {
        if (!a.print) throw new ChatError('bad_args', 'say chatsecure config --print');
        command = (s) => ({ kind: 'config', opts: configReport(s, env) });
      },
    )
    .completion('completion', 'print a shell completion script (chatsecure completion [bash|zsh])')
    .option('serve', { type: 'boolean', default: false, describe: 'run the relay' })
    .option('host', { type: 'string', default: DEFAULT_HOST, describe: 'relay: address to listen on' })
    .option('port', { type: 'number', default: DEFAULT_PORT, describe: 'relay: port to listen on' })
    .option('metrics', {
      type: 'string',
      describe: 'relay: serve Prometheus metrics and /healthz on HOST:PORT (off by default)',
    })
    .option('cluster', {
      type: 'string',
      describe:
        'relay: run as one of several relays sharing redis://HOST:PORT[/DB] (needs --relay-id). ' +
        'For "stored before sent" the Redis must have appendonly yes, appendfsync always and ' +
        'maxmemory-policy noeviction; the relay warns at start, naming each unsafe setting',
    })
    .option('relay-id', {
      type: 'string',
      describe: "relay: this relay's name in the cluster, unique per relay (1-64 of A-Z a-z 0-9 _ . -)",
    })
    .option('relay-cert', {
      type: 'string',
      describe: 'relay: send this certificate from a relay authority (chatsecure admin authority sign)',
    })
    .option('encrypt-store', {
      type: 'boolean',
      default: false,
      describe:
        'relay: encrypt relay.db with a key kept in relay.db.key (0600) beside relay.key (off by default)',
    })
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
    .option('trust-authority', {
      type: 'string',
      describe: 'client: accept a relay certified by this SHA256:... relay authority (repeatable)',
    })
    .option('passphrase-file', {
      type: 'string',
      describe: 'client: file holding the passphrase (safer than $CHATSECURE_PASSPHRASE)',
    })
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
    .option('notify', {
      type: 'boolean',
      default: false,
      describe: 'client: a desktop notification through the terminal (OSC 777/9) for a message off screen',
    })
    .option('notify-command', {
      type: 'string',
      describe: 'client: run this command for a message off screen',
    })
    .option('theme', { type: 'string', choices: THEMES, default: 'dark', describe: 'client: colours' })
    .option('emoji', {
      type: 'string',
      choices: EMOJI_OPTIONS,
      default: 'auto',
      describe: 'client: emoji sequences (👍🏽, 👨‍👩‍👧): ask the terminal, always flatten, or draw whole',
    })
    .option('mouse', {
      type: 'boolean',
      default: false,
      describe: 'client: mouse support in the full screen',
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
    .alias('version', 'v')
    .help()
    .alias('help', 'h')
    // yargs answers `completion` itself, after its strict check would refuse the word.
    .strict(args[0] !== 'completion')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (isChatError(err)) throw err;
      // yargs spreads some reports over lines ("Invalid values:\n  Argument: ..."): keep them, on one line.
      const lines = (msg || err?.message || 'invalid arguments').split('\n').map((l) => l.trim());
      throw new ChatError('bad_args', withDashes(lines.filter(Boolean).join(' '), args));
    });

  // With a callback, yargs hands over the help, version or completion text instead of printing
  // it; the command handlers do not run then, so `command` stays unset.
  let output = '';
  const a = parser.parse(args, {}, (_err, _argv, out) => {
    output = out;
  }) as Awaited<ReturnType<typeof parser.parseSync>>;
  if (a.help) return { kind: 'help', text: output };
  if (a.version) return { kind: 'version', version: VERSION };
  if (a['get-yargs-completions'] !== undefined || a._[0] === 'completion') {
    const shell = a._[0] === 'completion' ? args.slice(1) : [];
    if (shell.length > 1 || (shell.length === 1 && !SHELLS.includes(shell[0])))
      throw new ChatError(
        'bad_args',
        `say chatsecure completion ${SHELLS.join(' or ')}, not "${shell.join(' ')}"`,
      );
    return { kind: 'completion', text: output };
  }
  if (a._.length > 0 && !command)
    throw new ChatError('bad_args', `unknown command "${String(a._[0])}"; see chatsecure --help`);

  const explicitConfig = a.config;
  const config = loadConfig(explicitConfig || defaultConfigFile(env), Boolean(explicitConfig));
  const given = givenOnCommandLine(args);
  if (command) return command(new Settings(a, given, config, 'tools'));

  if (a.serve && a.user !== undefined) throw new ChatError('bad_args', 'choose one: --serve or --user NAME');
  const s = new Settings(a, given, config, a.serve ? 'relay' : 'client');
  if (a.serve) return { kind: 'serve', opts: serveOptions(s, config) };
  const user = s.get<string | undefined>('user');
  if (user === undefined) {
    throw new ChatError(
      'bad_args',
      'say --serve to run a relay or --user NAME to chat; see chatsecure --help',
    );
  }
  return { kind: 'user', opts: userOptions(s, user, a['forget-server'], a.recover === true) };
}

function serveOptions(s: Settings, config: ConfigFile): ServeOptions {
  const port = s.get<number>('port');
  s.check('port', () => {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ChatError('bad_args', '--port must be a whole number from 0 to 65535');
  });
  const metrics = s.get<string | undefined>('metrics');
  const cluster = s.get<string | undefined>('cluster');
  const relayId = s.get<string | undefined>('relay-id');
  if (cluster !== undefined) {
    s.check('cluster', () => {
      const why = redisUrlProblem(cluster);
      if (why) throw new ChatError('bad_args', `--cluster ${why}`);
    });
    if (relayId === undefined)
      throw new ChatError('bad_args', '--cluster needs --relay-id ID, a name unique to each relay');
    s.check('relay-id', () => {
      if (!RELAY_ID_PATTERN.test(relayId))
        throw new ChatError('bad_args', '--relay-id must be 1 to 64 of A-Z a-z 0-9 _ . -');
    });
  } else if (relayId !== undefined) {
    throw new ChatError(
      'bad_args',
      '--relay-id is for a relay in a cluster: give --cluster redis://HOST:PORT too',
    );
  }
  const relayCert = s.get<string | undefined>('relay-cert');
  return {
    ...s.common(),
    host: s.get<string>('host'),
    port,
    ...(s.get<boolean>('encrypt-store') === true ? { encryptStore: true } : {}),
    ...(metrics !== undefined
      ? { metrics: s.check('metrics', () => parseHostPort(metrics, '--metrics', null, 0)) }
      : {}),
    ...(Object.keys(config.limits).length > 0 ? { limits: config.limits } : {}),
    ...(cluster !== undefined && relayId !== undefined ? { cluster: { url: cluster, relayId } } : {}),
    ...(relayCert !== undefined ? { relayCert } : {}),
  };
}

function userOptions(
  s: Settings,
  user: string,
  forgetServer: string | undefined,
  recover: boolean,
): UserOptions {
  s.check('user', () => checkName(user, 'user'));
  const fp = s.get<string | undefined>('server-fingerprint');
  if (fp !== undefined && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(fp)) {
    throw new ChatError(
      'bad_args',
      '--server-fingerprint must look like SHA256: followed by 43 base64 characters',
    );
  }
  const trustAuthority = s.check('trust-authority', () =>
    trustAuthorities(s.get<string | string[] | undefined>('trust-authority'), fp),
  );
  const json = Boolean(s.get('json'));
  const plain = Boolean(s.get('plain')) || json;
  const common = s.common();
  if (common.logFile === LOG_TO_STDERR && !plain)
    throw new ChatError(
      'bad_args',
      '--log-file - needs --plain or --json: the full screen owns the terminal',
    );
  const notifyCommand = s.get<string | undefined>('notify-command');
  return {
    ...common,
    user,
    server: s.check('server', () => parseHostPort(s.get<string>('server'))),
    plain,
    json,
    acceptNewServer: Boolean(s.get('accept-new-server')),
    serverFingerprint: fp,
    ...(trustAuthority.length > 0 ? { trustAuthority } : {}),
    passphraseFile: s.get<string | undefined>('passphrase-file'),
    readReceipts: Boolean(s.get('read-receipts')),
    bell: Boolean(s.get('bell')),
    notify: Boolean(s.get('notify')),
    ...(notifyCommand !== undefined ? { notifyCommand } : {}),
    theme: s.get<Theme>('theme'),
    emoji: s.get<EmojiOption>('emoji'),
    mouse: Boolean(s.get('mouse')),
    ...(recover ? { recover: true } : {}),
    ...(forgetServer !== undefined
      ? { forgetServer: formatHostPort(parseHostPort(forgetServer, '--forget-server')) }
      : {}),
  };
}

const FINGERPRINT_SHAPE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** `--trust-authority`, given once or more (docs/protocol.md 6.1); not with `--server-fingerprint`. */
function trustAuthorities(v: string | string[] | undefined, serverFingerprint: string | undefined): string[] {
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  for (const fp of list) {
    if (!FINGERPRINT_SHAPE.test(fp))
      throw new ChatError(
        'bad_args',
        '--trust-authority must look like SHA256: followed by 43 base64 characters',
      );
  }
  if (list.length > 0 && serverFingerprint !== undefined)
    throw new ChatError(
      'bad_args',
      'choose one: --trust-authority (a certified relay) or --server-fingerprint (one pinned key)',
    );
  return list;
}

/** `admin authority create FILE`, `sign FILE --relay-key B64 --relay-id ID [--days N] [--out F]`, `show FILE`. */
function authorityCommands(y: Argv, done: (action: AdminAction) => void): Argv {
  return y
    .command(
      'create <file>',
      'create a relay-authority key in FILE (mode 0600; never overwrites)',
      (z) => z.positional('file', { type: 'string', demandOption: true }),
      (a) => done({ kind: 'authority-create', file: a.file }),
    )
    .command(
      'sign <file>',
      "sign a relay's public key with the authority key in FILE",
      (z) =>
        z
          .positional('file', { type: 'string', demandOption: true })
          .option('relay-key', {
            type: 'string',
            demandOption: true,
            describe: "the relay's public key in base64 (chatsecure admin relay-key)",
          })
          .option('relay-id', { type: 'string', demandOption: true, describe: 'a name for this relay' })
          .option('days', { type: 'number', default: 90, describe: 'valid for this many days (1-3650)' })
          .option('out', { type: 'string', describe: 'write the certificate here (default: stdout)' }),
      (a) =>
        done({
          kind: 'authority-sign',
          file: a.file,
          relayKey: a['relay-key'],
          relayId: a['relay-id'],
          days: a.days,
          ...(a.out !== undefined ? { out: a.out } : {}),
        }),
    )
    .command(
      'show <file>',
      "an authority key's fingerprint, or a certificate's fields",
      (z) => z.positional('file', { type: 'string', demandOption: true }),
      (a) => done({ kind: 'authority-show', file: a.file }),
    )
    .demandCommand(1, 'say which: admin authority create FILE, sign FILE or show FILE');
}

/** Defaults that yargs does not know (no `default:`), shown by `config --print`. */
function configReport(s: Settings, env: NodeJS.ProcessEnv): ConfigReport {
  const entries: ConfigEntry[] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    // The tools' Settings apply only data-dir from the file: report with the scope of each key.
    const scoped = s.withScope(spec.scope === 'both' ? 'relay' : spec.scope);
    let value = scoped.get<string | number | boolean | undefined>(key);
    let source = scoped.source(key);
    if (key === 'data-dir') {
      const where = locateDataDir(value as string | undefined, env);
      value = where.dir;
      if (where.source === 'CHATSECURE_HOME') source = 'environment CHATSECURE_HOME';
      else if (where.source === 'legacy') source = 'default (the existing ~/.chatsecure)';
      else if (where.source === 'xdg') source = 'default ($XDG_DATA_HOME/chatsecure)';
    }
    // A Redis URL may hold a password.
    if (key === 'cluster' && typeof value === 'string') value = redactUrl(value);
    entries.push({ key, value, source, scope: spec.scope });
  }
  const config = s.configFile;
  for (const lk of Object.keys(LIMIT_KEYS)) {
    const field = LIMIT_KEYS[lk];
    const v = config.limits[field];
    entries.push({
      key: `limits.${lk}`,
      value: v,
      source: v === undefined ? 'default' : `${config.file} line ${config.lines[`limits.${lk}`]}`,
      scope: 'relay',
    });
  }
  return { file: config.file, entries };
}

/**
 * yargs picks the bash or zsh script by `$SHELL` / `$ZSH_NAME`; `chatsecure completion zsh`
 * names the shell instead, so the environment is set to match while yargs is built and parses.
 */
function withCompletionShell<T>(args: string[], f: () => T): T {
  const i = args.indexOf('completion');
  const shell = i >= 0 ? args[i + 1] : undefined;
  if (shell === undefined || !SHELLS.includes(shell)) return f();
  const saved = { SHELL: process.env.SHELL, ZSH_NAME: process.env.ZSH_NAME };
  process.env.SHELL = `/bin/${shell}`;
  delete process.env.ZSH_NAME;
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * yargs names an unknown option without its dashes ("Unknown argument: bogus"): give it back
 * as it was typed (`--bogus`, `-x`), so the message says what to remove.
 */
function withDashes(message: string, args: readonly string[]): string {
  const m = /^(Unknown arguments?: )(.*)$/.exec(message);
  if (!m) return message;
  const typed = (name: string) =>
    args
      .find((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `--no-${name}`)
      ?.split('=')[0] ??
    args.find((a) => a.length === 2 && a === `-${name}`) ??
    name;
  return m[1] + m[2].split(', ').map(typed).join(', ');
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
      case 'completion':
        process.stdout.write(`${cmd.text}\n`);
        break;
      case 'version':
        process.stdout.write(`${cmd.version}\n`);
        break;
      case 'serve':
        await (await import('./commands/serve.js')).serve(cmd.opts);
        break;
      case 'user':
        await (await import('./commands/client.js')).runClient(cmd.opts);
        break;
      case 'fingerprint':
        await (await import('./commands/fingerprint.js')).printFingerprint(cmd.opts);
        break;
      case 'logs':
        await (await import('./commands/logs.js')).runLogs(cmd.opts);
        break;
      case 'passphrase':
        await (await import('./commands/passphrase.js')).runPassphrase(cmd.opts);
        break;
      case 'admin':
        await (await import('./commands/admin.js')).runAdmin(cmd.opts);
        break;
      case 'config':
        process.stdout.write((await import('./commands/config.js')).formatConfigReport(cmd.opts));
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
