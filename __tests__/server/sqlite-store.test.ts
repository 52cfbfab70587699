import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { isChatError } from '../../lib/errors';
import { canonName } from '../../lib/names';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { storageError } from '../../lib/sqlite-db';
import { EXPIRE_SLICE, openRelayStore, RELAY_DB_FILE } from '../../lib/server/sqlite-store';
import {
  QUEUE_MAX_PER_RECIPIENT,
  QUEUE_MAX_PER_SENDER,
  QUEUE_TTL_MS,
  type NewUser,
  type QueuedEnvelope,
  type RelayStore,
} from '../../lib/server/store';

const NOW = 1_700_000_000_000;
let tmp: string;
let dir: string;
const open: RelayStore[] = [];

function store(d = dir): RelayStore {
  const s = openRelayStore(d);
  open.push(s);
  return s;
}

// The store keeps keys as opaque bytes (the router checks idcert), so random bytes of the right
// sizes stand in for real keys and keep the tests fast.
function identity(name: string): NewUser {
  return {
    name,
    canon: canonName(name),
    signKey: randomBytes(32),
    dhKey: randomBytes(32),
    idcert: randomBytes(64),
  };
}

function newId(): string {
  return toHex(randomBytes(16));
}

function envelope(to: string, from: string, ts = NOW): QueuedEnvelope {
  return { id: newId(), to, from, env: randomBytes(64), ts };
}

/**
 * Queue `n` envelopes through a second connection in one transaction, so limit tests stay fast
 * (each enqueue through the store is its own fsync'd transaction). The per-recipient and
 * per-sender counts stay exact whoever inserts (another connection's commit makes the store
 * recount).
 */
function fill(
  to: string,
  from: (i: number) => string,
  n: number,
  ts: (i: number) => number = () => NOW,
): void {
  const raw = new Database(path.join(dir, RELAY_DB_FILE));
  raw.pragma('synchronous = OFF');
  const ins = raw.prepare(
    'INSERT INTO queue (id, to_canon, from_name, from_canon, env, ts) VALUES (?, ?, ?, ?, ?, ?)',
  );
  raw.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(newId(), to, from(i), canonName(from(i)), randomBytes(16), ts(i));
  })();
  raw.close();
}

function expectCode(fn: () => unknown, code: 'corrupt_store' | 'storage_failed'): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isChatError(caught, code)).toBe(true);
  expect((caught as Error).message).toMatch(/relay store/);
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-relay-store-'));
  dir = path.join(tmp, 'server');
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  fs.chmodSync(tmp, 0o700);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('files', () => {
  test('the data dir is created 0700 and relay.db (and its WAL) 0600', async () => {
    const s = store();
    await s.register(identity('Adam'), NOW);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, RELAY_DB_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, `${RELAY_DB_FILE}-wal`)).mode & 0o777).toBe(0o600);
  });

  test('everything survives close and reopen', async () => {
    const s = store();
    const adam = identity('Adam');
    await s.register(adam, NOW);
    await s.register(identity('Eve'), NOW);
    await s.publishPrekeys('eve', { id: 1, pub: randomBytes(32), sig: randomBytes(64) }, [
      { id: 2, pub: randomBytes(32) },
      { id: 3, pub: randomBytes(32) },
    ]);
    const sent = [envelope('eve', 'Adam'), envelope('eve', 'Adam'), envelope('eve', 'Adam')];
    for (const e of sent) expect(await s.enqueue(e)).toBe('ok');
    await s.takeBundle('eve');
    await s.close();

    const again = store();
    expect(await again.lookup('adam')).toMatchObject({
      name: 'Adam',
      signKey: adam.signKey,
      dhKey: adam.dhKey,
    });
    expect(await again.pending('eve')).toEqual(sent);
    expect(await again.countOpks('eve')).toBe(1);
    expect((await again.takeBundle('eve'))?.opk?.id).toBe(3);
  });

  test('a closed store refuses to work', async () => {
    const s = store();
    await s.close();
    await expect(s.lookup('adam')).rejects.toMatchObject({ code: 'storage_failed' });
  });
});

describe('directory', () => {
  test('register, login, name_taken, identity_taken', async () => {
    const s = store();
    const adam = identity('Adam');
    expect(await s.register(adam, NOW)).toBe('ok');
    expect(await s.register(adam, NOW + 5)).toBe('existing');
    // Another identity, any case of the same name.
    expect(await s.register(identity('adam'), NOW)).toBe('name_taken');
    expect(await s.register(identity('ADAM'), NOW)).toBe('name_taken');
    // The same identity under another name: one identity holds one name.
    expect(await s.register({ ...adam, name: 'Adam2', canon: 'adam2' }, NOW)).toBe('identity_taken');
    // The same signing key with another DH key is not the same identity.
    expect(await s.register({ ...adam, dhKey: randomBytes(32) }, NOW)).toBe('name_taken');

    const rec = await s.lookup('adam');
    expect(rec).toEqual({ ...adam, registeredAt: NOW, lastSeen: NOW });
    expect(await s.lookup('adam2')).toBeUndefined();
  });

  test('two handles registering one name with two identities: exactly one wins', async () => {
    const a = store();
    const b = store();
    for (let i = 0; i < 25; i++) {
      const name = `user${i}`;
      const first = i % 2 === 0 ? a : b;
      const second = first === a ? b : a;
      const x = identity(name);
      const y = identity(name);
      const results = await Promise.all([first.register(x, NOW), second.register(y, NOW)]);
      expect(results.sort()).toEqual(['name_taken', 'ok']);
      const winner = (await a.lookup(name))!;
      expect(winner).toEqual(await b.lookup(name));
      expect([x.signKey, y.signKey]).toContainEqual(winner.signKey);
    }
    expect(await a.listUsers()).toHaveLength(25);
  });

  test('listUsers keeps the registered case and lastSeen', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    await s.register(identity('adam'), NOW + 1);
    await s.setLastSeen('eve', NOW + 100);
    const users = await s.listUsers();
    expect(users.map((u) => [u.name, u.canon, u.lastSeen])).toEqual([
      ['adam', 'adam', NOW + 1],
      ['Eve', 'eve', NOW + 100],
    ]);
  });

  test('freeName forgets the user, their prekeys and their queue', async () => {
    const s = store();
    await s.register(identity('Adam'), NOW);
    await s.register(identity('Eve'), NOW);
    await s.publishPrekeys('eve', { id: 1, pub: randomBytes(32), sig: randomBytes(64) }, [
      { id: 2, pub: randomBytes(32) },
    ]);
    await s.enqueue(envelope('eve', 'Adam'));
    expect(await s.freeName('eve')).toBe(true);
    expect(await s.freeName('eve')).toBe(false);
    expect(await s.lookup('eve')).toBeUndefined();
    expect(await s.countQueued('eve')).toBe(0);

    const newEve = identity('Eve');
    expect(await s.register(newEve, NOW + 1)).toBe('ok');
    expect(await s.takeBundle('eve')).toBeUndefined();
    expect(await s.countOpks('eve')).toBe(0);
    expect(await s.pending('eve')).toEqual([]);
    // A freed user's opk ids are free again: they belong to a new identity.
    expect(await s.publishPrekeys('eve', undefined, [{ id: 2, pub: randomBytes(32) }])).toBe('ok');
  });
});

describe('prekeys', () => {
  const spk = (id: number) => ({ id, pub: randomBytes(32), sig: randomBytes(64) });
  const opks = (...ids: number[]) => ids.map((id) => ({ id, pub: randomBytes(32) }));

  test('each one-time prekey is handed out once, oldest first, then none', async () => {
    const s = store();
    const other = store();
    await s.register(identity('Eve'), NOW);
    const signed = spk(1);
    const published = opks(7, 3, 5, 4, 6);
    expect(await s.publishPrekeys('eve', signed, published)).toBe('ok');
    expect(await s.countOpks('eve')).toBe(5);

    const handed: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Alternate two handles on the same file: consumption is in the database, not in memory.
      const b = await (i % 2 === 0 ? s : other).takeBundle('eve');
      expect(b?.spk).toEqual(signed);
      expect(b?.opk?.pub).toEqual(published.find((k) => k.id === b?.opk?.id)?.pub);
      handed.push(b!.opk!.id);
    }
    expect(handed).toEqual([3, 4, 5, 6, 7]);
    expect(await s.countOpks('eve')).toBe(0);
    const last = await s.takeBundle('eve');
    expect(last).toEqual({ spk: signed });
    expect(last).not.toHaveProperty('opk');
  });

  test('no signed prekey, no bundle', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    expect(await s.takeBundle('eve')).toBeUndefined();
    expect(await s.publishPrekeys('eve', undefined, opks(1))).toBe('ok');
    expect(await s.takeBundle('eve')).toBeUndefined();
    expect(await s.countOpks('eve')).toBe(1);
  });

  test('a duplicate id refuses the whole request', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    const first = spk(1);
    expect(await s.publishPrekeys('eve', first, opks(2, 3, 4))).toBe('ok');

    // Duplicate of a stored id, with a new spk and fresh ids in the same request.
    expect(await s.publishPrekeys('eve', spk(10), opks(5, 6, 3))).toBe('duplicate_id');
    expect(await s.countOpks('eve')).toBe(3);
    expect((await s.takeBundle('eve'))?.spk).toEqual(first);
    // Duplicate inside one request.
    expect(await s.publishPrekeys('eve', undefined, opks(8, 8))).toBe('duplicate_id');
    // An id already handed out (2, above) is never accepted again.
    expect(await s.publishPrekeys('eve', undefined, opks(2))).toBe('duplicate_id');
    // The same spk id with other bytes is a reused id; the same bytes again is a harmless retry.
    expect(await s.publishPrekeys('eve', { ...first, pub: randomBytes(32) }, [])).toBe('duplicate_id');
    expect(await s.publishPrekeys('eve', first, [])).toBe('ok');
    // Nothing from the refused requests was stored: their fresh ids are still free.
    expect(await s.publishPrekeys('eve', spk(10), opks(5, 6, 8))).toBe('ok');
    expect(await s.countOpks('eve')).toBe(5);
    expect((await s.takeBundle('eve'))?.spk.id).toBe(10);
  });

  test('ids must be u32; an unknown user cannot publish', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    await expect(s.publishPrekeys('eve', undefined, opks(2 ** 32))).rejects.toMatchObject({
      code: 'bad_message',
    });
    await expect(s.publishPrekeys('eve', undefined, opks(-1))).rejects.toMatchObject({ code: 'bad_message' });
    await expect(s.publishPrekeys('nobody', undefined, opks(1))).rejects.toMatchObject({
      code: 'unknown_user',
    });
  });
});

describe('queue', () => {
  test('arrival order, limit, ack', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    const sent = Array.from({ length: 20 }, (_, i) => envelope('eve', i % 2 === 0 ? 'Adam' : 'Bob', NOW - i));
    for (const e of sent) expect(await s.enqueue(e)).toBe('ok');
    expect(await s.pending('eve')).toEqual(sent);
    expect(await s.pending('eve', 3)).toEqual(sent.slice(0, 3));
    expect(await s.countQueued('eve')).toBe(20);

    expect(await s.ack('eve', sent[1].id)).toBe(true);
    expect(await s.ack('eve', sent[1].id)).toBe(false);
    expect(await s.ack('adam', sent[2].id)).toBe(false); // only the recipient's ack counts
    expect(await s.ack('eve', newId())).toBe(false);
    expect((await s.pending('eve')).map((e) => e.id)).toEqual([sent[0], ...sent.slice(2)].map((e) => e.id));
    expect(await s.countQueued('eve')).toBe(19);
  });

  test('a resend with the same id is a duplicate, stored once', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    const e = envelope('eve', 'Adam');
    expect(await s.enqueue(e)).toBe('ok');
    expect(await s.enqueue({ ...e, env: randomBytes(10) })).toBe('duplicate');
    expect(await s.pending('eve')).toEqual([e]);
  });

  test('an unknown recipient is refused', async () => {
    const s = store();
    await expect(s.enqueue(envelope('nobody', 'Adam'))).rejects.toMatchObject({ code: 'unknown_user' });
  });

  test(`no sender fills more than ${QUEUE_MAX_PER_SENDER} of one recipient's queue`, async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    await s.register(identity('Adam'), NOW);
    fill('eve', () => 'Adam', QUEUE_MAX_PER_SENDER - 2);
    expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
    expect(await s.enqueue(envelope('eve', 'adam'))).toBe('ok');
    expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('queue_full');
    expect(await s.enqueue(envelope('eve', 'ADAM'))).toBe('queue_full'); // counted by canonical name
    expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('ok');
    expect(await s.enqueue(envelope('adam', 'Bob'))).toBe('ok'); // per recipient
    // One ack makes room for one more.
    const [oldest] = await s.pending('eve', 1);
    await s.ack('eve', oldest.id);
    expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
    expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('queue_full');
    expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_SENDER + 1);
  });

  test(`a recipient holds at most ${QUEUE_MAX_PER_RECIPIENT}`, async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    fill('eve', (i) => `sender${i % 20}`, QUEUE_MAX_PER_RECIPIENT - 1);
    expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_RECIPIENT - 1);
    expect(await s.enqueue(envelope('eve', 'Adam'))).toBe('ok');
    expect(await s.enqueue(envelope('eve', 'Bob'))).toBe('queue_full');
    expect(await s.countQueued('eve')).toBe(QUEUE_MAX_PER_RECIPIENT);
    expect(await s.pending('eve')).toHaveLength(QUEUE_MAX_PER_RECIPIENT);
  });

  test('expire deletes envelopes older than 30 days, and only those', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    const old = envelope('eve', 'Adam', NOW - QUEUE_TTL_MS - 1);
    const edge = envelope('eve', 'Adam', NOW - QUEUE_TTL_MS);
    const fresh = envelope('eve', 'Adam', NOW);
    for (const e of [old, edge, fresh]) await s.enqueue(e);
    expect(await s.expire(NOW)).toBe(1);
    expect(await s.pending('eve')).toEqual([edge, fresh]);
    expect(await s.countQueued('eve')).toBe(2);
    expect(await s.expire(NOW)).toBe(0);
  });
});

describe('expiry without an index on ts', () => {
  test('expire reaches every slice of a long queue, old rows among fresh ones', async () => {
    const s = store();
    await s.register(identity('Eve'), NOW);
    // Every third row is old: rows to expire in every slice, the last one partial.
    const n = 2 * EXPIRE_SLICE + 7;
    fill(
      'eve',
      (i) => `sender${i % 50}`,
      n,
      (i) => (i % 3 === 0 ? NOW - QUEUE_TTL_MS - 1 : NOW),
    );
    const old = Math.ceil(n / 3);
    expect(await s.expire(NOW)).toBe(old);
    expect(await s.countQueued('eve')).toBe(n - old);
    expect(await s.expire(NOW)).toBe(0);
    const fresh = envelope('eve', 'Adam');
    expect(await s.enqueue(fresh, { perRecipient: n, perSender: n })).toBe('ok');
    expect(await s.countQueued('eve')).toBe(n - old + 1);
  });

  test('the index on ts of an older relay.db is dropped at open, its queue kept', async () => {
    const first = store();
    await first.register(identity('Eve'), NOW);
    const e = envelope('eve', 'Adam');
    await first.enqueue(e);
    await first.close();
    const raw = new Database(path.join(dir, RELAY_DB_FILE));
    raw.exec('CREATE INDEX queue_ts ON queue (ts)');
    raw.close();
    const again = store();
    expect(await again.pending('eve')).toEqual([e]);
    const probe = new Database(path.join(dir, RELAY_DB_FILE), { readonly: true });
    const indexes = probe
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'queue'")
      .pluck()
      .all();
    probe.close();
    expect(indexes).not.toContain('queue_ts');
  });
});

describe('damaged or unusable files', () => {
  test('a garbage relay.db is corrupt_store and left untouched', () => {
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, RELAY_DB_FILE);
    const garbage = Buffer.from(randomBytes(8192));
    fs.writeFileSync(file, garbage, { mode: 0o600 });
    expectCode(() => openRelayStore(dir), 'corrupt_store');
    expect(fs.readFileSync(file).equals(garbage)).toBe(true);
  });

  test('a truncated relay.db is corrupt_store and left untouched', async () => {
    const s = store();
    for (let i = 0; i < 200; i++) await s.register(identity(`user${i}`), NOW);
    await s.close();
    const file = path.join(dir, RELAY_DB_FILE);
    const whole = fs.readFileSync(file);
    expect(whole.length).toBeGreaterThan(4 * 4096);
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    fs.writeFileSync(file, cut);
    expectCode(() => openRelayStore(dir), 'corrupt_store');
    expect(fs.readFileSync(file).equals(cut)).toBe(true);
  });

  test("another program's SQLite file is corrupt_store and left untouched", () => {
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = path.join(dir, RELAY_DB_FILE);
    const other = new Database(file);
    other.exec('CREATE TABLE notes (t TEXT)');
    other.close();
    const before = fs.readFileSync(file);
    expectCode(() => openRelayStore(dir), 'corrupt_store');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  test('a data dir under a file, or a folder where relay.db should be, is storage_failed', () => {
    const aFile = path.join(tmp, 'plain-file');
    fs.writeFileSync(aFile, 'x');
    expectCode(() => openRelayStore(path.join(aFile, 'server')), 'storage_failed');

    fs.mkdirSync(path.join(dir, RELAY_DB_FILE), { recursive: true });
    expectCode(() => openRelayStore(dir), 'storage_failed');
  });

  test('a read-only data dir is storage_failed', () => {
    fs.mkdirSync(dir, { mode: 0o500 });
    let writable = true;
    try {
      fs.writeFileSync(path.join(dir, 'probe'), '');
    } catch {
      writable = false;
    }
    if (writable) return; // root ignores permissions; the mapping of SQLITE_READONLY is tested below
    expectCode(() => openRelayStore(dir), 'storage_failed');
  });

  test('SQLITE_READONLY from a real write is mapped to storage_failed', async () => {
    await store().close();
    const ro = new Database(path.join(dir, RELAY_DB_FILE), { readonly: true });
    let caught: unknown;
    try {
      ro.exec('DELETE FROM users');
    } catch (err) {
      caught = storageError(err, 'relay store', 'relay.db', 'test');
    }
    ro.close();
    expect(caught).toMatchObject({ code: 'storage_failed' });
    expect((caught as Error).message).toMatch(/read-only/);
  });
});
