import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isChatError } from '../../lib/errors';
import { closeLogger, createLogger } from '../../lib/log';
import {
  buildFilter,
  createFormatter,
  describeCorrupt,
  escapeControls,
  LineSplitter,
  lineMatches,
  type LogLine,
  type LogsOptions,
  levelThreshold,
  MAX_LINE_CHARS,
  parseLogLine,
  parseSince,
  resolveLogFile,
  runLogs,
} from '../../lib/commands/logs';
import { logFile } from '../../lib/paths';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'chatsecure');
const NOW = Date.parse('2024-05-01T12:00:00Z');

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-logs-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function opts(o: Partial<LogsOptions> = {}): LogsOptions {
  return { debug: false, follow: false, json: false, ...o };
}

function entry(o: Record<string, unknown>): string {
  return JSON.stringify({ level: 30, time: NOW, pid: 1, hostname: 'h', name: 'relay', msg: 'm', ...o });
}

function line(raw: string, n = 1): LogLine {
  return parseLogLine(raw, n);
}

/** Runs the command in-process, collecting what it prints. */
async function collect(o: LogsOptions, signal?: AbortSignal, out?: string[]) {
  const lines = out ?? [];
  const err: string[] = [];
  await runLogs(o, {
    out: async (t) => {
      lines.push(t);
    },
    err: (t) => err.push(t),
    signal,
    now: () => NOW,
  });
  return { out: lines.join(''), err: err.join('') };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('parseSince', () => {
  it('reads durations back from now', () => {
    expect(parseSince('30s', NOW)).toBe(NOW - 30_000);
    expect(parseSince('10m', NOW)).toBe(NOW - 600_000);
    expect(parseSince('2h', NOW)).toBe(NOW - 7_200_000);
    expect(parseSince('1d', NOW)).toBe(NOW - 86_400_000);
    expect(parseSince('1w', NOW)).toBe(NOW - 7 * 86_400_000);
  });
  it('reads ISO times', () => {
    expect(parseSince('2024-05-01T10:00:00Z', NOW)).toBe(Date.parse('2024-05-01T10:00:00Z'));
    expect(parseSince('2024-05-01T10:00:00+02:00', NOW)).toBe(Date.parse('2024-05-01T08:00:00Z'));
    expect(parseSince('2024-04-30', NOW)).toBe(Date.parse('2024-04-30'));
  });
  it.each(['', '10', 'm', '10x', '-5m', 'yesterday', 'May 5', '2024-13-45', '1.5h'])(
    'refuses %j with bad_args',
    (s) => {
      expect(() => parseSince(s, NOW)).toThrow(expect.objectContaining({ code: 'bad_args' }));
    },
  );
});

describe('levelThreshold', () => {
  it('maps pino level names', () => {
    expect(levelThreshold('warn')).toBe(40);
    expect(levelThreshold('trace')).toBe(10);
    expect(levelThreshold('silent')).toBe(Infinity);
  });
  it('refuses unknown names, including inherited properties', () => {
    for (const n of ['loud', 'toString', '__proto__']) {
      expect(() => levelThreshold(n)).toThrow(expect.objectContaining({ code: 'bad_args' }));
    }
  });
});

describe('parseLogLine', () => {
  it('parses a pino line', () => {
    const l = line(entry({ msg: 'hi' }), 3);
    expect(l).toMatchObject({ t: 'entry', lineNo: 3, entry: { msg: 'hi', level: 30 } });
  });
  it('marks anything that is not a JSON object as corrupt, never throwing', () => {
    for (const raw of ['{"level":30,"ti', 'garbage', '[1,2]', '42', 'null', '"s"', '', '\u0000\u0001']) {
      expect(parseLogLine(raw, 7)).toEqual({ t: 'corrupt', lineNo: 7, raw, why: 'corrupt' });
    }
    expect(parseLogLine('{"lev', 9, true)).toMatchObject({ t: 'corrupt', why: 'partial' });
  });
});

describe('lineMatches', () => {
  const warn = line(entry({ level: 40, msg: 'handshake failed', code: 'bad_frame' }));
  const info = line(entry({ level: 30, msg: 'logged in', user: 'Adam' }));
  const old = line(entry({ level: 50, time: NOW - 3 * 3600_000 }));
  const named = line(entry({ level: 30, name: 'eve' }));
  const corrupt = line('{"level":50,"msg":"cut');

  it('keeps the level and above', () => {
    const f = buildFilter(opts({ level: 'warn' }), NOW, false);
    expect([warn, info, old, named].map((l) => lineMatches(l, f))).toEqual([true, false, true, false]);
  });
  it('accepts level names as well as numbers, and drops lines with no level', () => {
    const f = buildFilter(opts({ level: 'error' }), NOW, false);
    expect(lineMatches(line('{"level":"error","msg":"x"}'), f)).toBe(true);
    expect(lineMatches(line('{"level":"info","msg":"x"}'), f)).toBe(false);
    expect(lineMatches(line('{"msg":"no level"}'), f)).toBe(false);
  });
  it('keeps lines since a time, numbers or ISO strings', () => {
    const f = buildFilter(opts({ since: '2h' }), NOW, false);
    expect(lineMatches(warn, f)).toBe(true);
    expect(lineMatches(old, f)).toBe(false);
    expect(lineMatches(line(`{"time":"${new Date(NOW - 60_000).toISOString()}"}`), f)).toBe(true);
    expect(lineMatches(line('{"msg":"no time"}'), f)).toBe(false);
  });
  it('filters by the user or name field, as canon names, only when asked to', () => {
    const f = buildFilter(opts({ user: 'ADAM' }), NOW, true);
    expect(lineMatches(info, f)).toBe(true);
    expect(lineMatches(warn, f)).toBe(false);
    expect(lineMatches(line(entry({ name: 'Adam' })), f)).toBe(true);
    expect(lineMatches(line(entry({ user: 'Adamant' })), f)).toBe(false);
    expect(lineMatches(named, buildFilter(opts({ user: 'Eve' }), NOW, true))).toBe(true);
    expect(lineMatches(warn, buildFilter(opts({ user: 'Adam' }), NOW, false))).toBe(true);
  });
  it('greps the raw line', () => {
    const f = buildFilter(opts({ grep: 'bad_frame' }), NOW, false);
    expect(lineMatches(warn, f)).toBe(true);
    expect(lineMatches(info, f)).toBe(false);
    expect(lineMatches(corrupt, buildFilter(opts({ grep: 'cut' }), NOW, false))).toBe(true);
    expect(lineMatches(corrupt, f)).toBe(false);
  });
  it('shows corrupt lines whatever the level, time or user filter', () => {
    const f = buildFilter(opts({ level: 'fatal', since: '1m', user: 'Adam' }), NOW, true);
    expect(lineMatches(corrupt, f)).toBe(true);
  });
  it('combines every filter', () => {
    const f = buildFilter(opts({ level: 'info', since: '1h', user: 'adam', grep: 'logged' }), NOW, true);
    expect([warn, info, old, named].map((l) => lineMatches(l, f))).toEqual([false, true, false, false]);
  });
  it('refuses bad option values with bad_args', () => {
    expect(() => buildFilter(opts({ level: 'loud' }), NOW, false)).toThrow(
      expect.objectContaining({ code: 'bad_args' }),
    );
    expect(() => buildFilter(opts({ since: 'soon' }), NOW, false)).toThrow(
      expect.objectContaining({ code: 'bad_args' }),
    );
  });
});

describe('formatting', () => {
  it('pretty-prints with pino-pretty: time, level, name, message and fields', () => {
    const f = createFormatter({ json: false, colorize: false });
    const out = f(line(entry({ level: 40, msg: 'handshake failed', code: 'bad_frame', conn: 3 }))).out ?? '';
    expect(out).toMatch(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\] WARN \(relay\): handshake failed\n/);
    expect(out).toContain('code: "bad_frame"');
    expect(out).toContain('conn: 3');
    expect(out).not.toContain('hostname');
    expect(out.endsWith('\n')).toBe(true);
  });
  it('prints raw lines under --json, and reports corrupt ones on stderr', () => {
    const f = createFormatter({ json: true, colorize: false });
    const raw = entry({ msg: 'x' });
    expect(f(line(raw))).toEqual({ out: `${raw}\n` });
    expect(f(line('{"cut', 12))).toEqual({ err: '[corrupt line 12] {"cut\n' });
  });
  it('shows a corrupt line by number with at most 200 characters, escaped', () => {
    const raw = '\u001b[2J' + 'x'.repeat(500);
    const text = describeCorrupt({ t: 'corrupt', lineNo: 12, raw, why: 'corrupt' });
    expect(text.startsWith('[corrupt line 12] \\x1b[2J')).toBe(true);
    expect(text).not.toContain('\u001b');
    expect(text.length).toBeLessThan(230);
    expect(text.endsWith('…')).toBe(true);
    expect(describeCorrupt({ t: 'corrupt', lineNo: 4, raw: '{"a', why: 'partial' })).toBe(
      '[partial line 4] {"a',
    );
  });
  it('escapes control characters inside entries so a log cannot drive the terminal', () => {
    const f = createFormatter({ json: false, colorize: false });
    const out = f(line(entry({ msg: 'evil\u001b]0;title\u0007', field: 'a\u009bb' }))).out ?? '';
    for (const c of ['\u001b', '\u0007', '\u009b']) expect(out).not.toContain(c);
    expect(out).toContain('evil\\x1b]0;title\\x07');
    expect(escapeControls('a\r\nb\u007f')).toBe('a\\x0d\\x0ab\\x7f');
    expect(escapeControls('a\r\n\tb', true)).toBe('a\\x0d\n\tb');
  });
  it('keeps the lines of a logged stack trace', () => {
    const f = createFormatter({ json: false, colorize: false });
    const out =
      f(line(entry({ level: 50, err: { message: 'boom', stack: 'Error: boom\n    at here' } }))).out ?? '';
    expect(out).toContain('Error: boom\n');
    expect(out).toContain('at here');
  });
});

describe('LineSplitter', () => {
  it('splits at any chunk boundary, keeps UTF-8 whole, numbers the lines', () => {
    const text = 'héllo wörld\r\n{"a":"☃"}\nlast';
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = new LineSplitter();
      const got = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
      expect(got.map((l) => [l.text, l.lineNo])).toEqual([
        ['héllo wörld', 1],
        ['{"a":"☃"}', 2],
      ]);
      expect(s.flush()).toEqual({ text: 'last', lineNo: 3 });
      expect(s.flush()).toBeUndefined();
    }
  });
  it('cuts a run without newlines at MAX_LINE_CHARS instead of holding it all', () => {
    const s = new LineSplitter();
    const got = s.push(Buffer.alloc(MAX_LINE_CHARS + 10, 'a'));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ lineNo: 1, cut: true });
    expect(got[0].text.length).toBe(MAX_LINE_CHARS);
    expect(s.flush()?.text).toBe('a'.repeat(10));
  });
});

describe('resolveLogFile', () => {
  it('reads the relay log by default, the user log with --user, FILE when given', () => {
    const d = tmpDir();
    expect(resolveLogFile(opts({ dataDir: d }))).toEqual({
      file: logFile(d, { serve: true }),
      filterUser: false,
    });
    expect(resolveLogFile(opts({ dataDir: d, user: 'Adam' }))).toEqual({
      file: logFile(d, { user: 'Adam' }),
      filterUser: false,
    });
    expect(resolveLogFile(opts({ dataDir: d, file: '/x.log', user: 'Adam' }))).toEqual({
      file: '/x.log',
      filterUser: true,
    });
  });
  it('refuses a bad --user with bad_args', () => {
    for (const user of ['a/b', '..', '']) {
      expect(() => resolveLogFile(opts({ dataDir: '/tmp', user }))).toThrow(
        expect.objectContaining({ code: 'bad_args' }),
      );
    }
  });
});

describe('runLogs in-process', () => {
  it('says in one sentence that the file is missing (not a usage error)', async () => {
    const d = tmpDir();
    const err = await runLogs(opts({ dataDir: d }), {
      out: async () => undefined,
      err: () => undefined,
    }).catch((e: unknown) => e);
    expect(isChatError(err, 'storage_failed')).toBe(true);
    expect((err as Error).message).toBe(`there is no log file at ${path.join(d, 'logs', 'server.log')}`);
  });

  it('reads a real log: filters, corrupt lines in place, a partial last line', async () => {
    const d = tmpDir();
    const file = logFile(d, { serve: true });
    const logger = createLogger({ file, name: 'relay', level: 'debug' });
    logger.debug({ conn: 1 }, 'handshake done');
    logger.info({ conn: 1, user: 'Adam' }, 'logged in');
    logger.warn({ conn: 2, code: 'bad_frame' }, 'handshake failed; connection closed');
    logger.error({ conn: 3, user: 'Eve', code: 'internal' }, 'request failed');
    await closeLogger(logger);
    fs.appendFileSync(file, 'not json at all\n{"level":50,"msg":"cut short');

    const all = await collect(opts({ dataDir: d }));
    expect(all.out.match(/^\[\d{4}/gm)).toHaveLength(4);
    expect(all.out).toContain('[corrupt line 5] not json at all');
    expect(all.out).toContain('[partial line 6] {"level":50,"msg":"cut short');

    const warn = await collect(opts({ dataDir: d, level: 'warn' }));
    expect(warn.out).toContain('WARN (relay): handshake failed');
    expect(warn.out).toContain('ERROR (relay): request failed');
    expect(warn.out).not.toContain('logged in');
    expect(warn.out).not.toContain('handshake done');

    const json = await collect(opts({ dataDir: d, file, user: 'adam', json: true }));
    const printed = json.out.trim().split('\n');
    expect(printed).toHaveLength(1);
    expect(JSON.parse(printed[0])).toMatchObject({ msg: 'logged in', user: 'Adam' });
    expect(json.err).toContain('[corrupt line 5]');
    expect(json.err).toContain('[partial line 6]');

    const grep = await collect(opts({ dataDir: d, grep: 'internal', json: true }));
    expect(
      grep.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).msg),
    ).toEqual(['request failed']);
    expect(grep.err).toBe('');
  });

  it('follows appends, truncation and rotation until aborted', async () => {
    const d = tmpDir();
    const file = path.join(d, 'app.log');
    fs.writeFileSync(file, entry({ msg: 'first' }) + '\n');
    const ac = new AbortController();
    const out: string[] = [];
    const errs: string[] = [];
    const done = runLogs(opts({ file, follow: true }), {
      out: async (t) => {
        out.push(t);
      },
      err: (t) => errs.push(t),
      signal: ac.signal,
      now: () => NOW,
    });
    const seen = (s: string) => out.join('').includes(s);
    await waitFor(() => seen('first'), 'the first line');

    // A line written in two pieces is shown once it is whole.
    fs.appendFileSync(file, entry({ msg: 'sec' }).slice(0, 20));
    fs.appendFileSync(file, entry({ msg: 'second' }).slice(20) + '\n');
    await waitFor(() => seen('second'), 'an appended line');
    expect(out.join('')).not.toContain('[partial');
    expect(out.join('')).not.toContain('[corrupt');

    fs.truncateSync(file, 0);
    fs.appendFileSync(file, entry({ msg: 'after truncation' }) + '\n');
    await waitFor(() => seen('after truncation'), 'a line after truncation');
    expect(errs.join('')).toContain('was truncated');

    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, entry({ msg: 'rotated in' }) + '\n');
    await waitFor(() => seen('rotated in'), 'a line in the new file');
    expect(errs.join('')).toContain('was replaced');

    ac.abort();
    await done;
    expect(out.join('').match(/first/g)).toHaveLength(1);
  });
});

describe('the real binary', () => {
  beforeAll(() => {
    // `npm test` builds before jest; a bare `npx jest` may find no build. tsc emits even when
    // another file has a type error, so judge by the output, not by its exit status.
    ensureBuilt(['commands', 'logs.js']);
  }, 120_000);

  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  async function relayLog(): Promise<string> {
    const d = tmpDir();
    const file = logFile(d, { serve: true });
    const logger = createLogger({ file, name: 'relay' });
    logger.info({ host: '127.0.0.1', port: 5000 }, 'relay listening');
    logger.info({ conn: 1, user: 'Adam' }, 'logged in');
    logger.warn({ conn: 2, code: 'bad_frame' }, 'handshake failed; connection closed');
    logger.info({ conn: 1, user: 'Adam', code: 'closed' }, 'connection closed');
    await closeLogger(logger);
    return file;
  }

  it('chatsecure logs FILE --level warn shows just the warnings, pretty', async () => {
    const file = await relayLog();
    const r = spawnSync(process.execPath, [BIN, 'logs', file, '--level', 'warn'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('['));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/WARN \(relay\): handshake failed; connection closed$/);
    expect(r.stdout).toContain('code: "bad_frame"');
    expect(r.stdout).not.toContain('logged in');
  });

  it('a missing file is one sentence and exit status 1', () => {
    const d = tmpDir();
    const r = spawnSync(process.execPath, [BIN, 'logs', '--data-dir', d], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`there is no log file at ${path.join(d, 'logs', 'server.log')}`);
  });

  it('--follow shows a line appended after it started, and stops on SIGINT', async () => {
    const file = await relayLog();
    const c = spawn(process.execPath, [BIN, 'logs', file, '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let stdout = '';
    c.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    await waitFor(() => stdout.includes('connection closed'), 'the existing lines');
    expect(stdout).not.toContain('relay stopped');

    const logger = createLogger({ file, name: 'relay' });
    logger.info('relay stopped');
    await closeLogger(logger);
    await waitFor(() => stdout.includes('INFO (relay): relay stopped'), 'the appended line');

    c.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
