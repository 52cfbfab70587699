/**
 * Where data lives (DESIGN.md "Where data lives"): `--data-dir`, else `$CHATSECURE_HOME`, else
 * `~/.chatsecure` when it already exists (no one loses data on upgrade), else the XDG base
 * directories: data in `$XDG_DATA_HOME/chatsecure`, logs in `$XDG_STATE_HOME/chatsecure`, the
 * config file in `$XDG_CONFIG_HOME/chatsecure`. Folders that hold secrets are 0700 and the files
 * in them 0600, written atomically (temp file in the same folder, fsync, rename) so a crash
 * leaves the old or the new file, never half of one.
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
/** The data dir of versions before the XDG layout, still used where it exists. */
export const DEFAULT_DATA_DIR_NAME = '.chatsecure';
/** The folder name under each XDG base directory. */
export const XDG_APP_DIR = 'chatsecure';
export const CONFIG_FILE_NAME = 'config.toml';

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

function expandHome(p: string, env: NodeJS.ProcessEnv = process.env): string {
  if (p === '~') return homeOf(env);
  if (p.startsWith('~/')) return path.join(homeOf(env), p.slice(2));
  return p;
}

/** An XDG base directory: the variable when it holds an absolute path (the spec ignores others), else `~/<fallback>`. */
function xdgBase(env: NodeJS.ProcessEnv, variable: string, fallback: string): string {
  const v = env[variable];
  return v && path.isAbsolute(v) ? v : path.join(homeOf(env), fallback);
}

/** `$XDG_DATA_HOME/chatsecure` (default `~/.local/share/chatsecure`). */
export function xdgDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(xdgBase(env, 'XDG_DATA_HOME', '.local/share'), XDG_APP_DIR);
}

/** `$XDG_STATE_HOME/chatsecure` (default `~/.local/state/chatsecure`): the logs of the XDG layout. */
export function xdgStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(xdgBase(env, 'XDG_STATE_HOME', '.local/state'), XDG_APP_DIR);
}

/** `$XDG_CONFIG_HOME/chatsecure/config.toml` (default `~/.config/chatsecure/config.toml`). */
export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(xdgBase(env, 'XDG_CONFIG_HOME', '.config'), XDG_APP_DIR, CONFIG_FILE_NAME);
}

/** Where the data dir came from, for `chatsecure config --print`. */
export type DataDirSource = 'option' | 'CHATSECURE_HOME' | 'legacy' | 'xdg';

/**
 * The data dir, absolute, and why: the option, else `$CHATSECURE_HOME`, else `~/.chatsecure` if
 * it exists, else `$XDG_DATA_HOME/chatsecure`. Empty values count as unset.
 */
export function locateDataDir(
  opt?: string,
  env: NodeJS.ProcessEnv = process.env,
): { dir: string; source: DataDirSource } {
  if (opt) return { dir: path.resolve(expandHome(opt, env)), source: 'option' };
  if (env.CHATSECURE_HOME)
    return { dir: path.resolve(expandHome(env.CHATSECURE_HOME, env)), source: 'CHATSECURE_HOME' };
  const legacy = path.join(homeOf(env), DEFAULT_DATA_DIR_NAME);
  if (fs.existsSync(legacy)) return { dir: legacy, source: 'legacy' };
  return { dir: xdgDataDir(env), source: 'xdg' };
}

/** The data dir, absolute (see `locateDataDir`). */
export function resolveDataDir(opt?: string, env: NodeJS.ProcessEnv = process.env): string {
  return locateDataDir(opt, env).dir;
}

/**
 * The folder of the logs: `$XDG_STATE_HOME/chatsecure` for the XDG data dir, else
 * `<dataDir>/logs` (a data dir named by option, `$CHATSECURE_HOME` or the old `~/.chatsecure`
 * keeps its logs inside, as before).
 */
export function logDir(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(dataDir) === xdgDataDir(env) ? xdgStateDir(env) : path.join(dataDir, 'logs');
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

/** `<logDir>/server.log` for the relay, `<logDir>/<canon(user)>.log` for a client (see `logDir`). */
export function logFile(dataDir: string, who: LogOwner, env: NodeJS.ProcessEnv = process.env): string {
  let base = SERVER_LOG_BASE;
  if (!('serve' in who)) {
    base = nameComponent(who.user);
    if (base === SERVER_LOG_BASE) base = `${SERVER_LOG_BASE}+user`;
  }
  return path.join(logDir(dataDir, env), `${base}.log`);
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
