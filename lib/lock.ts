/**
 * One running client per user (PROTOCOL.md section 3, DESIGN.md "Where data lives"): two copies
 * sharing a ratchet store would send with the same message keys.
 *
 * The lock is a file created with O_EXCL holding the holder's pid. A lock whose pid is no longer
 * alive (`kill(pid, 0)` fails with ESRCH) was left by a crash and is taken over.
 *
 * Known limit: two processes taking over the same stale lock in the same instant can, in a very
 * narrow window, both succeed; the re-read before unlinking and after creating makes it
 * unlikely, and it needs a crash first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatError } from './errors';
import { DATA_DIR_MODE, DATA_FILE_MODE, storageError } from './sqlite-db';

export const LOCK_FILE = 'chatsecure.lock';
/** A lock file still empty this long after its creation was left by a process that died in between. */
export const EMPTY_LOCK_GRACE_MS = 10_000;
/** Create, find stale, remove, create again: a few rounds cover a racing starter. */
const MAX_ATTEMPTS = 5;

export interface Lock {
  readonly path: string;
  /** Remove the lock file if it is still ours; safe to call twice. */
  release(): void;
}

interface LockContent {
  readonly raw: string;
  readonly pid: number | undefined;
  readonly ageMs: number;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function readLock(file: string): LockContent | undefined {
  try {
    const raw = fs.readFileSync(file, 'utf8');
    const ageMs = Date.now() - fs.statSync(file).mtimeMs;
    const m = /^(\d{1,10})\n?$/.exec(raw);
    const pid = m !== null ? Number(m[1]) : undefined;
    // pid 0 or negative would address a process group in kill(); never treat those as a pid.
    return { raw, pid: pid !== undefined && pid > 0 ? pid : undefined, ageMs };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, so it is alive.
    return errno(err) !== 'ESRCH';
  }
}

function lockedError(dir: string, pid: number | undefined): ChatError {
  const who = pid !== undefined ? `(pid ${pid})` : '(it is still starting)';
  return new ChatError(
    'locked',
    `another chatsecure is running for this user ${who}; its lock is ${path.join(dir, LOCK_FILE)}. ` +
      'Stop it first, or use another --data-dir',
    'lock.acquire',
  );
}

function tryCreate(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
      DATA_FILE_MODE,
    );
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, `${process.pid}\n`);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return true;
}

/** Take the exclusive lock on a user's data dir, or throw ChatError `locked` naming the holder's pid. */
export function lockDataDir(dir: string): Lock {
  const file = path.join(dir, LOCK_FILE);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (tryCreate(file)) {
        // Someone taking over a stale lock at this instant may have replaced ours; check.
        const mine = readLock(file);
        if (mine?.pid === process.pid) return new FileLock(file);
        continue;
      }
      const holder = readLock(file);
      if (holder === undefined) continue; // released meanwhile
      if (holder.pid !== undefined && isProcessAlive(holder.pid)) throw lockedError(dir, holder.pid);
      if (holder.pid === undefined && holder.ageMs < EMPTY_LOCK_GRACE_MS) throw lockedError(dir, undefined);
      // Stale. Remove it only if it has not changed since we judged it.
      const again = readLock(file);
      if (again !== undefined && again.raw === holder.raw) fs.rmSync(file, { force: true });
    }
  } catch (err) {
    throw storageError(err, 'data dir lock', file, 'lock.acquire');
  }
  throw lockedError(dir, readLock(file)?.pid);
}

class FileLock implements Lock {
  readonly path: string;
  private released = false;

  constructor(file: string) {
    this.path = file;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (readLock(this.path)?.pid === process.pid) fs.rmSync(this.path, { force: true });
    } catch (err) {
      throw storageError(err, 'data dir lock', this.path, 'lock.release');
    }
  }
}
