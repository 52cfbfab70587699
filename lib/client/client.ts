/**
 * The whole client without a screen (DESIGN.md): one connection to the relay that it keeps
 * alive, an outbox, the history, contacts and end-to-end sessions in the user's store. The
 * line mode and the full-screen UI are thin views over its events and methods.
 *
 * Map: `start` → the connection (connection.ts: reconnect loop, handshake, TOFU, `welcome`) →
 * `flush` (sender.ts, the outbox). Relay messages are dispatched in connection.ts; envelopes land in
 * the inbox (inbox.ts). `Client` is a thin facade over these parts.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Identity } from '../crypto/identity';
import { isChatError } from '../errors';
import { canonName } from '../names';
import type { UserEntry } from '../net/messages';
import type { ChannelTimeouts } from '../net/secure-channel';
import { type Channel, Connection } from './connection';
import { Contacts } from './contacts';
import { EndToEnd } from './e2e';
import { Inbox } from './inbox';
import { Outbox } from './outbox';
import { Presence } from './presence';
import { contactView } from './contact-view';
import { RecoveryLogin } from './recovery-login';
import { Sender } from './sender';
import { ServerTrust } from './server-trust';
import { DeliveredReceipts, Typing } from './receipts-typing';
import { DEFAULT_RECONNECT, type ReconnectPolicy } from './reconnect';
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

export class Client extends EventEmitter<ClientEvents> {
  readonly name: string;
  readonly canon: string;
  readonly hostPort: string;
  readonly logFile: string;
  private readonly store: ClientStore;
  private readonly log: Logger;
  private readonly e2e: EndToEnd;
  private readonly now: () => number;
  /** The connection to the relay and its life (connection.ts). */
  private readonly link: Connection;
  private readonly presence: Presence;
  private readonly serverTrust: ServerTrust;
  private readonly delivered: DeliveredReceipts;
  private readonly inbox: Inbox;
  private readonly sender: Sender;
  private readonly outbox: Outbox;
  private readonly typing: Typing;
  private readReceipts: boolean;
  private readonly contactList: Contacts;
  /** Conversations closed by the user, hidden from `contacts()` until a new message. */
  private readonly closed = new Set<string>();
  private readonly recovery: RecoveryLogin;

  constructor(opts: ClientOptions) {
    super();
    this.name = opts.name;
    this.canon = canonName(opts.name);
    this.hostPort = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.logFile = opts.logFile ?? '';
    this.store = opts.store;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.readReceipts = opts.readReceipts ?? true;
    const emit = this.emit.bind(this);
    this.contactList = new Contacts(opts.store, { name: opts.name, identity: opts.identity }, this.now);
    this.e2e = new EndToEnd(opts.store, this.contactList, opts.identity, opts.name, this.now);
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
      emit,
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
    // The closures below reach `link` only when called, after it is made (end of the constructor).
    this.presence = new Presence({
      canon: this.canon,
      now: this.now,
      emit,
      online: () => this.link.online,
      out: (msg) => this.link.out(msg),
      watchRid: () => this.link.nextRid('w'),
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
      emit,
      ack: (id) => this.link.ack(id),
      delivered: this.delivered,
      typing: this.typing,
      reopen: (peer) => this.closed.delete(peer),
      watch: (names) => this.presence.watch(names),
      reconnect: (message) => this.link.reconnect(message),
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
      emit,
      online: () => this.link.online,
      connected: () => this.channel !== undefined,
      out: (msg) => this.link.out(msg),
      request: (msg, expect) => this.link.request(msg, expect),
      list: () => this.list(),
      onlineName: (peer) => this.presence.onlineName(peer),
      reopen: (peer) => this.closed.delete(peer),
      watch: (names) => this.presence.watch(names),
      pacerWindow: () => this.link.window,
    });
    this.link = new Connection({
      host: opts.host,
      port: opts.port,
      hostPort: this.hostPort,
      user: this.name,
      identity: opts.identity,
      timeouts: opts.timeouts,
      policy: { ...DEFAULT_RECONNECT, ...opts.reconnect },
      log: this.log,
      now: this.now,
      store: opts.store,
      e2e: this.e2e,
      contacts: this.contactList,
      serverTrust: this.serverTrust,
      recovery: this.recovery,
      presence: this.presence,
      inbox: this.inbox,
      sender: this.sender,
      outbox: this.outbox,
      emit,
    });
  }

  get connection(): ConnectionState {
    return this.link.state;
  }

  /** The open channel, if any. */
  private get channel(): Channel | undefined {
    return this.link.current;
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

  /** Connects, and keeps reconnecting after drops until `close`. */
  start(): void {
    this.link.start();
  }

  /** The answer to a 'server-unknown' event: accept (remembered in known_servers) or refuse. */
  trustServer(accept: boolean): void {
    if (!this.serverTrust.answer(accept)) return;
    // Section 6: on yes, reconnect and require that same key (now in known_servers).
    this.link.trust(accept);
  }

  /** The user's recovery code, grouped for display (CLIENT-API item 5). */
  recoveryCode(): string {
    return this.recovery.code();
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
    const m = await this.link.request({ t: 'list' }, 'users');
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
    // Stopped now; the state `closed` is shown once the connection has ended (connection.ts).
    this.link.stop();
    this.sender.close();
    this.inbox.close();
    this.delivered.close();
    this.typing.close();
    await this.link.close();
  }
}
