/**
 * The life of the connection to the relay (DESIGN.md): dial and handshake (TOFU through
 * server-trust.ts), the login answer, the ping timer and prekey publishing on `welcome`, the
 * dispatch of every relay message, requests and what is cleared when the connection drops. The
 * reconnect loop is reconnect-driver.ts; every request goes out paced (paced-out.ts). Its
 * dependencies are passed in; no reference to `Client`.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Identity } from '../crypto/identity';
import { toBase64 } from '../crypto/primitives';
import { ChatError, isChatError } from '../errors';
import { type ClientMessage, parseRelayMessage, type RelayMessage } from '../net/messages';
import {
  type ChannelTimeouts,
  connectSecureChannel,
  PING_INTERVAL_MS,
  type SecureChannel,
} from '../net/secure-channel';
import type { Contacts } from './contacts';
import { dialRelay } from './dial';
import type { EndToEnd, PrekeyUpload } from './e2e';
import type { Inbox } from './inbox';
import type { Outbox } from './outbox';
import { Pacer } from './pacer';
import { PacedOut } from './paced-out';
import type { Presence } from './presence';
import type { ReconnectPolicy } from './reconnect';
import { ReconnectDriver } from './reconnect-driver';
import type { RecoveryLogin } from './recovery-login';
import { Requests, type MultiAnswer, type MultiRequest, type Request } from './requests';
import type { Sender } from './sender';
import type { ServerTrust } from './server-trust';
import type { ClientStore } from './store';
import type { ClientEvents, ConnectionState } from './types';

export interface ConnectionDeps {
  readonly host: string;
  readonly port: number;
  readonly hostPort: string;
  readonly user: string;
  readonly identity: Identity;
  readonly timeouts?: ChannelTimeouts;
  readonly policy: ReconnectPolicy;
  readonly log: Logger;
  readonly now: () => number;
  readonly store: ClientStore;
  readonly e2e: EndToEnd;
  readonly contacts: Contacts;
  readonly serverTrust: ServerTrust;
  readonly recovery: RecoveryLogin;
  readonly presence: Presence;
  readonly inbox: Inbox;
  readonly sender: Sender;
  readonly outbox: Outbox;
  readonly emit: EventEmitter<ClientEvents>['emit'];
}

export type Channel = SecureChannel<RelayMessage, ClientMessage>;

export class Connection {
  private channel: Channel | undefined;
  private conn: ConnectionState = { state: 'closed', reason: 'not started' };
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly requests = new Requests();
  /** Paces every request to the relay's announced limits; what waits for a token is queued. */
  private readonly pacer: Pacer;
  private readonly paced: PacedOut;
  private readonly reconnector: ReconnectDriver;

  constructor(private readonly deps: ConnectionDeps) {
    this.pacer = new Pacer(deps.now);
    this.paced = new PacedOut(this.pacer, () => this.channel);
    this.reconnector = new ReconnectDriver({
      policy: deps.policy,
      now: deps.now,
      setState: (st) => this.setState(st),
      dial: () => {
        void this.connectOnce().catch((err: unknown) => {
          const c = isChatError(err) ? err : new ChatError('connection_closed', 'could not reach the relay');
          this.deps.log.warn({ code: c.code, attempt: this.reconnector.attempt }, 'connect failed');
          this.afterDisconnect(c.code, c.message);
        });
      },
      askTrust: () => {
        const pending = this.deps.serverTrust.pending;
        if (pending) {
          this.deps.emit('server-unknown', {
            hostPort: this.deps.hostPort,
            fingerprint: pending.fingerprint,
          });
        }
      },
      report: (code, message) => this.deps.emit('error', { code, message }),
    });
  }

  get state(): ConnectionState {
    return this.conn;
  }

  get online(): boolean {
    return this.conn.state === 'online';
  }

  /** The open channel, if any (only for `Client`'s private `channel`, see there). */
  get current(): Channel | undefined {
    return this.channel;
  }

  /** How many requests the pacer lets go at once. */
  get window(): number {
    return this.pacer.window;
  }

  private setState(s: ConnectionState): void {
    this.conn = s;
    this.deps.emit('state', s);
  }

  /** Connects, and keeps reconnecting after drops until `close`. */
  start(): void {
    this.reconnector.step({ t: 'start' });
  }

  /** The user's answer about an unknown relay key (already recorded by server-trust.ts). */
  trust(accept: boolean): void {
    this.reconnector.step({ t: 'trust', accept });
  }

  /** Every request goes through here (paced-out.ts). */
  out(msg: ClientMessage): void {
    this.paced.out(msg);
  }

  nextRid(prefix?: string): string {
    return this.requests.nextRid(prefix);
  }

  ack(id: string): void {
    this.channel?.send({ t: 'ack', id });
  }

  /** Ends the current connection; the reconnect loop dials again. */
  reconnect(message: string): void {
    this.channel?.close({ code: 'closed', message });
  }

  request<T extends RelayMessage['t']>(msg: Request, expect: T): Promise<Extract<RelayMessage, { t: T }>> {
    if (!this.channel || !this.online) {
      return Promise.reject(new ChatError('connection_closed', 'not connected to the relay'));
    }
    return this.requests.open(msg, expect, (m) => this.out(m));
  }

  /** A `send.multi`: resolves with one answer per recipient (requests.ts `openMulti`). */
  requestMulti(msg: MultiRequest): Promise<MultiAnswer[]> {
    if (!this.channel || !this.online) {
      return Promise.reject(new ChatError('connection_closed', 'not connected to the relay'));
    }
    return this.requests.openMulti(msg, (m) => this.out(m));
  }

  private afterDisconnect(code: string, message: string): void {
    const { outbox, presence, serverTrust } = this.deps;
    this.channel = undefined;
    outbox.inFlight.clear();
    this.paced.clear();
    presence.unwatchAll();
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.requests.failAll(new ChatError('connection_closed', 'the connection to the relay closed'));
    presence.lost();
    this.reconnector.step({
      t: 'lost',
      code,
      message,
      askTrust: code === 'server_key_unknown' && serverTrust.pending !== undefined,
    });
  }

  private async connectOnce(): Promise<void> {
    const { host, port, hostPort, identity: id, log } = this.deps;
    const socket = await dialRelay(host, port, hostPort);
    const { channel, serverInfo } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
      staticKey: id.dhKey,
      verifyServer: (k, cert) => this.deps.serverTrust.verify(k, cert),
      login: {
        user: this.deps.user,
        signKey: toBase64(id.signKey.publicKey),
        idcert: toBase64(id.idcert),
        ...this.deps.recovery.fields(),
      },
      parse: parseRelayMessage,
      ...this.deps.timeouts,
    });
    if (this.reconnector.stopped) {
      channel.close();
      return;
    }
    this.channel = channel;
    this.pacer.configure(serverInfo.limits);
    let welcomed = false;
    channel.on('message', (m) =>
      this.guardStore(m.t, () => {
        if (!welcomed) {
          if (m.t === 'welcome') {
            welcomed = true;
            this.onWelcome(m);
          } else if (m.t === 'error') {
            log.warn({ code: m.code }, 'login refused');
            channel.close({ code: 'closed', message: m.message });
            this.afterDisconnect(m.code, m.message);
          }
          return;
        }
        this.onRelayMessage(m);
      }),
    );
    channel.on('invalid', (err) => log.warn({ code: err.code }, 'invalid message from the relay'));
    channel.on('close', (reason) => {
      if (this.channel !== channel) return;
      log.info({ code: reason.code }, 'disconnected');
      this.afterDisconnect(reason.code, reason.message);
    });
    channel.start();
  }

  /**
   * A full disk or a damaged store while handling a relay message is reported (an `error` event
   * with the store's sentence), never thrown out of the socket handler, where it would end the
   * process. What it interrupted is safe to redo: an unacked delivery comes again on the next
   * connection, and an outbox entry not marked sent is sent again with the same bytes (the relay
   * drops an id still queued; the receiver drops an envelope it already decrypted, section 8).
   */
  private guardStore(t: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!isChatError(err, 'storage_failed') && !isChatError(err, 'corrupt_store')) throw err;
      this.deps.log.error({ code: err.code, t }, 'the store failed while handling a relay message');
      this.deps.emit('error', { code: err.code, message: err.message });
    }
  }

  private onWelcome(m: Extract<RelayMessage, { t: 'welcome' }>): void {
    const { presence, store } = this.deps;
    if (m.limits) this.pacer.configure(m.limits);
    this.deps.recovery.welcomed();
    this.deps.log.info({ queued: m.queued, online: m.users?.length ?? 0 }, 'logged in');
    this.reconnector.step({ t: 'welcomed' });
    presence.welcomed(m.users);
    this.pingTimer = setInterval(() => {
      const ch = this.channel;
      if (ch && ch.idleMs >= PING_INTERVAL_MS) this.out({ t: 'ping', rid: this.nextRid() });
    }, PING_INTERVAL_MS / 3);
    this.pingTimer.unref();
    presence.setSubscribe(m.users === undefined);
    presence.watch([
      ...this.deps.contacts.all().map((c) => c.name),
      ...store
        .conversations()
        .filter((c) => !c.peer.startsWith('#'))
        .map((c) => c.peerName),
    ]);
    const fp = this.deps.serverTrust.seen ?? '';
    const force = store.kv.get('prekeys.relay') !== fp;
    this.publishPrekeys(this.deps.e2e.prekeysDue(force), fp);
    void this.deps.sender.flush();
  }

  private publishPrekeys(upload: PrekeyUpload | undefined, relayFp?: string): void {
    if (!upload || !this.channel) return;
    this.out({ t: 'keys.publish', rid: this.nextRid(), spk: upload.spk, opks: upload.opks });
    if (relayFp !== undefined) this.deps.store.kv.set('prekeys.relay', relayFp);
    this.deps.log.info({ opks: upload.opks.length, spk: upload.spk.id }, 'prekeys published');
  }

  private onRelayMessage(m: RelayMessage): void {
    if (this.requests.answer(m)) return;
    const rid = 'rid' in m ? m.rid : undefined;
    switch (m.t) {
      case 'ping':
        this.out({ t: 'pong', rid: m.rid });
        return;
      case 'pong':
      case 'welcome':
      case 'users':
      case 'keys.bundle':
        return;
      case 'presence':
        this.deps.presence.changed(m.user, m.online);
        return;
      case 'presence.batch':
        for (const c of m.changes) this.deps.presence.changed(c.user, c.online);
        return;
      case 'keys.low':
        if (rid === undefined || m.remaining < 20) this.publishPrekeys(this.deps.e2e.topUp(m.remaining));
        return;
      case 'sent':
        this.deps.sender.sent(m.id, m.status);
        return;
      case 'deliver':
        this.deps.inbox.deliver(m);
        return;
      case 'error':
        this.onRelayError(m);
        return;
      default: {
        const never: never = m;
        this.deps.log.warn({ t: (never as { t: string }).t }, 'unexpected message');
      }
    }
  }

  private onRelayError(m: Extract<RelayMessage, { t: 'error' }>): void {
    this.deps.log.warn({ code: m.code }, 'relay error');
    if (m.rid?.startsWith('y')) {
      // A group typing notice refused for one member: nothing waits on it.
      this.deps.log.debug({ code: m.code }, 'group typing notice refused');
      return;
    }
    if (m.rid?.startsWith('w')) {
      // An older relay without presence.watch: presence then comes only as it did before.
      this.deps.log.info({ code: m.code }, 'presence.watch not answered; going on without it');
      return;
    }
    if (m.rid?.startsWith('o') || (m.id !== undefined && m.code === 'identity_changed')) {
      this.deps.sender.refused(m);
      return;
    }
    this.deps.emit('error', { code: m.code, message: m.message });
  }

  /** Stops the reconnect loop at once; the connection itself ends in `close`. */
  stop(): void {
    this.reconnector.close();
  }

  /** Ends the connection for good (after `stop`); the state `closed` is shown once it has ended. */
  async close(): Promise<void> {
    this.paced.close();
    if (this.pingTimer) clearInterval(this.pingTimer);
    const ch = this.channel;
    if (ch) {
      await new Promise<void>((resolve) => {
        ch.once('close', () => resolve());
        ch.close({ code: 'closed', message: 'bye' });
      });
    }
    this.setState({ state: 'closed', reason: 'closed' });
  }
}
