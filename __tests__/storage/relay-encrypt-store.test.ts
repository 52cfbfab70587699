/**
 * Issue 13, point 3: `chatsecure --serve --encrypt-store` (the built binary) keeps relay.db
 * encrypted with the key in relay.db.key (0600, beside relay.key). Off by default; a plain store
 * is converted once; a store once encrypted stays so when the option is left out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeUser } from '../helpers/client-harness';
import { spawnSync } from 'node:child_process';
import { BIN, startRelayProcess, tempDir } from '../helpers/relay-harness';
import { isPlainSqliteFile } from '../../lib/sqlite-encrypt';
import { RELAY_STORE_KEY_FILE } from '../../lib/server/relay-key';
import { parseArgs } from '../../lib/cli';

test('--encrypt-store is off by default and parsed when given', () => {
  const off = parseArgs(['--serve']);
  const on = parseArgs(['--serve', '--encrypt-store']);
  expect(off.kind === 'serve' && off.opts.encryptStore).toBeFalsy();
  expect(on.kind === 'serve' && on.opts.encryptStore).toBe(true);
  const pp = parseArgs(['passphrase', '--user', 'Adam', '--remove']);
  expect(pp).toMatchObject({ kind: 'passphrase', opts: { user: 'Adam', remove: true } });
  expect(() => parseArgs(['passphrase', '--user', 'Adam', '--remove', '--new-passphrase-file', 'f'])).toThrow(
    /choose one/,
  );
});

function serverFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'server');
  return fs.readdirSync(dir).map((f) => path.join(dir, f));
}

test('a plain relay store is converted by --encrypt-store and stays encrypted without it', async () => {
  const dataDir = tempDir();
  const db = path.join(dataDir, 'server', 'relay.db');
  const name = `Carol${Date.now() % 100000}`;

  // Off by default: plain, no key file, the registered name readable in the file.
  let relay = await startRelayProcess(dataDir);
  const carol = await makeUser(relay.port, name, { client: { serverFingerprint: relay.fingerprint } });
  await carol.stop();
  await relay.stop();
  expect(fs.existsSync(path.join(dataDir, 'server', RELAY_STORE_KEY_FILE))).toBe(false);
  expect(isPlainSqliteFile(db)).toBe(true);
  expect(fs.readFileSync(db).includes(name.toLowerCase())).toBe(true);

  relay = await startRelayProcess(dataDir, ['--encrypt-store']);
  const fp = relay.fingerprint;
  await relay.stop();
  const keyFile = path.join(dataDir, 'server', RELAY_STORE_KEY_FILE);
  expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
  expect(isPlainSqliteFile(db)).toBe(false);
  expect(serverFiles(dataDir).filter((f) => fs.readFileSync(f).includes(name.toLowerCase()))).toEqual([]);

  // The operator commands open it with its key too.
  const users = spawnSync(process.execPath, [BIN, 'admin', 'users', '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  expect(users.stderr).toBe('');
  expect(users.stdout).toContain(name);

  // Without the option the key file is still used: the same directory, the same user logs in.
  relay = await startRelayProcess(dataDir);
  expect(relay.fingerprint).toBe(fp);
  const again = await makeUser(relay.port, name, { dir: carol.dir, client: { serverFingerprint: fp } });
  expect(again.errors).toEqual([]);
  await again.stop();
  await relay.stop();
  expect(isPlainSqliteFile(db)).toBe(false);
}, 60000);
