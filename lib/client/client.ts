/**
 * The whole client without a screen (DESIGN.md): one connection to the relay that it keeps
 * alive, an outbox, the history, contacts and end-to-end sessions in the user's store. The
 * line mode and the full-screen UI are thin views over its events and methods.
 *
 * Map: `start` → `step` (reconnect.ts, the pure state machine) → `connectOnce` (handshake, TOFU) → `onWelcome` →
 * `flush` (outbox). Relay messages land in `onRelayMessage`; envelopes in the inbox (inbox.ts).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Identity } from '../crypto/identity';
import { toBase64 } from '../crypto/primitives';
import { ChatError, isChatError } from '../errors';
import { canonName } from '../names';
import { type ClientMessage, parseRelayMessage, type RelayMessage, type UserEntry } from '../net/messages';
import {
  type ChannelTimeouts,
  connectSecureChannel,
  PING_INTERVAL_MS,
  type SecureChannel,
} from '../net/secure-channel';
import { Contacts } from './contacts';
import { EndToEnd, type PrekeyUpload } from './e2e';
import { Inbox } from './inbox';
import { Outbox } from './outbox';
import { Presence } from './presence';
import { contactView } from './contact-view';
import { RecoveryLogin } from './recovery-login';
import { Sender } from './sender';
import { ServerTrust } from './server-trust';
import { dialRelay } from './dial';
import { DeliveredReceipts, Typing } from './receipts-typing';
import { Requests, type Request } from './requests';
import { DEFAULT_RECONNECT, type ReconnectEvent, type ReconnectPolicy } from './reconnect';
import { Pacer } from './pacer';
import { ReconnectDriver } from './reconnect-driver';
import { PacedOut } from './paced-out';
import type { KnownServers } from './known-servers';
import type { ClientStore } from './store';
import type { ChatMessage, ClientEvents, ConnectionState, ContactInfo } from './types';

export { DEFAULT_RECONNECT, type ReconnectPolicy } from './reconnect';
export { REQUEST_TIMEOUT_MS } from './requests';
export { TYPING_TIMEOUT_MS } from './receipts-typing';
export { SEND_WINDOW } from './sender';

export interface ClientOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly identity: Identity;
  readonly store: ClientStore;
  readonly knownServers: KnownServers;
  readonly knownServersFile: string;
  readonly logger: Logger;
  readonly logFile?: string;
  readonly acceptNewServer?: boolean;
  readonly serverFingerprint?: string;
  /** `--trust-authority`: relay-authority fingerprints trusted for this relay (docs/protocol.md 6.1). */
  readonly trustAuthorities?: readonly string[];
  readonly readReceipts?: boolean;
  readonly reconnect?: Partial<ReconnectPolicy>;
  readonly timeouts?: ChannelTimeouts;
  /** Wall clock, ms since the epoch. */
  readonly now?: () => number;
  /** The user's recovery code (lib/client/recovery-store.ts): its public key goes with every login. */
  readonly recoveryCode?: string;
  /** The code was made on this run: show it once after the first successful registration. */
  readonly recoveryCodeNew?: boolean;
  /** Take the name over with a proof signed by the recovery key (`--recover`, issue 9 point 8). */
  readonly recover?: boolean;
}

type Channel = SecureChannel<RelayMessage, ClientMessage>;
export class Client extends EventEmitter<ClientEvents> {
  readonly name: string;
  readonly canon: string;
  readonly hostPort: string;
  readonly logFile: string;
  private readonly store: ClientStore;
  private readonly log: Logger;
  private readonly e2e: EndToEnd;
  private readonly now: () => number;
  private channel: Channel | undefined;
  private conn: ConnectionState = { state: 'closed', reason: 'not started' };
  private readonly reconnector: ReconnectDriver;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly requests = new Requests();
  private readonly presence: Presence;
  private readonly serverTrust: ServerTrust;
  private readonly delivered: DeliveredReceipts;
  private readonly inbox: Inbox;
  private readonly sender: Sender;
  private readonly outbox: Outbox;
  private readonly typing: Typing;
  private readReceipts: boolean;
  /** Paces every request to the relay's announced limits; what waits for a token is queued. */
  private readonly pacer: Pacer;
  private readonly paced: PacedOut;
  private readonly contactList: Contacts;
  /** Conversations closed by the user, hidden from `contacts()` until a new message. */
  private readonly closed = new Set<string>();
  private readonly recovery: RecoveryLogin;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.name = opts.name;
    this.canon = canonName(opts.name);
    this.hostPort = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.logFile = opts.logFile ?? '';
    this.store = opts.store;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.readReceipts = opts.readReceipts ?? true;
    this.reconnector = new ReconnectDriver({
      policy: { ...DEFAULT_RECONNECT, ...opts.reconnect },
      now: this.now,
      setState: (st) => this.setState(st),
      dial: () => {
        void this.connectOnce().catch((err: unknown) => {
          const c = isChatError(err) ? err : new ChatError('connection_closed', 'could not reach the relay');
          this.log.warn({ code: c.code, attempt: this.reconnector.attempt }, 'connect failed');
          this.afterDisconnect(c.code, c.message);
        });
      },
      askTrust: () => {
        if (this.serverTrust.pending) {
          this.emit('server-unknown', {
            hostPort: this.hostPort,
            fingerprint: this.serverTrust.pending.fingerprint,
          });
        }
      },
      report: (code, message) => this.emit('error', { code, message }),
    });
    this.contactList = new Contacts(opts.store, { name: opts.name, identity: opts.identity }, this.now);
    this.e2e = new EndToEnd(opts.store, this.contactList, opts.identity, opts.name, this.now);
    this.pacer = new Pacer(this.now);
    this.paced = new PacedOut(this.pacer, () => this.channel);
    this.outbox = new Outbox(opts.store);
    this.delivered = new DeliveredReceipts(
      (peer, of) => this.sender.sendControl(peer, { kind: 'receipt', of, state: 'delivered' }),
      (peer, err) =>
        this.log.warn({ code: isChatError(err) ? err.code : 'internal', peer }, 'delivered receipt delayed'),
    );
    this.typing = new Typing(this.now, (peer, peerName, on) => this.emit('typing', { peer, peerName, on }));
    this.recovery = new RecoveryLogin({
      code: opts.recoveryCode,
      isNew: opts.recoveryCodeNew,
      recover: opts.recover,
      canon: this.canon,
      identity: opts.identity,
      kv: opts.store.kv,
      emit: this.emit.bind(this),
    });
    this.serverTrust = new ServerTrust({
      hostPort: this.hostPort,
      user: this.name,
      knownServers: opts.knownServers,
      knownServersFile: opts.knownServersFile,
      trustAuthorities: opts.trustAuthorities,
      acceptNewServer: opts.acceptNewServer,
      serverFingerprint: opts.serverFingerprint,
      log: this.log,
      now: this.now,
    });
    this.presence = new Presence({
      canon: this.canon,
      now: this.now,
      emit: this.emit.bind(this),
      online: () => this.conn.state === 'online',
      out: (msg) => this.out(msg),
      watchRid: () => this.requests.nextRid('w'),
      cameOnline: (peer) => {
        if (this.outbox.hasTexts(peer)) void this.sender.flush();
      },
    });
    this.inbox = new Inbox({
      store: opts.store,
      e2e: this.e2e,
      contacts: this.contactList,
      log: this.log,
      now: this.now,
      tx: (fn) => this.tx(fn),
      emit: this.emit.bind(this),
      ack: (id) => this.channel?.send({ t: 'ack', id }),
      delivered: this.delivered,
      typing: this.typing,
      reopen: (peer) => this.closed.delete(peer),
      watch: (names) => this.presence.watch(names),
      reconnect: (message) => this.channel?.close({ code: 'closed', message }),
    });
    this.sender = new Sender({
      canon: this.canon,
      store: opts.store,
      e2e: this.e2e,
      contacts: this.contactList,
      outbox: this.outbox,
      log: this.log,
      now: this.now,
      tx: (fn) => this.tx(fn),
      emit: this.emit.bind(this),
      online: () => this.conn.state === 'online',
      connected: () => this.channel !== undefined,
      out: (msg) => this.out(msg),
      request: this.request.bind(this),
      list: () => this.list(),
      onlineName: (peer) => this.presence.onlineName(peer),
      reopen: (peer) => this.closed.delete(peer),
      watch: (names) => this.presence.watch(names),
      pacerWindow: () => this.pacer.window,
    });
  }

  get connection(): ConnectionState {
    return this.conn;
  }

  /** The relay's fingerprint as last seen (trusted or not). */
  get serverFingerprint(): string | undefined {
    return this.serverTrust.seen;
  }

  /** Every transaction of the client: after a rollback, what is kept in memory is read again. */
  private tx<T>(fn: () => T): T {
    try {
      return this.store.transaction(fn);
    } catch (err) {
      this.outbox.reset();
      throw err;
    }
  }

  private setState(s: ConnectionState): void {
    this.conn = s;
    this.emit('state', s);
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  /** Connects, and keeps reconnecting after drops until `close`. */
  start(): void {
    this.step({ t: 'start' });
  }

  private step(e: ReconnectEvent): void {
    this.reconnector.step(e);
  }

  private afterDisconnect(code: string, message: string): void {
    this.channel = undefined;
    this.outbox.inFlight.clear();
    this.paced.clear();
    this.presence.unwatchAll();
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.requests.failAll(new ChatError('connection_closed', 'the connection to the relay closed'));
    this.presence.lost();
    this.step({
      t: 'lost',
      code,
      message,
      askTrust: code === 'server_key_unknown' && this.serverTrust.pending !== undefined,
    });
  }

  /** The answer to a 'server-unknown' event: accept (remembered in known_servers) or refuse. */
  trustServer(accept: boolean): void {
    if (!this.serverTrust.answer(accept)) return;
    // Section 6: on yes, reconnect and require that same key (now in known_servers).
    this.step({ t: 'trust', accept });
  }

  /** The user's recovery code, grouped for display (CLIENT-API item 5). */
  recoveryCode(): string {
    return this.recovery.code();
  }

  private async connectOnce(): Promise<void> {
    const socket = await dialRelay(this.opts.host, this.opts.port, this.hostPort);
    const id = this.opts.identity;
    const { channel, serverInfo } = await connectSecureChannel<RelayMessage, ClientMessage>(socket, {
      staticKey: id.dhKey,
      verifyServer: (k, cert) => this.serverTrust.verify(k, cert),
      login: {
        user: this.name,
        signKey: toBase64(id.signKey.publicKey),
        idcert: toBase64(id.idcert),
        ...this.recovery.fields(),
      },
      parse: parseRelayMessage,
      ...this.opts.timeouts,
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
            this.log.warn({ code: m.code }, 'login refused');
            channel.close({ code: 'closed', message: m.message });
            this.afterDisconnect(m.code, m.message);
          }
          return;
        }
        this.onRelayMessage(m);
      }),
    );
    channel.on('invalid', (err) => this.log.warn({ code: err.code }, 'invalid message from the relay'));
    channel.on('close', (reason) => {
      if (this.channel !== channel) return;
      this.log.info({ code: reason.code }, 'disconnected');
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
      this.log.error({ code: err.code, t }, 'the store failed while handling a relay message');
      this.emit('error', { code: err.code, message: err.message });
    }
  }

  private onWelcome(m: Extract<RelayMessage, { t: 'welcome' }>): void {
    if (m.limits) this.pacer.configure(m.limits);
    this.recovery.welcomed();
    this.log.info({ queued: m.queued, online: m.users?.length ?? 0 }, 'logged in');
    this.step({ t: 'welcomed' });
    this.presence.welcomed(m.users);
    this.pingTimer = setInterval(() => {
      const ch = this.channel;
      if (ch && ch.idleMs >= PING_INTERVAL_MS) this.out({ t: 'ping', rid: this.nextRid() });
    }, PING_INTERVAL_MS / 3);
    this.pingTimer.unref();
    this.presence.setSubscribe(m.users === undefined);
    this.presence.watch([
      ...this.contactList.all().map((c) => c.name),
      ...this.store.conversations().map((c) => c.peerName),
    ]);
    const fp = this.serverTrust.seen ?? '';
    const force = this.store.kv.get('prekeys.relay') !== fp;
    this.publishPrekeys(this.e2e.prekeysDue(force), fp);
    void this.sender.flush();
  }

  private publishPrekeys(upload: PrekeyUpload | undefined, relayFp?: string): void {
    if (!upload || !this.channel) return;
    this.out({ t: 'keys.publish', rid: this.nextRid(), spk: upload.spk, opks: upload.opks });
    if (relayFp !== undefined) this.store.kv.set('prekeys.relay', relayFp);
    this.log.info({ opks: upload.opks.length, spk: upload.spk.id }, 'prekeys published');
  }

  /** Every request goes through here (paced-out.ts). */
  private out(msg: ClientMessage): void {
    this.paced.out(msg);
  }

  private nextRid(): string {
    return this.requests.nextRid();
  }

  private request<T extends RelayMessage['t']>(
    msg: Request,
    expect: T,
  ): Promise<Extract<RelayMessage, { t: T }>> {
    const channel = this.channel;
    if (!channel || this.conn.state !== 'online') {
      return Promise.reject(new ChatError('connection_closed', 'not connected to the relay'));
    }
    return this.requests.open(msg, expect, (m) => this.out(m));
  }

  // -------------------------------------------------------------------------------------------
  // Relay messages

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
        this.presence.changed(m.user, m.online);
        return;
      case 'presence.batch':
        for (const c of m.changes) this.presence.changed(c.user, c.online);
        return;
      case 'keys.low':
        if (rid === undefined || m.remaining < 20) this.publishPrekeys(this.e2e.topUp(m.remaining));
        return;
      case 'sent':
        this.sender.sent(m.id, m.status);
        return;
      case 'deliver':
        this.inbox.deliver(m);
        return;
      case 'error':
        this.onRelayError(m);
        return;
      default: {
        const never: never = m;
        this.log.warn({ t: (never as { t: string }).t }, 'unexpected message');
      }
    }
  }

  private onRelayError(m: Extract<RelayMessage, { t: 'error' }>): void {
    this.log.warn({ code: m.code }, 'relay error');
    if (m.rid?.startsWith('w')) {
      // An older relay without presence.watch: presence then comes only as it did before.
      this.log.info({ code: m.code }, 'presence.watch not answered; going on without it');
      return;
    }
    if (m.rid?.startsWith('o') || (m.id !== undefined && m.code === 'identity_changed')) {
      this.sender.refused(m);
      return;
    }
    this.emit('error', { code: m.code, message: m.message });
  }

  // -------------------------------------------------------------------------------------------
  // Queries and actions for the views

  /**
   * Stores a text for `to` and sends it as soon as it can (now, or after reconnecting). The
   * message is in the history with state `sending` when this returns.
   */
  send(to: string, body: string): ChatMessage {
    return this.sender.send(to, body);
  }

  /** Who is registered and who is online (the 2016 `list`). */
  async list(): Promise<UserEntry[]> {
    const m = await this.request({ t: 'list' }, 'users');
    this.presence.listed(m.users);
    return [...m.users];
  }

  history(peer: string, limit = 500): ChatMessage[] {
    return this.store.history(canonName(peer), limit).map(({ seq: _seq, ...m }) => m);
  }

  /** Messages and receipts not yet taken by the relay. */
  outboxSize(): number {
    return this.outbox.size;
  }

  isOnline(peer: string): boolean {
    return this.presence.isOnline(canonName(peer));
  }

  /** Contacts and conversations, with presence and unread counts. */
  contacts(): ContactInfo[] {
    return contactView(this.contactList, this.store, this.presence, this.closed);
  }

  /** The conversation is on screen: mark it read and, unless turned off, send read receipts. */
  markShown(peer: string): void {
    const c = canonName(peer);
    this.presence.watch([peer]);
    const ids = this.store.markRead(c);
    if (ids.length && this.readReceipts)
      this.sender.sendControl(c, { kind: 'receipt', of: ids, state: 'read' });
  }

  setReadReceipts(on: boolean): void {
    this.readReceipts = on;
  }

  /** Typing notices, rate-limited: an `on` at most every few seconds, an `off` once. */
  setTyping(peer: string, on: boolean): void {
    const c = canonName(peer);
    if (!this.typing.shouldSend(c, on)) return;
    try {
      this.sender.sendControl(c, { kind: 'typing', on });
    } catch (err) {
      this.log.debug({ code: isChatError(err) ? err.code : 'internal' }, 'typing notice not sent');
    }
  }

  /** The 60-digit safety number with `peer`, as 12 groups of 5 (section 3). */
  safetyNumber(peer: string): string {
    return this.contactList.safetyNumber(peer);
  }

  contactState(peer: string): ContactInfo['state'] | undefined {
    return this.contactList.get(canonName(peer))?.state;
  }

  /** Marks `peer` verified (after comparing the safety number out of band). */
  verify(peer: string): void {
    const c = this.contactList.verify(peer);
    this.emit('contact', { name: c.name, state: 'verified' });
  }

  /**
   * Accepts a changed identity: exactly the one whose safety number was shown (`shownNumber`, or
   * the one this client last showed through `safetyNumber` or its `identity_changed` error). If
   * the pending identity changed since, throws `identity_changed` with the new number (issue 9,
   * point 2); with no change waiting, `nothing_to_accept`. Pins it, clears verified, deletes the
   * old identity's sessions for good (point 1), releases held messages and sends what waits.
   */
  acceptIdentity(peer: string, shownNumber?: string): void {
    const { c, held } = this.tx(() => {
      const accepted = this.contactList.accept(peer, shownNumber);
      this.e2e.retireSessions(accepted.canon);
      return { c: accepted, held: this.store.releaseHeld(accepted.canon) };
    });
    this.log.info({ peer: c.canon }, 'new identity accepted');
    this.emit('contact', { name: c.name, state: 'unverified' });
    for (const h of held) this.inbox.receive(h.id, h.from, h.env);
    void this.sender.flush();
  }

  /** Removes one message from the history (CLIENT-API item 2); true if something was removed. */
  deleteMessage(peer: string, id: string): boolean {
    const c = canonName(peer);
    return this.tx(() => {
      const removed = this.store.deleteMessage(c, id);
      const text = this.outbox.dropText(c, id);
      const out = this.outbox.recipient(id) !== undefined && this.outbox.remove(id);
      return removed || out || text;
    });
  }

  /** Hides a conversation from `contacts()` until a message arrives or is sent (CLIENT-API item 3). */
  closeConversation(peer: string): void {
    this.closed.add(canonName(peer));
  }

  /** Disconnects for good. The caller closes the store. */
  async close(): Promise<void> {
    // Stopped now; the state `closed` is shown once the connection has ended (below).
    this.reconnector.close();
    this.sender.close();
    this.inbox.close();
    this.delivered.close();
    this.paced.close();
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.typing.close();
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
