/**
 * The default RelayStore: one SQLite file, `<dir>/relay.db` (see ../sqlite-db.ts for open, modes,
 * WAL and error mapping). The durability of synchronous = FULL is kept another way: commits run
 * with NORMAL and each write settles only after the WAL file is fsynced off the event loop (see
 * `sync`), so a result the relay acts on (`sent`, a registration, a handed-out prekey) is on disk.
 * Three exceptions, all issue 12: an enqueue says `committed` before its fsync (the relay delivers
 * then, `sent` still waits); one for an online recipient may say it before its commit, and an ack
 * that comes first cancels its insert (`enqueue`: the recipient holds it, so `sent` may go); and
 * an ack settles at its commit without an fsync of its own (lost in a crash, it only makes the
 * envelope come again, and the recipient drops it by id).
 *
 * Uniqueness is enforced by the schema, not by look-then-insert: the canonical name and the signing
 * key are each UNIQUE, so two relays (or two handles) registering one name at once cannot both win.
 * Queue limits read per-recipient and per-sender counters kept in memory (issue 12: the trigger
 * maintained tables they replace were two more b-trees written per message, ~10 % of the relay's
 * busy time with the enqueue transaction). They are rebuilt from the queue at open, after this
 * handle's bulk deletes, and whenever another connection has committed to the file since (SQLite's
 * `data_version`, read inside the write transaction), so several handles on one file stay exact.
 */
import * as fs from 'node:fs';
import { ChatError, isChatError } from '../errors';
import { canonName } from '../names';
import { IdRing } from './id-ring';
import { PerRecipient } from './per-recipient';
import { constantTimeEqual } from '../crypto/primitives';
import { bytes, guarded, isSqliteError, openSqliteFile, type SqliteDb } from '../sqlite-db';
import type { Transaction } from 'better-sqlite3';
import {
  QUEUE_MAX_PER_RECIPIENT,
  QUEUE_MAX_PER_SENDER,
  QUEUE_TTL_MS,
  type EnqueueResult,
  type NewUser,
  type OneTimePrekey,
  type PrekeyBundle,
  type PublishResult,
  type QueueCaps,
  type NewEnvelope,
  type QueuedEnvelope,
  type RegisterResult,
  type ReplaceResult,
  type RelayStore,
  type SignedPrekey,
  type UserRecord,
  envelopeBytes,
} from './store';

export const RELAY_DB_FILE = 'relay.db';
/**
 * How long an ack's delete may wait for a batch (issue 12): acks ride along with the next
 * `send`'s transaction instead of costing one of their own; `pending` reads flush them first.
 */
export const LAZY_FLUSH_MS = 5;
/**
 * How long each early-delivered enqueue (see `enqueue`) waits for its ack before it is committed
 * (issue 12): its recipient already has it, so only `sent` waits, and an ack that comes within
 * this time cancels its envelope's insert and delete both. 200 ms covers a WAN round trip; at
 * 50 ms the bench's closed loop still wrote 60 % of them (the acks queued behind the relay's own
 * backlog). Counted per envelope, in ticks of EARLY_TICK_MS: when the whole batch waited for
 * its first early enqueue's 200 ms, whatever was in flight at that moment was written (a third
 * of the closed loop's envelopes, inserted and deleted again).
 */
export const EARLY_GROUP_MS = 200;
/**
 * The early enqueues' clock: every tick commits those that have waited EARLY_GROUP_MS (and the
 * acks and last-seen times waiting), so an early envelope waits 200 to 250 ms for its ack.
 */
export const EARLY_TICK_MS = 50;
/** Ticks an early enqueue waits: its first tick comes up to one EARLY_TICK_MS after it. */
const EARLY_GROUP_TICKS = EARLY_GROUP_MS / EARLY_TICK_MS + 1;
/**
 * A batch holding this many early envelopes, or this many bytes of them (base64 or raw, as
 * given), commits at the next turn, early deliveries or not: what waits is bounded. Those
 * cancelled by their acks do not count.
 */
export const EARLY_BATCH_MAX = 4096;
export const EARLY_BATCH_BYTES = 8 * 1024 * 1024;
/** Senders of waiting envelopes kept in memory for their acks (about 100 bytes each). */
const SENDERS_KEPT = 100_000;
/** How long a last-seen time may wait in memory before it is written. */
export const LAST_SEEN_FLUSH_MS = 5_000;
const WHAT = 'relay store';
/** 'CSRV' */
const RELAY_APPLICATION_ID = 0x43535256;
const RELAY_SCHEMA_VERSION = 1;
const U32_MAX = 0xffff_ffff;

/**
 * The registration lock's recovery keys, one per name. Its own table, created on open when
 * missing, so a relay.db of the first schema gains it without a migration.
 */
const RECOVERY_SCHEMA = `CREATE TABLE IF NOT EXISTS recovery_keys (
  canon TEXT PRIMARY KEY REFERENCES users(canon) ON DELETE CASCADE,
  pub BLOB NOT NULL
) WITHOUT ROWID;`;

const SCHEMA = `
CREATE TABLE users (
  canon TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  sign_key BLOB NOT NULL UNIQUE,
  dh_key BLOB NOT NULL,
  idcert BLOB NOT NULL,
  registered_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE TABLE signed_prekeys (
  canon TEXT PRIMARY KEY REFERENCES users(canon) ON DELETE CASCADE,
  id INTEGER NOT NULL,
  pub BLOB NOT NULL,
  sig BLOB NOT NULL
);
-- A handed-out prekey keeps its row (consumed = 1) so its id can never be published again.
CREATE TABLE one_time_prekeys (
  canon TEXT NOT NULL REFERENCES users(canon) ON DELETE CASCADE,
  id INTEGER NOT NULL,
  pub BLOB NOT NULL,
  consumed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (canon, id)
) WITHOUT ROWID;
CREATE INDEX one_time_prekeys_unused ON one_time_prekeys (canon, consumed, id);
-- seq is the rowid, without AUTOINCREMENT (no sqlite_sequence write per message): a reused
-- rowid is still above every row left, so delivery order by seq holds. No index on ts: it was a
-- third b-tree written by every insert and every ack's delete, for an hourly expiry that scans
-- the table in slices instead (issue 12).
CREATE TABLE queue (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  to_canon TEXT NOT NULL REFERENCES users(canon) ON DELETE CASCADE,
  from_name TEXT NOT NULL,
  from_canon TEXT NOT NULL,
  env BLOB NOT NULL,
  ts INTEGER NOT NULL,
  UNIQUE (to_canon, id)
);
${RECOVERY_SCHEMA}
`;

interface UserRow {
  canon: string;
  name: string;
  sign_key: Buffer;
  dh_key: Buffer;
  idcert: Buffer;
  registered_at: number;
  last_seen: number;
  recovery: Buffer | null;
}

interface QueueRow {
  id: string;
  to_canon: string;
  from_name: string;
  env: Buffer;
  ts: number;
}

function toUser(r: UserRow): UserRecord {
  return {
    name: r.name,
    canon: r.canon,
    signKey: bytes(r.sign_key),
    dhKey: bytes(r.dh_key),
    idcert: bytes(r.idcert),
    registeredAt: r.registered_at,
    lastSeen: r.last_seen,
    ...(r.recovery ? { recovery: bytes(r.recovery) } : {}),
  };
}

function toQueued(r: QueueRow): QueuedEnvelope {
  return { id: r.id, to: r.to_canon, from: r.from_name, env: bytes(r.env), ts: r.ts };
}

function checkPrekeyId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX) {
    throw new ChatError('bad_message', 'a prekey id is an unsigned 32-bit integer', 'store.publishPrekeys');
  }
}

function unknownUser(canon: string, operation: string): ChatError {
  return new ChatError('unknown_user', `no user named ${canon} is registered`, operation);
}

/**
 * Open (or create) `<dir>/relay.db`; `dir` is created 0700, the file 0600. With `key` (`--encrypt-store`)
 * the file is encrypted, and a plain one is converted once (lib/sqlite-encrypt.ts).
 */
export function openRelayStore(dir: string, opts: { key?: Uint8Array } = {}): RelayStore {
  const db = openSqliteFile(
    dir,
    RELAY_DB_FILE,
    {
      what: WHAT,
      applicationId: RELAY_APPLICATION_ID,
      schemaVersion: RELAY_SCHEMA_VERSION,
      schema: SCHEMA,
    },
    opts,
  );
  db.exec(RECOVERY_SCHEMA);
  return new SqliteRelayStore(db, `${dir}/${RELAY_DB_FILE}`);
}

/**
 * A relay.db made before the counters moved to memory: its triggers and tables go; and its
 * index on the queue's ts (see SCHEMA).
 */
const DROP_TRIGGER_COUNTERS = `
DROP TRIGGER IF EXISTS queue_counted;
DROP TRIGGER IF EXISTS queue_uncounted;
DROP TABLE IF EXISTS queue_totals;
DROP TABLE IF EXISTS queue_per_sender;
DROP INDEX IF EXISTS queue_ts;`;

/** Rows of the queue (by seq) that one expiry statement scans, between which the event loop runs. */
export const EXPIRE_SLICE = 20_000;

/** Envelopes waiting per recipient, and per recipient and sender (canonical names). */
class QueueCounts {
  readonly total = new Map<string, number>();
  readonly perSender = new PerRecipient<string, number>();

  bump(to: string, from: string, by: 1 | -1): void {
    const t = (this.total.get(to) ?? 0) + by;
    if (t > 0) this.total.set(to, t);
    else this.total.delete(to);
    const n = (this.perSender.get(to)?.get(from) ?? 0) + by;
    if (n > 0) this.perSender.set(to, from, n);
    else this.perSender.delete(to, from);
  }

  clear(): void {
    this.total.clear();
    this.perSender.clear();
  }
}

/**
 * What a batched op writes (see `SqliteRelayStore.apply`): an enqueue with its checks, one
 * delivered early (its checks were made then), an ack's delete, a registration's insert, or
 * nothing (last-seen times, which every batch writes).
 */
type OpKind = 'enqueue' | 'early' | 'ack' | 'register' | 'none';

/**
 * One queue write waiting for the batch commit: its data, not a closure over it (issue 12: with
 * a batch of early enqueues waiting for their acks, the closures and their contexts were most of
 * what each scavenge copied).
 */
interface BatchedOp {
  readonly kind: OpKind;
  readonly operation: string;
  /** An enqueue's envelope and caps. */
  readonly env: NewEnvelope | undefined;
  readonly caps: QueueCaps | undefined;
  /** A registration's user and time. */
  readonly user: NewUser | undefined;
  readonly at: number;
  /**
   * The recipient and id of an enqueue or an ack (canonical), or the name a registration takes;
   * an enqueue's sender, canonical.
   */
  readonly to: string;
  readonly id: string;
  readonly from: string;
  /** Called with the result once the batch commits, before its fsync (enqueue's `committed`). */
  readonly committed: ((v: never) => void) | undefined;
  /** False: settled at the commit, without waiting for an fsync (an ack, a last-seen time). */
  readonly durable: boolean;
  /** How it settles: its promise's functions, or the callback `enqueueEarly` was given. */
  readonly resolve: ((v: unknown) => void) | undefined;
  readonly reject: ((err: unknown) => void) | undefined;
  readonly done: ((err: unknown) => void) | undefined;
  /** Set by the commit: the op's result, or the ChatError it refused with (ok false). */
  ok: boolean;
  value: unknown;
  /** What an early `committed` call threw: the op fails with it once committed. */
  committedError: { readonly err: unknown } | undefined;
  /** Its index in the batch: an early op acked before the commit gives its slot to CANCELLED. */
  slot: number;
  /** The early-enqueue tick it was queued in (EARLY_TICK_MS). */
  readonly tick: number;
}

/**
 * Holds the batch slot of an early op acked before its commit (nothing is written for it, and it
 * has settled): the op itself (its envelope, its promise's callbacks) is garbage at once instead
 * of surviving scavenges until the commit (issue 12). Skipped by the commit and the flush.
 */
const CANCELLED: BatchedOp = {
  kind: 'none',
  operation: 'store.enqueue',
  env: undefined,
  caps: undefined,
  user: undefined,
  at: 0,
  to: '',
  id: '',
  from: '',
  committed: undefined,
  durable: false,
  resolve: undefined,
  reject: undefined,
  done: undefined,
  ok: true,
  value: undefined,
  committedError: undefined,
  slot: -1,
  tick: 0,
};

/** The stored row holds exactly this identity's keys. */
function sameKeys(row: UserRow, user: NewUser): boolean {
  return constantTimeEqual(row.sign_key, user.signKey) && constantTimeEqual(row.dh_key, user.dhKey);
}

function settle(op: BatchedOp): void {
  if (op.ok) succeed(op, op.value);
  else fail(op, op.value);
}

function succeed(op: BatchedOp, v: unknown): void {
  if (op.done) op.done(undefined);
  else op.resolve?.(v);
}

function fail(op: BatchedOp, err: unknown): void {
  if (op.done) op.done(err);
  else op.reject?.(err);
}

class SqliteRelayStore implements RelayStore {
  /** `pending` (and every queue read) flushes the batch first, acks in it included. */
  readonly readsSeeAcks = true;
  private readonly db: SqliteDb;
  private readonly file: string;
  private closed = false;
  private readonly q;
  /**
   * Queue writes (enqueue, ack) of one event-loop turn, committed together in one transaction
   * (issue 6: one synchronous = FULL commit per message capped the relay near 1,000 msgs/s).
   * Each promise resolves only after that commit, so `sent` still follows a durable write.
   */
  private batch: BatchedOp[] = [];
  /** Early enqueues in `batch` not cancelled by their acks, and their envelope bytes. */
  private earlyOps = 0;
  private earlyBytes = 0;
  /** A commit of the whole batch is due at the next turn (it holds an urgent write). */
  private flushScheduled = false;
  /** Acks and last-seen times wait this timer (LAZY_FLUSH_MS), or the next commit. */
  private lazyFlush: NodeJS.Timeout | undefined;
  /** Runs while early enqueues wait (EARLY_TICK_MS); `tick` counts its runs. */
  private earlyTimer: NodeJS.Timeout | undefined;
  private tick = 0;
  private readonly lastSeenPending = new Map<string, number>();
  private lastSeenTimer: NodeJS.Timeout | undefined;
  private readonly counts = new QueueCounts();
  /**
   * Enqueues waiting for the batch commit, by recipient and id: an ack may find its envelope
   * here (an early delivery acked before the commit) and cancel both writes; `slow` counts
   * those that were not delivered early (they deliver at the commit, so none after them may go
   * early: order holds).
   */
  private readonly waiting = new Map<
    string,
    { ops: IdRing<BatchedOp>; slow: number; from: Map<string, number> }
  >();
  /** The WAL sync in flight, and the one queued behind it (for commits it may have missed). */
  private syncing: Promise<void> | undefined;
  private syncAgain: Promise<void> | undefined;
  private readonly wal: WalFile;
  /**
   * The sender of each envelope this handle enqueued, by recipient and id, until its ack: the
   * ack's delete then needs no RETURNING (issue 12: 1.5 µs of the 7 µs the two statements cost
   * per message). Dropped whenever the counts are rebuilt (another connection wrote, or a bulk
   * delete or a rollback here), so an entry always names the row's real sender; an id without
   * one (enqueued before a restart, or past SENDERS_KEPT) is read back by the delete.
   */
  private readonly senders = new PerRecipient<string, string>();
  private sendersKept = 0;
  /** `data_version` when the counts were last exact; undefined: rebuild before use. */
  private countsVersion: number | undefined;
  /** The batch transaction, made once (a new wrapper per commit was ~1-2 % of the relay's time). */
  private readonly commitBatch: Transaction<(ops: readonly BatchedOp[]) => void>;

  constructor(db: SqliteDb, file: string) {
    this.db = db;
    this.file = file;
    this.wal = new WalFile(`${file}-wal`);
    guarded(WHAT, file, 'store.open', () => db.exec(DROP_TRIGGER_COUNTERS));
    // Durability as with synchronous = FULL, without blocking the event loop: SQLite commits
    // without syncing (NORMAL still syncs around checkpoints) and every write's promise settles
    // only after `sync` has flushed the WAL file to disk on the libuv pool. While one batch's
    // sync runs, the relay goes on reading and committing the next (issue 12: a synced commit
    // took 4 ms p50, 16 ms p99 on the bench machine, all of it with the relay stopped).
    guarded(WHAT, file, 'store.open', () => db.pragma('synchronous = NORMAL'));
    this.q = {
      insertUser: db.prepare(
        `INSERT INTO users (canon, name, sign_key, dh_key, idcert, registered_at, last_seen)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      userByCanon: db.prepare(
        'SELECT u.*, r.pub AS recovery FROM users u LEFT JOIN recovery_keys r USING (canon) WHERE u.canon = ?',
      ),
      nameByCanon: db.prepare('SELECT name FROM users WHERE canon = ?').pluck(),
      users: db.prepare(
        'SELECT u.*, r.pub AS recovery FROM users u LEFT JOIN recovery_keys r USING (canon) ORDER BY u.canon',
      ),
      putRecovery: db.prepare(
        'INSERT INTO recovery_keys (canon, pub) VALUES (?, ?) ON CONFLICT (canon) DO UPDATE SET pub = excluded.pub',
      ),
      replaceUser: db.prepare(
        'UPDATE users SET sign_key = ?, dh_key = ?, idcert = ?, registered_at = ?, last_seen = ? WHERE canon = ?',
      ),
      signKeyHolder: db.prepare('SELECT canon FROM users WHERE sign_key = ?'),
      dropSpk: db.prepare('DELETE FROM signed_prekeys WHERE canon = ?'),
      dropOpks: db.prepare('DELETE FROM one_time_prekeys WHERE canon = ?'),
      dropQueue: db.prepare('DELETE FROM queue WHERE to_canon = ?'),
      setLastSeen: db.prepare('UPDATE users SET last_seen = ? WHERE canon = ?'),
      deleteUser: db.prepare('DELETE FROM users WHERE canon = ?'),
      spk: db.prepare('SELECT id, pub, sig FROM signed_prekeys WHERE canon = ?'),
      putSpk: db.prepare(
        `INSERT INTO signed_prekeys (canon, id, pub, sig) VALUES (?, ?, ?, ?)
         ON CONFLICT (canon) DO UPDATE SET id = excluded.id, pub = excluded.pub, sig = excluded.sig`,
      ),
      insertOpk: db.prepare(
        'INSERT INTO one_time_prekeys (canon, id, pub) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      oldestOpk: db.prepare(
        'SELECT id, pub FROM one_time_prekeys WHERE canon = ? AND consumed = 0 ORDER BY id LIMIT 1',
      ),
      consumeOpk: db.prepare('UPDATE one_time_prekeys SET consumed = 1 WHERE canon = ? AND id = ?'),
      countOpks: db.prepare('SELECT count(*) AS n FROM one_time_prekeys WHERE canon = ? AND consumed = 0'),
      userExists: db.prepare('SELECT 1 FROM users WHERE canon = ?'),
      queued: db.prepare('SELECT 1 FROM queue WHERE to_canon = ? AND id = ?'),
      counts: db.prepare(
        'SELECT to_canon, from_canon, count(*) AS n FROM queue GROUP BY to_canon, from_canon',
      ),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      totalChanges: db.prepare('SELECT total_changes()').pluck(),
      insertQueued: db.prepare(
        `INSERT INTO queue (id, to_canon, from_name, from_canon, env, ts) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (to_canon, id) DO NOTHING`,
      ),
      pending: db.prepare(
        'SELECT id, to_canon, from_name, env, ts FROM queue WHERE to_canon = ? ORDER BY seq LIMIT ?',
      ),
      ack: db.prepare('DELETE FROM queue WHERE to_canon = ? AND id = ? RETURNING from_canon'),
      ackKnown: db.prepare('DELETE FROM queue WHERE to_canon = ? AND id = ?'),
      maxSeq: db.prepare('SELECT max(seq) FROM queue').pluck(),
      sliceEnd: db.prepare('SELECT seq FROM queue WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?').pluck(),
      expire: db.prepare('DELETE FROM queue WHERE seq > ? AND seq <= ? AND ts < ?'),
    };
    this.commitBatch = db.transaction((ops: readonly BatchedOp[]) => {
      this.syncCounts();
      this.writeLastSeen();
      for (const op of ops) {
        if (op === CANCELLED) continue;
        try {
          op.value = this.apply(op);
          op.ok = true;
        } catch (err) {
          if (!isChatError(err)) throw err;
          op.value = err;
        }
      }
    });
  }

  /** Every operation: refused after close, and SQLite failures mapped to ChatErrors. */
  private run<T>(operation: string, fn: () => T): Promise<T> {
    try {
      if (this.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, operation);
      return Promise.resolve(guarded(WHAT, this.file, operation, fn));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `run` for an operation that may write: when it changed a row, its promise settles after the
   * WAL is on disk (a registration, a consumed one-time prekey must survive a power loss).
   */
  private runWrite<T>(operation: string, fn: () => T): Promise<T> {
    return this.run(operation, () => {
      const before = this.q.totalChanges.get() as number;
      const v = fn();
      return { v, wrote: (this.q.totalChanges.get() as number) !== before };
    }).then(({ v, wrote }) => (wrote ? this.sync(operation).then(() => v) : v));
  }

  /**
   * Flushes the WAL file to disk. A sync already running may have started before the caller's
   * commit was written, so the caller waits for one that starts after it (one queued at most).
   */
  private sync(operation: string): Promise<void> {
    if (!this.syncing) return this.startSync(operation);
    this.syncAgain ??= this.syncing.then(
      () => {
        this.syncAgain = undefined;
        return this.startSync(operation);
      },
      () => {
        this.syncAgain = undefined;
        return this.startSync(operation);
      },
    );
    return this.syncAgain;
  }

  private startSync(operation: string): Promise<void> {
    const p = this.wal.sync().catch((err: unknown) => {
      throw new ChatError(
        'storage_failed',
        `the ${WHAT} could not write its journal to disk (${(err as NodeJS.ErrnoException).code ?? 'unknown'})`,
        operation,
      );
    });
    this.syncing = p;
    const clear = () => {
      if (this.syncing === p) this.syncing = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * Queues a write for the next batch commit; its promise settles after the commit (and, when
   * `durable`, its fsync). An enqueue (`env`) is also kept in `waiting` until the commit.
   */
  private batched(
    kind: OpKind,
    operation: string,
    durable: boolean,
    to = '',
    id = '',
    from = '',
    env?: NewEnvelope,
    caps?: QueueCaps,
    committed?: (v: EnqueueResult) => void,
    user?: NewUser,
    at = 0,
  ): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new ChatError('storage_failed', `the ${WHAT} is closed`, operation));
    }
    return new Promise((resolve, reject) =>
      this.queue(kind, operation, durable, to, id, from, env, caps, committed, user, at, resolve, reject),
    );
  }

  /** `batched` without the promise: the op settles through `resolve` and `reject`, or `done`. */
  private queue(
    kind: OpKind,
    operation: string,
    durable: boolean,
    to: string,
    id: string,
    from: string,
    env: NewEnvelope | undefined,
    caps: QueueCaps | undefined,
    committed: ((v: EnqueueResult) => void) | undefined,
    user: NewUser | undefined,
    at: number,
    resolve: ((v: unknown) => void) | undefined,
    reject: ((err: unknown) => void) | undefined,
    done?: (err: unknown) => void,
  ): void {
    const early = kind === 'early';
    const op: BatchedOp = {
      kind,
      operation,
      env,
      caps,
      user,
      at,
      to,
      id,
      from,
      committed,
      durable,
      resolve,
      reject,
      done,
      ok: false,
      value: undefined,
      committedError: undefined,
      slot: this.batch.length,
      tick: this.tick,
    };
    this.batch.push(op);
    if (env) {
      let w = this.waiting.get(to);
      if (!w) this.waiting.set(to, (w = { ops: new IdRing(), slow: 0, from: new Map() }));
      if (!early) w.slow++;
      w.from.set(from, (w.from.get(from) ?? 0) + 1);
      // A second enqueue of one id in a batch is the slow kind (it finds the first at the commit).
      if (!w.ops.has(id)) w.ops.add(id, op);
    }
    if (early) {
      this.earlyOps++;
      this.earlyBytes += (env as NewEnvelope).env.length;
    }
    if (durable && (!early || this.earlyOps >= EARLY_BATCH_MAX || this.earlyBytes >= EARLY_BATCH_BYTES)) {
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    } else if (!this.flushScheduled) this.armTimer(early);
  }

  /**
   * The timers of a batch without an urgent write: acks and last-seen times commit within
   * LAZY_FLUSH_MS, early enqueues once they have waited EARLY_GROUP_MS (`commitDue`). The early
   * timer keeps the process up: a batch holding enqueues commits even when nothing else does.
   */
  private armTimer(early: boolean): void {
    if (early && !this.earlyTimer) {
      this.earlyTimer = setTimeout(() => {
        this.earlyTimer = undefined;
        this.tick++;
        this.commitDue();
      }, EARLY_TICK_MS);
    } else if (!early && !this.lazyFlush) {
      this.lazyFlush = setTimeout(() => {
        this.lazyFlush = undefined;
        this.commitDue();
      }, LAZY_FLUSH_MS);
      this.lazyFlush.unref();
    }
  }

  /** What an op writes; runs inside the batch transaction, in call order. */
  private apply(op: BatchedOp): unknown {
    switch (op.kind) {
      case 'enqueue':
        return this.checkedInsert(op.env as NewEnvelope, op.from, op.caps as QueueCaps);
      case 'early':
        return this.insert(op.env as NewEnvelope, op.from);
      case 'ack':
        return this.deleteAcked(op.to, op.id);
      case 'register':
        return this.insertUser(op.user as NewUser, op.at);
      case 'none':
        return undefined;
    }
  }

  /**
   * Commits every pending queue write (`commit`). Called before every queue read, so reads see
   * every write made before them (the order promise of store.ts).
   */
  private flush(): void {
    this.flushScheduled = false;
    if (this.lazyFlush) clearTimeout(this.lazyFlush);
    this.lazyFlush = undefined;
    if (this.earlyTimer) clearTimeout(this.earlyTimer);
    this.earlyTimer = undefined;
    const ops = this.batch;
    this.batch = [];
    this.earlyOps = 0;
    this.earlyBytes = 0;
    // Every enqueue waiting is in this batch: from here an ack finds its row in the table.
    this.waiting.clear();
    // Reads flush queue writes only; pending last-seen times ride along with real writes. A
    // batch whose early enqueues were all acked writes nothing: no empty transaction.
    if (ops.some((op) => op !== CANCELLED)) this.commit(ops);
  }

  /**
   * A timer's commit, while no urgent write waits (with one, the whole batch commits at the
   * next turn, in call order): the acks and last-seen times, and the early enqueues that have
   * waited EARLY_GROUP_TICKS ticks; younger ones go on waiting for their acks. Then the batch
   * holds early enqueues, acks and last-seen times only, and this order keeps what matters:
   * early enqueues commit oldest first (so per recipient in delivery order), and an ack's row
   * was committed before the ack was queued (the ack of a waiting early enqueue cancels it).
   */
  private commitDue(): void {
    if (this.flushScheduled) return;
    if (this.lazyFlush) clearTimeout(this.lazyFlush);
    this.lazyFlush = undefined;
    const due = this.tick - EARLY_GROUP_TICKS;
    const now: BatchedOp[] = [];
    const keep: BatchedOp[] = [];
    for (const op of this.batch) {
      if (op === CANCELLED) continue;
      if (op.kind === 'early' && op.tick > due) {
        op.slot = keep.length;
        keep.push(op);
      } else {
        if (op.kind === 'early') this.leaveWaiting(op);
        now.push(op);
      }
    }
    this.batch = keep;
    if (this.earlyOps > 0) this.armTimer(true);
    if (now.length > 0) this.commit(now);
  }

  /** An early enqueue committed by `commitDue`: from here an ack finds its row in the table. */
  private leaveWaiting(op: BatchedOp): void {
    this.earlyOps--;
    this.earlyBytes -= (op.env as NewEnvelope).env.length;
    const w = this.waiting.get(op.to);
    if (!w) return;
    if (w.ops.get(op.id) === op) w.ops.delete(op.id);
    const n = (w.from.get(op.from) ?? 1) - 1;
    if (n > 0) w.from.set(op.from, n);
    else w.from.delete(op.from);
    if (w.ops.size === 0 && w.slow === 0) this.waiting.delete(op.to);
  }

  /**
   * Commits `ops` in one IMMEDIATE transaction. An op that refuses with a ChatError (an unknown
   * user) has written nothing and fails alone; any SQLite failure rolls the whole batch back and
   * fails every op in it.
   */
  private commit(ops: readonly BatchedOp[]): void {
    try {
      guarded(WHAT, this.file, 'store.commit', () => this.commitBatch.immediate(ops));
    } catch (err) {
      // Rolled back: the counts bumped inside it are wrong now. An early-delivered envelope's
      // sender gets the error instead of `sent` and sends it again; its recipient drops the
      // repeat by id.
      this.countsVersion = undefined;
      for (const op of ops) if (op !== CANCELLED) fail(op, err);
      return;
    }
    // The fsync starts first; the `committed` callbacks (deliveries) run while it is under way.
    // A batch of acks alone is not synced (issue 12: one fsync per message instead of two): an
    // ack lost in a crash only makes the relay deliver that envelope again, and the recipient
    // drops the repeat by its id; the next synced batch or the close carries it to disk.
    // Only the durable ops wait for the fsync (loops, not closures per op: issue 12).
    let durable: BatchedOp[] | undefined;
    for (const op of ops) if (op.durable) (durable ??= []).push(op);
    if (durable) {
      const waiting = durable;
      this.sync('store.commit').then(
        () => {
          for (const op of waiting) settle(op);
        },
        (err: unknown) => {
          for (const op of waiting) fail(op, err);
        },
      );
    }
    for (const op of ops) {
      if (op.committedError && op.ok) {
        op.ok = false;
        op.value = op.committedError.err;
      }
      if (!op.ok || !op.committed) continue;
      try {
        op.committed(op.value as never);
      } catch (err) {
        // Nothing is lost: the write stands, and the op's promise (so `sent`) fails instead.
        op.ok = false;
        op.value = err;
      }
    }
    for (const op of ops) if (!op.durable && op !== CANCELLED) settle(op);
  }

  /**
   * Makes the in-memory counts exact: rebuilt from the queue when this handle dropped rows in bulk
   * or another connection committed since they were. Inside a write transaction nobody else can
   * commit until ours does, so they stay exact to its end.
   */
  private syncCounts(): void {
    const v = this.q.dataVersion.get() as number;
    if (this.countsVersion === v) return;
    this.counts.clear();
    this.senders.clear();
    this.sendersKept = 0;
    for (const r of this.q.counts.all() as { to_canon: string; from_canon: string; n: number }[]) {
      this.counts.total.set(r.to_canon, (this.counts.total.get(r.to_canon) ?? 0) + r.n);
      this.counts.perSender.set(r.to_canon, r.from_canon, r.n);
    }
    this.countsVersion = v;
  }

  /**
   * A login (the name already held by this identity) reads only: no write, no sync. A new name
   * is inserted by the batch commit at the end of this turn, with the queue writes and other
   * registrations of the turn: one commit and one fsync for them all (issue 12: a commit, a
   * transaction wrapper and an fsync of its own per registration were 9 % of the relay's busy
   * time while 20,000 idle clients registered). It settles after the fsync, as every durable
   * write.
   */
  register(user: NewUser, now: number): Promise<RegisterResult> {
    return this.run('store.register', () => this.q.userByCanon.get(user.canon) as UserRow | undefined).then(
      (known) =>
        known && sameKeys(known, user)
          ? 'existing'
          : (this.batched(
              'register',
              'store.register',
              true,
              user.canon,
              '',
              '',
              undefined,
              undefined,
              undefined,
              user,
              now,
            ) as Promise<RegisterResult>),
    );
  }

  /** A registration's insert; runs inside the batch transaction. */
  private insertUser(user: NewUser, now: number): RegisterResult {
    const r = this.q.insertUser.run(user.canon, user.name, user.signKey, user.dhKey, user.idcert, now, now);
    if (r.changes === 1) {
      if (user.recovery) this.q.putRecovery.run(user.canon, user.recovery);
      return 'ok';
    }
    // The insert lost on a unique index; say which one. Reading after the failed insert is
    // safe: a row changes identity only by replaceIdentity, itself one transaction.
    const holder = this.q.userByCanon.get(user.canon) as UserRow | undefined;
    if (holder !== undefined) return sameKeys(holder, user) ? 'existing' : 'name_taken';
    return 'identity_taken';
  }

  replaceIdentity(user: NewUser, now: number): Promise<ReplaceResult> {
    // Queue writes waiting for the batch go first, so none lands after the queue is dropped.
    this.flush();
    return this.runWrite('store.replaceIdentity', () =>
      this.db
        .transaction((): ReplaceResult => {
          if (this.q.userExists.get(user.canon) === undefined) return 'unknown_user';
          const holder = this.q.signKeyHolder.get(user.signKey) as { canon: string } | undefined;
          if (holder !== undefined && holder.canon !== user.canon) return 'identity_taken';
          this.q.dropQueue.run(user.canon);
          this.countsVersion = undefined;
          this.q.dropOpks.run(user.canon);
          this.q.dropSpk.run(user.canon);
          this.q.replaceUser.run(user.signKey, user.dhKey, user.idcert, now, now, user.canon);
          if (user.recovery) this.q.putRecovery.run(user.canon, user.recovery);
          this.lastSeenPending.delete(user.canon);
          return 'ok';
        })
        .immediate(),
    );
  }

  setRecovery(canon: string, recovery: Uint8Array): Promise<void> {
    return this.runWrite('store.setRecovery', () => {
      if (this.q.userExists.get(canon) === undefined) throw unknownUser(canon, 'store.setRecovery');
      this.q.putRecovery.run(canon, recovery);
    });
  }

  lookup(canon: string): Promise<UserRecord | undefined> {
    return this.run('store.lookup', () => {
      const r = this.q.userByCanon.get(canon) as UserRow | undefined;
      return r === undefined ? undefined : this.withPendingLastSeen(toUser(r));
    });
  }

  displayNames(canons: readonly string[]): Promise<(string | undefined)[]> {
    return this.run('store.displayNames', () =>
      canons.map((c) => this.q.nameByCanon.get(c) as string | undefined),
    );
  }

  listUsers(): Promise<UserRecord[]> {
    return this.run('store.listUsers', () =>
      (this.q.users.all() as UserRow[]).map((r) => this.withPendingLastSeen(toUser(r))),
    );
  }

  private withPendingLastSeen(u: UserRecord): UserRecord {
    const seen = this.lastSeenPending.get(u.canon);
    return seen === undefined ? u : { ...u, lastSeen: seen };
  }

  /**
   * Last-seen times are kept in memory and written with the next queue batch, or within
   * LAST_SEEN_FLUSH_MS: a synced write per disconnect cost a third of the relay's handshake
   * time (bench profile), and a last-seen time lost in a crash harms nobody.
   */
  setLastSeen(canon: string, now: number): Promise<void> {
    if (this.closed)
      return Promise.reject(new ChatError('storage_failed', `the ${WHAT} is closed`, 'store.setLastSeen'));
    this.lastSeenPending.set(canon, now);
    if (!this.lastSeenTimer) {
      this.lastSeenTimer = setTimeout(() => {
        this.lastSeenTimer = undefined;
        if (this.lastSeenPending.size && !this.closed)
          void this.batched('none', 'store.setLastSeen', false).catch(() => undefined);
      }, LAST_SEEN_FLUSH_MS);
      this.lastSeenTimer.unref();
    }
    return Promise.resolve();
  }

  /** Writes pending last-seen times; runs inside the batch transaction. */
  private writeLastSeen(): void {
    for (const [canon, ts] of this.lastSeenPending) this.q.setLastSeen.run(ts, canon);
    this.lastSeenPending.clear();
  }

  freeName(canon: string): Promise<boolean> {
    // Prekeys and queued envelopes go with the user (ON DELETE CASCADE): they were made for an
    // identity that is gone.
    this.flush();
    return this.runWrite('store.freeName', () => {
      this.countsVersion = undefined;
      return this.q.deleteUser.run(canon).changes === 1;
    });
  }

  publishPrekeys(
    canon: string,
    spk: SignedPrekey | undefined,
    opks: readonly OneTimePrekey[],
  ): Promise<PublishResult> {
    return this.runWrite('store.publishPrekeys', () => {
      if (spk !== undefined) checkPrekeyId(spk.id);
      for (const k of opks) checkPrekeyId(k.id);
      const tx = this.db.transaction((): PublishResult => {
        if (this.q.userExists.get(canon) === undefined) throw unknownUser(canon, 'store.publishPrekeys');
        if (spk !== undefined) {
          const cur = this.q.spk.get(canon) as { id: number; pub: Buffer; sig: Buffer } | undefined;
          // Republishing the current spk unchanged is a harmless retry; the same id with other
          // bytes is a reused id.
          if (cur !== undefined && cur.id === spk.id) {
            if (!constantTimeEqual(cur.pub, spk.pub) || !constantTimeEqual(cur.sig, spk.sig)) {
              throw new DuplicateId();
            }
          }
          this.q.putSpk.run(canon, spk.id, spk.pub, spk.sig);
        }
        for (const k of opks) {
          if (this.q.insertOpk.run(canon, k.id, k.pub).changes !== 1) throw new DuplicateId();
        }
        return 'ok';
      });
      try {
        return tx();
      } catch (err) {
        if (err instanceof DuplicateId) return 'duplicate_id'; // rolled back: nothing was stored
        throw err;
      }
    });
  }

  takeBundle(canon: string, takeOpk = true): Promise<PrekeyBundle | undefined> {
    return this.runWrite('store.takeBundle', () =>
      // One transaction, so two requesters can never be handed the same one-time prekey.
      this.db
        .transaction((): PrekeyBundle | undefined => {
          const s = this.q.spk.get(canon) as { id: number; pub: Buffer; sig: Buffer } | undefined;
          if (s === undefined) return undefined;
          const spk: SignedPrekey = { id: s.id, pub: bytes(s.pub), sig: bytes(s.sig) };
          if (!takeOpk) return { spk };
          const o = this.q.oldestOpk.get(canon) as { id: number; pub: Buffer } | undefined;
          if (o === undefined) return { spk };
          this.q.consumeOpk.run(canon, o.id);
          return { spk, opk: { id: o.id, pub: bytes(o.pub) } };
        })
        .immediate(),
    );
  }

  countOpks(canon: string): Promise<number> {
    return this.run('store.countOpks', () => (this.q.countOpks.get(canon) as { n: number }).n);
  }

  /**
   * Checks and insert run inside the batch transaction, in call order; `committed` is called
   * after the commit, before its fsync. With `early` (the recipient is online: issue 12) the
   * envelope may go sooner: when this handle knows every envelope waiting for the recipient (the
   * ids it enqueued, kept until their acks), none of them has this id, nothing before it in the
   * batch for that recipient delivers at the commit, and the caps hold counting what waits for
   * the commit, `committed('ok')` is called at once and the batch may wait EARLY_GROUP_MS for
   * more. An ack of the id before the commit then cancels the insert (see `ack`): the recipient
   * has stored it, so nothing is written for it at all, and the promise resolves 'ok'. Otherwise
   * the promise resolves after the commit and its fsync, as for any enqueue. A crash before
   * either loses nothing: the sender had no `sent` and sends again with the same id, and the
   * recipient drops the repeat by id (as when a commit fails to reach the disk after a delivery).
   */
  enqueue(
    env: NewEnvelope,
    caps: QueueCaps = { perRecipient: QUEUE_MAX_PER_RECIPIENT, perSender: QUEUE_MAX_PER_SENDER },
    committed?: (result: EnqueueResult) => void,
    early = false,
  ): Promise<EnqueueResult> {
    const fromCanon = canonName(env.from);
    if (early && committed && !this.closed && this.mayGoEarly(env, fromCanon, caps)) {
      const p = new Promise<EnqueueResult>((resolve, reject) =>
        this.envelopeOp(
          'early',
          env,
          fromCanon,
          undefined,
          undefined,
          resolve as (v: unknown) => void,
          reject,
        ),
      );
      // The op was queued synchronously, before `committed` can deliver (and a delivery
      // that has to pump reads the queue, which flushes this batch with the op in it).
      const op = this.batch[this.batch.length - 1];
      try {
        committed('ok');
      } catch (err) {
        // As at a commit: the write stands, and the promise (so `sent`) fails instead.
        op.committedError = { err };
      }
      return p as Promise<EnqueueResult>;
    }
    if (this.closed)
      return Promise.reject(new ChatError('storage_failed', `the ${WHAT} is closed`, 'store.enqueue'));
    return new Promise<EnqueueResult>((resolve, reject) =>
      this.envelopeOp('enqueue', env, fromCanon, caps, committed, resolve as (v: unknown) => void, reject),
    );
  }

  /** An enqueue's op for the batch (`queue`): checked at the commit, or delivered early. */
  private envelopeOp(
    kind: 'enqueue' | 'early',
    env: NewEnvelope,
    fromCanon: string,
    caps: QueueCaps | undefined,
    committed: ((v: EnqueueResult) => void) | undefined,
    resolve: ((v: unknown) => void) | undefined,
    reject: ((err: unknown) => void) | undefined,
    done?: (err: unknown) => void,
  ): void {
    this.queue(
      kind,
      'store.enqueue',
      true,
      env.to,
      env.id,
      fromCanon,
      env,
      caps,
      committed,
      undefined,
      0,
      resolve,
      reject,
      done,
    );
  }

  /** `enqueue` with `early`, by callback (store.ts): the same checks and the same op. */
  enqueueEarly(env: NewEnvelope, caps: QueueCaps, done: (err: unknown) => void): boolean {
    const fromCanon = canonName(env.from);
    if (this.closed || !this.mayGoEarly(env, fromCanon, caps)) return false;
    this.envelopeOp('early', env, fromCanon, undefined, undefined, undefined, undefined, done);
    return true;
  }

  /** An enqueue at its commit: the caps, then the insert. */
  private checkedInsert(env: NewEnvelope, fromCanon: string, caps: QueueCaps): EnqueueResult {
    const total = this.counts.total.get(env.to) ?? 0;
    const mine = this.counts.perSender.get(env.to)?.get(fromCanon) ?? 0;
    // A resend of a waiting id is `duplicate`, full queue or not; the insert finds it itself
    // (the UNIQUE index) instead of a lookup before it (issue 12).
    if (total >= caps.perRecipient || mine >= caps.perSender)
      return this.q.queued.get(env.to, env.id) !== undefined ? 'duplicate' : 'queue_full';
    return this.insert(env, fromCanon);
  }

  private insert(env: NewEnvelope, fromCanon: string): EnqueueResult {
    let r;
    try {
      r = this.q.insertQueued.run(env.id, env.to, env.from, fromCanon, envelopeBytes(env.env), env.ts);
    } catch (err) {
      // The recipient is checked by the foreign key (issue 12: no lookup of our own before
      // the insert); that failure rolls back this statement only.
      if (isSqliteError(err) && err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY')
        throw unknownUser(env.to, 'store.enqueue');
      throw err;
    }
    if (r.changes === 0) return 'duplicate';
    this.counts.bump(env.to, fromCanon, 1);
    if (this.sendersKept < SENDERS_KEPT) {
      this.senders.set(env.to, env.id, fromCanon);
      this.sendersKept++;
    }
    return 'ok';
  }

  /** Whether `enqueue` may deliver this envelope before its commit (its doc says when). */
  private mayGoEarly(env: NewEnvelope, fromCanon: string, caps: QueueCaps): boolean {
    if (this.countsVersion === undefined) return false;
    const known = this.senders.get(env.to);
    const total = this.counts.total.get(env.to) ?? 0;
    if (total !== (known?.size ?? 0) || known?.has(env.id)) return false;
    const w = this.waiting.get(env.to);
    if (w && (w.slow > 0 || w.ops.has(env.id))) return false;
    const mine = (this.counts.perSender.get(env.to)?.get(fromCanon) ?? 0) + (w?.from.get(fromCanon) ?? 0);
    return total + (w?.ops.size ?? 0) < caps.perRecipient && mine < caps.perSender;
  }

  pending(canon: string, limit?: number): Promise<QueuedEnvelope[]> {
    this.flush();
    return this.run('store.pending', () =>
      (this.q.pending.all(canon, limit ?? QUEUE_MAX_PER_RECIPIENT) as QueueRow[]).map(toQueued),
    );
  }

  ack(canon: string, id: string): Promise<boolean> {
    if (this.cancelEarly(canon, id)) return Promise.resolve(true);
    return this.batched('ack', 'store.ack', false, canon, id) as Promise<boolean>;
  }

  cancelEarly(canon: string, id: string): boolean {
    const w = this.waiting.get(canon);
    const op = w?.ops.get(id);
    if (!w || op?.kind !== 'early') return false;
    // Delivered early and acked before its commit: the recipient has it; neither the insert nor
    // a delete is written, and the sender's `sent` is answered now. The recipient's entry stays
    // (empty) until the commit: not two Maps made per message.
    w.ops.delete(id);
    w.from.set(op.from, (w.from.get(op.from) as number) - 1);
    this.batch[op.slot] = CANCELLED;
    this.earlyOps--;
    this.earlyBytes -= (op.env as NewEnvelope).env.length;
    succeed(op, 'ok');
    return true;
  }

  /** An ack's delete, at its commit. */
  private deleteAcked(canon: string, id: string): boolean {
    const known = this.senders.get(canon)?.get(id);
    if (known !== undefined) {
      this.senders.delete(canon, id);
      this.sendersKept--;
      if (this.q.ackKnown.run(canon, id).changes === 0) return false;
      this.counts.bump(canon, known, -1);
      return true;
    }
    const from = this.q.ack.get(canon, id) as { from_canon: string } | undefined;
    if (from === undefined) return false;
    this.counts.bump(canon, from.from_canon, -1);
    return true;
  }

  countQueued(canon: string): Promise<number> {
    this.flush();
    return this.run('store.countQueued', () => {
      this.syncCounts();
      return this.counts.total.get(canon) ?? 0;
    });
  }

  /**
   * Scans the queue by seq in slices of EXPIRE_SLICE rows, each its own statement: without an
   * index on ts (see SCHEMA) a queue of millions is not one stall of the event loop. Rows stored
   * while it runs are above the last seq it reads, and too young to expire.
   */
  async expire(now: number): Promise<number> {
    this.flush();
    const last = await this.run('store.expire', () => (this.q.maxSeq.get() as number | null) ?? 0);
    let expired = 0;
    for (let from = 0; from < last;) {
      this.flush();
      const slice = await this.runWrite('store.expire', () => {
        const end = Math.min(
          last,
          (this.q.sliceEnd.get(from, EXPIRE_SLICE - 1) as number | undefined) ?? last,
        );
        const n = this.q.expire.run(from, end, now - QUEUE_TTL_MS).changes;
        if (n > 0) this.countsVersion = undefined;
        return { end, n };
      });
      expired += slice.n;
      from = slice.end;
    }
    return expired;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    // What was accepted is committed before the file closes.
    if (this.lastSeenTimer) clearTimeout(this.lastSeenTimer);
    this.flush();
    // What was committed is on disk before the file closes (the sync also covers the flush above).
    const synced = this.sync('store.close');
    this.closed = true;
    const closeDb = async () => {
      await this.wal.close();
      guarded(WHAT, this.file, 'store.close', () => this.db.close());
    };
    return synced.then(closeDb, async (err: unknown) => {
      await closeDb();
      throw err;
    });
  }
}

/**
 * The WAL file, opened once for fsync on the libuv pool (an open and close per sync cost ~5 % of
 * the relay's busy time). SQLite keeps the same file while a connection of ours is open. No WAL
 * file yet means nothing waits in one: SQLite has checkpointed into the database (and synced
 * it) or never wrote one.
 */
class WalFile {
  private handle: Promise<fs.promises.FileHandle | undefined> | undefined;

  constructor(private readonly file: string) {}

  private open(): Promise<fs.promises.FileHandle | undefined> {
    this.handle ??= fs.promises.open(this.file, 'r').then(
      (fh) => fh,
      (err: NodeJS.ErrnoException) => {
        this.handle = undefined;
        if (err.code === 'ENOENT') return undefined;
        throw err;
      },
    );
    return this.handle;
  }

  async sync(): Promise<void> {
    const fh = await this.open();
    if (fh) await fh.sync();
  }

  async close(): Promise<void> {
    const fh = await this.handle?.catch(() => undefined);
    this.handle = undefined;
    await fh?.close();
  }
}

/** Internal signal to roll back a publish; never escapes this file. */
class DuplicateId extends Error {}
