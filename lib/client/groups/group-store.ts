/**
 * What the client keeps about its groups (docs/protocol.md section 10.6), in the client's one
 * SQLite file so that a transaction spans it and the rest (a ratchet step and the group change it
 * carried; a sender chain step and the group message it sealed): each group's state (the fold
 * inputs of state.ts: base, log, pending), our own sender key per group and the key ids we used,
 * every other member's sender key record, which of our distributions the relay took, the group
 * messages sealed and not yet taken by the relay for every recipient, and receipt counts.
 *
 * Secrets (chain keys, signing keys) live in this 0600 file, like the ratchet sessions.
 */
import { ChatError } from '../../errors';
import { bytes, type SqliteDb } from '../../sqlite-db';
import type { GroupReceipts } from './receipts';
import type { GroupState } from './state';

/** Schema 3 (client store): the columns added to schema 2's tables (all nullable: old rows keep theirs). */
const GROUP_COLUMNS: readonly [table: string, column: string, type: string][] = [
  ['messages', 'group_id', 'TEXT'],
  ['messages', 'sender', 'TEXT'],
  ['unsent', 'inner', 'TEXT'],
];

/** Schema 3's new tables (IF NOT EXISTS: the migration may meet a file that has some already). */
const GROUP_TABLES = `
CREATE TABLE IF NOT EXISTS groups (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  member INTEGER NOT NULL,
  own_key TEXT,
  used_key_ids TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_peer_keys (
  group_id TEXT NOT NULL,
  member TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (group_id, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_key_sent (
  group_id TEXT NOT NULL,
  member TEXT NOT NULL,
  key_id INTEGER NOT NULL,
  outbox_id TEXT NOT NULL,
  taken INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (group_id, member, key_id)
);
CREATE INDEX IF NOT EXISTS group_key_sent_by_outbox ON group_key_sent (outbox_id);
CREATE TABLE IF NOT EXISTS group_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  group_id TEXT NOT NULL,
  key_id INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS group_outbox_to (
  id TEXT NOT NULL,
  member TEXT NOT NULL,
  PRIMARY KEY (id, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_inner_out (
  id TEXT PRIMARY KEY,
  peer TEXT NOT NULL,
  peer_name TEXT NOT NULL,
  inner TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_early (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id TEXT NOT NULL,
  from_name TEXT NOT NULL,
  change TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS group_receipts (
  id TEXT PRIMARY KEY,
  group_id TEXT NOT NULL,
  data TEXT NOT NULL
);
`;

/** A fresh file: appended to the schema 2 tables. */
export const GROUP_SCHEMA = `${GROUP_COLUMNS.map(([t, c, ty]) => `ALTER TABLE ${t} ADD COLUMN ${c} ${ty};`).join('\n')}
${GROUP_TABLES}`;

/** Schema 2 → 3, in the migration's transaction: what is missing is added; nothing is rewritten. */
export function migrateToGroups(db: SqliteDb): void {
  for (const [table, column, type] of GROUP_COLUMNS) {
    const cols = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
    if (!cols.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
  db.exec(GROUP_TABLES);
}

export interface StoredGroup {
  readonly id: string;
  /** Creation/join order. */
  readonly seq: number;
  readonly state: GroupState;
  /** False once we left or were removed (the history stays). */
  readonly member: boolean;
  /** Our sender key (sender-keys.ts storage form); undefined when not a member. */
  readonly ownKey?: string;
  /** Every key id we used in this group: never drawn again. */
  readonly usedKeyIds: readonly number[];
}

/** A group message sealed once, waiting for the relay to take it for `waiting`. */
export interface GroupOutgoing {
  readonly id: string;
  readonly group: string;
  readonly keyId: number;
  /** The exact bytes; a resend transmits these and never re-encrypts. */
  readonly envelope: Uint8Array;
  readonly createdAt: number;
  /** Canonical names of the recipients the relay has not taken it for yet. */
  readonly waiting: readonly string[];
}

export interface GroupStore {
  groupList(): StoredGroup[];
  group(id: string): StoredGroup | undefined;
  /** Insert or replace (the creation order stays). */
  saveGroup(g: Omit<StoredGroup, 'seq'>): void;

  peerKey(group: string, member: string): string | undefined;
  savePeerKey(group: string, member: string, record: string): void;
  /** Who we hold a sender key record from in `group`. */
  peerKeyHolders(group: string): string[];
  /** Forget members' sender keys (all of the group's when `members` is absent). */
  deletePeerKeys(group: string, members?: readonly string[]): void;
  /** Sender key records held for groups we hold no state of (a key that came before the state). */
  countOrphanPeerKeys(): number;

  /** Our distribution of `keyId` to `member` is in the pairwise outbox as `outboxId`. */
  keyQueued(group: string, member: string, keyId: number, outboxId: string): void;
  /** The relay took the pairwise envelope `outboxId`; true if it was one of our distributions. */
  keyTaken(outboxId: string): boolean;
  /** The relay took our distribution of `keyId` to `member` (so it reaches them before messages under it). */
  keyReady(group: string, member: string, keyId: number): boolean;
  /** Whether a distribution of `keyId` to `member` was queued at all. */
  keyQueuedFor(group: string, member: string, keyId: number): boolean;
  /** Forget what we distributed to `member` (a new identity: it must get the key again). */
  forgetKeysSent(group: string, member: string): void;

  queueGroupOutgoing(rec: Omit<GroupOutgoing, 'waiting'>, to: readonly string[]): void;
  /** Oldest first. */
  pendingGroupOutgoing(): GroupOutgoing[];
  countGroupOutgoing(): number;
  groupOutgoing(id: string): GroupOutgoing | undefined;
  /** Taken (or refused for good) for `member`; the entry goes when nobody waits. True if it waited. */
  groupOutgoingDone(id: string, member: string): boolean;

  /**
   * A pairwise group inner message sealed into the outbox as `id`, kept until the relay takes it:
   * refused for a changed identity, it is sealed again after `/accept` (like a text).
   */
  keepSealedInner(id: string, peer: string, peerName: string, inner: string): void;
  sealedInner(id: string): { peer: string; peerName: string; inner: string } | undefined;
  forgetSealedInner(id: string): void;

  /** A change for a group we hold no state of yet (it overtook the state that adds us). */
  holdEarlyChange(group: string, from: string, change: string): void;
  countEarlyChanges(): number;
  /** Removes and returns them, in arrival order. */
  takeEarlyChanges(group: string): { from: string; change: string }[];

  trackReceipts(id: string, group: string, r: GroupReceipts): void;
  receipts(id: string): { group: string; receipts: GroupReceipts } | undefined;
}

interface GroupRow {
  seq: number;
  id: string;
  state: string;
  member: number;
  own_key: string | null;
  used_key_ids: string;
}

function parseStored<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ChatError('corrupt_store', `a stored ${what} is not JSON`, 'store.groups');
  }
}

function toGroup(r: GroupRow): StoredGroup {
  const state = parseStored<GroupState>(r.state, 'group state');
  if (typeof state !== 'object' || state === null || state.id !== r.id || !Array.isArray(state.members)) {
    throw new ChatError('corrupt_store', 'a stored group state is malformed', 'store.groups');
  }
  return {
    id: r.id,
    seq: r.seq,
    state,
    member: r.member === 1,
    ...(r.own_key !== null ? { ownKey: r.own_key } : {}),
    usedKeyIds: parseStored<number[]>(r.used_key_ids, 'key id list'),
  };
}

type Run = <T>(operation: string, fn: () => T) => T;

export class SqliteGroupStore implements GroupStore {
  private readonly q;

  constructor(
    db: SqliteDb,
    private readonly run: Run,
    private readonly atomically: Run,
  ) {
    this.q = {
      all: db.prepare('SELECT * FROM groups ORDER BY seq'),
      get: db.prepare('SELECT * FROM groups WHERE id = ?'),
      upsert: db.prepare(
        `INSERT INTO groups (id, state, member, own_key, used_key_ids) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, member = excluded.member,
           own_key = excluded.own_key, used_key_ids = excluded.used_key_ids`,
      ),
      peerGet: db.prepare('SELECT record FROM group_peer_keys WHERE group_id = ? AND member = ?'),
      peerSet: db.prepare(
        `INSERT INTO group_peer_keys (group_id, member, record) VALUES (?, ?, ?)
         ON CONFLICT (group_id, member) DO UPDATE SET record = excluded.record`,
      ),
      holders: db.prepare('SELECT member FROM group_peer_keys WHERE group_id = ? ORDER BY member'),
      peerDeleteAll: db.prepare('DELETE FROM group_peer_keys WHERE group_id = ?'),
      peerDelete: db.prepare('DELETE FROM group_peer_keys WHERE group_id = ? AND member = ?'),
      orphans: db.prepare(
        'SELECT count(*) AS n FROM group_peer_keys WHERE group_id NOT IN (SELECT id FROM groups)',
      ),
      keyQueued: db.prepare(
        `INSERT INTO group_key_sent (group_id, member, key_id, outbox_id, taken) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT DO UPDATE SET outbox_id = excluded.outbox_id, taken = 0`,
      ),
      keyTaken: db.prepare('UPDATE group_key_sent SET taken = 1 WHERE outbox_id = ?'),
      keyReady: db.prepare(
        'SELECT taken FROM group_key_sent WHERE group_id = ? AND member = ? AND key_id = ?',
      ),
      keyForget: db.prepare('DELETE FROM group_key_sent WHERE group_id = ? AND member = ?'),
      outInsert: db.prepare(
        'INSERT INTO group_outbox (id, group_id, key_id, envelope, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      outToInsert: db.prepare('INSERT INTO group_outbox_to (id, member) VALUES (?, ?)'),
      outAll: db.prepare('SELECT * FROM group_outbox ORDER BY seq'),
      outGet: db.prepare('SELECT * FROM group_outbox WHERE id = ?'),
      outCount: db.prepare('SELECT count(*) AS n FROM group_outbox'),
      outTo: db.prepare('SELECT member FROM group_outbox_to WHERE id = ? ORDER BY member'),
      outToDelete: db.prepare('DELETE FROM group_outbox_to WHERE id = ? AND member = ?'),
      outToLeft: db.prepare('SELECT 1 FROM group_outbox_to WHERE id = ? LIMIT 1'),
      outDelete: db.prepare('DELETE FROM group_outbox WHERE id = ?'),
      innerKeep: db.prepare(
        'INSERT OR REPLACE INTO group_inner_out (id, peer, peer_name, inner) VALUES (?, ?, ?, ?)',
      ),
      innerGet: db.prepare('SELECT peer, peer_name, inner FROM group_inner_out WHERE id = ?'),
      innerForget: db.prepare('DELETE FROM group_inner_out WHERE id = ?'),
      earlyInsert: db.prepare('INSERT INTO group_early (group_id, from_name, change) VALUES (?, ?, ?)'),
      earlyCount: db.prepare('SELECT count(*) AS n FROM group_early'),
      earlyAll: db.prepare('SELECT from_name, change FROM group_early WHERE group_id = ? ORDER BY seq'),
      earlyDelete: db.prepare('DELETE FROM group_early WHERE group_id = ?'),
      rcptSet: db.prepare(
        `INSERT INTO group_receipts (id, group_id, data) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET data = excluded.data`,
      ),
      rcptGet: db.prepare('SELECT group_id, data FROM group_receipts WHERE id = ?'),
    };
  }

  groupList(): StoredGroup[] {
    return this.run('store.groupList', () => (this.q.all.all() as GroupRow[]).map(toGroup));
  }

  group(id: string): StoredGroup | undefined {
    return this.run('store.group', () => {
      const r = this.q.get.get(id) as GroupRow | undefined;
      return r === undefined ? undefined : toGroup(r);
    });
  }

  saveGroup(g: Omit<StoredGroup, 'seq'>): void {
    this.run('store.saveGroup', () => {
      this.q.upsert.run(
        g.id,
        JSON.stringify(g.state),
        g.member ? 1 : 0,
        g.ownKey ?? null,
        JSON.stringify(g.usedKeyIds),
      );
    });
  }

  peerKey(group: string, member: string): string | undefined {
    return this.run(
      'store.peerKey',
      () => (this.q.peerGet.get(group, member) as { record: string } | undefined)?.record,
    );
  }

  savePeerKey(group: string, member: string, record: string): void {
    this.run('store.savePeerKey', () => {
      this.q.peerSet.run(group, member, record);
    });
  }

  peerKeyHolders(group: string): string[] {
    return this.run('store.peerKeyHolders', () =>
      (this.q.holders.all(group) as { member: string }[]).map((r) => r.member),
    );
  }

  deletePeerKeys(group: string, members?: readonly string[]): void {
    this.atomically('store.deletePeerKeys', () => {
      if (members === undefined) this.q.peerDeleteAll.run(group);
      else for (const m of members) this.q.peerDelete.run(group, m);
    });
  }

  countOrphanPeerKeys(): number {
    return this.run('store.countOrphanPeerKeys', () => (this.q.orphans.get() as { n: number }).n);
  }

  keyQueued(group: string, member: string, keyId: number, outboxId: string): void {
    this.run('store.keyQueued', () => {
      this.q.keyQueued.run(group, member, keyId, outboxId);
    });
  }

  keyTaken(outboxId: string): boolean {
    return this.run('store.keyTaken', () => this.q.keyTaken.run(outboxId).changes > 0);
  }

  keyReady(group: string, member: string, keyId: number): boolean {
    return this.run(
      'store.keyReady',
      () => (this.q.keyReady.get(group, member, keyId) as { taken: number } | undefined)?.taken === 1,
    );
  }

  keyQueuedFor(group: string, member: string, keyId: number): boolean {
    return this.run('store.keyQueuedFor', () => this.q.keyReady.get(group, member, keyId) !== undefined);
  }

  forgetKeysSent(group: string, member: string): void {
    this.run('store.forgetKeysSent', () => {
      this.q.keyForget.run(group, member);
    });
  }

  queueGroupOutgoing(rec: Omit<GroupOutgoing, 'waiting'>, to: readonly string[]): void {
    this.atomically('store.queueGroupOutgoing', () => {
      // Never replaces stored bytes (an id already queued is a bug): the insert fails on UNIQUE.
      this.q.outInsert.run(rec.id, rec.group, rec.keyId, rec.envelope, rec.createdAt);
      for (const m of to) this.q.outToInsert.run(rec.id, m);
    });
  }

  private toOutgoing(r: {
    id: string;
    group_id: string;
    key_id: number;
    envelope: Buffer;
    created_at: number;
  }): GroupOutgoing {
    return {
      id: r.id,
      group: r.group_id,
      keyId: r.key_id,
      envelope: bytes(r.envelope),
      createdAt: r.created_at,
      waiting: (this.q.outTo.all(r.id) as { member: string }[]).map((x) => x.member),
    };
  }

  pendingGroupOutgoing(): GroupOutgoing[] {
    return this.run('store.pendingGroupOutgoing', () =>
      (this.q.outAll.all() as Parameters<SqliteGroupStore['toOutgoing']>[0][]).map((r) => this.toOutgoing(r)),
    );
  }

  countGroupOutgoing(): number {
    return this.run('store.countGroupOutgoing', () => (this.q.outCount.get() as { n: number }).n);
  }

  groupOutgoing(id: string): GroupOutgoing | undefined {
    return this.run('store.groupOutgoing', () => {
      const r = this.q.outGet.get(id) as Parameters<SqliteGroupStore['toOutgoing']>[0] | undefined;
      return r === undefined ? undefined : this.toOutgoing(r);
    });
  }

  groupOutgoingDone(id: string, member: string): boolean {
    return this.atomically('store.groupOutgoingDone', () => {
      const was = this.q.outToDelete.run(id, member).changes === 1;
      if (this.q.outToLeft.get(id) === undefined) this.q.outDelete.run(id);
      return was;
    });
  }

  keepSealedInner(id: string, peer: string, peerName: string, inner: string): void {
    this.run('store.keepSealedInner', () => {
      this.q.innerKeep.run(id, peer, peerName, inner);
    });
  }

  sealedInner(id: string): { peer: string; peerName: string; inner: string } | undefined {
    return this.run('store.sealedInner', () => {
      const r = this.q.innerGet.get(id) as { peer: string; peer_name: string; inner: string } | undefined;
      return r === undefined ? undefined : { peer: r.peer, peerName: r.peer_name, inner: r.inner };
    });
  }

  forgetSealedInner(id: string): void {
    this.run('store.forgetSealedInner', () => {
      this.q.innerForget.run(id);
    });
  }

  holdEarlyChange(group: string, from: string, change: string): void {
    this.run('store.holdEarlyChange', () => {
      this.q.earlyInsert.run(group, from, change);
    });
  }

  countEarlyChanges(): number {
    return this.run('store.countEarlyChanges', () => (this.q.earlyCount.get() as { n: number }).n);
  }

  takeEarlyChanges(group: string): { from: string; change: string }[] {
    return this.atomically('store.takeEarlyChanges', () => {
      const rows = this.q.earlyAll.all(group) as { from_name: string; change: string }[];
      this.q.earlyDelete.run(group);
      return rows.map((r) => ({ from: r.from_name, change: r.change }));
    });
  }

  trackReceipts(id: string, group: string, r: GroupReceipts): void {
    this.run('store.trackReceipts', () => {
      this.q.rcptSet.run(id, group, JSON.stringify(r));
    });
  }

  receipts(id: string): { group: string; receipts: GroupReceipts } | undefined {
    return this.run('store.receipts', () => {
      const r = this.q.rcptGet.get(id) as { group_id: string; data: string } | undefined;
      return r === undefined
        ? undefined
        : { group: r.group_id, receipts: parseStored<GroupReceipts>(r.data, 'receipt count') };
    });
  }
}
