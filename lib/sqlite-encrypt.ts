/**
 * Converting a plain SQLite store to an encrypted one, once, crash-safe (issue 13, point 2).
 *
 * SQLite3MultipleCiphers has no `sqlcipher_export`, so the schema and the rows are copied: the new
 * file is the main database (with the key), the plain one is attached with `KEY ''`.
 *
 * The steps, and what an interruption after each leaves (`finishMigration` tidies up on the next
 * open, and the conversion then runs again if the plain file is still in place):
 *
 *  1. `checkpointed`: the plain file is made self-contained (WAL checkpointed, journal mode
 *     DELETE, so no -wal file is left that could be replayed onto the encrypted file).
 *  2. `copying` / `copied`: `<file>.enc-new` (0600, O_EXCL) gets schema, rows, `application_id`
 *     and `user_version` in one transaction. Interrupted: the plain file is untouched; the
 *     partial `.enc-new` is removed on the next open.
 *  3. `synced`: `.enc-new` is fsync-ed.
 *  4. `verified`: `.enc-new` is opened again with the key; its integrity check passes and every
 *     table has the plain file's row count.
 *  5. `linked`: `<file>.plain` is made a hard link to the plain file, so the old content stays
 *     reachable until the encrypted file is known good.
 *  6. `renamed`: `.enc-new` is renamed over `<file>` (atomic) and the folder fsync-ed. From here
 *     on `<file>` is encrypted.
 *  7. `reopened`: `<file>` is opened with the key and checked.
 *  8. `shredded`: `.plain` is overwritten with zeros and fsync-ed, then removed. Interrupted
 *     anywhere here: the next open checks `<file>` with the key, then shreds `.plain` again.
 *
 * Overwriting is best effort: a copy-on-write file system or an SSD may keep the old blocks.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { toHex } from './crypto/primitives';
import { ChatError } from './errors';

type SqliteDb = Database.Database;

/** Another connection may hold the write lock briefly (a second handle in tests, a backup tool). */
export const BUSY_TIMEOUT_MS = 5000;

/** The files SQLite keeps beside a database. */
export const SIDE_FILES = ['-wal', '-shm', '-journal'] as const;

/** The SQLCipher 4 scheme of SQLite3MultipleCiphers, with a raw 256-bit key (no KDF: the key is random). */
export function applyKey(db: SqliteDb, key: Uint8Array): void {
  if (key.length !== 32) throw new ChatError('bad_key', 'a database key is 32 bytes', 'store.open');
  db.pragma("cipher = 'sqlcipher'");
  db.pragma('legacy = 4');
  // The key as a hex blob literal: a raw key, so SQLCipher's own KDF is skipped.
  db.pragma(`key = "x'${toHex(key)}'"`);
}

/** A new connection; with a key, the key is set before anything is read. */
export function connect(file: string, key: Uint8Array | undefined): SqliteDb {
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    if (key !== undefined) applyKey(db, key);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

export type MigrationStep =
  | 'checkpointed'
  | 'copying'
  | 'copied'
  | 'synced'
  | 'verified'
  | 'linked'
  | 'renamed'
  | 'reopened'
  | 'shredded'
  | 'done';

export const MIGRATION_STEPS: readonly MigrationStep[] = [
  'checkpointed',
  'copying',
  'copied',
  'synced',
  'verified',
  'linked',
  'renamed',
  'reopened',
  'shredded',
  'done',
];

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const SHRED_CHUNK = 64 * 1024;

export const newFileOf = (file: string): string => `${file}.enc-new`;
export const plainLinkOf = (file: string): string => `${file}.plain`;

/** Whether `file` starts with SQLite's plain header (an encrypted file starts with random salt). */
export function isPlainSqliteFile(file: string): boolean {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return n === head.length && head.equals(SQLITE_HEADER);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function removeWithSideFiles(file: string): void {
  for (const f of [file, ...SIDE_FILES.map((s) => file + s)]) fs.rmSync(f, { force: true });
}

const quoteId = (name: string): string => `"${name.replace(/"/g, '""')}"`;

interface SchemaRow {
  readonly type: string;
  readonly name: string;
  readonly sql: string;
}

function userTables(db: SqliteDb, schema: string): string[] {
  return (
    db
      .prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .all() as { name: string }[]
  ).map((r) => r.name);
}

function rowCounts(db: SqliteDb, schema: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of userTables(db, schema)) {
    const r = db.prepare(`SELECT count(*) AS n FROM ${schema}.${quoteId(t)}`).get() as { n: number };
    counts.set(t, r.n);
  }
  return counts;
}

function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a].every(([t, n]) => b.get(t) === n);
}

function quickCheckOk(db: SqliteDb): boolean {
  return db.pragma('quick_check(1)', { simple: true }) === 'ok';
}

/** Opens `file` with `key` and checks it reads as a whole; false when it does not. */
function opensWithKey(file: string, key: Uint8Array): boolean {
  let db: SqliteDb | undefined;
  try {
    db = connect(file, key);
    return quickCheckOk(db);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(NOTADB|CORRUPT)/.test(code)) return false;
    throw err;
  } finally {
    db?.close();
  }
}

/** Overwrites `file` with zeros, fsyncs it, removes it and syncs the folder. */
function shred(file: string, onStep: (s: MigrationStep) => void): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  try {
    const size = fs.fstatSync(fd).size;
    const zeros = Buffer.alloc(SHRED_CHUNK);
    for (let off = 0; off < size; off += SHRED_CHUNK) {
      fs.writeSync(fd, zeros, 0, Math.min(SHRED_CHUNK, size - off), off);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  onStep('shredded');
  fs.rmSync(file);
  fsyncPath(path.dirname(file));
}

function sameInode(a: string, b: string): boolean {
  const sa = fs.lstatSync(a);
  const sb = fs.lstatSync(b);
  return sa.ino === sb.ino && sa.dev === sb.dev;
}

/**
 * Tidies what an interrupted conversion left beside `file` (see the steps above); a no-op when
 * there is nothing. The plain copy is destroyed only once `file` opens with `key`.
 */
export function finishMigration(
  file: string,
  key: Uint8Array,
  onStep: (s: MigrationStep) => void = () => undefined,
): void {
  const plain = plainLinkOf(file);
  const tmp = newFileOf(file);
  if (fs.existsSync(tmp) || SIDE_FILES.some((s) => fs.existsSync(tmp + s))) removeWithSideFiles(tmp);
  if (!fs.existsSync(plain)) return;
  if (!fs.existsSync(file)) {
    // Not a state the steps leave, but the plain copy is all there is: put it back.
    fs.renameSync(plain, file);
    fsyncPath(path.dirname(file));
    return;
  }
  if (sameInode(plain, file) || isPlainSqliteFile(file)) {
    // Interrupted before the rename: `file` is still the plain store, `.plain` only a second name.
    fs.rmSync(plain);
    fsyncPath(path.dirname(file));
    return;
  }
  if (!opensWithKey(file, key)) {
    throw new ChatError(
      'corrupt_store',
      `${file} does not open with its key, and the plain copy ${plain} from before its encryption is still there; ` +
        'both were left untouched: move them aside and restore from a backup',
      'store.open',
    );
  }
  onStep('reopened');
  shred(plain, onStep);
}

/**
 * Converts the plain store `file` to one encrypted with `key` (steps above). The caller has
 * checked the plain file (header, application id, integrity) and holds the data-dir lock.
 * `onStep` is called after each step (the kill-at-each-step test uses it).
 */
export function migrateToEncrypted(
  file: string,
  key: Uint8Array,
  onStep: (s: MigrationStep) => void = () => undefined,
): void {
  const dir = path.dirname(file);
  const tmp = newFileOf(file);
  // 1. Self-contained plain file: nothing left in a -wal to be replayed later.
  const plainDb = connect(file, undefined);
  let plainCounts: Map<string, number>;
  try {
    plainDb.pragma('wal_checkpoint(TRUNCATE)');
    plainDb.pragma('journal_mode = DELETE');
    plainCounts = rowCounts(plainDb, 'main');
  } finally {
    plainDb.close();
  }
  for (const s of SIDE_FILES) fs.rmSync(file + s, { force: true });
  onStep('checkpointed');

  // 2. The copy.
  removeWithSideFiles(tmp);
  fs.closeSync(
    fs.openSync(
      tmp,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    ),
  );
  const db = connect(tmp, key);
  try {
    db.prepare("ATTACH DATABASE ? AS plain KEY ''").run(file);
    const objects = db
      .prepare(
        `SELECT type, name, sql FROM plain.sqlite_master WHERE sql IS NOT NULL
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid`,
      )
      .all() as SchemaRow[];
    const appId = db.pragma('plain.application_id', { simple: true }) as number;
    const version = db.pragma('plain.user_version', { simple: true }) as number;
    db.transaction(() => {
      let first = true;
      for (const o of objects) {
        if (o.type === 'table' && o.name.startsWith('sqlite_')) continue;
        db.exec(o.sql);
        if (o.type !== 'table') continue;
        db.exec(`INSERT INTO main.${quoteId(o.name)} SELECT * FROM plain.${quoteId(o.name)}`);
        if (first) onStep('copying');
        first = false;
      }
      if (objects.some((o) => o.name === 'sqlite_sequence')) {
        db.exec('DELETE FROM main.sqlite_sequence');
        db.exec('INSERT INTO main.sqlite_sequence SELECT * FROM plain.sqlite_sequence');
      }
      db.pragma(`main.application_id = ${appId | 0}`);
      db.pragma(`main.user_version = ${version | 0}`);
    })();
    db.exec('DETACH DATABASE plain');
  } finally {
    db.close();
  }
  onStep('copied');

  // 3. Durable.
  fsyncPath(tmp);
  onStep('synced');

  // 4. Verified by a fresh connection with the key.
  const check = connect(tmp, key);
  try {
    if (!quickCheckOk(check) || !sameCounts(rowCounts(check, 'main'), plainCounts)) {
      throw new ChatError(
        'storage_failed',
        `the encrypted copy of ${file} did not match it; the plain file was left as it was`,
        'store.open',
      );
    }
  } finally {
    check.close();
  }
  onStep('verified');

  // 5-6. The old content keeps a name until the new file is known good; then the atomic swap.
  const plain = plainLinkOf(file);
  fs.rmSync(plain, { force: true });
  fs.linkSync(file, plain);
  fsyncPath(dir);
  onStep('linked');
  fs.renameSync(tmp, file);
  fsyncPath(dir);
  onStep('renamed');

  // 7-8. Opened and checked in place, then the plain copy is destroyed.
  finishMigration(file, key, onStep);
  onStep('done');
}
