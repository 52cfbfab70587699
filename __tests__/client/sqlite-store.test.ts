import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { isChatError } from '../../lib/errors';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { CLIENT_DB_FILE, openClientStore } from '../../lib/client/sqlite-store';
import { openRelayStore, RELAY_DB_FILE } from '../../lib/server/sqlite-store';
import {
  HELD_PER_CONTACT_MAX,
  SEEN_TTL_MS,
  type ClientStore,
  type Identity,
  type NewMessage,
} from '../../lib/client/store';

const NOW = 1_700_000_000_000;
let tmp: string;
let dir: string;
const open: ClientStore[] = [];

function store(d = dir): ClientStore {
  const s = openClientStore(d);
  open.push(s);
  return s;
}

function reopen(s: ClientStore): ClientStore {
  s.close();
  return store();
}

const newId = (): string => toHex(randomBytes(16));

// Keys are opaque bytes to the store; random bytes of the right sizes stand in for them.
function identity(name: string): Identity {
  return {
    name,
    canon: name.toLowerCase(),
    signKey: randomBytes(32),
    dhKey: randomBytes(32),
    idcert: randomBytes(64),
  };
}

function incoming(peerName: string, body: string, localTs: number, id = newId()): NewMessage {
  return {
    id,
    peer: peerName.toLowerCase(),
    peerName,
    direction: 'in',
    body,
    ts: localTs - 5,
    localTs,
    state: 'received',
  };
}

function outgoing(peerName: string, body: string, localTs: number, id = newId()): NewMessage {
  return {
    id,
    peer: peerName.toLowerCase(),
    peerName,
    direction: 'out',
    body,
    ts: localTs,
    localTs,
    state: 'sending',
  };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-client-store-'));
  dir = path.join(tmp, 'adam');
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the data dir is 0700 and client.db 0600', () => {
  const s = store();
  s.kv.set('x', 'y');
  expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  expect(fs.statSync(path.join(dir, CLIENT_DB_FILE)).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.join(dir, `${CLIENT_DB_FILE}-wal`)).mode & 0o777).toBe(0o600);
});

describe('outbox', () => {
  test('stored before sending, resent with the same bytes after a restart, gone once sent', () => {
    let s = store();
    const a = { id: newId(), to: 'Eve', envelope: randomBytes(100), createdAt: NOW };
    const b = { id: newId(), to: 'Bob', envelope: randomBytes(100), createdAt: NOW + 1 };
    s.queueOutgoing(a);
    s.queueOutgoing(b);
    s = reopen(s);
    expect(s.pendingOutgoing()).toEqual([a, b]);

    // A second queueOutgoing with that id never replaces the stored bytes.
    expect(
      isChatError(
        thrown(() => s.queueOutgoing({ ...a, envelope: randomBytes(100) })),
        'bad_state',
      ),
    ).toBe(true);
    expect(s.pendingOutgoing()[0].envelope).toEqual(a.envelope);

    expect(s.markSent(a.id, 'queued')).toBe(true);
    expect(s.markSent(a.id, 'queued')).toBe(false);
    expect(s.pendingOutgoing()).toEqual([b]);
    s = reopen(s);
    expect(s.pendingOutgoing()).toEqual([b]);
  });
});

describe('texts not sealed yet (the unsent table)', () => {
  const text = (peer: string, body: string, ts: number) => ({
    id: newId(),
    peer: peer.toLowerCase(),
    peerName: peer,
    body,
    ts,
  });

  test('kept per contact in the order typed, across a restart; removed one by one', () => {
    let s = store();
    const a = text('Eve', 'one', NOW);
    const b = text('Bob', 'two', NOW + 1);
    const c = text('Eve', 'three', NOW + 2);
    for (const t of [a, b, c]) s.queueUnsent(t);
    s = reopen(s);
    expect(s.unsentFor('eve')).toEqual([a, c]);
    expect(s.unsentPeers()).toEqual(['eve', 'bob']);
    expect(s.hasUnsent('bob')).toBe(true);
    expect(s.countUnsent()).toBe(3);
    expect(s.removeUnsent('eve', a.id)).toBe(true);
    expect(s.removeUnsent('eve', a.id)).toBe(false);
    expect(s.removeUnsent('bob', b.id)).toBe(true);
    expect(s.hasUnsent('bob')).toBe(false);
    expect(s.unsentPeers()).toEqual(['eve']);
    expect(s.countUnsent()).toBe(1);
  });

  /** A store as schema 1 left it: no `unsent` table, the texts as one JSON array in settings. */
  function makeSchema1(value: string | undefined): string {
    store().close();
    open.pop();
    const file = path.join(dir, CLIENT_DB_FILE);
    const raw = new Database(file);
    raw.exec('DROP TABLE unsent');
    if (value !== undefined) raw.prepare("INSERT INTO settings (key, value) VALUES ('unsent', ?)").run(value);
    raw.pragma('user_version = 1');
    raw.close();
    return file;
  }

  test('a schema 1 store is migrated: its unsent texts move to the table, in order, and leave settings', () => {
    const waiting = [
      text('Eve', 'typed offline', NOW),
      text('Bob', 'no keys yet', NOW + 1),
      text('Eve', 'again', NOW + 2),
    ];
    const file = makeSchema1(JSON.stringify(waiting));
    const s = store();
    expect(s.unsentFor('eve')).toEqual([waiting[0], waiting[2]]);
    expect(s.unsentFor('bob')).toEqual([waiting[1]]);
    expect(s.unsentPeers()).toEqual(['eve', 'bob']);
    expect(s.kv.get('unsent')).toBeUndefined();
    s.close();
    open.pop();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(3);
    raw.close();
  });

  test('a schema 1 store without unsent texts is migrated too', () => {
    makeSchema1(undefined);
    const s = store();
    expect(s.countUnsent()).toBe(0);
    s.queueUnsent(text('Eve', 'new', NOW));
    expect(s.unsentFor('eve')).toHaveLength(1);
  });

  test('a damaged unsent value stops the migration and leaves the file as it was', () => {
    const file = makeSchema1('[{"id": 1}]');
    const err = thrown(() => openClientStore(dir));
    expect(isChatError(err, 'corrupt_store')).toBe(true);
    expect((err as Error).message).toMatch(/untouched/);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare("SELECT value FROM settings WHERE key = 'unsent'").get()).toEqual({
      value: '[{"id": 1}]',
    });
    expect(raw.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'unsent'").get()).toEqual({
      n: 0,
    });
    raw.close();
  });
});

describe('history', () => {
  test('receiver-side dedupe by (peer, id, direction)', () => {
    const s = store();
    const m = incoming('Eve', 'hello', NOW);
    expect(s.addMessage(m)).toBe(true);
    expect(s.addMessage({ ...m, body: 'replayed' })).toBe(false);
    // The same id from another contact, or in the other direction, is another message.
    expect(s.addMessage({ ...m, peer: 'bob', peerName: 'Bob' })).toBe(true);
    expect(s.addMessage(outgoing('Eve', 'mine', NOW + 1, m.id))).toBe(true);
    expect(s.history('eve').map((r) => r.body)).toEqual(['hello', 'mine']);
  });

  test('ordered by local arrival, not by the claimed ts; paged with limit and before', () => {
    let s = store();
    const bodies = ['one', 'two', 'three', 'four', 'five'];
    bodies.forEach((body, i) => {
      // The sender's claimed ts runs backwards; arrival order must win.
      s.addMessage({ ...incoming('Eve', body, NOW + i), ts: NOW - i * 1000 });
    });
    s.addMessage(incoming('Bob', 'elsewhere', NOW));
    s = reopen(s);
    const all = s.history('eve');
    expect(all.map((m) => m.body)).toEqual(bodies);
    expect(all[0]).toMatchObject({
      peer: 'eve',
      peerName: 'Eve',
      direction: 'in',
      state: 'received',
      ts: NOW,
    });
    expect(s.history('eve', 2).map((m) => m.body)).toEqual(['four', 'five']);
    expect(s.history('eve', 2, all[3].seq).map((m) => m.body)).toEqual(['two', 'three']);
    expect(s.history('nobody')).toEqual([]);
  });

  test('a state never moves backwards', () => {
    const s = store();
    const m = outgoing('Eve', 'hi', NOW);
    s.addMessage(m);
    expect(s.setState('eve', m.id, 'queued')).toBe(true);
    expect(s.setState('eve', m.id, 'read')).toBe(true);
    expect(s.setState('eve', m.id, 'delivered')).toBe(false); // late receipt
    expect(s.setState('eve', m.id, 'sent')).toBe(false);
    expect(s.setState('eve', m.id, 'read')).toBe(false);
    expect(s.history('eve')[0].state).toBe('read');
    // A receipt from another contact, or an incoming state, does not touch our message.
    expect(s.setState('bob', m.id, 'read')).toBe(false);
    expect(s.setState('eve', m.id, 'shown')).toBe(false);
    expect(s.setState('eve', newId(), 'delivered')).toBe(false);
  });

  test('a state must belong to the direction', () => {
    const s = store();
    expect(
      isChatError(
        thrown(() => s.addMessage({ ...outgoing('Eve', 'x', NOW), state: 'received' })),
        'bad_state',
      ),
    ).toBe(true);
  });

  test('conversations, unread counts and markRead', () => {
    const s = store();
    const e1 = incoming('Eve', 'a', NOW);
    const e2 = incoming('Eve', 'b', NOW + 2);
    s.addMessage(e1);
    s.addMessage(outgoing('Eve', 'c', NOW + 1));
    s.addMessage(e2);
    s.addMessage(incoming('Bob', 'd', NOW + 10));
    expect(s.conversations()).toEqual([
      { peer: 'bob', peerName: 'Bob', lastTs: NOW + 10, unread: 1 },
      { peer: 'eve', peerName: 'Eve', lastTs: NOW + 2, unread: 2 },
    ]);
    expect(s.unreadCount('eve')).toBe(2);
    expect(s.markRead('eve')).toEqual([e1.id, e2.id]);
    expect(s.markRead('eve')).toEqual([]);
    expect(s.unreadCount('eve')).toBe(0);
    expect(s.unreadCount('bob')).toBe(1);
    expect(s.history('eve').map((m) => m.state)).toEqual(['shown', 'sending', 'shown']);
  });
});

test('seen ids are remembered 30 days', () => {
  let s = store();
  s.rememberSeen('eve', 'old', NOW - SEEN_TTL_MS - 1);
  s.rememberSeen('eve', 'new', NOW);
  s = reopen(s);
  expect(s.seenRecently('eve', 'old')).toBe(true);
  expect(s.seenRecently('bob', 'new')).toBe(false);
  expect(s.expireSeen(NOW)).toBe(1);
  expect(s.seenRecently('eve', 'old')).toBe(false);
  expect(s.seenRecently('eve', 'new')).toBe(true);
});

describe('contacts', () => {
  test('first identity pinned; a different one is pending until accepted', () => {
    let s = store();
    const eve = identity('Eve');
    expect(s.pinContact(eve, NOW)).toBe('pinned');
    expect(s.pinContact(eve, NOW + 1)).toBe('unchanged');
    expect(s.getContact('eve')).toMatchObject({
      ...eve,
      verified: false,
      state: 'unverified',
      pinnedAt: NOW,
    });
    expect(s.setVerified('eve', true)).toBe(true);
    expect(s.getContact('eve')?.state).toBe('verified');
    expect(s.setVerified('nobody', true)).toBe(false);

    const newEve = identity('Eve');
    expect(s.pinContact(newEve, NOW)).toBe('changed');
    expect(s.getContact('eve')?.signKey).toEqual(eve.signKey); // nothing written
    // Same signing key, other DH key: still another identity.
    expect(s.pinContact({ ...eve, dhKey: randomBytes(32) }, NOW)).toBe('changed');

    s.saveSession('eve', 'old-session', '{"old":true}', NOW);
    s.markChanged('eve', newEve);
    s = reopen(s);
    const changed = s.getContact('eve')!;
    expect(changed.state).toBe('changed');
    expect(changed.signKey).toEqual(eve.signKey);
    expect(changed.pendingIdentity).toEqual(newEve);

    expect(s.acceptChange('eve', NOW + 9)).toBe(true);
    const accepted = s.getContact('eve')!;
    expect(accepted).toMatchObject({ ...newEve, verified: false, state: 'unverified', pinnedAt: NOW + 9 });
    expect(accepted.pendingIdentity).toBeUndefined();
    expect(s.sessions('eve')).toEqual([
      { sessionId: 'old-session', state: '{"old":true}', lastUsed: NOW, archived: true },
    ]);
    expect(s.acceptChange('eve')).toBe(false);
    expect(s.contacts().map((c) => c.canon)).toEqual(['eve']);
  });

  test('markChanged needs a pinned contact', () => {
    const s = store();
    expect(
      isChatError(
        thrown(() => s.markChanged('eve', identity('Eve'))),
        'unknown_user',
      ),
    ).toBe(true);
  });
});

describe('sessions', () => {
  test('most recently used first, archived last; archive keeps one and prunes beyond the cap', () => {
    let s = store();
    for (let i = 0; i < 6; i++) s.saveSession('eve', `s${i}`, `state${i}`, NOW + i);
    s.saveSession('bob', 'b0', 'bob', NOW);
    s.archiveSessions('eve', 3, 's2');
    s = reopen(s);
    expect(s.sessions('eve')).toEqual([
      { sessionId: 's2', state: 'state2', lastUsed: NOW + 2, archived: false },
      { sessionId: 's5', state: 'state5', lastUsed: NOW + 5, archived: true },
      { sessionId: 's4', state: 'state4', lastUsed: NOW + 4, archived: true },
      { sessionId: 's3', state: 'state3', lastUsed: NOW + 3, archived: true },
    ]);
    expect(s.sessions('bob')).toHaveLength(1);
    // An archived session that decrypts again comes back as active.
    s.saveSession('eve', 's4', 'state4b', NOW + 10);
    expect(s.sessions('eve')[0]).toEqual({
      sessionId: 's4',
      state: 'state4b',
      lastUsed: NOW + 10,
      archived: false,
    });
  });
});

describe('prekey secrets', () => {
  test('signed prekeys newest first; one-time prekeys taken once', () => {
    let s = store();
    const spk1 = {
      id: 1,
      secret: randomBytes(32),
      pub: randomBytes(32),
      sig: randomBytes(64),
      createdAt: NOW,
    };
    const spk2 = { ...spk1, id: 5, secret: randomBytes(32), createdAt: NOW + 1 };
    s.saveSignedPrekey(spk1);
    s.saveSignedPrekey(spk2);
    const opks = [2, 3, 4].map((id) => ({ id, secret: randomBytes(32), pub: randomBytes(32) }));
    s.saveOneTimePrekeys(opks);
    s = reopen(s);
    expect(s.signedPrekeys()).toEqual([spk2, spk1]);
    expect(s.deleteSignedPrekey(1)).toBe(true);
    expect(s.signedPrekeys()).toEqual([spk2]);

    expect(s.countOneTimePrekeys()).toBe(3);
    expect(s.oneTimePrekey(3)).toEqual(opks[1]);
    expect(s.takeOneTimePrekey(3)).toEqual(opks[1]);
    expect(s.takeOneTimePrekey(3)).toBeUndefined();
    expect(s.deleteOneTimePrekey(2)).toBe(true);
    expect(s.deleteOneTimePrekey(2)).toBe(false);
    expect(s.countOneTimePrekeys()).toBe(1);
  });

  test('a duplicate one-time prekey id refuses the whole batch', () => {
    const s = store();
    s.saveOneTimePrekeys([{ id: 7, secret: randomBytes(32), pub: randomBytes(32) }]);
    const batch = [8, 7].map((id) => ({ id, secret: randomBytes(32), pub: randomBytes(32) }));
    expect(
      isChatError(
        thrown(() => s.saveOneTimePrekeys(batch)),
        'bad_state',
      ),
    ).toBe(true);
    expect(s.oneTimePrekey(8)).toBeUndefined();
    expect(s.countOneTimePrekeys()).toBe(1);
  });

  test('nextPrekeyId increases, reserves ranges, survives restarts and never reuses a stored id', () => {
    let s = store();
    expect(s.nextPrekeyId()).toBe(1);
    expect(s.nextPrekeyId(100)).toBe(2);
    expect(s.nextPrekeyId()).toBe(102);
    s = reopen(s);
    expect(s.nextPrekeyId()).toBe(103);
    s.saveOneTimePrekeys([{ id: 500, secret: randomBytes(32), pub: randomBytes(32) }]);
    expect(s.nextPrekeyId()).toBe(501);
    expect(
      isChatError(
        thrown(() => s.nextPrekeyId(0)),
        'bad_state',
      ),
    ).toBe(true);
  });

  test('a taken one-time prekey secret is gone from the file (secure_delete)', () => {
    let s = store();
    const secret = randomBytes(32);
    s.saveOneTimePrekeys([{ id: 9, secret, pub: randomBytes(32) }]);
    s = reopen(s);
    const file = path.join(dir, CLIENT_DB_FILE);
    expect(fs.readFileSync(file).includes(Buffer.from(secret))).toBe(true);
    s.takeOneTimePrekey(9);
    s.close();
    expect(fs.readFileSync(file).includes(Buffer.from(secret))).toBe(false);
  });
});

describe('held envelopes', () => {
  test('held per contact in order, deduplicated, released once', () => {
    let s = store();
    const a = { id: newId(), from: 'Eve', env: randomBytes(40), ts: NOW };
    const b = { id: newId(), from: 'Eve', env: randomBytes(40), ts: NOW + 1 };
    expect(s.holdIncoming(a)).toBe('held');
    expect(s.holdIncoming(b)).toBe('held');
    expect(s.holdIncoming(a)).toBe('duplicate');
    expect(s.holdIncoming({ ...a, from: 'Bob' })).toBe('held');
    s = reopen(s);
    expect(s.heldIncoming('eve')).toEqual([a, b]);
    expect(s.releaseHeld('eve')).toEqual([a, b]);
    expect(s.releaseHeld('eve')).toEqual([]);
    expect(s.heldIncoming('bob')).toHaveLength(1);
  });

  test(`at most ${HELD_PER_CONTACT_MAX} per contact`, () => {
    const s = store();
    // One transaction for the whole loop keeps this fast (one fsync).
    s.transaction(() => {
      for (let i = 0; i < HELD_PER_CONTACT_MAX; i++) {
        expect(s.holdIncoming({ id: `id${i}`, from: 'Eve', env: randomBytes(8), ts: NOW })).toBe('held');
      }
    });
    expect(s.holdIncoming({ id: newId(), from: 'Eve', env: randomBytes(8), ts: NOW })).toBe('full');
    expect(s.holdIncoming({ id: newId(), from: 'Bob', env: randomBytes(8), ts: NOW })).toBe('held');
    // Releasing makes room again.
    expect(s.releaseHeld('eve')).toHaveLength(HELD_PER_CONTACT_MAX);
    expect(s.holdIncoming({ id: newId(), from: 'Eve', env: randomBytes(8), ts: NOW })).toBe('held');
  });
});

describe('transactions', () => {
  test('a ratchet step and its message commit together', () => {
    let s = store();
    s.saveOneTimePrekeys([{ id: 4, secret: randomBytes(32), pub: randomBytes(32) }]);
    const m = incoming('Eve', 'hello', NOW);
    s.transaction(() => {
      s.takeOneTimePrekey(4);
      s.saveSession('eve', 'sess', 'after-step', NOW);
      s.addMessage(m);
      s.rememberSeen('eve', m.id, NOW);
    });
    s = reopen(s);
    expect(s.sessions('eve')[0].state).toBe('after-step');
    expect(s.history('eve')).toHaveLength(1);
    expect(s.oneTimePrekey(4)).toBeUndefined();
    expect(s.seenRecently('eve', m.id)).toBe(true);
  });

  test('a throw rolls back everything, and the error comes out as it was thrown', () => {
    let s = store();
    s.saveOneTimePrekeys([{ id: 4, secret: randomBytes(32), pub: randomBytes(32) }]);
    s.saveSession('eve', 'sess', 'before', NOW);
    const boom = new Error('decrypt failed after the step');
    const err = thrown(() =>
      s.transaction(() => {
        s.takeOneTimePrekey(4);
        s.saveSession('eve', 'sess', 'after-step', NOW + 1);
        s.addMessage(incoming('Eve', 'hello', NOW));
        s.queueOutgoing({ id: newId(), to: 'Eve', envelope: randomBytes(10), createdAt: NOW });
        s.kv.set('k', 'v');
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    s = reopen(s);
    expect(s.sessions('eve')[0].state).toBe('before');
    expect(s.history('eve')).toEqual([]);
    expect(s.oneTimePrekey(4)).toBeDefined();
    expect(s.pendingOutgoing()).toEqual([]);
    expect(s.kv.get('k')).toBeUndefined();
  });

  test('nested: an inner failure caught by the outer function rolls back only the inner part', () => {
    const s = store();
    s.transaction(() => {
      s.kv.set('outer', '1');
      try {
        s.transaction(() => {
          s.kv.set('inner', '1');
          throw new Error('inner');
        });
      } catch {
        // handled
      }
    });
    expect(s.kv.get('outer')).toBe('1');
    expect(s.kv.get('inner')).toBeUndefined();
  });
});

test('kv settings survive a restart', () => {
  let s = store();
  s.kv.set('relay', 'SHA256:abc');
  s.kv.set('relay', 'SHA256:def');
  s.kv.set('gone', 'x');
  s.kv.delete('gone');
  s = reopen(s);
  expect(s.kv.get('relay')).toBe('SHA256:def');
  expect(s.kv.get('gone')).toBeUndefined();
});

test('a closed store refuses to work', () => {
  const s = store();
  s.close();
  expect(
    isChatError(
      thrown(() => s.history('eve')),
      'storage_failed',
    ),
  ).toBe(true);
  expect(
    isChatError(
      thrown(() => s.transaction(() => 1)),
      'storage_failed',
    ),
  ).toBe(true);
});

describe('damaged or unusable files', () => {
  const expectCorruptUntouched = (file: string): void => {
    const before = fs.readFileSync(file);
    const err = thrown(() => openClientStore(dir));
    expect(isChatError(err, 'corrupt_store')).toBe(true);
    expect((err as Error).message).toMatch(/client store .* untouched/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  };

  test('garbage', () => {
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, CLIENT_DB_FILE);
    fs.writeFileSync(file, Buffer.from('this is not a database, just some text that goes on. '.repeat(100)));
    expectCorruptUntouched(file);
  });

  test('truncated', () => {
    const s = store();
    s.transaction(() => {
      for (let i = 0; i < 500; i++) s.addMessage(incoming('Eve', `message ${i} `.repeat(20), NOW + i));
    });
    s.close();
    const file = path.join(dir, CLIENT_DB_FILE);
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 3)));
    expectCorruptUntouched(file);
  });

  test("the relay's database in the client's place", async () => {
    const relayDir = path.join(tmp, 'server');
    await openRelayStore(relayDir).close();
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.copyFileSync(path.join(relayDir, RELAY_DB_FILE), path.join(dir, CLIENT_DB_FILE));
    expectCorruptUntouched(path.join(dir, CLIENT_DB_FILE));
  });

  test('a data dir under a file is storage_failed (SQLite cannot open it)', () => {
    const aFile = path.join(tmp, 'plain-file');
    fs.writeFileSync(aFile, 'x');
    const err = thrown(() => openClientStore(path.join(aFile, 'adam')));
    expect(isChatError(err, 'storage_failed')).toBe(true);
    expect((err as Error).message).toMatch(/client store/);
  });

  test('an unreadable schema version from the future is refused, not migrated', () => {
    store().close();
    const file = path.join(dir, CLIENT_DB_FILE);
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    expect(
      isChatError(
        thrown(() => openClientStore(dir)),
        'storage_failed',
      ),
    ).toBe(true);
  });
});
