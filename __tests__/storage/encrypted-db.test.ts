/**
 * The encrypted client database (issue 13, points 1, 2 and 5): real SQLite3MultipleCiphers files
 * in temp folders, read back through the real store.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dbKeyNeedsPassphrase, loadOrCreateDbKey } from '../../lib/db-key';
import { dbKeyPath, openSecrets } from '../../lib/client/secrets';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { openClientStore, CLIENT_DB_FILE } from '../../lib/client/sqlite-store';
import { isPlainSqliteFile, plainLinkOf } from '../../lib/sqlite-encrypt';
import { tempDir } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';

export const FIXTURE = path.join(__dirname, '..', 'fixtures', 'client-db-v0');

function message(token: string, i = 0) {
  return {
    id: toHex(randomBytes(16)),
    peer: 'bob',
    peerName: 'Bob',
    direction: 'out' as const,
    body: `message ${i} ${token}`,
    ts: 1000 + i,
    localTs: 1000 + i,
    state: 'sent' as const,
  };
}

/** Every file under `dir`, recursively. */
function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : [p];
  });
}

function copyFixture(user: string): string {
  const dir = path.join(tempDir('chatsecure-v0-'), user);
  fs.cpSync(path.join(FIXTURE, user), dir, { recursive: true });
  return dir;
}

describe('an encrypted client.db', () => {
  test('the body is in no file while the store is open or after it closed; it reads back with the key', () => {
    const dir = tempDir();
    const key = randomBytes(32);
    const token = `TOKEN${toHex(randomBytes(8))}`;
    const store = openClientStore(dir, { key });
    expect(store.addMessage(message(token))).toBe(true);
    const scan = () => allFiles(dir).filter((f) => fs.readFileSync(f).includes(token));
    // Open: the -wal holds the transaction, encrypted like the main file.
    expect(allFiles(dir).some((f) => f.endsWith('-wal'))).toBe(true);
    expect(scan()).toEqual([]);
    store.close();
    expect(scan()).toEqual([]);
    expect(isPlainSqliteFile(path.join(dir, CLIENT_DB_FILE))).toBe(false);
    const again = openClientStore(dir, { key });
    expect(again.history('bob').map((m) => m.body)).toEqual([`message 0 ${token}`]);
    again.close();
  });

  test('without its key, or with another, it is refused and left byte-identical', () => {
    const dir = tempDir();
    const key = randomBytes(32);
    openClientStore(dir, { key }).close();
    const file = path.join(dir, CLIENT_DB_FILE);
    const before = fs.readFileSync(file);
    expect(codeOf(() => openClientStore(dir))).toBe('corrupt_store');
    expect(() => openClientStore(dir, { key: randomBytes(32) })).toThrow(/cannot be decrypted with its key/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('a symbolic link at client.db is refused and its target neither chmod-ed nor written', () => {
    const dir = tempDir();
    const target = path.join(tempDir(), 'elsewhere.db');
    fs.writeFileSync(target, 'not yours', { mode: 0o644 });
    fs.chmodSync(target, 0o644);
    fs.symlinkSync(target, path.join(dir, CLIENT_DB_FILE));
    expect(() => openClientStore(dir, { key: randomBytes(32) })).toThrow(/symbolic link/);
    expect(() => openClientStore(dir)).toThrow(/symbolic link/);
    expect(fs.statSync(target).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(target, 'utf8')).toBe('not yours');
  });

  test('a symbolic link at client.db-wal is refused', () => {
    const dir = tempDir();
    openClientStore(dir).close();
    const target = path.join(tempDir(), 'wal');
    fs.writeFileSync(target, '');
    fs.symlinkSync(target, path.join(dir, `${CLIENT_DB_FILE}-wal`));
    expect(() => openClientStore(dir)).toThrow(/symbolic link/);
  });
});

describe('migration of a plain client.db written by the previous release', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
    bodies: string[];
    passphrase: { bob: string };
  };

  test('a sealed identity from before: the first start makes a sealed db key and converts the store', () => {
    const dir = copyFixture('bob');
    const pass = expected.passphrase.bob;
    expect(codeOf(() => openSecrets(dir, 'not it'))).toBe('bad_passphrase');
    expect(fs.existsSync(dbKeyPath(dir))).toBe(false);
    const { dbKey } = openSecrets(dir, pass);
    expect(dbKeyNeedsPassphrase(dbKeyPath(dir))).toBe(true);
    const store = openClientStore(dir, { key: dbKey });
    expect(store.history('alice').map((m) => m.body)).toEqual(expected.bodies);
    store.close();
    expect(isPlainSqliteFile(path.join(dir, CLIENT_DB_FILE))).toBe(false);
    // The next start opens the same key with the passphrase.
    expect(Buffer.from(openSecrets(dir, pass).dbKey).equals(Buffer.from(dbKey))).toBe(true);
  });

  test('the fixture is plain: its bodies can be read straight from the file', () => {
    const raw = fs.readFileSync(path.join(FIXTURE, 'alice', CLIENT_DB_FILE));
    expect(expected.bodies.every((b) => raw.includes(b))).toBe(true);
  });

  test('opened with a key it is converted once: every message, session and prekey kept, no plain copy left', () => {
    const dir = copyFixture('alice');
    const plain = openClientStore(dir);
    const history = plain.history('bob');
    const sessions = plain.sessions('bob');
    const prekeys = plain.countOneTimePrekeys();
    plain.close();
    expect(history.map((m) => m.body)).toEqual(expected.bodies);
    expect(sessions.length).toBeGreaterThan(0);

    const { key } = loadOrCreateDbKey(path.join(dir, 'client.db.key'));
    const store = openClientStore(dir, { key });
    expect(store.history('bob')).toEqual(history);
    expect(store.sessions('bob')).toEqual(sessions);
    expect(store.countOneTimePrekeys()).toBe(prekeys);
    // Still writable, and the AUTOINCREMENT sequence carried over (seq keeps growing).
    expect(store.addMessage(message('AFTER', 99))).toBe(true);
    const seqs = store.history('bob').map((m) => m.seq);
    expect(seqs[seqs.length - 1]).toBeGreaterThan(Math.max(...history.map((m) => m.seq)));
    store.close();

    expect(fs.existsSync(plainLinkOf(path.join(dir, CLIENT_DB_FILE)))).toBe(false);
    const leaked = allFiles(dir).filter((f) => {
      const raw = fs.readFileSync(f);
      return expected.bodies.some((b) => raw.includes(b));
    });
    expect(leaked).toEqual([]);
  });
});
