/**
 * Schema 2 → 3 (groups): a client.db exactly as schema 2 made it (its SQL, frozen below) with a
 * message, a contact, a session, a prekey, an unsent text, an outbox envelope and a setting opens
 * under schema 3 and keeps every one of them, and the group tables work in it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { CLIENT_DB_FILE, openClientStore } from '../../lib/client/sqlite-store';
import { createGroup } from '../../lib/client/groups/state';

const SCHEMA_2 = `
CREATE TABLE unsent (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  peer TEXT NOT NULL,
  id TEXT NOT NULL,
  peer_name TEXT NOT NULL,
  body TEXT NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE (peer, id)
);
CREATE INDEX unsent_by_peer ON unsent (peer, seq);
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  to_name TEXT NOT NULL,
  envelope BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  peer TEXT NOT NULL,
  peer_name TEXT NOT NULL,
  id TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  body TEXT NOT NULL,
  ts INTEGER NOT NULL,
  local_ts INTEGER NOT NULL,
  state TEXT NOT NULL,
  state_rank INTEGER NOT NULL,
  UNIQUE (peer, id, direction)
);
CREATE INDEX messages_by_peer ON messages (peer, seq);
CREATE INDEX messages_unread ON messages (peer, direction, state);
CREATE TABLE seen (
  peer TEXT NOT NULL,
  id TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (peer, id)
) WITHOUT ROWID;
CREATE INDEX seen_by_age ON seen (seen_at);
CREATE TABLE contacts (
  canon TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  sign_key BLOB NOT NULL,
  dh_key BLOB NOT NULL,
  idcert BLOB NOT NULL,
  verified INTEGER NOT NULL DEFAULT 0,
  pinned_at INTEGER NOT NULL,
  pending_name TEXT,
  pending_sign_key BLOB,
  pending_dh_key BLOB,
  pending_idcert BLOB
);
CREATE TABLE sessions (
  peer TEXT NOT NULL,
  session_id TEXT NOT NULL,
  state TEXT NOT NULL,
  last_used INTEGER NOT NULL,
  archived INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (peer, session_id)
);
CREATE TABLE signed_prekeys (
  id INTEGER PRIMARY KEY,
  secret BLOB NOT NULL,
  pub BLOB NOT NULL,
  sig BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE one_time_prekeys (
  id INTEGER PRIMARY KEY,
  secret BLOB NOT NULL,
  pub BLOB NOT NULL
);
CREATE TABLE held (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  peer TEXT NOT NULL,
  id TEXT NOT NULL,
  from_name TEXT NOT NULL,
  env BLOB NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE (peer, id)
);
-- Per-contact count kept by triggers: the cap check is one lookup, not a scan.
CREATE TABLE held_totals (peer TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER held_counted AFTER INSERT ON held BEGIN
  INSERT INTO held_totals VALUES (new.peer, 1) ON CONFLICT (peer) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER held_uncounted AFTER DELETE ON held BEGIN
  UPDATE held_totals SET n = n - 1 WHERE peer = old.peer;
  DELETE FROM held_totals WHERE peer = old.peer AND n <= 0;
END;
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-migrate3-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a schema 2 database opens under schema 3 and keeps everything', () => {
  const file = path.join(dir, CLIENT_DB_FILE);
  const raw = new Database(file);
  raw.exec(SCHEMA_2);
  raw.pragma('application_id = 1129530188'); // 'CSCL'
  raw.pragma('user_version = 2');
  const id = toHex(randomBytes(16));
  const sign = randomBytes(32);
  const env = randomBytes(300);
  raw
    .prepare(
      `INSERT INTO messages (peer, peer_name, id, direction, body, ts, local_ts, state, state_rank)
       VALUES ('eve', 'Eve', ?, 'in', 'kept', 5, 6, 'received', 0)`,
    )
    .run(id);
  raw
    .prepare(
      `INSERT INTO contacts (canon, name, sign_key, dh_key, idcert, verified, pinned_at)
       VALUES ('eve', 'Eve', ?, ?, ?, 1, 7)`,
    )
    .run(sign, randomBytes(32), randomBytes(96));
  raw.prepare(`INSERT INTO sessions VALUES ('eve', 's1', '{"opaque":1}', 8, 0)`).run();
  raw.prepare('INSERT INTO one_time_prekeys VALUES (3, ?, ?)').run(randomBytes(32), randomBytes(32));
  raw
    .prepare(`INSERT INTO unsent (peer, id, peer_name, body, ts) VALUES ('bob', ?, 'Bob', 'later', 9)`)
    .run(id);
  raw.prepare(`INSERT INTO outbox (id, to_name, envelope, created_at) VALUES (?, 'Eve', ?, 10)`).run(id, env);
  raw.prepare(`INSERT INTO settings VALUES ('prekeys.relay', 'fp')`).run();
  raw.close();

  const s = openClientStore(dir);
  try {
    expect(s.history('eve')).toEqual([
      {
        seq: 1,
        id,
        peer: 'eve',
        peerName: 'Eve',
        direction: 'in',
        body: 'kept',
        ts: 5,
        localTs: 6,
        state: 'received',
      },
    ]);
    const eve = s.getContact('eve')!;
    expect(Buffer.from(eve.signKey).equals(Buffer.from(sign))).toBe(true);
    expect(eve.state).toBe('verified');
    expect(s.sessions('eve').map((r) => r.state)).toEqual(['{"opaque":1}']);
    expect(s.oneTimePrekey(3)).toBeDefined();
    expect(s.unsentFor('bob')).toEqual([{ id, peer: 'bob', peerName: 'Bob', body: 'later', ts: 9 }]);
    expect(Buffer.from(s.outgoing(id)!.envelope).equals(Buffer.from(env))).toBe(true);
    expect(s.kv.get('prekeys.relay')).toBe('fp');

    // The new parts work in the migrated file.
    const gid = toHex(randomBytes(16));
    s.groups.saveGroup({
      id: gid,
      state: createGroup(gid, 'G', 'adam', ['eve']),
      member: true,
      usedKeyIds: [1],
    });
    expect(s.groups.groupList().map((g) => g.state.members)).toEqual([['adam', 'eve']]);
    s.addMessage({
      id: toHex(randomBytes(16)),
      peer: `#${gid}`,
      peerName: 'G',
      direction: 'in',
      body: 'hi',
      ts: 1,
      localTs: 2,
      state: 'received',
      group: gid,
      sender: 'Eve',
    });
    expect(s.history(`#${gid}`)[0]).toMatchObject({ group: gid, sender: 'Eve' });
  } finally {
    s.close();
  }
  const after = new Database(file, { readonly: true });
  expect(after.pragma('user_version', { simple: true })).toBe(3);
  after.close();
});
