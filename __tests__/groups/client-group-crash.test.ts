/**
 * A crash between encrypting and sending never reuses a group message key (issue 16), with the
 * real client: a child process runs a real `Client` (the built code in dist/, rebuilt here when a
 * source is newer) that writes group messages in a loop to a real relay on loopback, and is
 * killed with SIGKILL at random moments, then started again on the same data dir. Bea is away the
 * whole time, so the relay keeps every group envelope it was given for her: no two of them share
 * a (key id, iteration) with different bytes, and once the sender has sent what it had stored and
 * Bea comes back, she reads every message the sender has in its history, each once, with no error.
 * And a real SQLite failure inside the commit (a trigger) leaves the chain where it was.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { CLIENT_DB_FILE } from '../../lib/client/sqlite-store';
import { parseGroupMessage } from '../../lib/crypto/sender-keys';
import { isChatError } from '../../lib/errors';
import { relayPerTest, startRelayWithStore } from '../helpers/client-harness';
import { killChildren, runUntilKilled } from '../helpers/child-process';
import { waitFor } from '../helpers/relay-harness';
import { ensureBuilt } from '../helpers/dist';

const ROOT = path.join(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist', 'lib');

beforeAll(() => {
  ensureBuilt(['client', 'groups', 'group-messages.js'], { fresh: true });
}, 180_000);

const req = (p: string) => JSON.stringify(path.join(DIST, p));

/** A real client writing to the group as fast as it can, one line on stdout per stored message. */
const CHILD = `
const path = require('node:path');
const { Client } = require(${req('client/client.js')});
const { loadOrCreateIdentity } = require(${req('client/identity-store.js')});
const { KnownServers } = require(${req('client/known-servers.js')});
const { openClientStore } = require(${req('client/sqlite-store.js')});
const { createLogger } = require(${req('log.js')});
const [dir, port, group, run] = process.argv.slice(1);
const knownServersFile = path.join(dir, 'known_servers');
const client = new Client({
  name: 'Adam', host: '127.0.0.1', port: Number(port), identity: loadOrCreateIdentity(dir).identity,
  store: openClientStore(dir), knownServers: new KnownServers(knownServersFile), knownServersFile,
  logger: createLogger({ file: path.join(dir, 'child.log'), name: 'adam', level: 'info' }),
  acceptNewServer: true, reconnect: { baseMs: 50, maxMs: 400 },
});
let n = 0;
client.on('state', (s) => {
  if (s.state !== 'online' || n > 0) return;
  const tick = () => {
    const m = client.sendGroup(group, 'run ' + run + ' #' + n++);
    process.stdout.write(m.id + '\\n');
    setImmediate(tick);
  };
  tick();
});
client.start();
`;

const t = relayPerTest(() =>
  startRelayWithStore({ limits: { requestsPerSecond: 10_000, requestBurst: 10_000 } }),
);
const { user, stop } = t;

afterEach(killChildren);

const lineCount = (out: string) => out.split('\n').length - 1;

/** The child's messages until it is killed after `afterLines` of them: how many it wrote. */
async function runChild(dir: string, group: string, run: number, afterLines: number): Promise<number> {
  const args = ['-e', CHILD, dir, String(t.relay.port), group, String(run)];
  return lineCount(await runUntilKilled(args, (out) => lineCount(out) >= afterLines));
}

it('a sender killed at random moments and restarted never seals two messages with one key', async () => {
  const adam = await user('Adam');
  const bea = await user('Bea');
  const g = adam.client.createGroup('Crash', ['Bea']);
  await waitFor(() => bea.client.group(g.id)?.member === true, 10000, 'Bea joins');
  adam.client.sendGroup(g.key, 'before');
  await waitFor(() => bea.client.history(g.key).length === 1, 10000, 'Bea reads the first');
  await stop(bea);
  await stop(adam);

  let written = 0;
  for (let run = 0; run < 5; run++) {
    written += await runChild(adam.dir, g.id, run, 1 + Math.floor(Math.random() * 30));
  }
  expect(written).toBeGreaterThan(0);

  const byKey = new Map<string, Set<string>>();
  const queued = (await t.relay.store.pending('bea')).filter((e) => e.env[0] === 0x47);
  for (const e of queued) {
    const m = parseGroupMessage(e.env);
    const k = `${m.keyId}:${m.iteration}`;
    byKey.set(k, (byKey.get(k) ?? new Set()).add(Buffer.from(e.env).toString('base64')));
  }
  // One envelope per message key, ever; and the relay kept one copy of each (same id, same bytes).
  expect([...byKey.values()].every((s) => s.size === 1)).toBe(true);
  expect(byKey.size).toBe(queued.length);

  // The sender comes back and sends what it had stored and not yet handed over; Bea reads all.
  const adam2 = await user('Adam', { dir: adam.dir });
  await waitFor(() => adam2.store.groups.pendingGroupOutgoing().length === 0, 20000, 'Adam sends the rest');
  const mine = adam2.client.history(g.key, 10_000).filter((m) => m.direction === 'out');
  expect(mine.length).toBeGreaterThanOrEqual(written);
  const bea2 = await user('Bea', { dir: bea.dir });
  await waitFor(() => bea2.client.history(g.key, 10_000).length === mine.length, 30000, 'Bea reads all');
  expect(new Set(bea2.client.history(g.key, 10_000).map((m) => m.id))).toEqual(
    new Set(mine.map((m) => m.id)),
  );
  expect(bea2.errors).toEqual([]);
}, 180_000);

it('a store failure while committing a group message leaves the chain where it was; nothing leaves', async () => {
  const adam = await user('Adam');
  const bea = await user('Bea');
  const g = adam.client.createGroup('Disk', ['Bea']);
  await waitFor(() => bea.client.group(g.id)?.member === true, 10000, 'Bea joins');
  const ownBefore = adam.store.groups.group(g.id)!.ownKey;
  // A real SQLite failure inside the commit: a trigger refuses the group outbox row.
  const raw = new Database(path.join(adam.dir, CLIENT_DB_FILE));
  raw.exec(
    "CREATE TRIGGER full_disk BEFORE INSERT ON group_outbox BEGIN SELECT RAISE(FAIL, 'disk full'); END",
  );
  let thrown: unknown;
  try {
    adam.client.sendGroup(g.key, 'lost?');
  } catch (e) {
    thrown = e;
  }
  expect(isChatError(thrown, 'storage_failed')).toBe(true);
  expect(adam.store.groups.group(g.id)!.ownKey).toBe(ownBefore);
  expect(adam.client.history(g.key)).toEqual([]);
  raw.exec('DROP TRIGGER full_disk');
  raw.close();
  adam.client.sendGroup(g.key, 'after the disk');
  await waitFor(() => bea.client.history(g.key).length === 1, 10000, 'Bea reads it');
  expect(bea.client.history(g.key)[0].body).toBe('after the disk');
  expect(bea.errors).toEqual([]);
});
