/**
 * Logs: pino JSON lines to a file (mode 0600, folder 0700), one per process, never stdout (the
 * full-screen UI owns the terminal). DESIGN.md "Where data lives": never a key, a passphrase or a
 * message body. What a line may contain is decided here, not by hope: every field named in
 * REDACTED_FIELDS is censored at any depth, and errors keep only allowed fields.
 *
 * Two layers: pino's `redact` on the top-level names, and `redactDeep` (pino's `formatters.log`
 * and `formatters.bindings`) for every nested level. pino's wildcard paths (`*.f`, `*.*.f`) would
 * say the same but cost 40-270 µs per line with this list; the walk costs a few.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { ChatError } from './errors';
import { ensurePrivateDir, SECRET_FILE_MODE } from './paths';

export type { Logger } from 'pino';

/**
 * Field names that could hold a secret key, a passphrase, a message body or an envelope. The
 * public keys (`signKey`, `dhKey`, `pub`) are not secrets and stay visible for debugging.
 */
export const REDACTED_FIELDS = [
  // keys and key material
  'secretKey',
  'privateKey',
  'secret',
  'key',
  'keys',
  'sk',
  'seed',
  'keyPair',
  'staticKey',
  'ephemeral',
  'sessionKey',
  'k',
  'ck',
  'mk',
  'rk',
  'rootKey',
  'chainKey',
  'messageKey',
  'sendingChain',
  'receivingChain',
  'skipped',
  'idcert',
  // passphrases and credentials
  'passphrase',
  'password',
  'token',
  // message content, clear or sealed
  'body',
  'plaintext',
  'text',
  'inner',
  'payload',
  'env',
  'envelope',
  'ct',
  'ciphertext',
  'header',
] as const;

/** What a redacted value becomes. */
export const REDACTED = '[redacted]';
/** Logged objects nested deeper than this are replaced whole: they cannot be checked cheaply (or may be cyclic). */
export const MAX_LOG_DEPTH = 8;
/** What a value nested beyond MAX_LOG_DEPTH becomes. */
export const TOO_DEEP = '[too deep]';

/** pino's own `redact` paths: the top-level names (the nested levels are `redactDeep`'s). */
export const REDACT_PATHS: readonly string[] = [...REDACTED_FIELDS];

const redactedNames = new Set<string>(REDACTED_FIELDS);

/**
 * A copy of `v` with every REDACTED_FIELDS property censored, at any depth; `v` itself is never
 * changed, and is returned as is when nothing needed censoring. Errors are left to
 * `serializeError`; byte arrays under an allowed name (a public key) are kept.
 */
export function redactDeep(v: unknown, depth = 0): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Error || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v;
  if (depth >= MAX_LOG_DEPTH) return TOO_DEEP;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = redactDeep(v[i], depth + 1);
      if (r !== v[i]) (copy ??= v.slice())[i] = r;
    }
    return copy ?? v;
  }
  const o = v as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(o)) {
    const val = o[k];
    const r = redactedNames.has(k) ? REDACTED : redactDeep(val, depth + 1);
    if (r !== val) (copy ??= { ...o })[k] = r;
  }
  return copy ?? v;
}

function redactObject(o: Record<string, unknown>): Record<string, unknown> {
  return redactDeep(o) as Record<string, unknown>;
}

/** Errors are logged by allowed fields only: an error object may carry anything in its props. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: typeof err === 'string' ? err : 'non-error thrown' };
  const out: Record<string, unknown> = { message: err.message };
  if (err instanceof ChatError) {
    out.code = err.code;
    if (err.operation !== undefined) out.operation = err.operation;
  } else {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
  }
  if (err.stack !== undefined) out.stack = err.stack;
  return out;
}

/** `--log-file -`: JSON lines to stderr (for journald), not to a file. */
export const LOG_TO_STDERR = '-';

export interface LoggerOptions {
  /** The log file, or `-` (LOG_TO_STDERR) for stderr. */
  readonly file: string;
  /** A pino level name; default `debug` with `debug: true`, else `info`. */
  readonly level?: string;
  /** The 2016 client's debug flag: more detail in the log. */
  readonly debug?: boolean;
  /** `server`, or the user's name: appears on every line. */
  readonly name: string;
  /**
   * Reopen the file on SIGHUP (the relay: logrotate renames the file, then sends HUP). The
   * listener also keeps SIGHUP from ending the process; it is removed when the logger closes.
   */
  readonly reopenOnSighup?: boolean;
}

/**
 * The log file as a pino destination: lines are queued and written together once per event-loop
 * turn (or sooner past MAX_PENDING_LOG_BYTES), so logging makes one small write per turn, not one
 * per line, and every write happens on this thread, in order. That is what lets `flushLogger` be exact: sonic-boom's async
 * mode (pino.destination with sync:false) hands a write to libuv's thread pool, and a flushSync
 * at exit then lands the lines behind it first, or loses the one in flight.
 */
/** Queued log bytes that trigger an immediate write: a burst in one turn never piles up in memory. */
export const MAX_PENDING_LOG_BYTES = 64 * 1024;

class LogFile implements pino.DestinationStream {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled: NodeJS.Immediate | undefined;
  private fd: number | undefined;
  private onHup: (() => void) | undefined;

  /** `file` undefined: `fd` is stderr, which is neither reopened nor closed here. */
  constructor(
    fd: number,
    private readonly file: string | undefined,
  ) {
    this.fd = fd;
    if (liveFiles.size === 0) process.on('exit', flushAllAtExit);
    liveFiles.add(this);
  }

  write(line: string): void {
    if (this.fd === undefined) return;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= MAX_PENDING_LOG_BYTES) return this.flushSync();
    // One turn only: nothing is held past it, so a process with nothing else to do exits.
    this.scheduled ??= setImmediate(() => this.flushSync());
  }

  flushSync(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.fd === undefined || this.pending.length === 0) return;
    const data = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
    } catch {
      // A full or vanished disk must not stop the relay or the client; the lines are dropped.
    }
  }

  /**
   * Writes what is queued to the old file, then opens the path again (a new file if it was
   * renamed away). On failure the old file stays in use and the error is thrown.
   */
  reopen(): void {
    this.flushSync();
    if (this.file === undefined || this.fd === undefined) return;
    const fd = openLogFile(this.file);
    fs.closeSync(this.fd);
    this.fd = fd;
  }

  /** Reopens on SIGHUP, then calls `after` with the outcome (to log it). */
  reopenOnSighup(after: (err?: unknown) => void): void {
    this.onHup = () => {
      try {
        this.reopen();
        after();
      } catch (err) {
        after(err);
      }
    };
    process.on('SIGHUP', this.onHup);
  }

  close(): void {
    this.flushSync();
    if (this.onHup) process.off('SIGHUP', this.onHup);
    this.onHup = undefined;
    if (this.fd !== undefined && this.file !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    if (liveFiles.delete(this) && liveFiles.size === 0) process.off('exit', flushAllAtExit);
  }
}

/** Opens (or creates) a log file for appending, mode 0600; an existing file is tightened too. */
function openLogFile(file: string): number {
  ensurePrivateDir(path.dirname(file));
  try {
    const fd = fs.openSync(file, 'a', SECRET_FILE_MODE);
    fs.fchmodSync(fd, SECRET_FILE_MODE);
    return fd;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    throw new ChatError('storage_failed', `could not open the log file ${file} (${code})`, 'log.open');
  }
}

/**
 * Open log files, flushed by one `exit` hook, so lines logged just before process.exit() are kept.
 * The hook is removed when the last file closes, so loading this module leaves no listener behind.
 */
const liveFiles = new Set<LogFile>();
function flushAllAtExit(): void {
  for (const f of liveFiles) f.flushSync();
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? (opts.debug ? 'debug' : 'info');
  if (!Object.hasOwn(pino.levels.values, level) && level !== 'silent') {
    throw new ChatError('bad_args', `unknown log level "${level}"`, 'log.create');
  }
  // Opened here with mode 0600 before any line is written.
  const toStderr = opts.file === LOG_TO_STDERR;
  const dest = toStderr
    ? new LogFile(process.stderr.fd, undefined)
    : new LogFile(openLogFile(opts.file), opts.file);
  const logger = pino(
    {
      name: opts.name,
      level,
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      formatters: { log: redactObject, bindings: redactObject },
      serializers: { err: serializeError, error: serializeError },
    },
    dest,
  );
  // pino runs `formatters.bindings` for the root only, so a child's bindings are censored here.
  // Children are created from their parent by prototype, so this reaches grandchildren too.
  type ChildFn = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  const pinoChild = logger.child as unknown as ChildFn;
  const censoredChild: ChildFn = function (bindings, options) {
    return pinoChild.call(this, redactObject(bindings), options);
  };
  logger.child = censoredChild as unknown as Logger['child'];
  if (opts.reopenOnSighup) {
    dest.reopenOnSighup((err) =>
      err === undefined
        ? logger.info('log file reopened (SIGHUP)')
        : logger.error({ err }, 'could not reopen the log file; still writing to the old one'),
    );
  }
  return logger;
}

/** The file behind a logger or any of its children (they share their parent's stream). */
function logFileOf(logger: Logger): LogFile | undefined {
  const stream: unknown = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  return stream instanceof LogFile ? stream : undefined;
}

/** Writes every queued line now, synchronously and in order: for exit paths (SIGINT, fatal errors). */
export function flushLogger(logger: Logger): void {
  logFileOf(logger)?.flushSync();
}

/**
 * Flushes and closes the log file; later lines from this logger are dropped. The work is done
 * before this returns; the promise is for callers that treat closing as asynchronous.
 */
export async function closeLogger(logger: Logger): Promise<void> {
  logFileOf(logger)?.close();
}
