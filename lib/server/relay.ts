/**
 * The relay (PROTOCOL.md sections 5, 7 and 9): accepts secure sessions, registers and logs in
 * users, says who is online, routes envelopes it cannot read, and holds them for users who are
 * offline. Every envelope is stored before `sent` is answered, and deleted only on the
 * recipient's `ack`, so a stop or a crash never loses what the relay took responsibility for.
 *
 * Map for contributors: `onConnection` → handshake → `login` → `Session`; each request type has
 * one handler in `handle`; deliveries (live or queued) all go through `pump`, which keeps order.
 */
import type { RelayObserver } from './metrics';
import * as net from 'node:net';
import type { Logger } from 'pino';
import { fromBase64, type KeyPair, toBase64, verify, toHex, concatBytes } from '../crypto/primitives';
import { ChatError, isChatError, isWireErrorCode, type WireErrorCode } from '../errors';
import { canonName, isValidName } from '../names';
import {
  type ClientMessage,
  MAX_PRESENCE_BATCH,
  parseClientMessage,
  type PresenceChange,
  type RelayMessage,
} from '../net/messages';
import {
  acceptSecureChannel,
  type ChannelTimeouts,
  type SecureChannel,
  SUPPORTED_SUITES,
} from '../net/secure-channel';
import { VERSION } from '../version';
import { TokenBucket } from './rate-limit';
import type { RelayStore, UserRecord } from './store';

export const RELAY_VERSION: string = VERSION;

/** PROTOCOL.md section 9. */
export interface RelayLimits {
  /** Requests a second per connection, and the largest burst. */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** `keys.fetch` a minute per requester. */
  readonly keysFetchPerMinute: number;
  /** Envelopes delivered but not yet acked, per connection: bounds memory for a slow reader. */
  readonly deliveryWindow: number;
  /** Fewer one-time prekeys than this and the owner is told `keys.low`. */
  readonly opkLowWater: number;
  /**
   * Names in `welcome` and entries per `users` page. A frame holds 65535 bytes and a name up to
   * 32 characters: 1,000 names (~35 KB) and 500 directory entries (~40 KB) always fit. More
   * online users follow `welcome` as `presence` messages; more entries, as further pages.
   */
  readonly welcomeMaxUsers: number;
  readonly usersPageSize: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  requestsPerSecond: 50,
  requestBurst: 200,
  keysFetchPerMinute: 10,
  deliveryWindow: 100,
  opkLowWater: 20,
  welcomeMaxUsers: 1000,
  usersPageSize: 500,
};

export interface RelayOptions {
  readonly host: string;
  readonly port: number;
  readonly key: KeyPair;
  readonly store: RelayStore;
  readonly logger: Logger;
  readonly timeouts?: ChannelTimeouts;
  readonly limits?: Partial<RelayLimits>;
  /** Wall clock (ms since the epoch) for `ts`, lastSeen and queue expiry; injectable for tests. */
  readonly now?: () => number;
  readonly name?: string;
  /** Metrics (lib/server/metrics.ts, `--metrics`); absent, nothing is counted. */
  readonly observer?: RelayObserver;
}

type Channel = SecureChannel<ClientMessage, RelayMessage>;

interface Session {
  readonly conn: number;
  readonly user: UserRecord;
  readonly channel: Channel;
  readonly requests: TokenBucket;
  readonly fetches: TokenBucket;
  /** Requests are handled one at a time, in order. */
  chain: Promise<void>;
  /** Outer ids delivered and not yet acked. */
  readonly inflight: Set<string>;
  /** Outer ids acked whose delete is not yet committed: `pump` must not deliver them again. */
  readonly acking: Set<string>;
  /** Store writes answered after their commit (not on `chain`, so requests pipeline); `stop` waits for them. */
  readonly writes: Set<Promise<void>>;
  /**
   * True when the store may hold envelopes for this user that are not in `inflight`. While false,
   * a newly stored envelope is the next in order and is delivered at once, without a store read.
   */
  backlog: boolean;
  pumping: boolean;
  pumpAgain: boolean;
}

export class Relay {
  private readonly server: net.Server;
  private readonly sessions = new Map<string, Session>();
  private readonly handshaking = new Set<net.Socket>();
  private readonly limits: RelayLimits;
  private readonly log: Logger;
  private readonly now: () => number;
  private nextConn = 1;
  private presenceChanges: (PresenceChange & { readonly canon: string })[] = [];
  private presenceScheduled = false;
  private stopping = false;
  private expiryTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: RelayOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
  }

  static async start(opts: RelayOptions): Promise<Relay> {
    const relay = new Relay(opts);
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(opts.port, opts.host, () => {
        relay.server.off('error', reject);
        resolve();
      });
    });
    relay.server.on('error', (err) => relay.log.error({ err }, 'listener error'));
    await relay.expire();
    relay.expiryTimer = setInterval(() => void relay.expire(), 60 * 60 * 1000);
    relay.expiryTimer.unref();
    const a = relay.address;
    relay.log.info({ host: a.host, port: a.port }, 'relay listening');
    return relay;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Users online now (display names). */
  get online(): string[] {
    return [...this.sessions.values()].map((s) => s.user.name);
  }

  private async expire(): Promise<void> {
    try {
      const n = await this.opts.store.expire(this.now());
      if (n > 0) this.log.info({ expired: n }, 'expired queued envelopes');
    } catch (err) {
      this.log.error({ code: codeOf(err) }, 'queue expiry failed');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connections and login

  private onConnection(socket: net.Socket): void {
    const conn = this.nextConn++;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.handshaking.add(socket);
    this.opts.observer?.connection(socket);
    socket.setNoDelay(true);
    const t = this.opts.timeouts ?? {};
    acceptSecureChannel<ClientMessage, RelayMessage>(socket, {
      staticKey: this.opts.key,
      serverInfo: {
        server: this.opts.name ?? 'chatsecure-relay',
        version: RELAY_VERSION,
        limits: {
          frame: 65535,
          requestsPerSecond: this.limits.requestsPerSecond,
          requestBurst: this.limits.requestBurst,
          keysFetchPerMinute: this.limits.keysFetchPerMinute,
        },
      },
      suites: SUPPORTED_SUITES,
      parse: parseClientMessage,
      ...t,
    }).then(
      ({ channel, login }) => {
        this.handshaking.delete(socket);
        this.opts.observer?.handshake(true);
        this.log.debug(
          { conn, session: toHex(channel.handshakeHash).slice(0, 16), suite: channel.suite },
          'handshake done',
        );
        void this.login(conn, channel, login).catch((err) => {
          this.log.error({ conn, code: codeOf(err) }, 'login failed');
          this.refuse(conn, channel, 'internal', 'the relay could not log you in');
        });
      },
      (err: unknown) => {
        this.handshaking.delete(socket);
        this.opts.observer?.handshake(false);
        this.log.warn({ conn, code: codeOf(err), err }, 'handshake failed; connection closed');
      },
    );
  }

  /** Sends a coded error and closes that one connection. */
  private refuse(conn: number, channel: Channel, code: WireErrorCode, message: string): void {
    this.log.warn({ conn, code }, 'connection refused');
    channel.send({ t: 'error', code, message });
    channel.close({ code, message });
  }

  private async login(
    conn: number,
    channel: Channel,
    login: { user: string; signKey: string; idcert: string },
  ): Promise<void> {
    if (!isValidName(login.user)) {
      this.refuse(conn, channel, 'bad_name', 'a name is 1 to 32 letters, digits, "_", "." or "-"');
      return;
    }
    const signKey = fromBase64(login.signKey, 32);
    const idcert = fromBase64(login.idcert, 64);
    // Section 5.3: idcert must bind the Noise static key just authenticated to signKey.
    if (!verify(signKey, 'chatsecure-idcert-v1', channel.remoteStatic, idcert)) {
      this.refuse(
        conn,
        channel,
        'handshake_failed',
        'the identity certificate does not match the session key',
      );
      return;
    }
    const canon = canonName(login.user);
    const result = await this.opts.store.register(
      { name: login.user, canon, signKey, dhKey: channel.remoteStatic, idcert },
      this.now(),
    );
    if (result === 'name_taken') {
      this.refuse(conn, channel, 'name_taken', `the name ${login.user} belongs to another identity`);
      return;
    }
    if (result === 'identity_taken') {
      this.refuse(conn, channel, 'identity_taken', 'this identity already holds another name');
      return;
    }
    const user = await this.opts.store.lookup(canon);
    if (!user || !channel.isOpen) {
      if (channel.isOpen) this.refuse(conn, channel, 'internal', 'registration was not stored');
      return;
    }
    if (result === 'ok') this.log.info({ conn, user: user.name }, 'registered');

    // Version 1: one device per user; a second login closes the first (section 1).
    const older = this.sessions.get(canon);
    if (older) {
      this.log.info({ conn: older.conn, user: user.name }, 'replaced by a newer login');
      this.sessions.delete(canon);
      older.channel.send({ t: 'error', code: 'replaced', message: 'you logged in from somewhere else' });
      older.channel.close({ code: 'replaced', message: 'replaced by a newer login' });
    }

    const session: Session = {
      conn,
      user,
      channel,
      requests: new TokenBucket(this.limits.requestsPerSecond, this.limits.requestBurst),
      fetches: new TokenBucket(this.limits.keysFetchPerMinute / 60, this.limits.keysFetchPerMinute),
      chain: Promise.resolve(),
      inflight: new Set(),
      acking: new Set(),
      writes: new Set(),
      backlog: true,
      pumping: false,
      pumpAgain: false,
    };
    this.sessions.set(canon, session);
    channel.on('message', (msg) => this.enqueueRequest(session, msg));
    channel.on('invalid', (err, rid) => this.onInvalid(session, err, rid));
    channel.on('close', (reason) => this.onClose(session, reason));
    channel.start();

    const queued = await this.opts.store.countQueued(canon);
    const online = this.online;
    const cap = this.limits.welcomeMaxUsers;
    channel.send({ t: 'welcome', users: online.slice(0, cap), queued });
    const rest = online.slice(cap).map((name) => ({ user: name, online: true }));
    for (let i = 0; i < rest.length; i += MAX_PRESENCE_BATCH) {
      channel.send({ t: 'presence.batch', changes: rest.slice(i, i + MAX_PRESENCE_BATCH) });
    }
    this.log.info({ conn, user: user.name, queued }, 'logged in');
    this.opts.observer?.login();
    // One-time prekeys handed out while the owner was away: ask for more at once (a new
    // registration publishes its first 100 right after welcome, so it is not asked).
    if (result === 'existing') {
      const remaining = await this.opts.store.countOpks(canon);
      if (remaining < this.limits.opkLowWater) channel.send({ t: 'keys.low', remaining });
    }
    this.announce(user.name, true);
    await this.pump(session);
  }

  private onClose(session: Session, reason: { code: string; message: string; local: boolean }): void {
    const canon = session.user.canon;
    const level = reason.code === 'closed' || reason.code === 'connection_closed' ? 'info' : 'warn';
    this.log[level]({ conn: session.conn, user: session.user.name, code: reason.code }, 'connection closed');
    if (this.sessions.get(canon) !== session) return;
    this.sessions.delete(canon);
    if (this.stopping) return;
    void this.opts.store.setLastSeen(canon, this.now()).catch((err) => {
      this.log.error({ code: codeOf(err) }, 'could not record last seen');
    });
    this.announce(session.user.name, false);
  }

  /**
   * Presence changes are gathered for one event-loop turn and sent to everyone online as one
   * frame each (`presence` for one change, `presence.batch` for more): during a login storm of
   * k users a turn, that is n frames instead of k * n.
   */
  private announce(user: string, online: boolean): void {
    this.presenceChanges.push({ user, online, canon: canonName(user) });
    if (this.presenceScheduled) return;
    this.presenceScheduled = true;
    setImmediate(() => {
      this.presenceScheduled = false;
      const changes = this.presenceChanges;
      this.presenceChanges = [];
      const wire: PresenceChange[] = changes.map((c) => ({ user: c.user, online: c.online }));
      for (const s of this.sessions.values()) {
        // The shared list, unless this recipient is one of the changes (it is not told of itself).
        const mine = changes.some((c) => c.canon === s.user.canon)
          ? wire.filter((_, i) => changes[i].canon !== s.user.canon)
          : wire;
        if (mine.length === 1) s.channel.send({ t: 'presence', ...mine[0] });
        for (let i = 0; mine.length > 1 && i < mine.length; i += MAX_PRESENCE_BATCH) {
          s.channel.send({ t: 'presence.batch', changes: mine.slice(i, i + MAX_PRESENCE_BATCH) });
        }
      }
    });
  }

  private onInvalid(session: Session, err: ChatError, rid: string | undefined): void {
    const code: WireErrorCode = isWireErrorCode(err.code) ? err.code : 'bad_message';
    this.log.warn({ conn: session.conn, user: session.user.name, code }, 'invalid request');
    if (!session.requests.take()) return;
    session.channel.send({ t: 'error', ...(rid ? { rid } : {}), code, message: err.message });
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  private enqueueRequest(session: Session, msg: ClientMessage): void {
    if (msg.t !== 'ack' && msg.t !== 'pong' && !session.requests.take()) {
      this.log.warn({ conn: session.conn, user: session.user.name, code: 'rate_limited' }, 'request refused');
      this.opts.observer?.rateLimited();
      session.channel.send({
        t: 'error',
        ...('rid' in msg ? { rid: msg.rid } : {}),
        code: 'rate_limited',
        message: `more than ${this.limits.requestsPerSecond} requests a second`,
      });
      return;
    }
    session.chain = session.chain
      .then(() => this.handle(session, msg))
      .catch((err: unknown) => this.failed(session, msg, err));
  }

  private failed(session: Session, msg: ClientMessage, err: unknown): void {
    const code: WireErrorCode = isChatError(err) && isWireErrorCode(err.code) ? err.code : 'internal';
    // The operator reads the real cause (storage_failed: the disk is full); the client only the wire code.
    this.log.error(
      {
        conn: session.conn,
        user: session.user.name,
        code: codeOf(err),
        wire: code,
        err,
        t: msg.t,
      },
      'request failed',
    );
    session.channel.send({
      t: 'error',
      ...('rid' in msg ? { rid: msg.rid } : {}),
      code,
      message: code === 'internal' ? 'the relay could not handle this request' : (err as Error).message,
    });
  }

  /** Runs `then` after a batched store write commits, off the request chain; `stop` waits for it. */
  private afterWrite<T>(session: Session, msg: ClientMessage, write: Promise<T>, then: (v: T) => void): void {
    const done: Promise<void> = write.then(then).catch((err: unknown) => this.failed(session, msg, err));
    session.writes.add(done);
    void done.finally(() => session.writes.delete(done));
  }

  /**
   * A just-stored envelope for an online user: sent at once when nothing older waits in the
   * store and the window has room (same order as `pump` would give), else left to `pump`.
   */
  private deliverNew(canon: string, env: { id: string; from: string; env: string; ts: number }): void {
    const r = this.sessions.get(canon);
    if (!r || !r.channel.isOpen || r.inflight.has(env.id)) return;
    if (!r.backlog && !r.pumping && r.inflight.size < this.limits.deliveryWindow) {
      r.inflight.add(env.id);
      r.channel.send({ t: 'deliver', id: env.id, from: env.from, env: env.env, ts: env.ts });
      return;
    }
    r.backlog = true;
    this.pumpLater(r);
  }

  private pumpLater(session: Session): void {
    void this.pump(session).catch((err: unknown) =>
      this.log.error({ conn: session.conn, code: codeOf(err) }, 'delivery failed'),
    );
  }

  private error(session: Session, rid: string, code: WireErrorCode, message: string): void {
    this.log.info({ conn: session.conn, user: session.user.name, code }, 'request refused');
    session.channel.send({ t: 'error', rid, code, message });
  }

  private async handle(session: Session, msg: ClientMessage): Promise<void> {
    if (!session.channel.isOpen) return;
    const store = this.opts.store;
    switch (msg.t) {
      case 'ping':
        session.channel.send({ t: 'pong', rid: msg.rid });
        return;
      case 'pong':
        return;
      case 'list': {
        const users = (await store.listUsers()).map((u) => ({
          name: u.name,
          online: this.sessions.has(u.canon),
          lastSeen: u.lastSeen ?? null,
        }));
        const size = this.limits.usersPageSize;
        for (let i = 0; i === 0 || i < users.length; i += size) {
          const more = i + size < users.length;
          session.channel.send({
            t: 'users',
            rid: msg.rid,
            users: users.slice(i, i + size),
            ...(more ? { more } : {}),
          });
        }
        return;
      }
      case 'keys.publish': {
        const spk = { id: msg.spk.id, pub: fromBase64(msg.spk.pub, 32), sig: fromBase64(msg.spk.sig, 64) };
        const idBytes = new Uint8Array(4);
        new DataView(idBytes.buffer).setUint32(0, spk.id);
        // Section 3: the relay checks the signed prekey against the registered signKey.
        if (!verify(session.user.signKey, 'chatsecure-spk-v1', concatBytes(idBytes, spk.pub), spk.sig)) {
          this.error(session, msg.rid, 'bad_message', 'the signed prekey signature does not verify');
          return;
        }
        const opks = msg.opks.map((o) => ({ id: o.id, pub: fromBase64(o.pub, 32) }));
        const r = await store.publishPrekeys(session.user.canon, spk, opks);
        if (r === 'duplicate_id') {
          this.error(session, msg.rid, 'bad_message', 'a one-time prekey id was already used');
          return;
        }
        const remaining = await store.countOpks(session.user.canon);
        session.channel.send({ t: 'keys.low', remaining, rid: msg.rid });
        return;
      }
      case 'keys.fetch': {
        if (!session.fetches.take()) {
          this.opts.observer?.rateLimited();
          this.error(
            session,
            msg.rid,
            'rate_limited',
            `at most ${this.limits.keysFetchPerMinute} key fetches a minute`,
          );
          return;
        }
        const canon = canonName(msg.user);
        const target = await store.lookup(canon);
        if (!target) {
          this.error(session, msg.rid, 'unknown_user', `no user is called ${msg.user}`);
          return;
        }
        const bundle = await store.takeBundle(canon);
        if (!bundle) {
          this.error(session, msg.rid, 'unknown_user', `${target.name} has published no keys yet`);
          return;
        }
        session.channel.send({
          t: 'keys.bundle',
          rid: msg.rid,
          user: target.name,
          signKey: toBase64(target.signKey),
          dhKey: toBase64(target.dhKey),
          idcert: toBase64(target.idcert),
          spk: { id: bundle.spk.id, pub: toBase64(bundle.spk.pub), sig: toBase64(bundle.spk.sig) },
          ...(bundle.opk ? { opk: { id: bundle.opk.id, pub: toBase64(bundle.opk.pub) } } : {}),
        });
        const owner = this.sessions.get(canon);
        if (owner) {
          const remaining = await store.countOpks(canon);
          if (remaining < this.limits.opkLowWater) owner.channel.send({ t: 'keys.low', remaining });
        }
        return;
      }
      case 'send': {
        const canon = canonName(msg.to);
        // An online user's record is at hand; only offline recipients cost a lookup.
        const target = this.sessions.get(canon)?.user ?? (await store.lookup(canon));
        if (!target) {
          this.error(session, msg.rid, 'unknown_user', `no user is called ${msg.to}`);
          return;
        }
        const ts = this.now();
        const stored = store.enqueue({
          id: msg.id,
          to: canon,
          from: session.user.name,
          env: fromBase64(msg.env),
          ts,
        });
        // The store commits in call order, so this connection's next request may be read while
        // this one commits; answers and deliveries still follow the order of the sends.
        this.afterWrite(session, msg, stored, (r) => {
          if (r === 'queue_full') {
            this.error(session, msg.rid, 'queue_full', `${target.name} has too many messages waiting`);
            return;
          }
          // Stored durably before we answer: from here the relay is responsible for it.
          if (r === 'ok') this.opts.observer?.relayed();
          const recipient = this.sessions.get(canon);
          session.channel.send({
            t: 'sent',
            rid: msg.rid,
            id: msg.id,
            status: recipient ? 'delivered' : 'queued',
          });
          if (!recipient) return;
          if (r === 'ok') this.deliverNew(canon, { id: msg.id, from: session.user.name, env: msg.env, ts });
          else this.pumpLater(recipient);
        });
        return;
      }
      case 'ack': {
        const id = msg.id;
        session.inflight.delete(id);
        session.acking.add(id);
        const deleted = store.ack(session.user.canon, id);
        this.afterWrite(session, msg, deleted, () => {
          session.acking.delete(id);
          if (session.backlog && session.inflight.size <= this.limits.deliveryWindow / 2) {
            this.pumpLater(session);
          }
        });
        return;
      }
      case 'presence.watch':
      case 'presence.unwatch':
        // Presence by subscription (docs/protocol.md 7.1) is being built; until then it is refused.
        throw new ChatError('bad_message', `${msg.t} is not supported by this relay yet`);
      default: {
        const never: never = msg;
        throw new ChatError('bad_message', `unknown request ${(never as { t: string }).t}`);
      }
    }
  }

  /**
   * Delivers what waits for this user, oldest first, keeping at most `deliveryWindow`
   * envelopes unacknowledged. Live and queued deliveries share this path, so order holds.
   */
  private async pump(session: Session): Promise<void> {
    if (session.pumping) {
      session.pumpAgain = true;
      return;
    }
    session.pumping = true;
    try {
      do {
        session.pumpAgain = false;
        const room = this.limits.deliveryWindow - session.inflight.size;
        if (room <= 0 || !session.channel.isOpen) break;
        const limit = session.inflight.size + session.acking.size + room;
        // Cleared before the read: an envelope stored while we wait sets it again (deliverNew).
        session.backlog = false;
        const waiting = await this.opts.store.pending(session.user.canon, limit);
        if (waiting.length >= limit) session.backlog = true;
        for (const env of waiting) {
          if (session.inflight.has(env.id) || session.acking.has(env.id)) continue;
          if (session.inflight.size >= this.limits.deliveryWindow) {
            session.backlog = true;
            break;
          }
          session.inflight.add(env.id);
          session.channel.send({
            t: 'deliver',
            id: env.id,
            from: env.from,
            env: toBase64(env.env),
            ts: env.ts,
          });
        }
      } while (session.pumpAgain);
    } finally {
      session.pumping = false;
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Stops accepting, closes every connection, and closes the store. Nothing acknowledged is lost. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.handshaking) s.destroy();
    const chains: Promise<void>[] = [];
    for (const session of this.sessions.values()) {
      chains.push(session.chain, ...session.writes);
      session.channel.close({ code: 'closed', message: 'the relay is stopping' });
    }
    // Let requests already taken finish their store writes before the store closes.
    await Promise.allSettled(chains);
    await Promise.allSettled([...this.sessions.values()].flatMap((s) => [...s.writes]));
    this.sessions.clear();
    await closed;
    await this.opts.store.close();
    this.log.info('relay stopped');
  }
}

function codeOf(err: unknown): string {
  return isChatError(err) ? err.code : 'internal';
}
