/**
 * One rule for every file that holds a secret (issue 13, point 5): identity.json, recovery.json,
 * known_servers, the relay key, the database key and the databases themselves.
 *
 * - A symbolic link (or anything else that is not a regular file) at a secret path is refused with
 *   `storage_failed` and a sentence; it is never followed, read through, written through or
 *   chmod-ed through. The check is `lstat`, and reads open with `O_NOFOLLOW` so a link planted
 *   between the check and the open is refused too.
 * - A loose mode (an old copy restored by hand) is tightened to 0600 through the open descriptor
 *   (`fchmod`), never by path.
 * - Writes are atomic (lib/paths.ts `writeSecretFile`: a fresh O_EXCL temp file, fsync, rename).
 */
import * as fs from 'node:fs';
import { ChatError, isChatError } from './errors';
import { SECRET_FILE_MODE, writeSecretFile as writeAtomically } from './paths';

function refused(file: string, what: string, label?: string): ChatError {
  const subject = label === undefined ? file : `the ${label} at ${file}`;
  return new ChatError(
    'storage_failed',
    `${subject} is ${what}, not a regular file; a file that holds secrets is never followed: remove it or move it aside`,
    'secret-file',
  );
}

function failed(file: string, verb: string, err: unknown): ChatError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
  return new ChatError('storage_failed', `could not ${verb} ${file} (${code})`, 'secret-file');
}

/**
 * What stands at `file`, by `lstat`: `missing`, or `file` for a regular file. A symbolic link, a
 * folder or a device is refused with `storage_failed` (the sentence names `label`, when given).
 */
export function checkSecretPath(file: string, label?: string): 'missing' | 'file' {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw failed(file, 'inspect', err);
  }
  if (st.isSymbolicLink()) throw refused(file, 'a symbolic link', label);
  if (!st.isFile()) throw refused(file, st.isDirectory() ? 'a folder' : 'a special file', label);
  return 'file';
}

/** Opens an existing regular file without following a link and tightens its mode through the fd. */
function openNoFollow(file: string, flags: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, flags | fs.constants.O_NOFOLLOW);
  } catch (err) {
    // O_NOFOLLOW on a link fails with ELOOP: the link was planted after the lstat.
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw refused(file, 'a symbolic link');
    throw err;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw refused(file, 'not a regular file');
    if ((st.mode & 0o077) !== 0) fs.fchmodSync(fd, SECRET_FILE_MODE);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Tightens an existing secret file to 0600 (through its descriptor); refuses a link. */
export function tightenSecretFile(file: string): void {
  if (checkSecretPath(file) === 'missing') return;
  try {
    fs.closeSync(openNoFollow(file, fs.constants.O_RDONLY));
  } catch (err) {
    if (isChatError(err)) throw err;
    throw failed(file, 'open', err);
  }
}

/** The bytes of a secret file, or undefined when there is none; a link is refused. */
export function readSecretFile(file: string): Buffer | undefined {
  if (checkSecretPath(file) === 'missing') return undefined;
  let fd: number | undefined;
  try {
    fd = openNoFollow(file, fs.constants.O_RDONLY);
    return fs.readFileSync(fd);
  } catch (err) {
    if (isChatError(err)) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw failed(file, 'read', err);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes a secret file atomically, 0600. A link standing at the path is refused rather than
 * replaced: someone planted it, and the user should know.
 */
export function writeSecretFile(file: string, data: string | Uint8Array): void {
  checkSecretPath(file);
  writeAtomically(file, data);
}
