/**
 * Issue 13, point 4, with the built binary: `chatsecure passphrase` sets, changes and removes the
 * passphrase by re-sealing the small key files only (client.db stays byte-identical), and a wrong
 * passphrase, from a file or three times at the real prompt (tmux), exits 1 with every file of
 * the user's data dir byte-identical.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DB_KEY_FILE, dbKeyPath, openSecrets } from '../../lib/client/secrets';
import { resealDbKey } from '../../lib/db-key';
import { CLIENT_DB_FILE, openClientStore } from '../../lib/client/sqlite-store';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { userDir } from '../../lib/paths';
import { BIN, tempDir } from '../helpers/relay-harness';
import { codeOf } from '../helpers/error-code';
import { ensureBuilt } from '../helpers/dist';
import { tmuxDriver } from '../ui/tmux-driver';

const ROOT = path.join(__dirname, '..', '..');

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const base = { ...process.env };
  delete base.CHATSECURE_PASSPHRASE;
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function passFile(text: string): string {
  const f = path.join(tempDir(), 'pass');
  fs.writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
}

/** Every file of `dir` and its bytes. */
function snapshot(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

function expectSame(a: Map<string, Buffer>, b: Map<string, Buffer>): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [f, bytes] of a) expect({ f, same: b.get(f)?.equals(bytes) }).toEqual({ f, same: true });
}

/** A user whose earlier run left an identity, a recovery code, a key and one message. */
function setUp(passphrase: string | undefined): { dataDir: string; dir: string; body: string } {
  const dataDir = tempDir();
  const dir = userDir(dataDir, 'alice');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { dbKey } = openSecrets(dir, passphrase);
  const store = openClientStore(dir, { key: dbKey });
  const body = `kept ${toHex(randomBytes(8))}`;
  store.addMessage({
    id: toHex(randomBytes(16)),
    peer: 'bob',
    peerName: 'bob',
    direction: 'out',
    body,
    ts: 1,
    localTs: 1,
    state: 'sent',
  });
  store.close();
  return { dataDir, dir, body };
}

function readBack(dir: string, passphrase: string | undefined): string[] {
  const { dbKey } = openSecrets(dir, passphrase);
  const store = openClientStore(dir, { key: dbKey });
  const bodies = store.history('bob').map((m) => m.body);
  store.close();
  return bodies;
}

describe('chatsecure passphrase', () => {
  test('set, change, remove: the key files are re-sealed, client.db is never rewritten', () => {
    const { dataDir, dir, body } = setUp(undefined);
    const db = fs.readFileSync(path.join(dir, CLIENT_DB_FILE));
    const base = ['passphrase', '--user', 'alice', '--data-dir', dataDir];

    const set = run([...base, '--new-passphrase-file', passFile('first one')]);
    expect(set.stderr).toBe('');
    expect(set.status).toBe(0);
    expect(set.stdout).toMatch(/was set/);
    expect(codeOf(() => openSecrets(dir, undefined))).toBe('bad_passphrase');
    expect(fs.readFileSync(path.join(dir, DB_KEY_FILE), 'utf8')).toMatch(/"name":"scrypt","N":131072/);
    expect(readBack(dir, 'first one')).toEqual([body]);

    const change = run([
      ...base,
      '--passphrase-file',
      passFile('first one'),
      '--new-passphrase-file',
      passFile('second'),
    ]);
    expect(change.status).toBe(0);
    expect(codeOf(() => openSecrets(dir, 'first one'))).toBe('bad_passphrase');
    expect(readBack(dir, 'second')).toEqual([body]);

    const remove = run([...base, '--remove'], { CHATSECURE_PASSPHRASE: 'second' });
    expect(remove.status).toBe(0);
    expect(remove.stdout).toMatch(/was removed/);
    expect(readBack(dir, undefined)).toEqual([body]);
    expect(fs.readFileSync(path.join(dir, CLIENT_DB_FILE)).equals(db)).toBe(true);
  });

  test('a change interrupted after the key file was re-sealed is finished by running it again', () => {
    const { dataDir, dir, body } = setUp('old one');
    // What a crash between the first and the second write leaves: the key under the new passphrase.
    resealDbKey(dbKeyPath(dir), 'old one', 'new one');
    expect(codeOf(() => openSecrets(dir, 'new one'))).toBe('bad_passphrase');
    const again = run([
      'passphrase',
      '--user',
      'alice',
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passFile('old one'),
      '--new-passphrase-file',
      passFile('new one'),
    ]);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(readBack(dir, 'new one')).toEqual([body]);
  });

  test('a wrong current passphrase: exit 1, a sentence, nothing changed', () => {
    const { dataDir, dir } = setUp('right one');
    const before = snapshot(dir);
    const r = run([
      'passphrase',
      '--user',
      'alice',
      '--data-dir',
      dataDir,
      '--passphrase-file',
      passFile('wrong one'),
      '--new-passphrase-file',
      passFile('new'),
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/passphrase does not open/);
    expectSame(before, snapshot(dir));
  });
});

describe('chatsecure --user with a wrong passphrase', () => {
  test('from --passphrase-file: exit 1, every file byte-identical', () => {
    const { dataDir, dir } = setUp('right one');
    const before = snapshot(dir);
    const r = run([
      '--user',
      'alice',
      '--data-dir',
      dataDir,
      '--plain',
      '--passphrase-file',
      passFile('wrong'),
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/passphrase does not open/);
    expectSame(before, snapshot(dir));
  });

  test('three tries at the prompt, each wrong one told, then exit 1 with every file byte-identical', async () => {
    ensureBuilt(['ui', 'screen', 'passphrase-prompt.js']);
    const { dataDir, dir, body } = setUp('right one');
    const before = snapshot(dir);
    const socket = `chatsecure-pass-${process.pid}`;
    const { tmux, waitForPane } = tmuxDriver(socket, 20000);
    const me = 'pass';
    try {
      const cmd =
        `cd ${JSON.stringify(ROOT)} && env -u CHATSECURE_PASSPHRASE TERM=xterm-256color node ${JSON.stringify(BIN)}` +
        ` --user alice --server 127.0.0.1:9 --data-dir ${JSON.stringify(dataDir)}; echo "EXIT=$?"; sleep 60`;
      tmux('new-session', '-d', '-s', me, '-x', '100', '-y', '30', cmd);
      await waitForPane(me, (s) => s.includes('Type the passphrase'), 'the prompt');
      for (let i = 1; i <= 3; i++) {
        tmux('send-keys', '-t', me, '-l', `wrong ${i}`);
        tmux('send-keys', '-t', me, 'Enter');
        if (i < 3) await waitForPane(me, (s) => s.includes(`(try ${i} of 3)`), `the sentence after try ${i}`);
      }
      const screen = await waitForPane(me, (s) => s.includes('EXIT='), 'the exit');
      expect(screen).toContain('EXIT=1');
      expect(screen).toMatch(/wrong 3 times; nothing was changed/);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    }
    expectSame(before, snapshot(dir));
    expect(readBack(dir, 'right one')).toEqual([body]);
  }, 60000);
});
