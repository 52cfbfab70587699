/**
 * Opening a ChatSecure SQLite file, shared by the relay store and the client store.
 *
 * - The folder is created 0700 and the file 0600 before SQLite touches it (DESIGN.md, "Where data
 *   lives"); SQLite gives the -wal and -shm files the mode of the database file.
 * - WAL with `synchronous = FULL`: a transaction that returned is on disk, so an acknowledged
 *   envelope or a decrypted message survives a crash or power loss.
 * - A file that is not ours, truncated or garbled is reported as `corrupt_store` and left exactly as
 *   it was: nothing is written to it before its header and schema have been read.
 * - Every SQLite or file-system failure becomes a ChatError with a sentence a person can act on.
 *   SQLite's messages never include bound values, so no key or body can leak through them.
 * - With a key (issue 13), the file is encrypted by SQLite3MultipleCiphers in its SQLCipher 4
 *   scheme (AES-256-CBC, HMAC-SHA512 per page; the -wal file is encrypted the same way). A plain
 *   file found where an encrypted one is wanted is converted once (lib/sqlite-encrypt.ts).
 * - A symbolic link at the database path (or its -wal, -shm, -journal) is refused, never followed
 *   or chmod-ed through (lib/secret-file.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ChatError, isChatError } from './errors';
import { checkSecretPath, tightenSecretFile } from './secret-file';
import {
  connect,
  finishMigration,
  isPlainSqliteFile,
  migrateToEncrypted,
  SIDE_FILES,
} from './sqlite-encrypt';

export type SqliteDb = Database.Database;

export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

export interface SqliteFileSpec {
  /** Shown in error sentences: "relay store", "client store". */
  readonly what: string;
  /** `PRAGMA application_id`, so a client.db opened as a relay store is refused, not migrated. */
  readonly applicationId: number;
  readonly schemaVersion: number;
  /** Run once, in a transaction, on a new (empty) file. */
  readonly schema: string;
  /** Overwrite deleted content (message keys, prekey secrets) instead of leaving it in free pages. */
  readonly secureDelete?: boolean;
  /**
   * Brings a file of an older schema (`from`, at least 1) to `schemaVersion`; run in one
   * transaction with the version change, so a failure leaves the file as it was.
   */
  readonly migrate?: (db: SqliteDb, from: number) => void;
}

export interface SqliteOpenOptions {
  /** 32 bytes (lib/db-key.ts): the file is encrypted with it; a plain file is converted once. */
  readonly key?: Uint8Array;
}

function refuseLinks(file: string, what: string): void {
  checkSecretPath(file, what);
  for (const s of SIDE_FILES) checkSecretPath(file + s, what);
}

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/**
 * By shape, not `instanceof`: the native addon keeps the SqliteError class of the first copy of
 * better-sqlite3 loaded in the process (a second module registry, as jest makes per test file,
 * gets errors of the first one's class, and jest's per-file contexts even a different `Error`).
 */
export function isSqliteError(err: unknown): err is InstanceType<typeof Database.SqliteError> {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { name?: unknown }).name === 'SqliteError' &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('SQLITE_')
  );
}

function sqliteCode(err: unknown): string | undefined {
  return isSqliteError(err) ? err.code : undefined;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

/**
 * Map a failure from SQLite or the file system to `corrupt_store` / `storage_failed`; a ChatError
 * passes through unchanged, and anything else (a programming error) is rethrown as it is.
 */
export function storageError(err: unknown, what: string, file: string, operation: string): unknown {
  if (isChatError(err)) return err;
  const sc = sqliteCode(err);
  if (sc !== undefined) {
    // Extended codes (SQLITE_CORRUPT_VTAB, SQLITE_READONLY_DBMOVED, ...) share the primary prefix.
    const primary = sc.split('_').slice(0, 2).join('_');
    if (CORRUPT_CODES.has(primary)) {
      return new ChatError(
        'corrupt_store',
        `the ${what} at ${file} is corrupt, truncated or not a ChatSecure database (${sc}); ` +
          'it was left untouched: restore it from a backup or move it aside',
        operation,
      );
    }
    return new ChatError(
      'storage_failed',
      `the ${what} at ${file} could not be used: ${describeSqlite(sc)} (${sc})`,
      operation,
    );
  }
  const ec = errnoCode(err);
  if (ec !== undefined) {
    return new ChatError(
      'storage_failed',
      `the ${what} at ${file} could not be used: ${describeErrno(ec)} (${ec})`,
      operation,
    );
  }
  return err;
}

function describeSqlite(code: string): string {
  if (code.startsWith('SQLITE_FULL')) return 'the disk is full';
  if (code.startsWith('SQLITE_READONLY')) return 'the file or its folder is read-only';
  if (code.startsWith('SQLITE_CANTOPEN'))
    return 'the file cannot be opened (missing folder, a folder in its place, or no permission)';
  if (code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) return 'permission denied';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return 'another process keeps it locked';
  if (code.startsWith('SQLITE_IOERR')) return 'a read or write failed';
  if (code.startsWith('SQLITE_NOMEM')) return 'out of memory';
  return 'SQLite refused the operation';
}

function describeErrno(code: string): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full';
    case 'ENOTDIR':
      return 'a file stands where a folder should be';
    case 'EISDIR':
      return 'a folder stands where the file should be';
    case 'ENOENT':
      return 'a folder on its path does not exist';
    default:
      return 'the file system refused the operation';
  }
}

/** Run `fn`, mapping storage failures to ChatErrors (see `storageError`). */
export function guarded<T>(what: string, file: string, operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw storageError(err, what, file, operation);
  }
}

/**
 * Create `dir` (0700) and `<dir>/<fileName>` (0600) if missing and open it as a ChatSecure store.
 * An existing file is checked (header, application id, schema version) before anything is written.
 */
export function openSqliteFile(
  dir: string,
  fileName: string,
  spec: SqliteFileSpec,
  opts: SqliteOpenOptions = {},
): SqliteDb {
  const file = path.join(dir, fileName);
  const key = opts.key;
  return guarded(spec.what, file, 'store.open', () => {
    fs.mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
    refuseLinks(file, spec.what);
    if (key !== undefined) finishMigration(file, key);
    if (checkSecretPath(file) === 'file') {
      tightenSecretFile(file);
      // A new store is created under another name and renamed into place once initialised, so
      // an empty file here is always a truncated store: reported, never silently re-created.
      if (fs.statSync(file).size === 0) {
        throw new ChatError(
          'corrupt_store',
          `the ${spec.what} at ${file} is empty (truncated); it was left untouched: restore it from a backup or move it aside`,
          'store.open',
        );
      }
      if (key !== undefined && isPlainSqliteFile(file)) {
        // Checked as it is first, so a damaged plain file is reported, not half converted.
        const plain = connect(file, undefined);
        try {
          checkAndInit(plain, spec, file);
        } finally {
          plain.close();
        }
        migrateToEncrypted(file, key);
      }
    } else {
      createFresh(file, spec, key);
    }
    const db = connect(file, key);
    try {
      checkAndInit(db, spec, file, key !== undefined);
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  });
}

/** Initialises a new store as `<file>.new` (0600), syncs it, then renames it into place. */
function createFresh(file: string, spec: SqliteFileSpec, key: Uint8Array | undefined): void {
  const tmp = `${file}.new`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) fs.rmSync(f, { force: true });
  const fd = fs.openSync(
    tmp,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
    DATA_FILE_MODE,
  );
  fs.closeSync(fd);
  const db = connect(tmp, key);
  try {
    checkAndInit(db, spec, file, key !== undefined);
  } finally {
    db.close();
  }
  const sync = fs.openSync(tmp, 'r');
  fs.fsyncSync(sync);
  fs.closeSync(sync);
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), 'r');
  fs.fsyncSync(dirFd);
  fs.closeSync(dirFd);
}

function checkAndInit(db: SqliteDb, spec: SqliteFileSpec, file: string, encrypted = false): void {
  // Reading first: a garbage or truncated file fails here (SQLITE_NOTADB / SQLITE_CORRUPT) before
  // the journal-mode change below could write anything to it.
  let tables: { n: number };
  try {
    tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as {
      n: number;
    };
  } catch (err) {
    if (encrypted && sqliteCode(err)?.startsWith('SQLITE_NOTADB')) {
      throw new ChatError(
        'corrupt_store',
        `the ${spec.what} at ${file} cannot be decrypted with its key (the key file beside it is not the one it was made with, or the file is damaged); ` +
          'it was left untouched: restore both from the same backup',
        'store.open',
      );
    }
    throw err;
  }
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const fresh = tables.n === 0 && appId === 0 && version === 0;
  if (!fresh && appId !== spec.applicationId) {
    throw new ChatError(
      'corrupt_store',
      `the ${spec.what} at ${file} is not a ChatSecure ${spec.what} (another program's database, or the wrong file); ` +
        'it was left untouched: move it aside',
      'store.open',
    );
  }
  if (version > spec.schemaVersion) {
    throw new ChatError(
      'storage_failed',
      `the ${spec.what} at ${file} was written by a newer chatsecure (schema ${version}, this one knows ${spec.schemaVersion}); ` +
        'upgrade chatsecure',
      'store.open',
    );
  }
  // Every page is read once, so a file truncated or garbled in the middle is reported at start
  // rather than in the middle of a delivery; still before anything is written.
  const check = db.pragma('quick_check(1)', { simple: true }) as string;
  if (check !== 'ok') {
    throw new ChatError(
      'corrupt_store',
      `the ${spec.what} at ${file} failed its integrity check; it was left untouched: restore it from a backup or move it aside`,
      'store.open',
    );
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  if (spec.secureDelete === true) db.pragma('secure_delete = ON');
  if (fresh) {
    db.transaction(() => {
      db.exec(spec.schema);
      db.pragma(`application_id = ${spec.applicationId | 0}`);
      db.pragma(`user_version = ${spec.schemaVersion | 0}`);
    })();
  } else if (version >= 1 && version < spec.schemaVersion && spec.migrate) {
    const migrate = spec.migrate;
    db.transaction(() => {
      migrate(db, version);
      db.pragma(`user_version = ${spec.schemaVersion | 0}`);
    })();
  } else if (version < spec.schemaVersion) {
    throw new ChatError(
      'corrupt_store',
      `the ${spec.what} at ${file} has an unknown schema version ${version}`,
      'store.open',
    );
  }
}

/** SQLite returns BLOBs as Buffers; callers get plain Uint8Arrays (what primitives.ts expects). */
export function bytes(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
