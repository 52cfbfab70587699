/**
 * The RelayStore for several relays (issue 14): all shared state in one Redis, through node-redis.
 * Every multi-step operation is one Lua script (redis/scripts.ts), so it is atomic across relays.
 *
 * Key layout (prefix `cs:` unless told; `{canon}` is the user's Redis Cluster hash tag, so all
 * of one user's keys live in one slot):
 *
 *   cs:directory:idents    hash   signKey bytes → canon      (one identity, one name)
 *   cs:directory:names     zset   canon, score 0              (listUsers, in canon order)
 *   cs:expire:lease        string lease token, PX             (one relay expires at a time)
 *   cs:{canon}:user        hash   name, sign, dh, idcert, reg, seen
 *   cs:{canon}:spk         hash   id, pub, sig
 *   cs:{canon}:opk:ids     set    every one-time prekey id ever published
 *   cs:{canon}:opk:free    zset   unused opk id, score id     (ZPOPMIN: lowest id first)
 *   cs:{canon}:opk:pub     hash   opk id → pub
 *   cs:{canon}:q:order     zset   envelope id, score arrival seq (the queue, source of truth)
 *   cs:{canon}:q:ts        zset   envelope id, score relay ms  (expiry)
 *   cs:{canon}:q:env       hash   envelope id → bytes
 *   cs:{canon}:q:from      hash   envelope id → sender as registered
 *   cs:{canon}:q:fromc     hash   envelope id → sender canon
 *   cs:{canon}:q:senders   hash   sender canon → queued count (per-sender cap)
 *   cs:{canon}:q:meta      hash   seq, bytes                  (arrival counter, byte cap)
 *   cs:{canon}:session     string owner (relay id / connection), PX  (who holds the user)
 *   channel cs:{canon}:wake       enqueue publishes the envelope id here
 *   channel cs:{canon}:presence   the relay holding the user publishes its logins and logouts
 *   channel cs:relay:ID:control   what other relays ask relay ID (close a replaced session)
 *
 * The hot path (bundle, enqueue, pending, ack, expiry) touches one user's slot only. register and
 * freeName also touch the two directory keys: on one Redis that is one atomic script; a Redis
 * Cluster would need the directory in a slot of its own and those two split in steps.
 *
 * Durability ("stored before sent"): a command resolves only after Redis answered it, and Redis
 * answers a write only after it is in the AOF. The promise holds only with
 *   appendonly yes          (else a restart forgets every write since the last snapshot),
 *   appendfsync always      (else the answer may precede the fsync by up to a second),
 *   maxmemory-policy noeviction (else Redis may evict queued envelopes or keys under pressure;
 *                            with noeviction a full Redis refuses the write: storage_failed).
 * checkRedisSettings() reads them at start and warns, naming each unsafe one. With replicas, a
 * failover can still lose writes the primary answered (Redis replication is asynchronous).
 *
 * An outage: the client does not queue commands while disconnected (disableOfflineQueue), every
 * command has a timeout, and in-flight commands fail when the socket closes, so each operation
 * rejects with ChatError `storage_failed` ("the Redis relay store is unreachable ...") instead of
 * hanging; the client reconnects in the background and the next operation works again.
 */
import { randomBytes } from 'node:crypto';
import { createClient, ErrorReply, RESP_TYPES } from 'redis';
import { ChatError, isChatError } from '../errors';
import { canonName } from '../names';
import { constantTimeEqual } from '../crypto/primitives';
import type { Logger } from '../log';
import * as S from './redis/scripts';
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

const WHAT = 'Redis relay store';
/**
 * Redis keeps every queued byte in memory: 10,000 envelopes of 46 KiB would be 460 MiB for one
 * user. A recipient's queue is capped in bytes too (over it: `queue_full`).
 */
export const REDIS_QUEUE_MAX_BYTES_PER_RECIPIENT = 64 * 1024 * 1024;
/** A command unanswered this long fails (`storage_failed`) instead of hanging the request. */
export const REDIS_COMMAND_TIMEOUT_MS = 10_000;
/** How long one relay may hold the expiry lease before another may take over. */
export const EXPIRE_LEASE_MS = 60_000;
/** Envelopes removed per expiry script call, so no one call blocks Redis long. */
const EXPIRE_BATCH = 500;
/** Users read per page while expiring. */
const EXPIRE_USER_PAGE = 200;
const U32_MAX = 0xffff_ffff;
/** Canonical names only (lib/names.ts): nothing that could break out of a `{canon}` hash tag. */
const CANON_PATTERN = /^[a-z0-9_.-]{1,32}$/;

export interface RedisStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`). */
  readonly url: string;
  /** Prepended to every key and channel; `cs:` unless told. */
  readonly prefix?: string;
  readonly commandTimeoutMs?: number;
  readonly maxQueueBytes?: number;
  /** Holder name for the expiry lease (the relay id); a random one unless told. */
  readonly relayId?: string;
  readonly logger?: Logger;
  /** Read the durability settings at open and log a warning per unsafe one (default true). */
  readonly checkSettings?: boolean;
}

/** One durability setting that breaks "stored before sent". */
export interface RedisSettingWarning {
  readonly setting: 'appendonly' | 'appendfsync' | 'maxmemory-policy';
  /** What the server has (`unknown` if CONFIG GET is refused). */
  readonly value: string;
  readonly safe: string;
  readonly message: string;
}

const SAFE_SETTINGS: readonly { setting: RedisSettingWarning['setting']; safe: string; why: string }[] = [
  { setting: 'appendonly', safe: 'yes', why: 'a restart loses every write since the last snapshot' },
  {
    setting: 'appendfsync',
    safe: 'always',
    why: 'Redis may answer a write up to a second before it is on disk',
  },
  { setting: 'maxmemory-policy', safe: 'noeviction', why: 'Redis may evict queued envelopes and keys' },
];

type RedisClient = ReturnType<typeof makeClient>;
type Reply = Buffer | number | string | null | Reply[];

function makeClient(url: string, timeout: number, isOpen: () => boolean) {
  return createClient({
    url,
    // RESP2: Lua replies convert as the scripts expect (false → nil), CONFIG GET is a flat list.
    RESP: 2,
    disableOfflineQueue: true,
    commandOptions: { timeout, typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
    socket: {
      connectTimeout: timeout,
      // While the store is open, keep trying (an outage ends when Redis is back); back off to 1 s.
      reconnectStrategy: (retries: number) =>
        isOpen() ? Math.min(50 * 2 ** retries, 1_000) : new Error('the store is closed'),
    },
  });
}

function str(r: Reply): string {
  if (Buffer.isBuffer(r)) return r.toString('utf8');
  if (typeof r === 'string') return r;
  if (typeof r === 'number') return String(r);
  throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected reply`, 'store.decode');
}

function buf(r: Reply): Uint8Array {
  if (!Buffer.isBuffer(r)) {
    throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected reply`, 'store.decode');
  }
  return new Uint8Array(r.buffer.slice(r.byteOffset, r.byteOffset + r.byteLength));
}

function num(r: Reply): number {
  const n = typeof r === 'number' ? r : Number(str(r));
  if (!Number.isFinite(n)) {
    throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected number`, 'store.decode');
  }
  return n;
}

function arr(r: Reply): Reply[] {
  if (!Array.isArray(r)) {
    throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected reply`, 'store.decode');
  }
  return r;
}

function b(x: Uint8Array): Buffer {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/**
 * A node-redis failure as a ChatError. Only the Redis error's code word is kept (OOM, MISCONF,
 * READONLY, ...), never the rest of its text, so no argument can leak into a log.
 */
function storageFailed(err: unknown, operation: string): ChatError {
  if (isChatError(err)) return err;
  if (err instanceof ErrorReply) {
    const word = /^[A-Z]+/.exec(err.message)?.[0] ?? 'ERR';
    return new ChatError('storage_failed', `the ${WHAT} refused the command (Redis ${word})`, operation);
  }
  const kind = err instanceof Error ? err.name : 'unknown error';
  return new ChatError('storage_failed', `the ${WHAT} is unreachable (${kind})`, operation);
}

/** ARGV of REGISTER and REPLACE_IDENTITY: canon, name, signKey, dhKey, idcert, now, recovery ('' for none). */
function userArgs(user: NewUser, now: number): (string | Buffer)[] {
  const rec = user.recovery ? b(user.recovery) : '';
  return [user.canon, user.name, b(user.signKey), b(user.dhKey), b(user.idcert), String(now), rec];
}

function checkPrekeyId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > U32_MAX) {
    throw new ChatError('bad_message', 'a prekey id is an unsigned 32-bit integer', 'store.publishPrekeys');
  }
}

function unknownUser(canon: string, operation: string): ChatError {
  return new ChatError('unknown_user', `no user named ${canon} is registered`, operation);
}

/** The keys of one user, all with the hash tag `{canon}`. */
export function userKeys(prefix: string, canon: string) {
  if (!CANON_PATTERN.test(canon)) throw new ChatError('bad_name', 'not a canonical user name', 'store.keys');
  const t = `${prefix}{${canon}}:`;
  const queue = [
    `${t}q:order`,
    `${t}q:ts`,
    `${t}q:env`,
    `${t}q:from`,
    `${t}q:fromc`,
    `${t}q:senders`,
    `${t}q:meta`,
  ] as const;
  return {
    user: `${t}user`,
    spk: `${t}spk`,
    opkIds: `${t}opk:ids`,
    opkFree: `${t}opk:free`,
    opkPub: `${t}opk:pub`,
    queue,
    session: `${t}session`,
    wake: `${t}wake`,
    presence: `${t}presence`,
  };
}

/** Reads appendonly, appendfsync and maxmemory-policy; one warning per unsafe (or unreadable) one. */
export async function checkRedisSettings(client: {
  sendCommand: RedisClient['sendCommand'];
}): Promise<RedisSettingWarning[]> {
  const warnings: RedisSettingWarning[] = [];
  for (const { setting, safe, why } of SAFE_SETTINGS) {
    let value = 'unknown';
    try {
      const r = arr((await client.sendCommand(['CONFIG', 'GET', setting])) as Reply);
      if (r.length >= 2) value = str(r[1]).toLowerCase();
    } catch (err) {
      // A managed Redis may refuse CONFIG: the setting is then unknown, which is itself a warning.
      if (!(err instanceof ErrorReply)) throw storageFailed(err, 'store.checkSettings');
    }
    if (value !== safe) {
      warnings.push({
        setting,
        value,
        safe,
        message: `Redis ${setting} is ${value}, not ${safe}: ${why}, so "stored before sent" does not hold`,
      });
    }
  }
  return warnings;
}

/** Connects, loads nothing yet (scripts load on first use), checks the durability settings. */
export async function openRedisRelayStore(opts: RedisStoreOptions): Promise<RedisRelayStore> {
  const store = new RedisRelayStore(opts);
  await store.connect();
  if (opts.checkSettings !== false) {
    for (const w of await store.checkSettings()) {
      opts.logger?.warn({ setting: w.setting, value: w.value, safe: w.safe }, w.message);
    }
  }
  return store;
}

/** What a publish reached: the relays subscribed to the recipient's wake channel. */
export interface EnqueueOutcome {
  readonly result: EnqueueResult;
  /** Subscribers the wake-up publish reached (0 unless `result` is `ok`). */
  readonly listeners: number;
}

export class RedisRelayStore implements RelayStore {
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly maxBytes: number;
  private readonly relayId: string;
  private readonly logger?: Logger;
  private readonly client: RedisClient;
  private subscriber: RedisClient | undefined;
  private subscriberReady: Promise<RedisClient> | undefined;
  private closed = false;
  private readonly resubscribed: (() => void)[] = [];

  constructor(opts: RedisStoreOptions) {
    this.prefix = opts.prefix ?? 'cs:';
    this.timeout = opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
    this.maxBytes = opts.maxQueueBytes ?? REDIS_QUEUE_MAX_BYTES_PER_RECIPIENT;
    this.relayId = opts.relayId ?? randomBytes(8).toString('hex');
    this.logger = opts.logger;
    this.client = this.newClient(opts.url);
  }

  private newClient(url: string): RedisClient {
    const c = makeClient(url, this.timeout, () => !this.closed);
    // node-redis emits connection errors as events; without a listener they would crash the
    // process. Operations see them as rejections (storage_failed); here they are only logged.
    c.on('error', (err: unknown) => {
      if (!this.closed)
        this.logger?.warn({ err: storageFailed(err, 'store.connection') }, 'Redis connection error');
    });
    return c;
  }

  /** First connection; fails with storage_failed if Redis cannot be reached within the timeout. */
  async connect(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('ConnectionTimeout')), this.timeout);
        }),
      ]);
    } catch (err) {
      this.closed = true;
      this.client.destroy();
      throw new ChatError(
        'storage_failed',
        `the ${WHAT} could not connect to Redis (${(err as Error).name})`,
        'store.open',
      );
    } finally {
      clearTimeout(timer);
    }
  }

  checkSettings(): Promise<RedisSettingWarning[]> {
    return this.guard('store.checkSettings', () => checkRedisSettings(this.client));
  }

  /**
   * Every operation: refused after close, node-redis failures mapped to ChatErrors, and a
   * deadline. node-redis times out only commands still waiting to be written; one written to a
   * Redis that stopped answering would wait forever, so the deadline is kept here. A command
   * that misses it may still be applied later: an enqueue the client then resends is a
   * `duplicate`, a bundle taken late costs one one-time prekey that nobody received.
   */
  private async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ChatError('storage_failed', `the ${WHAT} is closed`, operation);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ChatError(
              'storage_failed',
              `the ${WHAT} is unreachable (no answer within ${this.timeout} ms)`,
              operation,
            ),
          ),
        this.timeout,
      );
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (err) {
      throw storageFailed(err, operation);
    } finally {
      clearTimeout(timer);
    }
  }

  /** EVALSHA, or EVAL when this Redis has not seen the script yet (new or restarted server). */
  private async eval(
    s: S.LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<Reply> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return (await this.client.sendCommand(['EVALSHA', s.sha1, ...tail])) as Reply;
    } catch (err) {
      if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
      return (await this.client.sendCommand(['EVAL', s.source, ...tail])) as Reply;
    }
  }

  private run<T>(
    operation: string,
    s: S.LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
    decode: (r: Reply) => T,
  ): Promise<T> {
    return this.guard(operation, async () => decode(await this.eval(s, keys, args)));
  }

  private keys(canon: string) {
    return userKeys(this.prefix, canon);
  }

  private get idents(): string {
    return `${this.prefix}directory:idents`;
  }

  private get names(): string {
    return `${this.prefix}directory:names`;
  }

  register(user: NewUser, now: number): Promise<RegisterResult> {
    return this.guard('store.register', async () => {
      const k = this.keys(user.canon);
      const r = arr(await this.eval(S.REGISTER, [k.user, this.idents, this.names], userArgs(user, now)));
      const tag = str(r[0]);
      if (tag === 'held') {
        const same = constantTimeEqual(buf(r[1]), user.signKey) && constantTimeEqual(buf(r[2]), user.dhKey);
        return same ? 'existing' : 'name_taken';
      }
      if (tag === 'ok' || tag === 'identity_taken') return tag;
      throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected reply`, 'store.register');
    });
  }

  replaceIdentity(user: NewUser, now: number): Promise<ReplaceResult> {
    return this.guard('store.replaceIdentity', async () => {
      const k = this.keys(user.canon);
      const r = str(
        await this.eval(
          S.REPLACE_IDENTITY,
          [k.user, this.idents, k.spk, k.opkIds, k.opkFree, k.opkPub, ...k.queue],
          userArgs(user, now),
        ),
      );
      if (r === 'ok' || r === 'unknown_user' || r === 'identity_taken') return r;
      throw new ChatError(
        'storage_failed',
        `the ${WHAT} answered an unexpected reply`,
        'store.replaceIdentity',
      );
    });
  }

  setRecovery(canon: string, recovery: Uint8Array): Promise<void> {
    return this.guard('store.setRecovery', async () => {
      const r = str(await this.eval(S.SET_RECOVERY, [this.keys(canon).user], [b(recovery)]));
      if (r === 'unknown_user') throw unknownUser(canon, 'store.setRecovery');
    });
  }

  lookup(canon: string): Promise<UserRecord | undefined> {
    return this.guard('store.lookup', () => this.readUser(canon));
  }

  displayNames(canons: readonly string[]): Promise<(string | undefined)[]> {
    return this.guard('store.displayNames', () =>
      Promise.all(
        canons.map(async (c) => {
          const name = (await this.client.sendCommand(['HGET', this.keys(c).user, 'name'])) as Reply;
          return name === null ? undefined : str(name);
        }),
      ),
    );
  }

  private async readUser(canon: string): Promise<UserRecord | undefined> {
    const r = arr(
      (await this.client.sendCommand([
        'HMGET',
        this.keys(canon).user,
        'name',
        'sign',
        'dh',
        'idcert',
        'reg',
        'seen',
        'rec',
      ])) as Reply,
    );
    if (r[0] === null) return undefined;
    return {
      name: str(r[0]),
      canon,
      signKey: buf(r[1]),
      dhKey: buf(r[2]),
      idcert: buf(r[3]),
      registeredAt: num(r[4]),
      lastSeen: num(r[5]),
      ...(r[6] === null ? {} : { recovery: buf(r[6]) }),
    };
  }

  listUsers(): Promise<UserRecord[]> {
    return this.guard('store.listUsers', async () => {
      const canons = arr((await this.client.sendCommand(['ZRANGE', this.names, '0', '-1'])) as Reply).map(
        str,
      );
      const users = await Promise.all(canons.map((c) => this.readUser(c)));
      // A name freed between the two reads is simply gone.
      return users.filter((u): u is UserRecord => u !== undefined);
    });
  }

  setLastSeen(canon: string, now: number): Promise<void> {
    return this.run(
      'store.setLastSeen',
      S.SET_LAST_SEEN,
      [this.keys(canon).user],
      [String(now)],
      () => undefined,
    );
  }

  freeName(canon: string): Promise<boolean> {
    return this.guard('store.freeName', async () => {
      const k = this.keys(canon);
      const rest = [k.spk, k.opkIds, k.opkFree, k.opkPub, ...k.queue, k.session];
      return num(await this.eval(S.FREE_NAME, [k.user, this.idents, this.names, ...rest], [canon])) === 1;
    });
  }

  publishPrekeys(
    canon: string,
    spk: SignedPrekey | undefined,
    opks: readonly OneTimePrekey[],
  ): Promise<PublishResult> {
    return this.guard('store.publishPrekeys', async () => {
      if (spk !== undefined) checkPrekeyId(spk.id);
      for (const o of opks) checkPrekeyId(o.id);
      const k = this.keys(canon);
      const args: (string | Buffer)[] = spk
        ? ['1', String(spk.id), b(spk.pub), b(spk.sig)]
        : ['0', '', '', ''];
      for (const o of opks) args.push(String(o.id), b(o.pub));
      const r = str(await this.eval(S.PUBLISH_PREKEYS, [k.user, k.spk, k.opkIds, k.opkFree, k.opkPub], args));
      if (r === 'unknown_user') throw unknownUser(canon, 'store.publishPrekeys');
      if (r === 'ok' || r === 'duplicate_id') return r;
      throw new ChatError(
        'storage_failed',
        `the ${WHAT} answered an unexpected reply`,
        'store.publishPrekeys',
      );
    });
  }

  takeBundle(canon: string, takeOpk = true): Promise<PrekeyBundle | undefined> {
    const k = this.keys(canon);
    const args = [takeOpk ? '1' : '0'];
    return this.run('store.takeBundle', S.TAKE_BUNDLE, [k.spk, k.opkFree, k.opkPub], args, (reply) => {
      if (reply === null) return undefined;
      const r = arr(reply);
      const spk: SignedPrekey = { id: num(r[0]), pub: buf(r[1]), sig: buf(r[2]) };
      if (r.length < 5) return { spk };
      return { spk, opk: { id: num(r[3]), pub: buf(r[4]) } };
    });
  }

  countOpks(canon: string): Promise<number> {
    return this.guard('store.countOpks', async () =>
      num((await this.client.sendCommand(['ZCARD', this.keys(canon).opkFree])) as Reply),
    );
  }

  enqueue(env: NewEnvelope, caps?: QueueCaps): Promise<EnqueueResult> {
    return this.enqueueAndWake(env, caps).then((o) => o.result);
  }

  /**
   * enqueue, also saying how many relays the wake-up publish reached (for `sent delivered` vs
   * `queued` across relays). Resolves only after Redis answered, so after the AOF write.
   */
  enqueueAndWake(env: NewEnvelope, caps?: QueueCaps): Promise<EnqueueOutcome> {
    return this.guard('store.enqueue', async () => {
      const k = this.keys(env.to);
      const r = arr(
        await this.eval(
          S.ENQUEUE,
          [...k.queue, k.user],
          [
            env.id,
            env.from,
            canonName(env.from),
            b(envelopeBytes(env.env)),
            String(env.ts),
            String(caps?.perRecipient ?? QUEUE_MAX_PER_RECIPIENT),
            String(caps?.perSender ?? QUEUE_MAX_PER_SENDER),
            String(this.maxBytes),
            k.wake,
          ],
        ),
      );
      const result = str(r[0]);
      if (result === 'unknown_user') throw unknownUser(env.to, 'store.enqueue');
      if (result === 'ok' || result === 'duplicate' || result === 'queue_full') {
        return { result, listeners: num(r[1]) };
      }
      throw new ChatError('storage_failed', `the ${WHAT} answered an unexpected reply`, 'store.enqueue');
    });
  }

  pending(canon: string, limit?: number): Promise<QueuedEnvelope[]> {
    const n = limit ?? QUEUE_MAX_PER_RECIPIENT;
    if (n <= 0) return this.guard('store.pending', async () => []);
    const [order, ts, env, from] = this.keys(canon).queue;
    return this.run('store.pending', S.PENDING, [order, ts, env, from], [String(Math.floor(n))], (reply) => {
      const r = arr(reply);
      const out: QueuedEnvelope[] = [];
      for (let i = 0; i + 3 < r.length; i += 4) {
        out.push({ id: str(r[i]), to: canon, from: str(r[i + 2]), env: buf(r[i + 1]), ts: num(r[i + 3]) });
      }
      return out;
    });
  }

  ack(canon: string, id: string): Promise<boolean> {
    return this.run('store.ack', S.ACK, this.keys(canon).queue, [id], (r) => num(r) === 1);
  }

  countQueued(canon: string): Promise<number> {
    return this.guard('store.countQueued', async () =>
      num((await this.client.sendCommand(['ZCARD', this.keys(canon).queue[0]])) as Reply),
    );
  }

  /**
   * Deletes envelopes older than QUEUE_TTL_MS, one user at a time, under a lease: while another
   * relay holds it this one does nothing and answers 0. Each per-user step is one script, so a
   * lease that runs out mid-way (a slow relay) costs duplicate work, never a wrong counter.
   */
  expire(now: number): Promise<number> {
    return this.guard('store.expire', async () => {
      const lease = `${this.prefix}expire:lease`;
      const token = `${this.relayId}:${randomBytes(8).toString('hex')}`;
      const got = await this.client.sendCommand(['SET', lease, token, 'NX', 'PX', String(EXPIRE_LEASE_MS)]);
      if (got === null) return 0;
      const cutoff = String(now - QUEUE_TTL_MS);
      let removed = 0;
      try {
        let after = '-';
        while (true) {
          const page = arr(
            (await this.client.sendCommand([
              'ZRANGE',
              this.names,
              after,
              '+',
              'BYLEX',
              'LIMIT',
              '0',
              String(EXPIRE_USER_PAGE),
            ])) as Reply,
          ).map(str);
          for (const canon of page) {
            while (true) {
              const n = num(
                await this.eval(S.EXPIRE_USER, this.keys(canon).queue, [cutoff, String(EXPIRE_BATCH)]),
              );
              removed += n;
              if (n < EXPIRE_BATCH) break;
            }
          }
          if (page.length < EXPIRE_USER_PAGE) break;
          after = `(${page[page.length - 1]}`;
        }
      } finally {
        await this.eval(S.RELEASE_LEASE, [lease], [token]);
      }
      return removed;
    });
  }

  // Cross-relay primitives (issue 14 points 3 and 4), for the relay to wire in.

  /**
   * Calls `onWake(envelopeId)` whenever an envelope is enqueued for `canon` (on any relay of this
   * Redis). The queue stays the source of truth: a wake-up says "read the queue", nothing more.
   * Resolves once Redis confirmed the subscription; the returned function unsubscribes.
   */
  subscribeWake(canon: string, onWake: (id: string) => void): Promise<() => Promise<void>> {
    return this.subscribe(this.keys(canon).wake, onWake);
  }

  /** The channel on which logins and logouts of `canon` are published (cluster presence). */
  presenceChannel(canon: string): string {
    return this.keys(canon).presence;
  }

  /** The channel on which other relays ask relay `relayId` to act (close a replaced session). */
  controlChannel(relayId: string): string {
    return `${this.prefix}relay:${relayId}:control`;
  }

  /**
   * Calls `onMessage` for every message on `channel`, on the store's one subscriber connection.
   * Resolves once Redis confirmed the subscription; the returned function unsubscribes this
   * listener only. node-redis subscribes again by itself after a reconnect (onResubscribed).
   */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    return this.guard('store.subscribe', async () => {
      const sub = await this.subscriberClient();
      const listener = (message: string | Buffer): void => onMessage(message.toString());
      await sub.subscribe(channel, listener);
      return () => this.guard('store.unsubscribe', () => sub.unsubscribe(channel, listener));
    });
  }

  /** PUBLISH; answers how many subscribers (relays) it reached. */
  publish(channel: string, message: string): Promise<number> {
    return this.guard('store.publish', async () =>
      num((await this.client.sendCommand(['PUBLISH', channel, message])) as Reply),
    );
  }

  /**
   * `f` runs each time the subscriber connection is ready again after a reconnect: a wake-up
   * published while it was down is lost, so the relay re-reads the queues of its users then.
   */
  onResubscribed(f: () => void): void {
    this.resubscribed.push(f);
  }

  /** For each name, whether some relay holds its session now (one MGET). */
  sessionsHeld(canons: readonly string[]): Promise<boolean[]> {
    if (canons.length === 0) return this.guard('store.sessionsHeld', async () => []);
    return this.guard('store.sessionsHeld', async () => {
      const keys = canons.map((c) => this.keys(c).session);
      return arr((await this.client.sendCommand(['MGET', ...keys])) as Reply).map((r) => r !== null);
    });
  }

  private subscriberClient(): Promise<RedisClient> {
    if (!this.subscriberReady) {
      const sub = this.client.duplicate();
      sub.on('error', (err: unknown) => {
        if (!this.closed)
          this.logger?.warn({ err: storageFailed(err, 'store.subscriber') }, 'Redis subscriber error');
      });
      let first = true;
      sub.on('ready', () => {
        if (first) first = false;
        else if (!this.closed) for (const f of this.resubscribed) f();
      });
      this.subscriber = sub;
      // A first connection that fails (Redis down at that moment) is tried afresh next time.
      this.subscriberReady = sub.connect().then(
        () => sub,
        (err: unknown) => {
          this.subscriberReady = undefined;
          this.subscriber = undefined;
          sub.destroy();
          throw err;
        },
      );
    }
    return this.subscriberReady;
  }

  /**
   * Claims `canon`'s session for `owner` (e.g. `relayId/connectionId`) for `ttlMs`, in one step,
   * and answers the previous owner if another held it (to be closed with `replaced`).
   */
  claimSession(canon: string, owner: string, ttlMs: number): Promise<string | undefined> {
    return this.run(
      'store.claimSession',
      S.CLAIM_SESSION,
      [this.keys(canon).session],
      [owner, String(ttlMs)],
      (r) => {
        if (r === null) return undefined;
        const prev = str(r);
        return prev === owner ? undefined : prev;
      },
    );
  }

  /** Extends the session's TTL (on traffic); false if `owner` no longer holds it. */
  refreshSession(canon: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.run(
      'store.refreshSession',
      S.REFRESH_SESSION,
      [this.keys(canon).session],
      [owner, String(ttlMs)],
      (r) => num(r) === 1,
    );
  }

  /** Gives the session up at logout; false if another owner has claimed it since. */
  releaseSession(canon: string, owner: string): Promise<boolean> {
    return this.run(
      'store.releaseSession',
      S.RELEASE_SESSION,
      [this.keys(canon).session],
      [owner],
      (r) => num(r) === 1,
    );
  }

  /** Who holds `canon`'s session now, if anyone. */
  sessionOwner(canon: string): Promise<string | undefined> {
    return this.guard('store.sessionOwner', async () => {
      const r = (await this.client.sendCommand(['GET', this.keys(canon).session])) as Reply;
      return r === null ? undefined : str(r);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Every answered command is already durable in Redis; close only drops the connections.
    const clients = [this.client, ...(this.subscriber ? [this.subscriber] : [])];
    for (const c of clients) {
      if (c.isOpen) {
        try {
          await c.close();
        } catch {
          c.destroy(); // the server is gone: nothing is pending that close could still deliver
        }
      } else {
        c.destroy();
      }
    }
  }
}
