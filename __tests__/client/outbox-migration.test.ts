/**
 * Schema 1 kept texts not sealed yet as a JSON value in `settings`; schema 2 keeps them in the
 * `unsent` table. A user who upgrades with a text still waiting gets it delivered: real clients,
 * a real relay on loopback, the real SQLite file rewritten back to schema 1.
 */
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { CLIENT_DB_FILE } from '../../lib/client/sqlite-store';
import { makeUser, startRelayWithStore, type TestUser, waitForMessages } from '../helpers/client-harness';
import { type TestRelay, waitFor } from '../helpers/relay-harness';

let relay: TestRelay;
const users: TestUser[] = [];

beforeEach(async () => {
  relay = await startRelayWithStore();
});

afterEach(async () => {
  for (const u of users.splice(0)) await u.stop().catch(() => undefined);
  await relay.stop();
});

it('a text waiting in a schema 1 store is carried over by the migration and delivered', async () => {
  const adam0 = await makeUser(relay.port, 'Adam');
  const eve = await makeUser(relay.port, 'Eve');
  users.push(eve);
  await adam0.stop();

  // As schema 1 left it: the text in the history as `sending`, and in the JSON value.
  const id = toHex(randomBytes(16));
  const ts = Date.now();
  const raw = new Database(path.join(adam0.dir, CLIENT_DB_FILE));
  raw.exec('DROP TABLE unsent');
  raw
    .prepare(
      `INSERT INTO messages (peer, peer_name, id, direction, body, ts, local_ts, state, state_rank)
       VALUES ('eve', 'Eve', ?, 'out', 'typed before the upgrade', ?, ?, 'sending', 0)`,
    )
    .run(id, ts, ts);
  raw
    .prepare("INSERT INTO settings (key, value) VALUES ('unsent', ?)")
    .run(JSON.stringify([{ id, peer: 'eve', peerName: 'Eve', body: 'typed before the upgrade', ts }]));
  raw.pragma('user_version = 1');
  raw.close();

  const adam = await makeUser(relay.port, 'Adam', { dir: adam0.dir });
  users.push(adam);
  await waitForMessages(eve, 1);
  expect(eve.messages.map((m) => [m.id, m.body])).toEqual([[id, 'typed before the upgrade']]);
  await waitFor(() => adam.client.outboxSize() === 0, 10000, 'the outbox to empty');
  expect(adam.store.kv.get('unsent')).toBeUndefined();
  expect(adam.client.history('Eve').map((m) => m.state)).not.toContain('sending');
});
