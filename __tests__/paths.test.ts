import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isChatError } from '../lib/errors';
import {
  defaultConfigFile,
  ensurePrivateDir,
  logFile,
  readFileIfExists,
  resolveDataDir,
  serverDir,
  userDir,
  writeSecretFile,
} from '../lib/paths';

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-paths-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('resolveDataDir', () => {
  it('prefers --data-dir, then $CHATSECURE_HOME, then an existing ~/.chatsecure, then $XDG_DATA_HOME', () => {
    const home = path.join(tmp, 'home');
    fs.mkdirSync(home);
    const env = { HOME: home, CHATSECURE_HOME: '/srv/cs-home' };
    expect(resolveDataDir('/opt/cs', env)).toBe('/opt/cs');
    expect(resolveDataDir(undefined, env)).toBe('/srv/cs-home');
    expect(resolveDataDir('', env)).toBe('/srv/cs-home');
    // A fresh machine: the XDG layout, data and logs apart.
    expect(resolveDataDir(undefined, { HOME: home })).toBe(path.join(home, '.local/share/chatsecure'));
    expect(resolveDataDir(undefined, { HOME: home, CHATSECURE_HOME: '' })).toBe(
      path.join(home, '.local/share/chatsecure'),
    );
    expect(resolveDataDir(undefined, { HOME: home, XDG_DATA_HOME: '/xdg/data' })).toBe(
      '/xdg/data/chatsecure',
    );
    // The spec ignores a relative XDG variable.
    expect(resolveDataDir(undefined, { HOME: home, XDG_DATA_HOME: 'rel' })).toBe(
      path.join(home, '.local/share/chatsecure'),
    );
    // Someone upgrading keeps ~/.chatsecure: no one loses data.
    fs.mkdirSync(path.join(home, '.chatsecure'));
    expect(resolveDataDir(undefined, { HOME: home, XDG_DATA_HOME: '/xdg/data' })).toBe(
      path.join(home, '.chatsecure'),
    );
  });

  it('keeps logs in the data dir, except for the XDG data dir, whose logs go to $XDG_STATE_HOME', () => {
    const env = { HOME: '/h', XDG_DATA_HOME: '/xdg/data', XDG_STATE_HOME: '/xdg/state' };
    expect(logFile('/xdg/data/chatsecure', { serve: true }, env)).toBe('/xdg/state/chatsecure/server.log');
    expect(logFile('/xdg/data/chatsecure', { user: 'Adam' }, env)).toBe('/xdg/state/chatsecure/adam.log');
    expect(logFile('/h/.chatsecure', { serve: true }, env)).toBe('/h/.chatsecure/logs/server.log');
    expect(logFile('/h/.local/share/chatsecure', { serve: true }, { HOME: '/h' })).toBe(
      '/h/.local/state/chatsecure/server.log',
    );
    expect(defaultConfigFile({ HOME: '/h' })).toBe('/h/.config/chatsecure/config.toml');
    expect(defaultConfigFile({ HOME: '/h', XDG_CONFIG_HOME: '/c' })).toBe('/c/chatsecure/config.toml');
  });

  it('makes relative paths absolute and expands a leading ~', () => {
    expect(resolveDataDir('rel/dir', {})).toBe(path.resolve('rel/dir'));
    expect(resolveDataDir('~/cs', {})).toBe(path.join(os.homedir(), 'cs'));
  });
});

describe('layout', () => {
  it('places the relay, users and logs under the data dir, by canonical name', () => {
    expect(serverDir('/d')).toBe('/d/server');
    expect(userDir('/d', 'Adam')).toBe('/d/users/adam');
    expect(logFile('/d', { serve: true })).toBe('/d/logs/server.log');
    expect(logFile('/d', { user: 'EVE' })).toBe('/d/logs/eve.log');
  });

  it('keeps a user called "server" out of the relay log', () => {
    expect(logFile('/d', { user: 'Server' })).toBe('/d/logs/server+user.log');
    expect(logFile('/d', { user: 'server.user' })).toBe('/d/logs/server.user.log');
  });

  it('refuses names that could escape the data dir', () => {
    for (const bad of ['..', '.', '../x', 'a/b', '', 'a\0']) {
      expect(() => userDir('/d', bad)).toThrow(expect.objectContaining({ code: 'bad_name' }));
      expect(() => logFile('/d', { user: bad })).toThrow(expect.objectContaining({ code: 'bad_name' }));
    }
  });
});

describe('ensurePrivateDir', () => {
  it('creates nested folders with mode 0700 and tightens an existing one', () => {
    const dir = path.join(tmp, 'a', 'b');
    ensurePrivateDir(dir);
    expect(mode(dir)).toBe(0o700);
    const loose = path.join(tmp, 'loose');
    fs.mkdirSync(loose, { mode: 0o755 });
    fs.chmodSync(loose, 0o755);
    ensurePrivateDir(loose);
    expect(mode(loose)).toBe(0o700);
  });

  it('refuses a path that is a file, with storage_failed', () => {
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, 'x');
    let err: unknown;
    try {
      ensurePrivateDir(file);
    } catch (e) {
      err = e;
    }
    expect(isChatError(err, 'storage_failed')).toBe(true);
  });
});

describe('writeSecretFile', () => {
  it('writes with mode 0600 in a 0700 folder it creates', () => {
    const file = path.join(tmp, 'secrets', 'key');
    writeSecretFile(file, 'first');
    expect(fs.readFileSync(file, 'utf8')).toBe('first');
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
  });

  it('replaces atomically: the new content, mode 0600, no temp file left, even over a looser file', () => {
    const file = path.join(tmp, 'key');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    const inode = fs.statSync(file).ino;
    writeSecretFile(file, Uint8Array.of(1, 2, 3));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    expect(mode(file)).toBe(0o600);
    // A rename, not an in-place rewrite: a reader holding the old file never sees half of the new.
    expect(fs.statSync(file).ino).not.toBe(inode);
    expect(fs.readdirSync(tmp)).toEqual(['key']);
  });

  it('never writes through a symlink planted at the target: it replaces the link', () => {
    const victim = path.join(tmp, 'victim');
    fs.writeFileSync(victim, 'untouched');
    const file = path.join(tmp, 'key');
    fs.symlinkSync(victim, file);
    writeSecretFile(file, 'secret');
    expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('secret');
  });

  it('reports a failure as storage_failed and leaves no temp file', () => {
    const dir = path.join(tmp, 'd');
    fs.mkdirSync(path.join(dir, 'target'), { recursive: true });
    let err: unknown;
    try {
      writeSecretFile(path.join(dir, 'target'), 'x');
    } catch (e) {
      err = e;
    }
    expect(isChatError(err, 'storage_failed')).toBe(true);
    expect((err as Error).message).not.toContain('"x"');
    expect(fs.readdirSync(dir)).toEqual(['target']);
  });
});

describe('readFileIfExists', () => {
  it('returns the bytes, or undefined for a missing file', () => {
    const file = path.join(tmp, 'f');
    expect(readFileIfExists(file)).toBeUndefined();
    fs.writeFileSync(file, 'abc');
    expect(readFileIfExists(file)?.toString()).toBe('abc');
  });

  it('throws storage_failed for other failures', () => {
    expect(() => readFileIfExists(tmp)).toThrow(expect.objectContaining({ code: 'storage_failed' }));
  });
});
