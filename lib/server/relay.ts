/**
 * The relay (docs/protocol.md sections 5, 7 and 9): accepts secure sessions, registers and logs
 * in users, tells watchers who is online, routes envelopes it cannot read, and holds them for
 * users who are offline. Every envelope is stored before `sent` is answered, and deleted only on
 * the recipient's `ack`, so a stop or a crash never loses what the relay took responsibility for.
 *
 * Map for contributors: this file is the lifecycle and the connection gate (caps before login,
 * rate limits, refusals); `login.ts` decides who a connection is; `presence.ts` is presence by
 * subscription; `delivery.ts` the ordered delivery pump; `handlers.ts` one handler per request
 * type, as a table; `limits.ts` every limit. Counters for metrics go through `observer`.
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { type KeyPair, toHex } from '../crypto/primitives';
import type { RelayCertificate } from '../crypto/relay-cert';
import { type ChatError, isChatError, isWireErrorCode, type WireErrorCode } from '../errors';
import {
  type ClientMessage,
  type LoginPayload,
  parseClientMessage,
  type RelayMessage,
} from '../net/messages';
import {
  acceptSecureChannel,
  type AcceptOptions,
  type ChannelTimeouts,
  SUPPORTED_SUITES,
} from '../net/secure-channel';
import { inOneBuffer } from '../net/codec';
import { VERSION } from '../version';
import { Delivery } from './delivery';
import { AddressShare, handle, type HandlerDeps } from './handlers';
import { DEFAULT_LIMITS, fdConnectionCap, type RelayLimits, wireLimits } from './limits';
import { LogThrottle } from './log-throttle';
import { authenticate, welcome } from './login';
import { NO_NAMES, Presence } from './presence';
import { KeyedBuckets, TokenBucket } from './rate-limit';
import {
  type Channel,
  codeOf,
  type ClusterHooks,
  type RelayCluster,
  type RelayContext,
  type RelayObserver,
  type Session,
} from './session';
import type { RelayStore, UserRecord } from './store';

export { DEFAULT_LIMITS, type RelayLimits } from './limits';
export type { RelayObserver } from './session';

export const RELAY_VERSION: string = VERSION;
const HOUR_S = 3600;
/** What a refusal's close waits on when no request is under way. */
const RESOLVED: Promise<void> = Promise.resolve();

export interface RelayOptions {
  readonly host: string;
  readonly port: number;
  readonly key: KeyPair;
  readonly store: RelayStore;
  readonly logger: Logger;
  readonly timeouts?: ChannelTimeouts;
  readonly limits?: Partial<RelayLimits>;
  /** Wall clock (ms since the epoch) for `ts`, lastSeen, identity age and queue expiry; injectable for tests. */
  readonly now?: () => number;
  readonly name?: string;
  /** Optional counters (metrics). */
  readonly observer?: RelayObserver;
  /** Cluster mode (issue 14): the other relays of one Redis; `store` is then that Redis. */
  readonly cluster?: RelayCluster;
  /** The relay's certificate (docs/protocol.md 6.1), sent in every handshake's message 2. */
  readonly cert?: RelayCertificate;
}

/** The user's record as a session keeps it: its keys views of one buffer (issue 12). */
function compactUser(u: UserRecord): UserRecord {
  const [signKey, dhKey, idcert, recovery] = inOneBuffer(
    u.recovery ? [u.signKey, u.dhKey, u.idcert, u.recovery] : [u.signKey, u.dhKey, u.idcert],
  );
  return {
    name: u.name,
    canon: u.canon,
    registeredAt: u.registeredAt,
    lastSeen: u.lastSeen,
    signKey,
    dhKey,
    idcert,
    ...(recovery ? { recovery } : {}),
  };
}

export class Relay {
  private readonly server: net.Server;
  private readonly ctx: RelayContext;
  private readonly deps: HandlerDeps;
  private readonly presence: Presence;
  private readonly delivery: Delivery;
  /** Connections not yet logged in, and how many per address (defect 3). */
  private readonly handshaking = new Set<net.Socket>();
  private readonly handshakesPer = new Map<string, number>();
  private readonly registrations: KeyedBuckets;
  private nextConn = 1;
  private stopping = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Cluster logouts under way (release of the session key); `stop` waits for them. */
  private readonly leaving = new Set<Promise<void>>();
  /** Store writes whose answers are not yet sent (`afterWrite`), and `stop` waiting for none. */
  private writesPending = 0;
  private writesDrained: (() => void) | undefined;
  private readonly countDisconnect = (): void => this.ctx.observer?.count('disconnect');
  /** What every handshake is run with: one object, so message 2's payload is serialised once. */
  private readonly accepting: AcceptOptions<ClientMessage>;

  private constructor(opts: RelayOptions) {
    const limits: RelayLimits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.ctx = {
      store: opts.store,
      limits,
      wireLimits: wireLimits(limits),
      log: opts.logger,
      throttled: new LogThrottle(opts.logger),
      now: opts.now ?? Date.now,
      sessions: new Map(),
      observer: opts.observer,
      ...(opts.cluster ? { cluster: opts.cluster } : {}),
    };
    this.presence = new Presence(this.ctx);
    this.delivery = new Delivery(this.ctx);
    this.registrations = new KeyedBuckets(
      limits.registrationsPerAddressPerHour / HOUR_S,
      limits.registrationsPerAddressPerHour,
    );
    this.deps = {
      ctx: this.ctx,
      presence: this.presence,
      delivery: this.delivery,
      fetches: new KeyedBuckets(limits.keysFetchPerMinute / 60, limits.keysFetchPerMinute),
      opkGrants: new KeyedBuckets(limits.opksPerTargetPerHour / HOUR_S, limits.opksPerTargetPerHour),
      lists: new KeyedBuckets(limits.listPerMinute / 60, Math.min(3, limits.listPerMinute)),
      shares: new AddressShare(),
      afterWrite: (s, msg, write, then) => this.afterWrite(s, msg, write, then),
      writing: () => {
        this.writesPending++;
      },
      written: (s, msg, err) => this.written(s, msg, err),
      refuse: (s, rid, code, message) => this.refuse(s, rid, code, message),
    };
    this.accepting = {
      staticKey: opts.key,
      serverInfo: {
        server: opts.name ?? 'chatsecure-relay',
        version: RELAY_VERSION,
        limits: this.ctx.wireLimits,
        ...(opts.cert ? { cert: opts.cert } : {}),
      },
      suites: SUPPORTED_SUITES,
      parse: parseClientMessage,
      outPauseBytes: limits.outPauseBytes,
      outMaxBytes: limits.outMaxBytes,
      ...opts.timeouts,
    };
    this.server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
    // Below the fd limit, so Node drops (and we log) what the process could not hold anyway.
    this.server.maxConnections = Math.min(limits.maxConnections, fdConnectionCap() ?? Infinity);
  }

  static async start(opts: RelayOptions): Promise<Relay> {
    const relay = new Relay(opts);
    await opts.cluster?.attach(relay.clusterHooks());
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(opts.port, opts.host, () => {
        relay.server.off('error', reject);
        resolve();
      });
    });
    // Accept failures (EMFILE: out of file descriptors) are logged once per interval.
    relay.server.on('error', (err: NodeJS.ErrnoException) =>
      relay.ctx.throttled.write('error', `listener:${err.code}`, { code: err.code }, 'listener error'),
    );
    relay.server.on('drop', () =>
      relay.ctx.throttled.write(
        'warn',
        'listener:drop',
        { code: 'too_many_connections', max: relay.server.maxConnections },
        'connection limit reached; connection dropped',
      ),
    );
    await relay.expire();
    relay.expiryTimer = setInterval(() => void relay.expire(), 60 * 60 * 1000);
    relay.expiryTimer.unref();
    const a = relay.address;
    relay.ctx.log.info({ host: a.host, port: a.port }, 'relay listening');
    return relay;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Users online now (display names). */
  get online(): string[] {
    return [...this.ctx.sessions.values()].map((s) => s.user.name);
  }

  /** What the other relays of a cluster make this one do. */
  private clusterHooks(): ClusterHooks {
    const sessions = this.ctx.sessions;
    return {
      wake: (canon, id) => {
        const s = sessions.get(canon);
        if (!s || s.inflight?.has(id) || s.acking?.has(id)) return;
        s.backlog = true;
        this.delivery.pumpLater(s);
      },
      replace: (canon, conn) => {
        const s = sessions.get(canon);
        if (!s || s.conn !== conn) return;
        this.ctx.log.info({ conn, user: s.user.name }, 'replaced by a newer login on another relay');
        sessions.delete(canon);
        s.channel.send({ t: 'error', code: 'replaced', message: 'you logged in from somewhere else' });
        s.channel.close({ code: 'replaced', message: 'replaced by a newer login' });
      },
      presence: (user, online) => this.presence.announce(user, online),
      resync: () => {
        for (const s of sessions.values()) {
          s.backlog = true;
          this.delivery.pumpLater(s);
        }
      },
    };
  }

  private async expire(): Promise<void> {
    try {
      const n = await this.ctx.store.expire(this.ctx.now());
      if (n > 0) this.ctx.log.info({ expired: n }, 'expired queued envelopes');
    } catch (err) {
      this.ctx.log.error({ code: codeOf(err) }, 'queue expiry failed');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connections: the gate before login (defect 3), then the handshake

  private onConnection(socket: net.Socket): void {
    const conn = this.nextConn++;
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? 'unknown';
    const limits = this.ctx.limits;
    const mine = this.handshakesPer.get(address) ?? 0;
    if (this.handshaking.size >= limits.maxHandshakes || mine >= limits.maxHandshakesPerAddress) {
      this.ctx.throttled.write(
        'warn',
        'too many handshakes',
        { code: 'rate_limited', handshakes: this.handshaking.size },
        'too many connections not logged in; connection closed',
      );
      this.ctx.observer?.count('refused_before_login');
      socket.destroy();
      return;
    }
    this.handshaking.add(socket);
    this.handshakesPer.set(address, mine + 1);
    const done = () => {
      if (!this.handshaking.delete(socket)) return;
      const n = (this.handshakesPer.get(address) ?? 1) - 1;
      if (n <= 0) this.handshakesPer.delete(address);
      else this.handshakesPer.set(address, n);
    };
    socket.setNoDelay(true);
    if (this.ctx.observer) {
      this.ctx.observer.count('connection');
      // One function for every socket: an arrow here would keep this call's closures (and
      // their context) alive as long as the connection, ~350 bytes each (issue 12).
      socket.on('close', this.countDisconnect);
    }
    acceptSecureChannel<ClientMessage, RelayMessage>(socket, this.accepting).then(
      ({ channel, login }) => {
        done();
        this.ctx.observer?.count('handshake_ok');
        // No hex of the session id (nor the line's object) when debug lines are off.
        if (this.ctx.log.isLevelEnabled('debug'))
          this.ctx.log.debug(
            { conn, session: toHex(channel.handshakeHash).slice(0, 16), suite: channel.suite },
            'handshake done',
          );
        this.login(conn, channel, login, address).catch((err: unknown) => {
          this.ctx.log.error({ conn, code: codeOf(err) }, 'login failed');
          this.closeWith(conn, channel, 'internal', 'the relay could not log you in');
        });
      },
      (err: unknown) => {
        done();
        this.ctx.observer?.count('handshake_failed');
        this.ctx.throttled.write(
          'warn',
          `handshake failed:${codeOf(err)}`,
          { conn, code: codeOf(err) },
          'handshake failed; connection closed',
        );
      },
    );
  }

  /** Sends a coded error and closes that one connection. */
  private closeWith(conn: number, channel: Channel, code: WireErrorCode, message: string): void {
    this.ctx.throttled.write('warn', `refused:${code}`, { conn, code }, 'connection refused');
    channel.send({ t: 'error', code, message });
    channel.close({ code, message });
  }

  private async login(conn: number, channel: Channel, login: LoginPayload, address: string): Promise<void> {
    const outcome = await authenticate(this.ctx, channel, login, address, this.registrations);
    if (!outcome.ok) {
      if (channel.isOpen) this.closeWith(conn, channel, outcome.code, outcome.message);
      return;
    }
    if (!channel.isOpen) return;
    const { user } = outcome;
    const canon = user.canon;
    if (outcome.registered) this.ctx.log.info({ conn, user: user.name }, 'registered');
    if (outcome.recovered) {
      this.ctx.log.info({ conn, user: user.name }, 'name recovered by a new identity');
      this.deps.shares.dropRecipient(canon);
    }
    // Version 1: one device per user; a second login closes the first (section 1).
    const older = this.ctx.sessions.get(canon);
    if (older) {
      this.ctx.log.info({ conn: older.conn, user: user.name }, 'replaced by a newer login');
      this.ctx.sessions.delete(canon);
      older.channel.send({ t: 'error', code: 'replaced', message: 'you logged in from somewhere else' });
      older.channel.close({ code: 'replaced', message: 'replaced by a newer login' });
    }
    const limits = this.ctx.limits;
    const session: Session = {
      conn,
      user: compactUser(user),
      channel,
      address,
      requests: new TokenBucket(limits.requestsPerSecond, limits.requestBurst),
      refusals: new TokenBucket(limits.refusalsPerSecond, limits.requestBurst),
      chain: undefined,
      inflight: undefined,
      acking: undefined,
      backlog: true,
      pumping: false,
      pumpAgain: false,
      retry: undefined,
      retryMs: 100,
      watching: NO_NAMES,
    };
    this.ctx.sessions.set(canon, session);
    channel.on('message', (msg) => this.onRequest(session, msg));
    channel.on('invalid', (err, rid) => this.onInvalid(session, err, rid));
    channel.on('close', (reason) => this.onClose(session, reason));
    // Cluster: claim the session (closing one on another relay) and hear of new envelopes.
    await this.ctx.cluster?.login(session);
    channel.start();
    const queued = await welcome(this.ctx, channel, user, outcome.registered || outcome.recovered);
    this.ctx.log.info({ conn, user: user.name, queued }, 'logged in');
    this.ctx.observer?.count('login');
    this.presence.announce(user.name, true);
    this.ctx.cluster?.announce(user.name, true);
    // Nothing waited when welcome counted (every write before it committed), and anything
    // stored since went through deliverNew: no queue read for this login (issue 12).
    if (queued > 0 || this.ctx.cluster) this.delivery.pumpLater(session);
    else session.backlog = false;
  }

  private onClose(session: Session, reason: { code: string; message: string; local: boolean }): void {
    const canon = session.user.canon;
    const quiet =
      reason.code === 'closed' || reason.code === 'connection_closed' || reason.code === 'replaced';
    if (quiet)
      this.ctx.log.info(
        { conn: session.conn, user: session.user.name, code: reason.code },
        'connection closed',
      );
    else {
      this.ctx.throttled.write(
        'warn',
        `closed:${reason.code}`,
        { conn: session.conn, user: session.user.name, code: reason.code },
        'connection closed',
      );
    }
    if (session.retry) clearTimeout(session.retry);
    this.presence.forget(session);
    const cluster = this.ctx.cluster;
    if (cluster) {
      // Releases the session key only if this connection still holds the user.
      const leave: Promise<void> = cluster
        .logout(session, this.ctx.sessions.get(canon) === session)
        .catch((err: unknown) => this.ctx.log.warn({ code: codeOf(err) }, 'cluster logout failed'));
      this.leaving.add(leave);
      void leave.finally(() => this.leaving.delete(leave));
    }
    if (this.ctx.sessions.get(canon) !== session) return;
    this.ctx.sessions.delete(canon);
    if (this.stopping) return;
    void this.ctx.store.setLastSeen(canon, this.ctx.now()).catch((err: unknown) => {
      this.ctx.log.error({ code: codeOf(err) }, 'could not record last seen');
    });
    this.presence.announce(session.user.name, false);
  }

  // -------------------------------------------------------------------------------------------
  // Requests: every one counted (an ack of an envelope we delivered is already bounded by the
  // delivery window, so it is free), refusals answered at a bounded rate (defects 2 and 6)

  private onRequest(session: Session, msg: ClientMessage): void {
    this.ctx.cluster?.touch(session);
    const free = msg.t === 'ack' && session.inflight?.has(msg.id) === true;
    if (!free && !session.requests.take()) {
      this.refuse(
        session,
        'rid' in msg ? msg.rid : undefined,
        'rate_limited',
        `more than ${this.ctx.limits.requestsPerSecond} requests a second`,
      );
      return;
    }
    // Requests are handled one at a time, in order. With none under way the handler runs now,
    // and only one that goes async (a lookup) is chained (issue 12: two promises per request).
    let chain: Promise<void>;
    if (session.chain) {
      chain = session.chain
        .then(() => (session.channel.isOpen ? handle(this.deps, session, msg) : undefined))
        .catch((err: unknown) => this.failed(session, msg, err));
    } else {
      let r: void | Promise<void>;
      try {
        r = handle(this.deps, session, msg);
      } catch (err) {
        this.failed(session, msg, err);
        return;
      }
      if (r === undefined) return;
      chain = r.catch((err: unknown) => this.failed(session, msg, err));
    }
    session.chain = chain;
    void chain.then(() => {
      if (session.chain === chain) session.chain = undefined;
    });
  }

  private onInvalid(session: Session, err: ChatError, rid: string | undefined): void {
    const code: WireErrorCode = isWireErrorCode(err.code) ? err.code : 'bad_message';
    if (!session.requests.take()) {
      this.refuse(
        session,
        rid,
        'rate_limited',
        `more than ${this.ctx.limits.requestsPerSecond} requests a second`,
      );
      return;
    }
    this.refuse(session, rid, code, err.message);
  }

  /**
   * Answers a refused request with `error`. Refusals are answered at `refusalsPerSecond` (bursts
   * of `requestBurst`); a connection that goes on past that is closed with `rate_limited`, so a
   * client that never stops cannot make the relay write (or log) without bound.
   */
  private refuse(session: Session, rid: string | undefined, code: WireErrorCode, message: string): void {
    this.ctx.observer?.count('refused');
    if (code === 'rate_limited') this.ctx.observer?.count('rate_limited');
    if (!session.refusals.take()) {
      this.ctx.throttled.write(
        'warn',
        'refusals exhausted',
        { conn: session.conn, user: session.user.name, code: 'rate_limited' },
        'too many refused requests; connection closed',
      );
      // After the requests already taken have been answered.
      void (session.chain ?? RESOLVED).then(() => {
        if (session.channel.isOpen)
          this.closeWith(session.conn, session.channel, 'rate_limited', 'too many refused requests');
      });
      return;
    }
    this.ctx.throttled.write(
      'info',
      `request refused:${code}`,
      { conn: session.conn, user: session.user.name, code },
      'request refused',
    );
    session.channel.send({ t: 'error', ...(rid ? { rid } : {}), code, message });
  }

  private failed(session: Session, msg: ClientMessage, err: unknown): void {
    const code: WireErrorCode = isChatError(err) && isWireErrorCode(err.code) ? err.code : 'internal';
    const rid = 'rid' in msg ? msg.rid : undefined;
    if (code !== 'internal') {
      this.refuse(session, rid, code, (err as Error).message);
      return;
    }
    // The operator reads the real cause (storage_failed: the disk is full); the client only the wire code.
    this.ctx.throttled.write(
      'error',
      `request failed:${codeOf(err)}:${msg.t}`,
      { conn: session.conn, user: session.user.name, code: codeOf(err), wire: code, err, t: msg.t },
      'request failed',
    );
    session.channel.send({
      t: 'error',
      ...(rid ? { rid } : {}),
      code,
      // Cluster: Redis is unreachable; the connection stays open and the client resends.
      message:
        this.ctx.cluster && codeOf(err) === 'storage_failed'
          ? 'the relay store (Redis) is unavailable; the request was not done, send it again'
          : 'the relay could not handle this request',
    });
  }

  /** Runs `then` after a batched store write commits, off the request chain; `stop` waits for it. */
  private afterWrite<T>(session: Session, msg: ClientMessage, write: Promise<T>, then: (v: T) => void): void {
    // One promise per write (issue 12: then, catch and finally were three, per message twice),
    // counted rather than held in a Set per session (an add and a delete per write grew and
    // shrank the Set's table: young garbage held from the old generation).
    this.writesPending++;
    void write.then(
      (v) => {
        this.wrote();
        try {
          then(v);
        } catch (err) {
          this.failed(session, msg, err);
        }
      },
      (err: unknown) => {
        this.wrote();
        this.failed(session, msg, err);
      },
    );
  }

  /** A write reported by callback settled (HandlerDeps.written). */
  private written(session: Session, msg: ClientMessage, err: unknown): boolean {
    this.wrote();
    if (err === undefined) return true;
    this.failed(session, msg, err);
    return false;
  }

  private wrote(): void {
    if (--this.writesPending > 0 || !this.writesDrained) return;
    const drained = this.writesDrained;
    this.writesDrained = undefined;
    drained();
  }

  // -------------------------------------------------------------------------------------------

  /** Stops accepting, closes every connection, and closes the store. Nothing acknowledged is lost. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.presence.stop();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.handshaking) s.destroy();
    const chains: Promise<void>[] = [];
    const sessions = [...this.ctx.sessions.values()];
    for (const session of sessions) {
      if (session.chain) chains.push(session.chain);
      session.channel.close({ code: 'closed', message: 'the relay is stopping' });
    }
    // Let requests already taken finish their store writes before the store closes.
    await Promise.allSettled(chains);
    while (this.writesPending > 0) await new Promise<void>((resolve) => (this.writesDrained = resolve));
    this.ctx.sessions.clear();
    await Promise.allSettled([...this.leaving]);
    await closed;
    this.ctx.throttled.flush();
    await this.ctx.cluster?.close();
    await this.ctx.store.close();
    this.ctx.log.info('relay stopped');
  }
}
