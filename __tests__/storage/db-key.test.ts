/**
 * lib/db-key.ts: the database key file, plain or sealed with a passphrase (issue 13, point 1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DB_KEY_SCRYPT, dbKeyNeedsPassphrase, loadOrCreateDbKey, resealDbKey } from '../../lib/db-key';
import { tempDir } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';

const keyFile = () => path.join(tempDir(), 'client.db.key');

describe('the database key file', () => {
  test('without a passphrase: 32 random bytes in a 0600 file, the same on every load', () => {
    const file = keyFile();
    const a = loadOrCreateDbKey(file);
    expect(a.created).toBe(true);
    expect(a.key.length).toBe(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(dbKeyNeedsPassphrase(file)).toBe(false);
    const b = loadOrCreateDbKey(file);
    expect(b.created).toBe(false);
    expect(Buffer.from(b.key).equals(Buffer.from(a.key))).toBe(true);
    expect(Buffer.from(loadOrCreateDbKey(keyFile()).key).equals(Buffer.from(a.key))).toBe(false);
  });

  test('with a passphrase: sealed, the scrypt parameters written beside it, the key not in the file', () => {
    const file = keyFile();
    const { key } = loadOrCreateDbKey(file, 'pass phrase');
    const text = fs.readFileSync(file, 'utf8');
    const json = JSON.parse(text) as { kdf: Record<string, unknown> };
    expect(json.kdf).toEqual({ name: 'scrypt', ...DB_KEY_SCRYPT });
    expect(DB_KEY_SCRYPT.N).toBeGreaterThanOrEqual(2 ** 17);
    expect(text).not.toContain(Buffer.from(key).toString('base64'));
    expect(dbKeyNeedsPassphrase(file)).toBe(true);
    expect(Buffer.from(loadOrCreateDbKey(file, 'pass phrase').key).equals(Buffer.from(key))).toBe(true);
  });

  test('a wrong or missing passphrase is bad_passphrase and leaves the file byte-identical', () => {
    const file = keyFile();
    loadOrCreateDbKey(file, 'right');
    const before = fs.readFileSync(file);
    expect(codeOf(() => loadOrCreateDbKey(file, 'wrong'))).toBe('bad_passphrase');
    expect(codeOf(() => loadOrCreateDbKey(file))).toBe('bad_passphrase');
    expect(codeOf(() => resealDbKey(file, 'wrong', 'new'))).toBe('bad_passphrase');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('resealing keeps the key: plain → sealed → other passphrase → plain', () => {
    const file = keyFile();
    const { key } = loadOrCreateDbKey(file);
    resealDbKey(file, undefined, 'one');
    expect(dbKeyNeedsPassphrase(file)).toBe(true);
    resealDbKey(file, 'one', 'two');
    expect(codeOf(() => loadOrCreateDbKey(file, 'one'))).toBe('bad_passphrase');
    resealDbKey(file, 'two', undefined);
    expect(dbKeyNeedsPassphrase(file)).toBe(false);
    expect(Buffer.from(loadOrCreateDbKey(file).key).equals(Buffer.from(key))).toBe(true);
  });

  test('a damaged file, or one asking scrypt for absurd memory, is corrupt_store and never replaced', () => {
    const file = keyFile();
    loadOrCreateDbKey(file, 'p');
    const sealed = JSON.parse(fs.readFileSync(file, 'utf8')) as { kdf: { N: number } };
    for (const text of [
      'not json',
      '{"v":2}',
      '{"v":1,"key":"short"}',
      JSON.stringify({ ...sealed, kdf: { ...sealed.kdf, N: 2 ** 30 } }),
    ]) {
      fs.writeFileSync(file, text);
      expect(codeOf(() => loadOrCreateDbKey(file, 'p'))).toBe('corrupt_store');
      expect(fs.readFileSync(file, 'utf8')).toBe(text);
    }
  });

  test('an empty passphrase is refused', () => {
    expect(codeOf(() => loadOrCreateDbKey(keyFile(), ''))).toBe('bad_passphrase');
  });
});
