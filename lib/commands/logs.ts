/**
 * `chatsecure logs [FILE]`: reads pino JSON-lines logs back, pretty (DESIGN.md "Where data lives").
 * Without FILE it reads this machine's relay log, or with `--user NAME` that user's client log.
 *
 * Map for contributors: the pure parts come first (`parseSince`, `parseLogLine`, `lineMatches`,
 * `LineSplitter`, `createFormatter`), then the I/O: `readWholeFile` for one pass and
 * `followFile` for `--follow` (tail -F: it survives truncation and rotation).
 *
 * A log file is input we do not trust to be whole: a crash can cut a line, a disk can garble one.
 * Such a line is shown as `[corrupt line N] <first 200 chars>`, with control characters escaped so
 * it cannot drive the terminal, and reading goes on.
 */
import * as fs from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { prettyFactory } from 'pino-pretty';
import { ChatError } from '../errors';
import { canonName, isValidName } from '../names';
import { logFile, resolveDataDir } from '../paths';
import type { CommonOptions } from './options';

/** `chatsecure logs [FILE]`. */
export interface LogsOptions extends CommonOptions {
  file?: string;
  user?: string;
  follow: boolean;
  level?: string;
  since?: string;
  grep?: string;
  json: boolean;
}

/** pino's level numbers; `silent` shows nothing. */
export const LOG_LEVEL_VALUES: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

/** How much of a corrupt line is shown: enough to recognise it, not a screenful of garbage. */
export const CORRUPT_PREVIEW_CHARS = 200;
/**
 * A "line" longer than this without a newline is cut and shown as corrupt, so a file with no
 * newlines (a binary, a garbled disk block) cannot make the reader hold it all in memory. Real
 * pino lines are a few hundred bytes.
 */
export const MAX_LINE_CHARS = 1024 * 1024;
/** `--follow` looks for new data this often: frequent enough to feel live, cheap when idle. */
export const FOLLOW_POLL_MS = 200;
/** Bytes read per read call. */
const READ_CHUNK_BYTES = 64 * 1024;

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
  w: 7 * 24 * 60 * 60 * 1000,
};

// ---------------------------------------------------------------------------------------------
// Pure parts

/**
 * `--since`: a duration back from `now` (`30s`, `10m`, `2h`, `1d`, `1w`) or an ISO 8601 time
 * (`2024-05-01`, `2024-05-01T10:00:00Z`). Returns milliseconds since the epoch.
 */
export function parseSince(text: string, now: number): number {
  const s = text.trim();
  const rel = /^(\d{1,9})([smhdw])$/.exec(s);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  // Only ISO-looking text: Date.parse alone accepts "1" or "May 5" in implementation-defined ways.
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t;
  }
  throw new ChatError('bad_args', `--since must be like 10m, 2h, 1d or an ISO time, not "${text}"`, 'logs');
}

/** The smallest level number shown for `--level NAME`. */
export function levelThreshold(name: string): number {
  const v = LOG_LEVEL_VALUES[name];
  if (v === undefined || !Object.prototype.hasOwnProperty.call(LOG_LEVEL_VALUES, name)) {
    throw new ChatError(
      'bad_args',
      `--level must be one of ${Object.keys(LOG_LEVEL_VALUES).join(', ')}`,
      'logs',
    );
  }
  return v;
}

/** One line of a log file: a pino entry, or something that is not one. */
export type LogLine =
  | {
      readonly t: 'entry';
      readonly lineNo: number;
      readonly raw: string;
      readonly entry: Record<string, unknown>;
    }
  | {
      readonly t: 'corrupt';
      readonly lineNo: number;
      readonly raw: string;
      readonly why: 'corrupt' | 'partial';
    };

/** Parses one line (without its newline). `partial` marks a last line that never got its newline. */
export function parseLogLine(raw: string, lineNo: number, partial = false): LogLine {
  const why = partial ? 'partial' : 'corrupt';
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { t: 'corrupt', lineNo, raw, why };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { t: 'corrupt', lineNo, raw, why };
  return { t: 'entry', lineNo, raw, entry: v as Record<string, unknown> };
}

/** The line's level as a number: pino writes numbers, a `formatters.level` setup writes names. */
export function entryLevel(entry: Record<string, unknown>): number | undefined {
  const l = entry.level;
  if (typeof l === 'number' && Number.isFinite(l)) return l;
  if (typeof l === 'string' && Object.prototype.hasOwnProperty.call(LOG_LEVEL_VALUES, l))
    return LOG_LEVEL_VALUES[l];
  return undefined;
}

/** The line's time in ms since the epoch: pino's default is a number, `isoTime` a string. */
export function entryTime(entry: Record<string, unknown>): number | undefined {
  const t = entry.time;
  if (typeof t === 'number' && Number.isFinite(t)) return t;
  if (typeof t === 'string') {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}

export interface LogFilter {
  /** Show lines at this level number and above. */
  readonly minLevel?: number;
  /** Show lines at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Show lines whose `name` or `user` field is this user (compared as canon names). */
  readonly user?: string;
  /** Show lines whose raw text contains this. */
  readonly grep?: string;
}

/** Builds the filter from the options. `filterUser` is false when --user only chose the file. */
export function buildFilter(opts: LogsOptions, now: number, filterUser: boolean): LogFilter {
  return {
    ...(opts.level !== undefined ? { minLevel: levelThreshold(opts.level) } : {}),
    ...(opts.since !== undefined ? { since: parseSince(opts.since, now) } : {}),
    ...(filterUser && opts.user !== undefined ? { user: canonName(opts.user) } : {}),
    ...(opts.grep !== undefined && opts.grep !== '' ? { grep: opts.grep } : {}),
  };
}

function fieldIsUser(v: unknown, canon: string): boolean {
  return typeof v === 'string' && isValidName(v) && canonName(v) === canon;
}

/**
 * Whether a line passes the filter. A corrupt line has no level, time or user to judge, so only
 * `--grep` can hide it: hiding damage by default would hide the one thing worth seeing.
 */
export function lineMatches(line: LogLine, f: LogFilter): boolean {
  if (f.grep !== undefined && !line.raw.includes(f.grep)) return false;
  if (line.t === 'corrupt') return true;
  const e = line.entry;
  if (f.minLevel !== undefined) {
    const level = entryLevel(e);
    if (level === undefined || level < f.minLevel) return false;
  }
  if (f.since !== undefined) {
    const time = entryTime(e);
    if (time === undefined || time < f.since) return false;
  }
  if (f.user !== undefined && !fieldIsUser(e.name, f.user) && !fieldIsUser(e.user, f.user)) return false;
  return true;
}

// C0 and C1 controls and DEL: a log line that reaches a terminal must not be able to drive it.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

// The same, less newline and tab: a stack trace inside an entry keeps its lines.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS_BUT_LAYOUT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Control characters as `\xNN`, so text from a log is inert on a terminal; `keepLayout` spares `\n` and `\t`. */
export function escapeControls(s: string, keepLayout = false): string {
  return s.replace(
    keepLayout ? CONTROL_CHARS_BUT_LAYOUT : CONTROL_CHARS,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/** `[corrupt line 12] {"lev…` with at most CORRUPT_PREVIEW_CHARS of the line, escaped. */
export function describeCorrupt(line: Extract<LogLine, { t: 'corrupt' }>): string {
  const cut = line.raw.length > CORRUPT_PREVIEW_CHARS;
  const preview = escapeControls(line.raw.slice(0, CORRUPT_PREVIEW_CHARS));
  return `[${line.why} line ${line.lineNo}] ${preview}${cut ? '…' : ''}`;
}

/** Strings inside an entry with control characters escaped (nesting bounded, as pino's own is). */
function sanitize(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return escapeControls(v, true);
  if (depth <= 0 || typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => sanitize(x, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[escapeControls(k)] = sanitize(x, depth - 1);
  return out;
}

export interface FormatterOptions {
  /** Print the raw JSON line (`--json`) instead of the pretty form. */
  readonly json: boolean;
  /** ANSI colours (a terminal that wants them). */
  readonly colorize: boolean;
}

/** What one line becomes: `out` goes to stdout; `err` to stderr (corrupt lines under --json). */
export interface Formatted {
  readonly out?: string;
  readonly err?: string;
}

/** Turns a matching line into output text, each piece ending in a newline. */
export function createFormatter(opts: FormatterOptions): (line: LogLine) => Formatted {
  const pretty = prettyFactory({
    colorize: opts.colorize,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return (line) => {
    if (line.t === 'corrupt') {
      // Under --json stdout stays valid JSON lines for the program reading it; the damage is still reported.
      const text = `${describeCorrupt(line)}\n`;
      return opts.json ? { err: text } : { out: text };
    }
    if (opts.json) return { out: `${line.raw}\n` };
    try {
      const s = pretty(sanitize(line.entry, 8) as Record<string, unknown>);
      return { out: s.endsWith('\n') ? s : `${s}\n` };
    } catch {
      // pino-pretty refuses some shapes (a `msg` that is an object with a cycle cannot occur
      // in JSON, but a future version may be stricter): fall back to the raw line, escaped.
      return { out: `${escapeControls(line.raw)}\n` };
    }
  };
}

/**
 * Splits a byte stream into lines. UTF-8 characters split across chunks are kept whole; `\r\n`
 * counts as one newline. A run longer than MAX_LINE_CHARS without a newline is cut into a line of
 * its own (and shown as corrupt) so memory stays bounded.
 */
export class LineSplitter {
  private decoder = new StringDecoder('utf8');
  private pending = '';
  /** Lines returned so far, so line numbers match the file's. */
  private count = 0;

  /** Feeds a chunk; returns the complete lines it ends, numbered from 1. */
  push(chunk: Buffer): { text: string; lineNo: number; cut: boolean }[] {
    const out: { text: string; lineNo: number; cut: boolean }[] = [];
    let s = this.pending + this.decoder.write(chunk);
    let nl: number;
    while ((nl = s.indexOf('\n')) >= 0) {
      let text = s.slice(0, nl);
      if (text.endsWith('\r')) text = text.slice(0, -1);
      out.push({ text, lineNo: ++this.count, cut: false });
      s = s.slice(nl + 1);
    }
    while (s.length > MAX_LINE_CHARS) {
      out.push({ text: s.slice(0, MAX_LINE_CHARS), lineNo: ++this.count, cut: true });
      s = s.slice(MAX_LINE_CHARS);
    }
    this.pending = s;
    return out;
  }

  /** The unfinished last line, if any (the file ends without a newline), and forgets it. */
  flush(): { text: string; lineNo: number } | undefined {
    const rest = this.pending + this.decoder.end();
    this.decoder = new StringDecoder('utf8');
    this.pending = '';
    if (rest === '') return undefined;
    return { text: rest, lineNo: ++this.count };
  }

  /** Starts over (the file was truncated or replaced). */
  reset(): void {
    this.decoder = new StringDecoder('utf8');
    this.pending = '';
    this.count = 0;
  }

  get hasPending(): boolean {
    return this.pending !== '';
  }
}

/** The file to read: FILE, else the log of --user, else the relay log. `filterUser` says whether --user also filters. */
export function resolveLogFile(opts: LogsOptions): { file: string; filterUser: boolean } {
  if (opts.user !== undefined && !isValidName(opts.user)) {
    throw new ChatError('bad_args', `--user "${opts.user}" is not a valid name`, 'logs');
  }
  if (opts.file !== undefined) return { file: opts.file, filterUser: opts.user !== undefined };
  const dataDir = resolveDataDir(opts.dataDir);
  if (opts.user !== undefined) {
    try {
      return { file: logFile(dataDir, { user: opts.user }), filterUser: false };
    } catch {
      // paths.ts refuses "." and "..", which the name pattern admits.
      throw new ChatError('bad_args', `--user "${opts.user}" cannot name a log file`, 'logs');
    }
  }
  return { file: logFile(dataDir, { serve: true }), filterUser: false };
}

// ---------------------------------------------------------------------------------------------
// I/O

/** Where output goes; tests pass their own, the command passes stdout/stderr. */
export interface LogsIo {
  /** Writes to stdout; resolves when it may be written again (back-pressure). */
  out(text: string): Promise<void>;
  err(text: string): void;
  /** Ends `--follow`; the command ends it on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /** Wall clock for `--since`. */
  now?: () => number;
  colorize?: boolean;
}

type Emit = (line: LogLine) => Promise<void>;

function lineOf(l: { text: string; lineNo: number; cut: boolean }): LogLine {
  if (l.cut) return { t: 'corrupt', lineNo: l.lineNo, raw: l.text, why: 'corrupt' };
  return parseLogLine(l.text, l.lineNo);
}

function openForRead(file: string): number {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new ChatError('storage_failed', `${file} is not a log file`, 'logs');
    return fs.openSync(file, 'r');
  } catch (err) {
    if (err instanceof ChatError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ChatError('storage_failed', `there is no log file at ${file}`, 'logs');
    throw new ChatError(
      'storage_failed',
      `could not read the log file ${file} (${code ?? 'unknown'})`,
      'logs',
    );
  }
}

/** Reads from `pos` to the current end of `fd`, handing complete lines to `emit`. Returns the new position. */
async function readAvailable(fd: number, pos: number, splitter: LineSplitter, emit: Emit): Promise<number> {
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n <= 0) return pos;
    pos += n;
    for (const l of splitter.push(buf.subarray(0, n))) await emit(lineOf(l));
  }
}

/** One pass over the file; a last line without a newline is judged as it stands. */
async function readWholeFile(file: string, emit: Emit): Promise<void> {
  const fd = openForRead(file);
  try {
    const splitter = new LineSplitter();
    await readAvailable(fd, 0, splitter, emit);
    const rest = splitter.flush();
    if (rest) await emit(parseLogLine(rest.text, rest.lineNo, true));
  } finally {
    fs.closeSync(fd);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `--follow`: prints what is there, then new lines as they are appended, until `signal` aborts.
 * Like `tail -F`: a file that shrinks was truncated (read again from the start); a path that now
 * names another file was rotated (finish the old one, then read the new one from the start).
 * A line without its newline yet is held until the newline comes, since pino may be mid-write.
 */
async function followFile(file: string, emit: Emit, io: LogsIo): Promise<void> {
  let fd = openForRead(file);
  let ino = fs.fstatSync(fd).ino;
  let pos = 0;
  const splitter = new LineSplitter();
  try {
    while (!io.signal?.aborted) {
      pos = await readAvailable(fd, pos, splitter, emit);
      let current: fs.Stats | undefined;
      try {
        current = fs.statSync(file);
      } catch {
        current = undefined; // rotated away and not recreated yet: keep the old file
      }
      if (current && current.ino !== ino) {
        pos = await readAvailable(fd, pos, splitter, emit);
        const rest = splitter.flush();
        if (rest) await emit(parseLogLine(rest.text, rest.lineNo, true));
        fs.closeSync(fd);
        fd = fs.openSync(file, 'r');
        ino = fs.fstatSync(fd).ino;
        pos = 0;
        splitter.reset();
        io.err(`[${file} was replaced; reading the new file]\n`);
        continue;
      }
      if (fs.fstatSync(fd).size < pos) {
        pos = 0;
        splitter.reset();
        io.err(`[${file} was truncated; reading it from the start]\n`);
        continue;
      }
      await sleep(FOLLOW_POLL_MS, io.signal);
    }
    pos = await readAvailable(fd, pos, splitter, emit);
    const rest = splitter.flush();
    if (rest) await emit(parseLogLine(rest.text, rest.lineNo, true));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Colour or not: `FORCE_COLOR` (any value but `0` or `false`) forces it, `NO_COLOR` (any
 * non-empty value, no-color.org) turns it off, else colour on a terminal only.
 */
export function useColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.NO_COLOR) return false;
  return Boolean(stream.isTTY);
}

/** stdout with back-pressure; a closed pipe (`| head`) calls `onClosed` and drops the rest. */
function stdoutIo(onClosed: () => void): LogsIo {
  let closed = false;
  process.stdout.on('error', () => {
    closed = true;
    onClosed();
  });
  return {
    out: (text) =>
      new Promise<void>((resolve) => {
        if (closed || process.stdout.write(text)) return resolve();
        process.stdout.once('drain', resolve);
        process.stdout.once('error', () => resolve());
      }),
    err: (text) => {
      process.stderr.write(text);
    },
    colorize: useColor(process.stdout, process.env),
  };
}

/**
 * `chatsecure logs`: prints the matching lines of one log file, pretty or raw (--json), and with
 * --follow keeps printing until SIGINT/SIGTERM (or `io.signal`). A missing file is one sentence
 * (`storage_failed`, exit status 1); bad option values are `bad_args` (exit status 2).
 */
export async function runLogs(opts: LogsOptions, io?: LogsIo): Promise<void> {
  const { file, filterUser } = resolveLogFile(opts);
  const now = io?.now ?? Date.now;
  const filter = buildFilter(opts, now(), filterUser);
  const controller = new AbortController();
  const sink = io ?? stdoutIo(() => controller.abort());
  const format = createFormatter({ json: opts.json, colorize: sink.colorize ?? false });
  const emit: Emit = async (line) => {
    if (!lineMatches(line, filter)) return;
    const f = format(line);
    if (f.err) sink.err(f.err);
    if (f.out) await sink.out(f.out);
  };
  if (!opts.follow) {
    await readWholeFile(file, emit);
    return;
  }
  if (io?.signal) {
    await followFile(file, emit, sink);
    return;
  }
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await followFile(file, emit, { ...sink, signal: controller.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
