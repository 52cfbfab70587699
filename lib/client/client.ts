/**
 * The whole client without a screen (DESIGN.md): one connection to the relay that it keeps
 * alive, an outbox, the history, contacts and end-to-end sessions in the user's store. The
 * line mode and the full-screen UI are thin views over its events and methods.
 *
 * Map: `start` → the connection (connection.ts: reconnect loop, handshake, TOFU, `welcome`) →
 * `flush` (sender.ts, the outbox). Relay messages are dispatched in connection.ts; envelopes land in
 * the inbox (inbox.ts). Groups (docs/protocol.md 10.6) are groups/groups.ts (state, changes,
 * sender keys) and groups/group-messages.ts (sealing, send.multi, opening). `Client` is a thin
 * facade over these parts.
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
import { GroupMessages } from './groups/group-messages';
import { Groups } from './groups/groups';
import type { GroupReceipts } from './groups/receipts';
import type { ChatMessage, ClientEvents, ConnectionState, ContactInfo, GroupInfo } from './types';

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
  private readonly groupState: Groups;
  private readonly groupMessages: GroupMessages;

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
        this.sender.cameOnline(peer);
        if (this.outbox.hasTexts(peer)) void this.sender.flush();
      },
    });
    const parts = {
      store: opts.store,
      e2e: this.e2e,
      contacts: this.contactList,
      log: this.log,
      now: this.now,
      tx: <T>(fn: () => T) => this.tx(fn),
      emit,
    };
    this.groupState = new Groups({
      ...parts,
      canon: this.canon,
      queueInner: (peer, peerName, inner) => this.sender.queueInner(peer, peerName, inner),
      flush: () => void this.sender.flush(),
      added: (peer) => this.inbox.releaseFor(peer),
    });
    this.groupMessages = new GroupMessages({
      ...parts,
      canon: this.canon,
      groups: this.groupState,
      online: () => this.link.online,
      requestMulti: (msg) => this.link.requestMulti(msg),
      out: (msg) => this.link.out(msg),
      flushAll: () => void this.sender.flush(),
    });
    this.inbox = new Inbox({
      groups: this.groupState,
      groupMessages: this.groupMessages,
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
      groupFlush: () => void this.groupMessages.flush(),
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
    return this.store.history(this.conversationKey(peer), limit).map(({ seq: _seq, ...m }) => m);
  }

  /**
   * The history key of a conversation: a contact's canonical name, or '#'+id for a group (given
   * as '#'+id, or as '#NAME' of a group we are in).
   */
  private conversationKey(peer: string): string {
    if (!peer.startsWith('#')) return canonName(peer);
    const g = this.groupState.find(peer);
    return g ? `#${g.id}` : peer;
  }

  /** Messages and receipts not yet taken by the relay. */
  outboxSize(): number {
    return this.outbox.size + this.store.groups.countGroupOutgoing();
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
    if (peer.startsWith('#')) {
      this.markGroupShown(this.conversationKey(peer));
      return;
    }
    const c = canonName(peer);
    this.presence.watch([peer]);
    const ids = this.store.markRead(c);
    if (ids.length && this.readReceipts)
      this.sender.sendControl(c, { kind: 'receipt', of: ids, state: 'read' });
  }

  /** A group conversation is on screen: read receipts go pairwise to each message's sender. */
  private markGroupShown(key: string): void {
    const ids = this.store.markRead(key);
    if (!ids.length || !this.readReceipts) return;
    const bySender = new Map<string, string[]>();
    for (const id of ids) {
      const sender = this.store.message(key, id, 'in')?.sender;
      if (sender === undefined) continue;
      const c = canonName(sender);
      bySender.set(c, [...(bySender.get(c) ?? []), id]);
    }
    for (const [c, of] of bySender) this.sender.sendControl(c, { kind: 'receipt', of, state: 'read' });
  }

  setReadReceipts(on: boolean): void {
    this.readReceipts = on;
  }

  /** Typing notices, rate-limited: an `on` at most every few seconds, an `off` once. */
  setTyping(peer: string, on: boolean): void {
    const c = this.conversationKey(peer);
    if (c.startsWith('#')) {
      if (!this.typing.shouldSend(c, on)) return;
      try {
        this.groupMessages.typing(c, on);
      } catch (err) {
        this.log.debug({ code: isChatError(err) ? err.code : 'internal' }, 'group typing notice not sent');
      }
      return;
    }
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
      this.groupState.identityAccepted(accepted.canon);
      return { c: accepted, held: this.store.releaseHeld(accepted.canon) };
    });
    this.log.info({ peer: c.canon }, 'new identity accepted');
    this.emit('contact', { name: c.name, state: 'unverified' });
    for (const h of held) this.inbox.receive(h.id, h.from, h.env);
    void this.sender.flush();
  }

  /** Removes one message from the history (CLIENT-API item 2); true if something was removed. */
  deleteMessage(peer: string, id: string): boolean {
    const c = this.conversationKey(peer);
    return this.tx(() => {
      const removed = this.store.deleteMessage(c, id);
      const text = this.outbox.dropText(c, id);
      const out = this.outbox.recipient(id) !== undefined && this.outbox.remove(id);
      const group = c.startsWith('#') && this.groupMessages.forget(id);
      return removed || out || text || group;
    });
  }

  /** Hides a conversation from `contacts()` until a message arrives or is sent (CLIENT-API item 3). */
  closeConversation(peer: string): void {
    this.closed.add(this.conversationKey(peer));
  }

  // -------------------------------------------------------------------------------------------
  // Groups (GROUPS-API.md, docs/protocol.md section 10.6). `group` arguments: an id, '#'+id, or
  // the display name of a group we are in (with or without '#', case-insensitive).

  /** A new group with us as its admin; the others get its state and our sender key pairwise. */
  createGroup(name: string, users: readonly string[]): GroupInfo {
    return this.groupState.createGroup(name, users);
  }

  addToGroup(group: string, users: readonly string[]): GroupInfo {
    return this.groupState.change(group, { t: 'add', users });
  }

  removeFromGroup(group: string, users: readonly string[]): GroupInfo {
    return this.groupState.change(group, { t: 'remove', users });
  }

  leaveGroup(group: string): GroupInfo {
    return this.groupState.change(group, { t: 'leave' });
  }

  renameGroup(group: string, name: string): GroupInfo {
    return this.groupState.change(group, { t: 'rename', name });
  }

  /** Makes `user` an admin of the group (`on`), or no longer one; admins only. */
  setGroupAdmin(group: string, user: string, on: boolean): GroupInfo {
    return this.groupState.change(group, { t: 'admin', user, on });
  }

  /** Every group we are or were in, in creation/join order. */
  groups(): GroupInfo[] {
    return this.groupState.all().map((g) => this.groupState.info(g));
  }

  group(group: string): GroupInfo | undefined {
    const g = this.groupState.find(group);
    return g ? this.groupState.info(g) : undefined;
  }

  /** Stores a text for the group and sends it once, to every member (`identity_changed` if blocked). */
  sendGroup(group: string, body: string): ChatMessage {
    const m = this.groupMessages.send(group, body);
    this.closed.delete(m.peer);
    return m;
  }

  /** Who one of our group messages went to, who has it, who read it. */
  groupReceipts(group: string, id: string): GroupReceipts | undefined {
    return this.groupMessages.receiptsOf(group, id);
  }

  /** Disconnects for good. The caller closes the store. */
  async close(): Promise<void> {
    // Stopped now; the state `closed` is shown once the connection has ended (connection.ts).
    this.link.stop();
    this.sender.close();
    this.groupMessages.close();
    this.inbox.close();
    this.delivered.close();
    this.typing.close();
    await this.link.close();
  }
}
