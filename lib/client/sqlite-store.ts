/**
 * The default ClientStore: one SQLite file, `<dir>/client.db` (see ../sqlite-db.ts for open,
 * modes, WAL + synchronous = FULL and error mapping). `secure_delete` is on, so a deleted message
 * key or prekey secret is overwritten in the file rather than left in a free page (forward
 * secrecy, PROTOCOL.md section 8).
 */
import { ChatError } from '../errors';
import { canonName } from '../names';
import { constantTimeEqual } from '../crypto/primitives';
import { bytes, guarded, isSqliteError, openSqliteFile, storageError, type SqliteDb } from '../sqlite-db';
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
} from './store';

export const CLIENT_DB_FILE = 'client.db';
const WHAT = 'client store';
/** 'CSCL' */
const CLIENT_APPLICATION_ID = 0x4353434c;
const CLIENT_SCHEMA_VERSION = 1;
const U32_MAX = 0xffff_ffff;
const FIRST_PREKEY_ID = 1;

const SCHEMA = `
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
    },
    opts,
  );
  return new SqliteClientStore(db, `${dir}/${CLIENT_DB_FILE}`);
}

class SqliteClientStore implements ClientStore {
  private readonly db: SqliteDb;
  private readonly file: string;
  private closed = false;
  private readonly q;
  readonly kv: KeyValue;

  constructor(db: SqliteDb, file: string) {
    this.db = db;
    this.file = file;
    this.q = {
      outboxHas: db.prepare('SELECT 1 FROM outbox WHERE id = ?'),
      outboxInsert: db.prepare('INSERT INTO outbox (id, to_name, envelope, created_at) VALUES (?, ?, ?, ?)'),
      outboxAll: db.prepare('SELECT id, to_name, envelope, created_at FROM outbox ORDER BY seq LIMIT ?'),
      outboxGet: db.prepare('SELECT id, to_name, envelope, created_at FROM outbox WHERE id = ?'),
      messageDelete: db.prepare('DELETE FROM messages WHERE peer = ? AND id = ?'),
      sessionsDelete: db.prepare('DELETE FROM sessions WHERE peer = ?'),
      outboxDelete: db.prepare('DELETE FROM outbox WHERE id = ?'),

      messageInsert: db.prepare(
        `INSERT INTO messages (peer, peer_name, id, direction, body, ts, local_ts, state, state_rank)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
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

      contact: db.prepare('SELECT * FROM contacts WHERE canon = ?'),
      contacts: db.prepare('SELECT * FROM contacts ORDER BY canon'),
      contactInsert: db.prepare(
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

      sessions: db.prepare(
        `SELECT session_id, state, last_used, archived FROM sessions WHERE peer = ?
         ORDER BY archived, last_used DESC, session_id`,
      ),
      sessionSave: db.prepare(
        `INSERT INTO sessions (peer, session_id, state, last_used, archived) VALUES (?, ?, ?, ?, 0)
         ON CONFLICT (peer, session_id) DO UPDATE
           SET state = excluded.state, last_used = excluded.last_used, archived = 0`,
      ),
      sessionsArchive: db.prepare('UPDATE sessions SET archived = 1 WHERE peer = ? AND session_id IS NOT ?'),
      sessionsPrune: db.prepare(
        `DELETE FROM sessions WHERE peer = ? AND archived = 1 AND session_id NOT IN (
           SELECT session_id FROM sessions WHERE peer = ? AND archived = 1
           ORDER BY last_used DESC, session_id LIMIT ?)`,
      ),

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

      heldCount: db.prepare('SELECT n FROM held_totals WHERE peer = ?'),
      heldInsert: db.prepare(
        'INSERT INTO held (peer, id, from_name, env, ts) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      heldAll: db.prepare('SELECT id, from_name, env, ts FROM held WHERE peer = ? ORDER BY seq'),
      heldDelete: db.prepare('DELETE FROM held WHERE peer = ?'),

      kvGet: db.prepare('SELECT value FROM settings WHERE key = ?'),
      kvSet: db.prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      kvDelete: db.prepare('DELETE FROM settings WHERE key = ?'),
    };
    const q = this.q;
    this.kv = {
      get: (key) =>
        this.run('store.kv.get', () => (q.kvGet.get(key) as { value: string } | undefined)?.value),
      set: (key, value) =>
        this.run('store.kv.set', () => {
          q.kvSet.run(key, value);
        }),
      delete: (key) =>
        this.run('store.kv.delete', () => {
          q.kvDelete.run(key);
        }),
    };
  }

  /** Every operation: refused after close, and SQLite failures mapped to ChatErrors. */
  private run<T>(operation: string, fn: () => T): T {
    if (this.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, operation);
    return guarded(WHAT, this.file, operation, fn);
  }

  /** A multi-statement operation: one transaction (a savepoint when nested in `transaction`). */
  private atomically<T>(operation: string, fn: () => T): T {
    return this.run(operation, () => this.db.transaction(fn)());
  }

  // -- outbox ----------------------------------------------------------------------------------

  queueOutgoing(rec: OutgoingRecord): void {
    this.atomically('store.queueOutgoing', () => {
      // Never replace stored bytes: a resend must transmit exactly what was stored (section 8).
      if (this.q.outboxHas.get(rec.id) !== undefined) {
        throw new ChatError(
          'bad_state',
          'an outgoing envelope with this id is already in the outbox',
          'store.queueOutgoing',
        );
      }
      this.q.outboxInsert.run(rec.id, rec.to, rec.envelope, rec.createdAt);
    });
  }

  pendingOutgoing(limit?: number): OutgoingRecord[] {
    return this.run('store.pendingOutgoing', () =>
      // LIMIT -1 is SQLite's "no limit".
      (this.q.outboxAll.all(limit ?? -1) as OutboxRow[]).map(toOutgoing),
    );
  }

  outgoing(id: string): OutgoingRecord | undefined {
    return this.run('store.outgoing', () => {
      const r = this.q.outboxGet.get(id) as OutboxRow | undefined;
      return r === undefined ? undefined : toOutgoing(r);
    });
  }

  deleteMessage(peer: string, id: string): boolean {
    return this.run('store.deleteMessage', () => this.q.messageDelete.run(peer, id).changes > 0);
  }

  deleteSessions(peer: string): number {
    return this.run('store.deleteSessions', () => this.q.sessionsDelete.run(peer).changes);
  }

  // The status is the history's business (setState); the outbox only needs to forget the envelope.
  markSent(id: string): boolean {
    return this.run('store.markSent', () => this.q.outboxDelete.run(id).changes === 1);
  }

  // -- history ---------------------------------------------------------------------------------

  addMessage(msg: NewMessage): boolean {
    return this.run('store.addMessage', () => {
      if (stateDirection(msg.state) !== msg.direction) {
        throw new ChatError(
          'bad_state',
          `state ${msg.state} does not belong to direction ${msg.direction}`,
          'store.addMessage',
        );
      }
      const r = this.q.messageInsert.run(
        msg.peer,
        msg.peerName,
        msg.id,
        msg.direction,
        msg.body,
        msg.ts,
        msg.localTs,
        msg.state,
        stateRank(msg.state),
      );
      return r.changes === 1;
    });
  }

  history(peer: string, limit?: number, before?: number): MessageRecord[] {
    return this.run('store.history', () =>
      // LIMIT -1 is SQLite's "no limit".
      (this.q.history.all(peer, before ?? Number.MAX_SAFE_INTEGER, limit ?? -1) as MessageRow[]).map(
        toMessage,
      ),
    );
  }

  setState(peer: string, id: string, state: MessageState): boolean {
    return this.run('store.setState', () => {
      const rank = stateRank(state);
      return this.q.setState.run(state, rank, peer, id, stateDirection(state), rank).changes === 1;
    });
  }

  conversations(): Conversation[] {
    return this.run('store.conversations', () =>
      (
        this.q.conversations.all() as { peer: string; peer_name: string; last_ts: number; unread: number }[]
      ).map((r) => ({ peer: r.peer, peerName: r.peer_name, lastTs: r.last_ts, unread: r.unread })),
    );
  }

  markRead(peer: string): string[] {
    return this.atomically('store.markRead', () => {
      const ids = (this.q.unreadIds.all(peer) as { id: string }[]).map((r) => r.id);
      this.q.markShown.run(stateRank('shown'), peer);
      return ids;
    });
  }

  unreadCount(peer: string): number {
    return this.run('store.unreadCount', () => (this.q.unreadCount.get(peer) as { n: number }).n);
  }

  // -- seen ids --------------------------------------------------------------------------------

  seenRecently(peer: string, id: string): boolean {
    return this.run('store.seenRecently', () => this.q.seenHas.get(peer, id) !== undefined);
  }

  rememberSeen(peer: string, id: string, now: number): void {
    this.run('store.rememberSeen', () => {
      this.q.seenInsert.run(peer, id, now);
    });
  }

  expireSeen(now: number): number {
    return this.run('store.expireSeen', () => this.q.seenExpire.run(now - SEEN_TTL_MS).changes);
  }

  // -- contacts --------------------------------------------------------------------------------

  getContact(canon: string): Contact | undefined {
    return this.run('store.getContact', () => {
      const r = this.q.contact.get(canon) as ContactRow | undefined;
      return r === undefined ? undefined : toContact(r);
    });
  }

  pinContact(identity: Identity, now: number): PinResult {
    return this.atomically('store.pinContact', (): PinResult => {
      const r = this.q.contact.get(identity.canon) as ContactRow | undefined;
      if (r === undefined) {
        this.q.contactInsert.run(
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
    return this.run('store.setVerified', () => this.q.setVerified.run(verified ? 1 : 0, canon).changes === 1);
  }

  markChanged(canon: string, pending: Identity): void {
    this.run('store.markChanged', () => {
      const r = this.q.setPending.run(pending.name, pending.signKey, pending.dhKey, pending.idcert, canon);
      if (r.changes !== 1) {
        throw new ChatError('unknown_user', `no contact named ${canon} is pinned`, 'store.markChanged');
      }
    });
  }

  acceptChange(canon: string, now = Date.now()): boolean {
    return this.atomically('store.acceptChange', () => {
      const row = this.q.contact.get(canon) as ContactRow | undefined;
      if (row === undefined || row.pending_sign_key === null) return false;
      this.q.acceptPending.run(now, canon);
      // PROTOCOL.md 8.4: the old identity's sessions must not be used again.
      this.archiveInTx(canon, ARCHIVED_SESSIONS_MAX, undefined);
      return true;
    });
  }

  contacts(): Contact[] {
    return this.run('store.contacts', () => (this.q.contacts.all() as ContactRow[]).map(toContact));
  }

  // -- sessions --------------------------------------------------------------------------------

  sessions(peer: string): SessionRecord[] {
    return this.run('store.sessions', () =>
      (
        this.q.sessions.all(peer) as {
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
    this.run('store.saveSession', () => {
      this.q.sessionSave.run(peer, sessionId, state, lastUsed);
    });
  }

  archiveSessions(peer: string, keepAtMost = ARCHIVED_SESSIONS_MAX, exceptSessionId?: string): void {
    this.atomically('store.archiveSessions', () => this.archiveInTx(peer, keepAtMost, exceptSessionId));
  }

  private archiveInTx(peer: string, keepAtMost: number, exceptSessionId: string | undefined): void {
    this.q.sessionsArchive.run(peer, exceptSessionId ?? null);
    this.q.sessionsPrune.run(peer, peer, Math.max(0, Math.floor(keepAtMost)));
  }

  // -- prekeys ---------------------------------------------------------------------------------

  saveSignedPrekey(spk: SignedPrekeySecret): void {
    this.run('store.saveSignedPrekey', () => {
      checkPrekeyId(spk.id, 'store.saveSignedPrekey');
      this.q.spkSave.run(spk.id, spk.secret, spk.pub, spk.sig, spk.createdAt);
    });
  }

  signedPrekeys(): SignedPrekeySecret[] {
    return this.run('store.signedPrekeys', () =>
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
    return this.run('store.deleteSignedPrekey', () => this.q.spkDelete.run(id).changes === 1);
  }

  saveOneTimePrekeys(opks: readonly OneTimePrekeySecret[]): void {
    this.atomically('store.saveOneTimePrekeys', () => {
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
    return this.run('store.oneTimePrekey', () => {
      const r = this.q.opkGet.get(id) as { id: number; secret: Buffer; pub: Buffer } | undefined;
      return r === undefined ? undefined : { id: r.id, secret: bytes(r.secret), pub: bytes(r.pub) };
    });
  }

  takeOneTimePrekey(id: number): OneTimePrekeySecret | undefined {
    return this.atomically('store.takeOneTimePrekey', () => {
      const r = this.q.opkGet.get(id) as { id: number; secret: Buffer; pub: Buffer } | undefined;
      if (r === undefined) return undefined;
      this.q.opkDelete.run(id);
      return { id: r.id, secret: bytes(r.secret), pub: bytes(r.pub) };
    });
  }

  deleteOneTimePrekey(id: number): boolean {
    return this.run('store.deleteOneTimePrekey', () => this.q.opkDelete.run(id).changes === 1);
  }

  countOneTimePrekeys(): number {
    return this.run('store.countOneTimePrekeys', () => (this.q.opkCount.get() as { n: number }).n);
  }

  nextPrekeyId(count = 1): number {
    return this.atomically('store.nextPrekeyId', () => {
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

  // -- held envelopes --------------------------------------------------------------------------

  holdIncoming(env: HeldEnvelope): HoldResult {
    return this.atomically('store.holdIncoming', (): HoldResult => {
      const peer = canonName(env.from);
      if (((this.q.heldCount.get(peer) as { n: number } | undefined)?.n ?? 0) >= HELD_PER_CONTACT_MAX)
        return 'full';
      return this.q.heldInsert.run(peer, env.id, env.from, env.env, env.ts).changes === 1
        ? 'held'
        : 'duplicate';
    });
  }

  heldIncoming(peer: string): HeldEnvelope[] {
    return this.run('store.heldIncoming', () => (this.q.heldAll.all(peer) as HeldRow[]).map(toHeld));
  }

  releaseHeld(peer: string): HeldEnvelope[] {
    return this.atomically('store.releaseHeld', () => {
      const held = (this.q.heldAll.all(peer) as HeldRow[]).map(toHeld);
      this.q.heldDelete.run(peer);
      return held;
    });
  }

  // -- transactions and lifetime ---------------------------------------------------------------

  transaction<T>(fn: () => T): T {
    if (this.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, 'store.transaction');
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      // Only BEGIN/COMMIT failures are ours to map; whatever `fn` threw is the caller's, as is.
      throw isSqliteError(err) ? storageError(err, WHAT, this.file, 'store.transaction') : err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    guarded(WHAT, this.file, 'store.close', () => this.db.close());
  }
}
