/**
 * Issue 13, point 2: the plain-to-encrypted conversion killed (SIGKILL) after each of its steps,
 * in a real child process running the built code (dist/, as `npm test` builds it first). After
 * every kill the store opens with its key and holds everything the plain file held.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openClientStore, CLIENT_DB_FILE } from '../../lib/client/sqlite-store';
import { loadOrCreateDbKey } from '../../lib/db-key';
import { toHex } from '../../lib/crypto/primitives';
import { MIGRATION_STEPS, newFileOf, plainLinkOf } from '../../lib/sqlite-encrypt';
import { tempDir } from '../helpers/relay-harness';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'client-db-v0');
const DIST = path.join(__dirname, '..', '..', 'dist', 'lib', 'sqlite-encrypt.js');

/** Runs the conversion in a child that SIGKILLs itself right after `step` (never, for 'none'). */
const CHILD = `
const [file, keyHex, step] = process.argv.slice(1);
const { migrateToEncrypted } = require(${JSON.stringify(DIST)});
migrateToEncrypted(file, Buffer.from(keyHex, 'hex'), (s) => {
  process.stdout.write(s + '\\n');
  if (s === step) process.kill(process.pid, 'SIGKILL');
});
`;

function allFiles(dir: string): string[] {
  return fs.readdirSync(dir).map((f) => path.join(dir, f));
}

describe('conversion killed after each step', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'expected.json'), 'utf8')) as {
    bodies: string[];
  };
  const reference = (() => {
    const dir = path.join(tempDir('chatsecure-ref-'), 'alice');
    fs.cpSync(path.join(FIXTURE, 'alice'), dir, { recursive: true });
    const s = openClientStore(dir);
    const r = { history: s.history('bob'), sessions: s.sessions('bob'), prekeys: s.countOneTimePrekeys() };
    s.close();
    return r;
  })();

  test.each([...MIGRATION_STEPS])('killed after %s: the store opens with all its data', (step) => {
    const dir = path.join(tempDir('chatsecure-kill-'), 'alice');
    fs.cpSync(path.join(FIXTURE, 'alice'), dir, { recursive: true });
    const file = path.join(dir, CLIENT_DB_FILE);
    const { key } = loadOrCreateDbKey(path.join(dir, 'client.db.key'));
    // The plain file is checked the way openSqliteFile checks it before converting.
    openClientStore(dir).close();

    const killAt = step === 'done' ? 'never' : step;
    const child = spawnSync(process.execPath, ['-e', CHILD, file, toHex(key), killAt], { encoding: 'utf8' });
    const reached = child.stdout.trim().split('\n');
    expect(reached[reached.length - 1]).toBe(step);
    if (step === 'done') expect(child.status).toBe(0);
    else expect(child.signal).toBe('SIGKILL');

    const store = openClientStore(dir, { key });
    expect(store.history('bob')).toEqual(reference.history);
    expect(store.sessions('bob')).toEqual(reference.sessions);
    expect(store.countOneTimePrekeys()).toBe(reference.prekeys);
    store.close();
    expect(fs.existsSync(plainLinkOf(file))).toBe(false);
    expect(fs.existsSync(newFileOf(file))).toBe(false);
    const leaked = allFiles(dir).filter((f) => expected.bodies.some((b) => fs.readFileSync(f).includes(b)));
    expect(leaked).toEqual([]);
  });
});
