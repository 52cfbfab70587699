/**
 * Where data lives (DESIGN.md "Where data lives"): `--data-dir`, else `$CHATSECURE_HOME`, else
 * `~/.chatsecure`. Folders that hold secrets are 0700 and the files in them 0600, written
 * atomically (temp file in the same folder, fsync, rename) so a crash leaves the old or the new
 * file, never half of one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatError } from './errors';
import { canonName, checkName } from './names';
import { randomBytes, toHex } from './crypto/primitives';

/** Owner only: folders that hold keys, sessions, logs. */
export const PRIVATE_DIR_MODE = 0o700;
/** Owner read/write only: files that hold keys, sessions, logs. */
export const SECRET_FILE_MODE = 0o600;
export const DEFAULT_DATA_DIR_NAME = '.chatsecure';

function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}

/** The data dir, absolute: the option, else `$CHATSECURE_HOME`, else `~/.chatsecure`. Empty values count as unset. */
export function resolveDataDir(opt?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = opt || env.CHATSECURE_HOME || path.join(os.homedir(), DEFAULT_DATA_DIR_NAME);
  return path.resolve(expandHome(chosen));
}

export function serverDir(dataDir: string): string {
  return path.join(dataDir, 'server');
}

/**
 * A name as one path component. The name pattern (PROTOCOL.md section 3) admits `.` and `..`,
 * which would name the folder itself or its parent: those are refused here with `bad_name`.
 */
function nameComponent(name: string): string {
  const canon = canonName(checkName(name));
  if (canon === '.' || canon === '..')
    throw new ChatError('bad_name', 'a name cannot be "." or ".."', 'paths');
  return canon;
}

/** `<dataDir>/users/<canon(name)>`; a malformed name is refused (`bad_name`), so it never escapes the dir. */
export function userDir(dataDir: string, name: string): string {
  return path.join(dataDir, 'users', nameComponent(name));
}

export type LogOwner = { readonly serve: true } | { readonly user: string };

/** The relay's log; a user called "server" logs to `server+user.log` ("+" is never in a name). */
const SERVER_LOG_BASE = 'server';

/** `<dataDir>/logs/server.log` for the relay, `<dataDir>/logs/<canon(user)>.log` for a client. */
export function logFile(dataDir: string, who: LogOwner): string {
  let base = SERVER_LOG_BASE;
  if (!('serve' in who)) {
    base = nameComponent(who.user);
    if (base === SERVER_LOG_BASE) base = `${SERVER_LOG_BASE}+user`;
  }
  return path.join(dataDir, 'logs', `${base}.log`);
}

function storageError(what: string, p: string, err: unknown): ChatError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
  return new ChatError('storage_failed', `could not ${what} ${p} (${code})`, 'paths');
}

/** `mkdir -p` with mode 0700; an existing folder is chmod-ed to 0700. Refuses a non-folder. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    fs.chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (err) {
    throw storageError('create the private folder', dir, err);
  }
}

/**
 * Writes a secret file atomically with mode 0600: a fresh temp file (O_EXCL, so never through a
 * planted symlink) in the same folder, fsync, rename over the target, fsync the folder. The
 * parent folder is made private first.
 */
export function writeSecretFile(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  ensurePrivateDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${toHex(randomBytes(6))}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', SECRET_FILE_MODE);
    fs.fchmodSync(fd, SECRET_FILE_MODE);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw storageError('write', file, err);
  }
  syncDir(dir);
}

/** Makes a rename durable. Best effort: some file systems refuse fsync on a folder. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // The rename itself succeeded; durability of the folder entry is all that is at stake.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The file's bytes, or undefined if it does not exist. Any other failure is `storage_failed`. */
export function readFileIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageError('read', file, err);
  }
}
