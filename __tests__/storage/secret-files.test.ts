/**
 * Issue 13, point 5: the same lstat rule for every file that holds a secret. A symbolic link
 * planted at the path is refused with a sentence, and its target is neither read, written nor
 * chmod-ed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOrCreateIdentity } from '../../lib/client/identity-store';
import { KnownServers } from '../../lib/client/known-servers';
import { loadOrCreateRecoveryCode } from '../../lib/client/recovery-store';
import { randomBytes } from '../../lib/crypto/primitives';
import { loadOrCreateDbKey } from '../../lib/db-key';
import { readSecretFile, writeSecretFile } from '../../lib/secret-file';
import { loadOrCreateRelayKey } from '../../lib/server/relay-key';
import { tempDir } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';

const cases: [string, string, (dir: string) => unknown][] = [
  ['identity.json', 'identity.json', (d) => loadOrCreateIdentity(d)],
  ['recovery.json', 'recovery.json', (d) => loadOrCreateRecoveryCode(d)],
  [
    'known_servers',
    'known_servers',
    (d) => new KnownServers(path.join(d, 'known_servers')).check('h:1', randomBytes(32)),
  ],
  ['the relay key', 'relay.key', (d) => loadOrCreateRelayKey(d)],
  ['the database key', 'client.db.key', (d) => loadOrCreateDbKey(path.join(d, 'client.db.key'))],
];

describe('a symbolic link at a secret file', () => {
  test.each(cases)('%s: refused, the target untouched', (_what, name, use) => {
    const dir = tempDir();
    const target = path.join(tempDir(), 'target');
    fs.writeFileSync(target, '{"v":1}');
    fs.chmodSync(target, 0o644);
    fs.symlinkSync(target, path.join(dir, name));
    expect(codeOf(() => use(dir))).toBe('storage_failed');
    expect(() => use(dir)).toThrow(/symbolic link/);
    expect(fs.statSync(target).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(target, 'utf8')).toBe('{"v":1}');
    expect(fs.lstatSync(path.join(dir, name)).isSymbolicLink()).toBe(true);
  });

  test('a loose mode is tightened to 0600 when read; a folder in its place is refused', () => {
    const dir = tempDir();
    const file = path.join(dir, 'secret');
    writeSecretFile(file, 'x');
    fs.chmodSync(file, 0o644);
    expect(readSecretFile(file)?.toString()).toBe('x');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.mkdirSync(path.join(dir, 'folder'));
    expect(() => readSecretFile(path.join(dir, 'folder'))).toThrow(/a folder/);
    expect(readSecretFile(path.join(dir, 'missing'))).toBeUndefined();
  });
});
