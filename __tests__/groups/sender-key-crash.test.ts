/**
 * A crash between encrypting and sending never reuses a group message key (issue 16): a real
 * process seals group messages in a loop, committing each chain step and its outgoing message in
 * one SQLite transaction (synchronous = FULL) before "sending" it, and is killed with SIGKILL at
 * random moments, then restarted from what it stored. Every message that left carries an iteration
 * no other message used, and every one was in the store before it left.
 *
 * The child runs the built code in dist/ (`npm test` builds before jest; built here if missing).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { parseGroupMessage, createOwnSenderKey, serializeOwnSenderKey } from '../../lib/crypto/sender-keys';
import { randomBytes } from '../../lib/crypto/primitives';
import { killChildren, runUntilKilled } from '../helpers/child-process';
import { tempDir } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist', 'lib');

const CHILD = `
const { openSqliteFile } = require(${JSON.stringify(path.join(DIST, 'sqlite-db.js'))});
const sk = require(${JSON.stringify(path.join(DIST, 'crypto', 'sender-keys.js'))});
const db = openSqliteFile(process.argv[1], 'groups-test.db', {
  what: 'test store', applicationId: 0x47525054, schemaVersion: 1,
  schema: 'CREATE TABLE own (id INTEGER PRIMARY KEY, key TEXT NOT NULL); CREATE TABLE outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, message BLOB NOT NULL);',
});
const save = db.transaction((next, message) => {
  db.prepare('UPDATE own SET key = ? WHERE id = 1').run(sk.serializeOwnSenderKey(next));
  db.prepare('INSERT INTO outbox (message) VALUES (?)').run(Buffer.from(message));
});
(async () => {
  const pad = new Uint8Array(256).fill(32);
  for (;;) {
    const own = sk.parseOwnSenderKey(db.prepare('SELECT key FROM own WHERE id = 1').get().key);
    const { message } = await sk.sealGroupMessage(own, pad, (next, m) => save(next, m));
    // "Sending": what leaves the process.
    process.stdout.write(Buffer.from(message).toString('base64') + '\\n');
  }
})();
`;

beforeAll(() => {
  ensureBuilt(['crypto', 'sender-keys.js']);
}, 120_000);

afterEach(killChildren);

/** What the child sent until it was killed after `afterLines` messages. */
async function runChild(dir: string, afterLines: number): Promise<string[]> {
  const out = await runUntilKilled(['-e', CHILD, dir], (o) => o.split('\n').length > afterLines);
  // A line cut short by the kill never fully left: only whole lines were sent.
  return out.split('\n').slice(0, -1);
}

it('killed at random moments, a restarted sender never gives two messages the same key', async () => {
  const dir = tempDir('chatsecure-groups-crash-');
  // The first start finds the chain the client stored when it made the group.
  const first = spawnSync(process.execPath, [
    '-e',
    `${CHILD.split('(async')[0]}
db.prepare('INSERT INTO own (id, key) VALUES (1, ?)').run(process.argv[2]);`,
    dir,
    serializeOwnSenderKey(createOwnSenderKey(randomBytes(16), randomBytes)),
  ]);
  expect(first.status).toBe(0);
  const sent: string[] = [];
  for (let run = 0; run < 6; run++) sent.push(...(await runChild(dir, 1 + Math.floor(Math.random() * 40))));
  const db = new Database(path.join(dir, 'groups-test.db'), { readonly: true });
  const stored = (db.prepare('SELECT message FROM outbox ORDER BY n').all() as { message: Buffer }[]).map(
    (r) => r.message.toString('base64'),
  );
  db.close();
  const iterations = sent.map(
    (b64) => parseGroupMessage(new Uint8Array(Buffer.from(b64, 'base64'))).iteration,
  );
  expect(new Set(iterations).size).toBe(iterations.length);
  const storedIterations = stored.map(
    (b64) => parseGroupMessage(new Uint8Array(Buffer.from(b64, 'base64'))).iteration,
  );
  expect(new Set(storedIterations).size).toBe(storedIterations.length);
  // Whatever left had been stored first.
  const inStore = new Set(stored);
  for (const m of sent) expect(inStore.has(m)).toBe(true);
  expect(sent.length).toBeGreaterThan(0);
}, 120_000);
