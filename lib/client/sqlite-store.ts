/**
 * The default ClientStore: one SQLite file, `<dir>/client.db` (see ../sqlite-db.ts for open,
 * modes, WAL + synchronous = FULL and error mapping). `secure_delete` is on, so a deleted message
 * key or prekey secret is overwritten in the file rather than left in a free page (forward
 * secrecy, PROTOCOL.md section 8).
 *
 * One class per store of store.ts (outbox, messages, contacts, sessions, prekeys), each with its
 * own statements over the one database, so a transaction spans them all; `SqliteClientStore`
 * only puts them together.
 */
import { ChatError } from '../errors';
import { canonName } from '../names';
import { constantTimeEqual } from '../crypto/primitives';
import { bytes, guarded, isSqliteError, openSqliteFile, storageError, type SqliteDb } from '../sqlite-db';
import { GROUP_SCHEMA, migrateToGroups, SqliteGroupStore, type GroupStore } from './groups/group-store';
import {
  ARCHIVED_SESSIONS_MAX,
  HELD_PER_CONTACT_MAX,
  SEEN_TTL_MS,
  type ClientStore,
  type Contact,
  type Conversation,
  type Direction,
  type HeldEnvelope,
  type HoldResult,
  type Identity,
  type KeyValue,
  type MessageRecord,
  type MessageState,
  type NewMessage,
  type OneTimePrekeySecret,
  type OutgoingRecord,
  type PinResult,
  type SessionRecord,
  type SignedPrekeySecret,
  type UnsentText,
  type ContactStore,
  type MessageStore,
  type OutboxStore,
  type PreKeyStore,
  type SessionStore,
  type SentStatus,
} from './store';

export const CLIENT_DB_FILE = 'client.db';
const WHAT = 'client store';
/** 'CSCL' */
const CLIENT_APPLICATION_ID = 0x4353434c;
/**
 * 2: texts not sealed yet moved from a JSON value in `settings` to the `unsent` table.
 * 3: groups (lib/client/groups/group-store.ts): group columns in `messages` and `unsent`, and the
 * group tables.
 */
const CLIENT_SCHEMA_VERSION = 3;
const U32_MAX = 0xffff_ffff;
const FIRST_PREKEY_ID = 1;

/** Schema 2: texts not sealed yet, in the order they were typed. */
const UNSENT_TABLE = `
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
`;

const SCHEMA = `
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  to_name TEXT NOT NULL,
  envelope BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
${UNSENT_TABLE}CREATE TABLE messages (
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
${GROUP_SCHEMA}`;

/** Order of message states; a state never moves to a lower rank. */
function stateRank(state: MessageState): number {
  switch (state) {
    case 'sending':
      return 0;
    case 'sent':
    case 'queued':
      return 1;
    case 'delivered':
      return 2;
    case 'read':
      return 3;
    case 'failed':
      return 9;
    case 'received':
      return 0;
    case 'shown':
      return 1;
  }
}

function stateDirection(state: MessageState): Direction {
  switch (state) {
    case 'sending':
    case 'sent':
    case 'queued':
    case 'delivered':
    case 'read':
    case 'failed':
      return 'out';
    case 'received':
    case 'shown':
      return 'in';
  }
}

interface MessageRow {
  seq: number;
  peer: string;
  peer_name: string;
  id: string;
  direction: Direction;
  body: string;
  ts: number;
  local_ts: number;
  state: MessageState;
  group_id: string | null;
  sender: string | null;
}

interface ContactRow {
  canon: string;
  name: string;
  sign_key: Buffer;
  dh_key: Buffer;
  idcert: Buffer;
  verified: number;
  pinned_at: number;
  pending_name: string | null;
  pending_sign_key: Buffer | null;
  pending_dh_key: Buffer | null;
  pending_idcert: Buffer | null;
}

interface HeldRow {
  id: string;
  from_name: string;
  env: Buffer;
  ts: number;
}

interface OutboxRow {
  id: string;
  to_name: string;
  envelope: Buffer;
  created_at: number;
}

function toOutgoing(r: OutboxRow): OutgoingRecord {
  return { id: r.id, to: r.to_name, envelope: bytes(r.envelope), createdAt: r.created_at };
}

function toMessage(r: MessageRow): MessageRecord {
  return {
    seq: r.seq,
    id: r.id,
    peer: r.peer,
    peerName: r.peer_name,
    direction: r.direction,
    body: r.body,
    ts: r.ts,
    localTs: r.local_ts,
    state: r.state,
    ...(r.group_id !== null ? { group: r.group_id } : {}),
    ...(r.sender !== null ? { sender: r.sender } : {}),
  };
}

function toContact(r: ContactRow): Contact {
  const pending: Identity | undefined =
    r.pending_sign_key !== null && r.pending_dh_key !== null && r.pending_idcert !== null
      ? {
          name: r.pending_name ?? r.name,
          canon: r.canon,
          signKey: bytes(r.pending_sign_key),
          dhKey: bytes(r.pending_dh_key),
          idcert: bytes(r.pending_idcert),
        }
      : undefined;
  const verified = r.verified === 1;
  return {
    name: r.name,
    canon: r.canon,
    signKey: bytes(r.sign_key),
    dhKey: bytes(r.dh_key),
    idcert: bytes(r.idcert),
    verified,
    state: pending !== undefined ? 'changed' : verified ? 'verified' : 'unverified',
    ...(pending !== undefined ? { pendingIdentity: pending } : {}),
    pinnedAt: r.pinned_at,
  };
}

function toHeld(r: HeldRow): HeldEnvelope {
  return { id: r.id, from: r.from_name, env: bytes(r.env), ts: r.ts };
}

function sameIdentity(a: { sign_key: Uint8Array; dh_key: Uint8Array }, b: Identity): boolean {
  // Both compared, constant time, no short cut: a pin check must not leak which half differs.
  const s = constantTimeEqual(a.sign_key, b.signKey);
  const d = constantTimeEqual(a.dh_key, b.dhKey);
  return s && d;
}

function checkPrekeyId(id: number, operation: string): void {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX) {
    throw new ChatError('bad_state', 'a prekey id is an unsigned 32-bit integer', operation);
  }
}

interface UnsentRow {
  id: string;
  peer: string;
  peer_name: string;
  body: string;
  ts: number;
  inner: string | null;
}

function toUnsent(r: UnsentRow): UnsentText {
  return {
    id: r.id,
    peer: r.peer,
    peerName: r.peer_name,
    body: r.body,
    ts: r.ts,
    ...(r.inner !== null ? { inner: r.inner } : {}),
  };
}

/** The key under which schema 1 kept texts not sealed yet, as one JSON array. */
const V1_UNSENT_KEY = 'unsent';

/**
 * Schema 1 → 2: the JSON array of unsent texts becomes rows of `unsent`, in the same order. An
 * entry that is not a text (a damaged value) stops the migration: the file is left as it was.
 */
function migrate(db: SqliteDb, from: number): void {
  if (from !== 1 && from !== 2)
    throw new ChatError('corrupt_store', `no migration from client schema ${from}`, 'store.open');
  if (from === 1) migrateUnsent(db);
  // Schema 2 → 3: groups; every row already stored keeps its values (the new columns are NULL).
  migrateToGroups(db);
}

function migrateUnsent(db: SqliteDb): void {
  db.exec(UNSENT_TABLE);
  const row = db.prepare('SELECT value FROM settings WHERE key = ?').get(V1_UNSENT_KEY) as
    { value: string } | undefined;
  if (row === undefined) return;
  let list: unknown;
  try {
    list = JSON.parse(row.value);
  } catch {
    list = undefined;
  }
  const isText = (u: unknown): u is UnsentText => {
    const o = u as Record<string, unknown>;
    return (
      typeof o === 'object' &&
      o !== null &&
      typeof o.id === 'string' &&
      typeof o.peer === 'string' &&
      typeof o.peerName === 'string' &&
      typeof o.body === 'string' &&
      typeof o.ts === 'number'
    );
  };
  if (!Array.isArray(list) || !list.every(isText)) {
    throw new ChatError(
      'corrupt_store',
      'the unsent texts of this client store cannot be read; it was left untouched',
      'store.open',
    );
  }
  const insert = db.prepare(
    'INSERT INTO unsent (peer, id, peer_name, body, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  for (const u of list) insert.run(u.peer, u.id, u.peerName, u.body, u.ts);
  db.prepare('DELETE FROM settings WHERE key = ?').run(V1_UNSENT_KEY);
}

/**
 * Open (or create) `<dir>/client.db`; `dir` is created 0700, the file 0600. With `key` (lib/db-key.ts)
 * the file is encrypted, and a plain one is converted once (lib/sqlite-encrypt.ts).
 */
export function openClientStore(dir: string, opts: { key?: Uint8Array } = {}): ClientStore {
  const db = openSqliteFile(
    dir,
    CLIENT_DB_FILE,
    {
      what: WHAT,
      applicationId: CLIENT_APPLICATION_ID,
      schemaVersion: CLIENT_SCHEMA_VERSION,
      schema: SCHEMA,
      secureDelete: true,
      migrate,
    },
    opts,
  );
  return new SqliteClientStore(db, `${dir}/${CLIENT_DB_FILE}`);
}

/** What every store of one file shares: the handle, the closed flag and the error mapping. */
class Conn {
  closed = false;

  constructor(
    readonly db: SqliteDb,
    readonly file: string,
  ) {}

  /** Every operation: refused after close, and SQLite failures mapped to ChatErrors. */
  run<T>(operation: string, fn: () => T): T {
    if (this.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, operation);
    return guarded(WHAT, this.file, operation, fn);
  }

  /** A multi-statement operation: one transaction (a savepoint when nested in `transaction`). */
  atomically<T>(operation: string, fn: () => T): T {
    return this.run(operation, () => this.db.transaction(fn)());
  }
}

class SqliteOutboxStore implements OutboxStore {
  private readonly q;

  constructor(private readonly c: Conn) {
    const db = c.db;
    this.q = {
      has: db.prepare('SELECT 1 FROM outbox WHERE id = ?'),
      insert: db.prepare('INSERT INTO outbox (id, to_name, envelope, created_at) VALUES (?, ?, ?, ?)'),
      all: db.prepare('SELECT id, to_name, envelope, created_at FROM outbox ORDER BY seq LIMIT ?'),
      get: db.prepare('SELECT id, to_name, envelope, created_at FROM outbox WHERE id = ?'),
      delete: db.prepare('DELETE FROM outbox WHERE id = ?'),
      unsentInsert: db.prepare(
        'INSERT INTO unsent (peer, id, peer_name, body, ts, inner) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      unsentFor: db.prepare('SELECT * FROM unsent WHERE peer = ? ORDER BY seq'),
      unsentPeers: db.prepare('SELECT peer FROM unsent GROUP BY peer ORDER BY min(seq)'),
      unsentHas: db.prepare('SELECT 1 FROM unsent WHERE peer = ? LIMIT 1'),
      unsentCount: db.prepare('SELECT count(*) AS n FROM unsent'),
      unsentDelete: db.prepare('DELETE FROM unsent WHERE peer = ? AND id = ?'),
    };
  }

  queueOutgoing(rec: OutgoingRecord): void {
    this.c.atomically('store.queueOutgoing', () => {
      // Never replace stored bytes: a resend must transmit exactly what was stored (section 8).
      if (this.q.has.get(rec.id) !== undefined) {
        throw new ChatError(
          'bad_state',
          'an outgoing envelope with this id is already in the outbox',
          'store.queueOutgoing',
        );
      }
      this.q.insert.run(rec.id, rec.to, rec.envelope, rec.createdAt);
    });
  }

  pendingOutgoing(limit?: number): OutgoingRecord[] {
    return this.c.run('store.pendingOutgoing', () =>
      // LIMIT -1 is SQLite's "no limit".
      (this.q.all.all(limit ?? -1) as OutboxRow[]).map(toOutgoing),
    );
  }

  outgoing(id: string): OutgoingRecord | undefined {
    return this.c.run('store.outgoing', () => {
      const r = this.q.get.get(id) as OutboxRow | undefined;
      return r === undefined ? undefined : toOutgoing(r);
    });
  }

  // The status is the history's business (setState); the outbox only needs to forget the envelope.
  markSent(id: string, _status?: SentStatus): boolean {
    return this.c.run('store.markSent', () => this.q.delete.run(id).changes === 1);
  }

  queueUnsent(t: UnsentText): void {
    this.c.run('store.queueUnsent', () => {
      this.q.unsentInsert.run(t.peer, t.id, t.peerName, t.body, t.ts, t.inner ?? null);
    });
  }

  unsentFor(peer: string): UnsentText[] {
    return this.c.run('store.unsentFor', () => (this.q.unsentFor.all(peer) as UnsentRow[]).map(toUnsent));
  }

  unsentPeers(): string[] {
    return this.c.run('store.unsentPeers', () =>
      (this.q.unsentPeers.all() as { peer: string }[]).map((r) => r.peer),
    );
  }

  hasUnsent(peer: string): boolean {
    return this.c.run('store.hasUnsent', () => this.q.unsentHas.get(peer) !== undefined);
  }

  countUnsent(): number {
    return this.c.run('store.countUnsent', () => (this.q.unsentCount.get() as { n: number }).n);
  }

  removeUnsent(peer: string, id: string): boolean {
    return this.c.run('store.removeUnsent', () => this.q.unsentDelete.run(peer, id).changes === 1);
  }
}

class SqliteMessageStore implements MessageStore {
  private readonly q;

  constructor(private readonly c: Conn) {
    const db = c.db;
    this.q = {
      insert: db.prepare(
        `INSERT INTO messages (peer, peer_name, id, direction, body, ts, local_ts, state, state_rank, group_id, sender)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      get: db.prepare('SELECT * FROM messages WHERE peer = ? AND id = ? AND direction = ?'),
      delete: db.prepare('DELETE FROM messages WHERE peer = ? AND id = ?'),
      history: db.prepare(
        `SELECT * FROM (SELECT * FROM messages WHERE peer = ? AND seq < ? ORDER BY seq DESC LIMIT ?)
         ORDER BY seq`,
      ),
      setState: db.prepare(
        `UPDATE messages SET state = ?, state_rank = ?
         WHERE peer = ? AND id = ? AND direction = ? AND state_rank < ?`,
      ),
      conversations: db.prepare(
        `SELECT peer,
                (SELECT peer_name FROM messages l WHERE l.peer = m.peer ORDER BY seq DESC LIMIT 1) AS peer_name,
                max(local_ts) AS last_ts,
                sum(direction = 'in' AND state = 'received') AS unread
         FROM messages m GROUP BY peer ORDER BY last_ts DESC, peer`,
      ),
      unreadIds: db.prepare(
        `SELECT id FROM messages WHERE peer = ? AND direction = 'in' AND state = 'received' ORDER BY seq`,
      ),
      markShown: db.prepare(
        `UPDATE messages SET state = 'shown', state_rank = ? WHERE peer = ? AND direction = 'in' AND state = 'received'`,
      ),
      unreadCount: db.prepare(
        `SELECT count(*) AS n FROM messages WHERE peer = ? AND direction = 'in' AND state = 'received'`,
      ),

      seenHas: db.prepare('SELECT 1 FROM seen WHERE peer = ? AND id = ?'),
      seenInsert: db.prepare('INSERT INTO seen (peer, id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      seenExpire: db.prepare('DELETE FROM seen WHERE seen_at < ?'),

      heldCount: db.prepare('SELECT n FROM held_totals WHERE peer = ?'),
      heldInsert: db.prepare(
        'INSERT INTO held (peer, id, from_name, env, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      heldAll: db.prepare('SELECT id, from_name, env, ts FROM held WHERE peer = ? ORDER BY seq'),
      heldDelete: db.prepare('DELETE FROM held WHERE peer = ?'),
    };
  }

  addMessage(msg: NewMessage): boolean {
    return this.c.run('store.addMessage', () => {
      if (stateDirection(msg.state) !== msg.direction) {
        throw new ChatError(
          'bad_state',
          `state ${msg.state} does not belong to direction ${msg.direction}`,
          'store.addMessage',
        );
      }
      const r = this.q.insert.run(
        msg.peer,
        msg.peerName,
        msg.id,
        msg.direction,
        msg.body,
        msg.ts,
        msg.localTs,
        msg.state,
        stateRank(msg.state),
        msg.group ?? null,
        msg.sender ?? null,
      );
      return r.changes === 1;
    });
  }

  history(peer: string, limit?: number, before?: number): MessageRecord[] {
    return this.c.run('store.history', () =>
      // LIMIT -1 is SQLite's "no limit".
      (this.q.history.all(peer, before ?? Number.MAX_SAFE_INTEGER, limit ?? -1) as MessageRow[]).map(
        toMessage,
      ),
    );
  }

  message(peer: string, id: string, direction: Direction): MessageRecord | undefined {
    return this.c.run('store.message', () => {
      const r = this.q.get.get(peer, id, direction) as MessageRow | undefined;
      return r === undefined ? undefined : toMessage(r);
    });
  }

  setState(peer: string, id: string, state: MessageState): boolean {
    return this.c.run('store.setState', () => {
      const rank = stateRank(state);
      return this.q.setState.run(state, rank, peer, id, stateDirection(state), rank).changes === 1;
    });
  }

  deleteMessage(peer: string, id: string): boolean {
    return this.c.run('store.deleteMessage', () => this.q.delete.run(peer, id).changes > 0);
  }

  conversations(): Conversation[] {
    return this.c.run('store.conversations', () =>
      (
        this.q.conversations.all() as { peer: string; peer_name: string; last_ts: number; unread: number }[]
      ).map((r) => ({ peer: r.peer, peerName: r.peer_name, lastTs: r.last_ts, unread: r.unread })),
    );
  }

  markRead(peer: string): string[] {
    return this.c.atomically('store.markRead', () => {
      const ids = (this.q.unreadIds.all(peer) as { id: string }[]).map((r) => r.id);
      this.q.markShown.run(stateRank('shown'), peer);
      return ids;
    });
  }

  unreadCount(peer: string): number {
    return this.c.run('store.unreadCount', () => (this.q.unreadCount.get(peer) as { n: number }).n);
  }

  seenRecently(peer: string, id: string): boolean {
    return this.c.run('store.seenRecently', () => this.q.seenHas.get(peer, id) !== undefined);
  }

  rememberSeen(peer: string, id: string, now: number): void {
    this.c.run('store.rememberSeen', () => {
      this.q.seenInsert.run(peer, id, now);
    });
  }

  expireSeen(now: number): number {
    return this.c.run('store.expireSeen', () => this.q.seenExpire.run(now - SEEN_TTL_MS).changes);
  }

  holdIncoming(env: HeldEnvelope): HoldResult {
    return this.c.atomically('store.holdIncoming', (): HoldResult => {
      const peer = canonName(env.from);
      if (((this.q.heldCount.get(peer) as { n: number } | undefined)?.n ?? 0) >= HELD_PER_CONTACT_MAX)
        return 'full';
      return this.q.heldInsert.run(peer, env.id, env.from, env.env, env.ts).changes === 1
        ? 'held'
        : 'duplicate';
    });
  }

  heldIncoming(peer: string): HeldEnvelope[] {
    return this.c.run('store.heldIncoming', () => (this.q.heldAll.all(peer) as HeldRow[]).map(toHeld));
  }

  releaseHeld(peer: string): HeldEnvelope[] {
    return this.c.atomically('store.releaseHeld', () => {
      const held = (this.q.heldAll.all(peer) as HeldRow[]).map(toHeld);
      this.q.heldDelete.run(peer);
      return held;
    });
  }
}

class SqliteSessionStore implements SessionStore {
  private readonly q;

  constructor(private readonly c: Conn) {
    const db = c.db;
    this.q = {
      all: db.prepare(
        `SELECT session_id, state, last_used, archived FROM sessions WHERE peer = ?
         ORDER BY archived, last_used DESC, session_id`,
      ),
      save: db.prepare(
        `INSERT INTO sessions (peer, session_id, state, last_used, archived) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (peer, session_id) DO UPDATE
           SET state = excluded.state, last_used = excluded.last_used, archived = 0`,
      ),
      archive: db.prepare('UPDATE sessions SET archived = 1 WHERE peer = ? AND session_id IS NOT ?'),
      prune: db.prepare(
        `DELETE FROM sessions WHERE peer = ? AND archived = 1 AND session_id NOT IN (
           SELECT session_id FROM sessions WHERE peer = ? AND archived = 1
           ORDER BY last_used DESC, session_id LIMIT ?)`,
      ),
      delete: db.prepare('DELETE FROM sessions WHERE peer = ?'),
    };
  }

  sessions(peer: string): SessionRecord[] {
    return this.c.run('store.sessions', () =>
      (
        this.q.all.all(peer) as {
          session_id: string;
          state: string;
          last_used: number;
          archived: number;
        }[]
      ).map((r) => ({
        sessionId: r.session_id,
        state: r.state,
        lastUsed: r.last_used,
        archived: r.archived === 1,
      })),
    );
  }

  saveSession(peer: string, sessionId: string, state: string, lastUsed: number): void {
    this.c.run('store.saveSession', () => {
      this.q.save.run(peer, sessionId, state, lastUsed);
    });
  }

  archiveSessions(peer: string, keepAtMost = ARCHIVED_SESSIONS_MAX, exceptSessionId?: string): void {
    this.c.atomically('store.archiveSessions', () => {
      this.q.archive.run(peer, exceptSessionId ?? null);
      this.q.prune.run(peer, peer, Math.max(0, Math.floor(keepAtMost)));
    });
  }

  deleteSessions(peer: string): number {
    return this.c.run('store.deleteSessions', () => this.q.delete.run(peer).changes);
  }
}

class SqliteContactStore implements ContactStore {
  private readonly q;

  constructor(
    private readonly c: Conn,
    private readonly sessions: SessionStore,
  ) {
    const db = c.db;
    this.q = {
      get: db.prepare('SELECT * FROM contacts WHERE canon = ?'),
      all: db.prepare('SELECT * FROM contacts ORDER BY canon'),
      insert: db.prepare(
        `INSERT INTO contacts (canon, name, sign_key, dh_key, idcert, pinned_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      setVerified: db.prepare('UPDATE contacts SET verified = ? WHERE canon = ?'),
      setPending: db.prepare(
        `UPDATE contacts SET pending_name = ?, pending_sign_key = ?, pending_dh_key = ?, pending_idcert = ?
         WHERE canon = ?`,
      ),
      acceptPending: db.prepare(
        `UPDATE contacts SET name = pending_name, sign_key = pending_sign_key, dh_key = pending_dh_key,
           idcert = pending_idcert, verified = 0, pinned_at = ?,
           pending_name = NULL, pending_sign_key = NULL, pending_dh_key = NULL, pending_idcert = NULL
         WHERE canon = ? AND pending_sign_key IS NOT NULL`,
      ),
    };
  }

  getContact(canon: string): Contact | undefined {
    return this.c.run('store.getContact', () => {
      const r = this.q.get.get(canon) as ContactRow | undefined;
      return r === undefined ? undefined : toContact(r);
    });
  }

  pinContact(identity: Identity, now: number): PinResult {
    return this.c.atomically('store.pinContact', (): PinResult => {
      const r = this.q.get.get(identity.canon) as ContactRow | undefined;
      if (r === undefined) {
        this.q.insert.run(
          identity.canon,
          identity.name,
          identity.signKey,
          identity.dhKey,
          identity.idcert,
          now,
        );
        return 'pinned';
      }
      return sameIdentity(r, identity) ? 'unchanged' : 'changed';
    });
  }

  setVerified(canon: string, verified: boolean): boolean {
    return this.c.run(
      'store.setVerified',
      () => this.q.setVerified.run(verified ? 1 : 0, canon).changes === 1,
    );
  }

  markChanged(canon: string, pending: Identity): void {
    this.c.run('store.markChanged', () => {
      const r = this.q.setPending.run(pending.name, pending.signKey, pending.dhKey, pending.idcert, canon);
      if (r.changes !== 1) {
        throw new ChatError('unknown_user', `no contact named ${canon} is pinned`, 'store.markChanged');
      }
    });
  }

  acceptChange(canon: string, now = Date.now()): boolean {
    return this.c.atomically('store.acceptChange', () => {
      const row = this.q.get.get(canon) as ContactRow | undefined;
      if (row === undefined || row.pending_sign_key === null) return false;
      this.q.acceptPending.run(now, canon);
      // PROTOCOL.md 8.4: the old identity's sessions must not be used again.
      this.sessions.archiveSessions(canon, ARCHIVED_SESSIONS_MAX, undefined);
      return true;
    });
  }

  contacts(): Contact[] {
    return this.c.run('store.contacts', () => (this.q.all.all() as ContactRow[]).map(toContact));
  }
}

class SqlitePreKeyStore implements PreKeyStore {
  private readonly q;

  constructor(private readonly c: Conn) {
    const db = c.db;
    this.q = {
      spkSave: db.prepare(
        `INSERT INTO signed_prekeys (id, secret, pub, sig, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, pub = excluded.pub, sig = excluded.sig,
           created_at = excluded.created_at`,
      ),
      spkAll: db.prepare('SELECT * FROM signed_prekeys ORDER BY id DESC'),
      spkDelete: db.prepare('DELETE FROM signed_prekeys WHERE id = ?'),
      opkInsert: db.prepare('INSERT INTO one_time_prekeys (id, secret, pub) VALUES (?, ?, ?)'),
      opkGet: db.prepare('SELECT * FROM one_time_prekeys WHERE id = ?'),
      opkDelete: db.prepare('DELETE FROM one_time_prekeys WHERE id = ?'),
      opkCount: db.prepare('SELECT count(*) AS n FROM one_time_prekeys'),
      maxPrekeyIds: db.prepare(
        `SELECT max(coalesce((SELECT max(id) FROM signed_prekeys), -1),
                    coalesce((SELECT max(id) FROM one_time_prekeys), -1)) AS m`,
      ),
      metaGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
      metaSet: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  saveSignedPrekey(spk: SignedPrekeySecret): void {
    this.c.run('store.saveSignedPrekey', () => {
      checkPrekeyId(spk.id, 'store.saveSignedPrekey');
      this.q.spkSave.run(spk.id, spk.secret, spk.pub, spk.sig, spk.createdAt);
    });
  }

  signedPrekeys(): SignedPrekeySecret[] {
    return this.c.run('store.signedPrekeys', () =>
      (
        this.q.spkAll.all() as { id: number; secret: Buffer; pub: Buffer; sig: Buffer; created_at: number }[]
      ).map((r) => ({
        id: r.id,
        secret: bytes(r.secret),
        pub: bytes(r.pub),
        sig: bytes(r.sig),
        createdAt: r.created_at,
      })),
    );
  }

  deleteSignedPrekey(id: number): boolean {
    return this.c.run('store.deleteSignedPrekey', () => this.q.spkDelete.run(id).changes === 1);
  }

  saveOneTimePrekeys(opks: readonly OneTimePrekeySecret[]): void {
    this.c.atomically('store.saveOneTimePrekeys', () => {
      for (const k of opks) {
        checkPrekeyId(k.id, 'store.saveOneTimePrekeys');
        if (this.q.opkGet.get(k.id) !== undefined) {
          throw new ChatError(
            'bad_state',
            `one-time prekey id ${k.id} is already used`,
            'store.saveOneTimePrekeys',
          );
        }
        this.q.opkInsert.run(k.id, k.secret, k.pub);
      }
    });
  }

  oneTimePrekey(id: number): OneTimePrekeySecret | undefined {
    return this.c.run('store.oneTimePrekey', () => {
      const r = this.q.opkGet.get(id) as { id: number; secret: Buffer; pub: Buffer } | undefined;
      return r === undefined ? undefined : { id: r.id, secret: bytes(r.secret), pub: bytes(r.pub) };
    });
  }

  takeOneTimePrekey(id: number): OneTimePrekeySecret | undefined {
    return this.c.atomically('store.takeOneTimePrekey', () => {
      const r = this.q.opkGet.get(id) as { id: number; secret: Buffer; pub: Buffer } | undefined;
      if (r === undefined) return undefined;
      this.q.opkDelete.run(id);
      return { id: r.id, secret: bytes(r.secret), pub: bytes(r.pub) };
    });
  }

  deleteOneTimePrekey(id: number): boolean {
    return this.c.run('store.deleteOneTimePrekey', () => this.q.opkDelete.run(id).changes === 1);
  }

  countOneTimePrekeys(): number {
    return this.c.run('store.countOneTimePrekeys', () => (this.q.opkCount.get() as { n: number }).n);
  }

  nextPrekeyId(count = 1): number {
    return this.c.atomically('store.nextPrekeyId', () => {
      if (!Number.isInteger(count) || count < 1) {
        throw new ChatError('bad_state', 'reserve at least one prekey id', 'store.nextPrekeyId');
      }
      const stored =
        (this.q.metaGet.get('next_prekey_id') as { value: number } | undefined)?.value ?? FIRST_PREKEY_ID;
      const held = (this.q.maxPrekeyIds.get() as { m: number }).m + 1;
      const first = Math.max(stored, held, FIRST_PREKEY_ID);
      // PROTOCOL.md section 3: ids are u32 and never reused, so running out is an error, not a wrap.
      if (first + count - 1 > U32_MAX) {
        throw new ChatError(
          'storage_failed',
          'prekey ids are exhausted; create a new identity',
          'store.nextPrekeyId',
        );
      }
      this.q.metaSet.run('next_prekey_id', first + count);
      return first;
    });
  }
}

class SqliteClientStore implements ClientStore {
  private readonly c: Conn;
  private readonly outbox: SqliteOutboxStore;
  private readonly messages: SqliteMessageStore;
  private readonly sessionStore: SqliteSessionStore;
  private readonly contactStore: SqliteContactStore;
  private readonly prekeys: SqlitePreKeyStore;
  readonly kv: KeyValue;
  readonly groups: GroupStore;

  constructor(db: SqliteDb, file: string) {
    const c = (this.c = new Conn(db, file));
    this.outbox = new SqliteOutboxStore(c);
    this.messages = new SqliteMessageStore(c);
    this.sessionStore = new SqliteSessionStore(c);
    this.contactStore = new SqliteContactStore(c, this.sessionStore);
    this.prekeys = new SqlitePreKeyStore(c);
    this.groups = new SqliteGroupStore(
      db,
      (op, fn) => c.run(op, fn),
      (op, fn) => c.atomically(op, fn),
    );
    const kvGet = db.prepare('SELECT value FROM settings WHERE key = ?');
    const kvSet = db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    const kvDelete = db.prepare('DELETE FROM settings WHERE key = ?');
    this.kv = {
      get: (key) => c.run('store.kv.get', () => (kvGet.get(key) as { value: string } | undefined)?.value),
      set: (key, value) =>
        c.run('store.kv.set', () => {
          kvSet.run(key, value);
        }),
      delete: (key) =>
        c.run('store.kv.delete', () => {
          kvDelete.run(key);
        }),
    };
  }

  // -- outbox ----------------------------------------------------------------------------------
  queueOutgoing(rec: OutgoingRecord): void {
    this.outbox.queueOutgoing(rec);
  }
  pendingOutgoing(limit?: number): OutgoingRecord[] {
    return this.outbox.pendingOutgoing(limit);
  }
  outgoing(id: string): OutgoingRecord | undefined {
    return this.outbox.outgoing(id);
  }
  markSent(id: string, status: SentStatus): boolean {
    return this.outbox.markSent(id, status);
  }
  queueUnsent(text: UnsentText): void {
    this.outbox.queueUnsent(text);
  }
  unsentFor(peer: string): UnsentText[] {
    return this.outbox.unsentFor(peer);
  }
  unsentPeers(): string[] {
    return this.outbox.unsentPeers();
  }
  hasUnsent(peer: string): boolean {
    return this.outbox.hasUnsent(peer);
  }
  countUnsent(): number {
    return this.outbox.countUnsent();
  }
  removeUnsent(peer: string, id: string): boolean {
    return this.outbox.removeUnsent(peer, id);
  }

  // -- messages --------------------------------------------------------------------------------
  addMessage(msg: NewMessage): boolean {
    return this.messages.addMessage(msg);
  }
  history(peer: string, limit?: number, before?: number): MessageRecord[] {
    return this.messages.history(peer, limit, before);
  }
  message(peer: string, id: string, direction: Direction): MessageRecord | undefined {
    return this.messages.message(peer, id, direction);
  }
  setState(peer: string, id: string, state: MessageState): boolean {
    return this.messages.setState(peer, id, state);
  }
  deleteMessage(peer: string, id: string): boolean {
    return this.messages.deleteMessage(peer, id);
  }
  conversations(): Conversation[] {
    return this.messages.conversations();
  }
  markRead(peer: string): string[] {
    return this.messages.markRead(peer);
  }
  unreadCount(peer: string): number {
    return this.messages.unreadCount(peer);
  }
  seenRecently(peer: string, id: string): boolean {
    return this.messages.seenRecently(peer, id);
  }
  rememberSeen(peer: string, id: string, now: number): void {
    this.messages.rememberSeen(peer, id, now);
  }
  expireSeen(now: number): number {
    return this.messages.expireSeen(now);
  }
  holdIncoming(env: HeldEnvelope): HoldResult {
    return this.messages.holdIncoming(env);
  }
  heldIncoming(peer: string): HeldEnvelope[] {
    return this.messages.heldIncoming(peer);
  }
  releaseHeld(peer: string): HeldEnvelope[] {
    return this.messages.releaseHeld(peer);
  }

  // -- contacts --------------------------------------------------------------------------------
  getContact(canon: string): Contact | undefined {
    return this.contactStore.getContact(canon);
  }
  pinContact(identity: Identity, now: number): PinResult {
    return this.contactStore.pinContact(identity, now);
  }
  setVerified(canon: string, verified: boolean): boolean {
    return this.contactStore.setVerified(canon, verified);
  }
  markChanged(canon: string, pending: Identity): void {
    this.contactStore.markChanged(canon, pending);
  }
  acceptChange(canon: string, now?: number): boolean {
    return this.contactStore.acceptChange(canon, now);
  }
  contacts(): Contact[] {
    return this.contactStore.contacts();
  }

  // -- sessions --------------------------------------------------------------------------------
  sessions(peer: string): SessionRecord[] {
    return this.sessionStore.sessions(peer);
  }
  saveSession(peer: string, sessionId: string, state: string, lastUsed: number): void {
    this.sessionStore.saveSession(peer, sessionId, state, lastUsed);
  }
  archiveSessions(peer: string, keepAtMost?: number, exceptSessionId?: string): void {
    this.sessionStore.archiveSessions(peer, keepAtMost, exceptSessionId);
  }
  deleteSessions(peer: string): number {
    return this.sessionStore.deleteSessions(peer);
  }

  // -- prekeys ---------------------------------------------------------------------------------
  saveSignedPrekey(spk: SignedPrekeySecret): void {
    this.prekeys.saveSignedPrekey(spk);
  }
  signedPrekeys(): SignedPrekeySecret[] {
    return this.prekeys.signedPrekeys();
  }
  deleteSignedPrekey(id: number): boolean {
    return this.prekeys.deleteSignedPrekey(id);
  }
  saveOneTimePrekeys(opks: readonly OneTimePrekeySecret[]): void {
    this.prekeys.saveOneTimePrekeys(opks);
  }
  oneTimePrekey(id: number): OneTimePrekeySecret | undefined {
    return this.prekeys.oneTimePrekey(id);
  }
  takeOneTimePrekey(id: number): OneTimePrekeySecret | undefined {
    return this.prekeys.takeOneTimePrekey(id);
  }
  deleteOneTimePrekey(id: number): boolean {
    return this.prekeys.deleteOneTimePrekey(id);
  }
  countOneTimePrekeys(): number {
    return this.prekeys.countOneTimePrekeys();
  }
  nextPrekeyId(count?: number): number {
    return this.prekeys.nextPrekeyId(count);
  }

  // -- transactions and lifetime ---------------------------------------------------------------

  transaction<T>(fn: () => T): T {
    const c = this.c;
    if (c.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, 'store.transaction');
    try {
      return c.db.transaction(fn)();
    } catch (err) {
      // Only BEGIN/COMMIT failures are ours to map; whatever `fn` threw is the caller's, as is.
      throw isSqliteError(err) ? storageError(err, WHAT, c.file, 'store.transaction') : err;
    }
  }

  close(): void {
    if (this.c.closed) return;
    this.c.closed = true;
    guarded(WHAT, this.c.file, 'store.close', () => this.c.db.close());
  }
}
