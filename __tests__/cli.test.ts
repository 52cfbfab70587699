import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Command, DEFAULT_HOST, DEFAULT_PORT, parseArgs, parseHostPort, VERSION } from '../lib/cli';
import { fingerprint } from '../lib/crypto/primitives';
import { type ErrorCode, isChatError } from '../lib/errors';
import { serverDir } from '../lib/paths';
import { loadOrCreateRelayKey } from '../lib/server/relay-key';
import { ensureBuilt } from './helpers/dist';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'chatsecure');
const FP = `SHA256:${'A'.repeat(42)}Q`;

/** Every option the issue asks for, as `--help` must list it. */
const HELP_OPTIONS = [
  '--serve',
  '--host',
  '--port',
  '--user',
  '--server',
  '--data-dir',
  '--log-file',
  '--log-level',
  '--debug',
  '--version',
  '--help',
  'fingerprint',
  'logs',
];

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-cli-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** The error parseArgs throws for these arguments; fails the test if it throws none. */
function parseError(args: string[]): { code: ErrorCode; message: string } {
  try {
    parseArgs(args);
  } catch (err) {
    if (!isChatError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error(`parseArgs(${JSON.stringify(args)}) did not throw`);
}

function expectOneSentence(message: string): void {
  expect(message).toMatch(/^\S[^\n]*$/);
  expect(message.length).toBeGreaterThan(10);
}

describe('parseArgs: modes and options', () => {
  it('--serve with defaults', () => {
    expect(parseArgs(['--serve'])).toEqual({
      kind: 'serve',
      opts: { host: DEFAULT_HOST, port: DEFAULT_PORT, debug: false },
    });
  });

  it('--serve with every relay and common option', () => {
    const cmd = parseArgs([
      '--serve',
      '--host',
      '0.0.0.0',
      '--port',
      '6000',
      '--data-dir',
      '/d',
      '--log-file',
      '/l.log',
      '--log-level',
      'warn',
      '--debug',
    ]);
    expect(cmd).toEqual({
      kind: 'serve',
      opts: { host: '0.0.0.0', port: 6000, dataDir: '/d', logFile: '/l.log', logLevel: 'warn', debug: true },
    });
  });

  it('--port 0 asks for any free port', () => {
    expect(parseArgs(['--serve', '--port', '0'])).toMatchObject({ kind: 'serve', opts: { port: 0 } });
  });

  it('--user with defaults', () => {
    expect(parseArgs(['--user', 'Adam'])).toEqual({
      kind: 'user',
      opts: {
        user: 'Adam',
        server: { host: DEFAULT_HOST, port: DEFAULT_PORT },
        plain: false,
        json: false,
        acceptNewServer: false,
        readReceipts: true,
        bell: true,
        notify: false,
        theme: 'dark',
        emoji: 'auto',
        mouse: false,
        debug: false,
      },
    });
  });

  it('--user with every client option', () => {
    const cmd = parseArgs([
      '--user',
      'Eve.2',
      '--server',
      'relay.example:7000',
      '--plain',
      '--accept-new-server',
      '--server-fingerprint',
      FP,
      '--passphrase-file',
      '/p',
      '--no-read-receipts',
      '--no-bell',
      '--data-dir',
      '/d',
      '--log-file',
      '/l',
      '--log-level',
      'debug',
      '--debug',
      '--notify',
      '--notify-command',
      'notify-send chatsecure',
      '--theme',
      'light',
      '--emoji',
      'plain',
      '--mouse',
    ]);
    expect(cmd).toEqual({
      kind: 'user',
      opts: {
        user: 'Eve.2',
        server: { host: 'relay.example', port: 7000 },
        plain: true,
        json: false,
        acceptNewServer: true,
        serverFingerprint: FP,
        passphraseFile: '/p',
        readReceipts: false,
        bell: false,
        notify: true,
        notifyCommand: 'notify-send chatsecure',
        theme: 'light',
        emoji: 'plain',
        mouse: true,
        dataDir: '/d',
        logFile: '/l',
        logLevel: 'debug',
        debug: true,
      },
    });
  });

  it('--json implies the line mode', () => {
    expect(parseArgs(['--user', 'Adam', '--json'])).toMatchObject({ opts: { plain: true, json: true } });
  });

  it('--server forms: host:port, [v6]:port, bare host', () => {
    expect(parseHostPort('127.0.0.1:5001')).toEqual({ host: '127.0.0.1', port: 5001 });
    expect(parseHostPort('[::1]:6000')).toEqual({ host: '::1', port: 6000 });
    expect(parseHostPort('[::1]')).toEqual({ host: '::1', port: DEFAULT_PORT });
    expect(parseHostPort('relay.example')).toEqual({ host: 'relay.example', port: DEFAULT_PORT });
    expect(parseArgs(['--user', 'a', '--server', '[::1]:6000'])).toMatchObject({
      opts: { server: { host: '::1', port: 6000 } },
    });
  });

  it('fingerprint: the relay by default, --serve, or --user', () => {
    expect(parseArgs(['fingerprint'])).toEqual({ kind: 'fingerprint', opts: { serve: true, debug: false } });
    expect(parseArgs(['fingerprint', '--serve', '--data-dir', '/d'])).toEqual({
      kind: 'fingerprint',
      opts: { serve: true, dataDir: '/d', debug: false },
    });
    expect(parseArgs(['fingerprint', '--user', 'Adam'])).toMatchObject({
      kind: 'fingerprint',
      opts: { serve: false, user: 'Adam' },
    });
  });

  it('logs: every option', () => {
    const cmd = parseArgs([
      'logs',
      'x.log',
      '--follow',
      '--level',
      'warn',
      '--since',
      '10m',
      '--user',
      'Adam',
      '--grep',
      'bad_frame',
      '--json',
      '--data-dir',
      '/d',
    ]);
    expect(cmd).toEqual({
      kind: 'logs',
      opts: {
        file: 'x.log',
        user: 'Adam',
        follow: true,
        level: 'warn',
        since: '10m',
        grep: 'bad_frame',
        json: true,
        dataDir: '/d',
        debug: false,
      },
    });
  });

  it('logs: defaults, and -f for --follow', () => {
    expect(parseArgs(['logs'])).toMatchObject({ kind: 'logs', opts: { follow: false, json: false } });
    expect((parseArgs(['logs']) as Extract<Command, { kind: 'logs' }>).opts.file).toBeUndefined();
    expect(parseArgs(['logs', '-f'])).toMatchObject({ kind: 'logs', opts: { follow: true } });
  });
});

describe('parseArgs: wrong or missing arguments are one coded sentence', () => {
  it.each([
    ['no mode', []],
    ['--serve and --user', ['--serve', '--user', 'X']],
    ['an unknown option', ['--serve', '--bogus']],
    ['an unknown command', ['frobnicate']],
    ['--server with two colons', ['--user', 'a', '--server', 'a:b:c']],
    ['--server with an empty port', ['--user', 'a', '--server', 'host:']],
    ['--server with a port out of range', ['--user', 'a', '--server', 'host:70000']],
    ['--server with port 0', ['--user', 'a', '--server', 'host:0']],
    ['--server with a bare IPv6 address', ['--user', 'a', '--server', '::1']],
    ['--port that is not a number', ['--serve', '--port', 'abc']],
    ['--port out of range', ['--serve', '--port', '70000']],
    ['--port negative', ['--serve', '--port', '-1']],
    ['--port fractional', ['--serve', '--port', '1.5']],
    ['--server-fingerprint malformed', ['--user', 'a', '--server-fingerprint', 'nope']],
    ['--server-fingerprint too short', ['--user', 'a', '--server-fingerprint', 'SHA256:abc']],
    [
      '--server-fingerprint of another hash',
      ['--user', 'a', '--server-fingerprint', `MD5:${'A'.repeat(43)}`],
    ],
  ])('%s', (_what, args) => {
    const e = parseError(args);
    expect(e.code).toBe('bad_args');
    expectOneSentence(e.message);
  });

  it.each([
    ['a space', 'bad name'],
    ['a slash', 'a/b'],
    ['too long', 'x'.repeat(33)],
    ['empty', ''],
    ['non-ASCII', 'Ädam'],
  ])('--user with %s', (_what, name) => {
    const e = parseError(['--user', name]);
    expect(['bad_args', 'bad_name']).toContain(e.code);
    expectOneSentence(e.message);
  });

  it('fingerprint --user with a bad name', () => {
    const e = parseError(['fingerprint', '--user', 'a/b']);
    expect(['bad_args', 'bad_name']).toContain(e.code);
    expectOneSentence(e.message);
  });

  it('names the option in a wrong --log-level or logs --level (not just "Invalid values:")', () => {
    // yargs reports a bad choice over several lines; the first alone says nothing useful.
    for (const [args, option] of [
      [['--serve', '--log-level', 'loud'], 'log-level'],
      [['logs', '--level', 'loud'], 'level'],
      [['--user', 'Adam', '--emoji', 'loud'], 'emoji'],
    ] as const) {
      const e = parseError([...args]);
      expect(e.code).toBe('bad_args');
      expectOneSentence(e.message);
      expect(e.message).toContain(option);
      expect(e.message).toContain('loud');
    }
  });
});

describe('parseArgs: --help and --version are commands, not side effects', () => {
  // parseArgs should only parse: it returns what to print and main prints it. Today it lets
  // yargs print through console.log and returns a fake `fingerprint` command cast to `never`.
  function quietly<T>(f: () => T): { value: T; printed: string } {
    let printed = '';
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
      printed += a.join(' ');
    });
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      printed += String(s);
      return true;
    });
    try {
      return { value: f(), printed };
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
  }

  it('--help returns the help text', () => {
    const { value, printed } = quietly(() => parseArgs(['--help']));
    expect(printed).toBe('');
    if (value.kind !== 'help') throw new Error(`parsed as ${value.kind}`);
    for (const opt of HELP_OPTIONS) expect(value.text).toContain(opt);
  });

  it('--version returns the version', () => {
    const { value, printed } = quietly(() => parseArgs(['--version']));
    expect(printed).toBe('');
    expect(value).toEqual({ kind: 'version', version: VERSION });
  });
});

describe('the real binary', () => {
  beforeAll(() => {
    // `npm test` builds before jest; a bare `npx jest` may find no build. tsc emits even when
    // another file has a type error, so judge by the output, not by its exit status.
    ensureBuilt(['cli.js']);
  }, 120_000);

  function run(args: string[]) {
    return spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, CHATSECURE_HOME: tmpDir() },
    });
  }

  it('--help exits 0 and lists every option', () => {
    const r = run(['--help']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const opt of HELP_OPTIONS) expect(r.stdout).toContain(opt);
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it.each([
    ['an unknown option', ['--serve', '--bogus']],
    ['no mode', []],
    ['a bad port', ['--serve', '--port', 'abc']],
    ['a bad name', ['--user', 'a/b']],
    ['a bad log level', ['--serve', '--log-level', 'loud']],
  ])('%s: one line on stderr, exit status 2', (_what, args) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^chatsecure: \S[^\n]*\n$/);
  });

  it('an unknown option is named with its dashes', () => {
    const r = run(['--user', 'a', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('chatsecure: Unknown argument: --bogus\n');
    const two = run(['--user', 'a', '--bogus=1', '-z']);
    expect(two.stderr).toBe('chatsecure: Unknown arguments: --bogus, -z\n');
  });

  it('--user .. is a bad argument: exit status 2, one sentence', () => {
    const r = run(['--user', '..']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^chatsecure: user "\.\." is not a valid name[^\n]*\n$/);
  });

  it('fingerprint --serve prints the relay key fingerprint alone', () => {
    const d = tmpDir();
    const { key } = loadOrCreateRelayKey(serverDir(d));
    const r = run(['fingerprint', '--serve', '--data-dir', d]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^SHA256:[A-Za-z0-9+/]{43}\n$/);
    expect(r.stdout.trim()).toBe(fingerprint(key.publicKey));
  });
});
