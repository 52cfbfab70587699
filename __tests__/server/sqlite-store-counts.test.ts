/**
 * The relay store's write pattern (issue 12): queue counts live in memory, rebuilt from the queue
 * at open, so a restart keeps every cap; a relay.db made with the trigger-kept counter tables
 * loses them at open and keeps its queue; no trigger writes anything per message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { randomBytes, toHex } from '../../lib/crypto/primitives';
import { canonName } from '../../lib/names';
import { EMPTY_KEPT } from '../../lib/server/per-recipient';
import { openRelayStore, RELAY_DB_FILE } from '../../lib/server/sqlite-store';
import type { NewUser, QueuedEnvelope, RelayStore } from '../../lib/server/store';

const NOW = 1_700_000_000_000;
let dir: string;
const open: RelayStore[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatsecure-counts-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(): RelayStore {
  const s = openRelayStore(dir);
  open.push(s);
  return s;
}

function identity(name: string): NewUser {
  return {
    name,
    canon: canonName(name),
    signKey: randomBytes(32),
    dhKey: randomBytes(32),
    idcert: randomBytes(64),
  };
}

const envelope = (to: string, from: string): QueuedEnvelope => ({
  id: toHex(randomBytes(16)),
  to,
  from,
  env: randomBytes(32),
  ts: NOW,
});

const caps = { perRecipient: 5, perSender: 3 };

it('rebuilds the counts at open: caps hold across a restart, and an ack frees one place', async () => {
  const a = store();
  await a.register(identity('Eve'), NOW);
  const sent = [];
  for (let i = 0; i < 3; i++) {
    const e = envelope('eve', 'Adam');
    sent.push(e);
    expect(await a.enqueue(e, caps)).toBe('ok');
  }
  expect(await a.enqueue(envelope('eve', 'Bob'), caps)).toBe('ok');
  await a.close();
  open.splice(0);

  const b = store();
  expect(await b.countQueued('eve')).toBe(4);
  expect(await b.enqueue(envelope('eve', 'Adam'), caps)).toBe('queue_full');
  expect(await b.enqueue(envelope('eve', 'Bob'), caps)).toBe('ok');
  expect(await b.enqueue(envelope('eve', 'Carol'), caps)).toBe('queue_full');
  expect(await b.ack('eve', sent[0].id)).toBe(true);
  expect(await b.ack('eve', sent[0].id)).toBe(false);
  expect(await b.countQueued('eve')).toBe(4);
  expect(await b.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
  expect(await b.enqueue(envelope('eve', 'Adam'), caps)).toBe('queue_full');
});

it('drops the trigger-kept counter tables of an older relay.db at open and keeps its queue', async () => {
  const a = store();
  await a.register(identity('Eve'), NOW);
  await a.close();
  open.splice(0);
  // The counter tables and triggers as the first schema made them, with one envelope counted.
  const raw = new Database(path.join(dir, RELAY_DB_FILE));
  raw.exec(`
    CREATE TABLE queue_totals (to_canon TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE queue_per_sender (to_canon TEXT NOT NULL, from_canon TEXT NOT NULL, n INTEGER NOT NULL,
      PRIMARY KEY (to_canon, from_canon)) WITHOUT ROWID;
    CREATE TRIGGER queue_counted AFTER INSERT ON queue BEGIN
      INSERT INTO queue_totals VALUES (new.to_canon, 1) ON CONFLICT (to_canon) DO UPDATE SET n = n + 1;
    END;`);
  raw
    .prepare('INSERT INTO queue (id, to_canon, from_name, from_canon, env, ts) VALUES (?, ?, ?, ?, ?, ?)')
    .run(toHex(randomBytes(16)), 'eve', 'Adam', 'adam', randomBytes(8), NOW);
  raw.close();

  const b = store();
  expect(await b.countQueued('eve')).toBe(1);
  expect(await b.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
  expect(await b.pending('eve')).toHaveLength(2);
  await b.close();
  open.splice(0);
  const check = new Database(path.join(dir, RELAY_DB_FILE), { readonly: true });
  const objects = check
    .prepare("SELECT type, name FROM sqlite_master WHERE type = 'trigger' OR name LIKE 'queue_%'")
    .all() as { type: string; name: string }[];
  check.close();
  expect(objects.filter((o) => o.type === 'trigger')).toEqual([]);
  expect(objects.map((o) => o.name)).not.toContain('queue_totals');
  expect(objects.map((o) => o.name)).not.toContain('queue_per_sender');
});

it('an ack frees its own sender place, also when another handle replaced the envelope since', async () => {
  const a = store();
  const b = store();
  await a.register(identity('Eve'), NOW);
  // Enqueued here: its sender is known in memory, so the ack's delete reads nothing back.
  const mine = envelope('eve', 'Adam');
  expect(await a.enqueue(mine, caps)).toBe('ok');
  expect(await a.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
  // The other handle acks it and stores the same id again from another sender.
  expect(await b.ack('eve', mine.id)).toBe(true);
  expect(await b.enqueue({ ...mine, from: 'Bob' }, caps)).toBe('ok');
  // The ack here must free Bob's place, not Adam's.
  expect(await a.ack('eve', mine.id)).toBe(true);
  expect(await a.ack('eve', mine.id)).toBe(false);
  expect(await a.countQueued('eve')).toBe(1);
  // Bob has his three places again (freeing Adam's would have left him two), Adam one of his.
  for (let i = 0; i < 3; i++) expect(await a.enqueue(envelope('eve', 'Bob'), caps)).toBe('ok');
  expect(await a.enqueue(envelope('eve', 'Bob'), caps)).toBe('queue_full');
  expect(await a.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
  expect(await a.countQueued('eve')).toBe(5);
});

it('keeps the caps exact when the recipients emptied by acks are pruned (past EMPTY_KEPT)', async () => {
  const s = store();
  await s.register(identity('Adam'), NOW);
  await s.register(identity('Eve'), NOW);
  // Eve holds her per-sender cap from Adam throughout.
  for (let i = 0; i < caps.perSender; i++) expect(await s.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
  // More recipients than EMPTY_KEPT each get one envelope from Adam and ack it.
  for (let i = 0; i <= EMPTY_KEPT; i++) {
    const name = `R${i}`;
    await s.register(identity(name), NOW);
    const e = envelope(canonName(name), 'Adam');
    expect(await s.enqueue(e, caps)).toBe('ok');
    expect(await s.ack(e.to, e.id)).toBe(true);
  }
  // A new recipient past the bound prunes the emptied ones; Eve's count is intact.
  await s.register(identity('Tom'), NOW);
  expect(await s.enqueue(envelope('tom', 'Adam'), caps)).toBe('ok');
  expect(await s.enqueue(envelope('eve', 'Adam'), caps)).toBe('queue_full');
  expect(await s.countQueued('eve')).toBe(caps.perSender);
  // An emptied recipient counts from zero again.
  for (let i = 0; i < caps.perSender; i++) expect(await s.enqueue(envelope('r0', 'Adam'), caps)).toBe('ok');
  expect(await s.enqueue(envelope('r0', 'Adam'), caps)).toBe('queue_full');
  const [first] = await s.pending('eve', 1);
  expect(await s.ack('eve', first.id)).toBe(true);
  expect(await s.enqueue(envelope('eve', 'Adam'), caps)).toBe('ok');
});
