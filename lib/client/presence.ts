/**
 * Presence (docs/protocol.md 7.1): who is online as the relay tells it, when each contact was
 * last seen, and, when the relay gives presence by subscription (its `welcome` lists no users),
 * the `presence.watch` requests for contacts and open conversations. Its dependencies are passed
 * in; no reference to `Client`.
 */
import type { EventEmitter } from 'node:events';
import { canonName } from '../names';
import { type ClientMessage, MAX_WATCH_PER_REQUEST, type UserEntry } from '../net/messages';
import type { ClientEvents } from './types';

export interface PresenceDeps {
  /** Our own canonical name: never shown as a presence. */
  readonly canon: string;
  readonly now: () => number;
  readonly emit: EventEmitter<ClientEvents>['emit'];
  /** Logged in at the relay. */
  readonly online: () => boolean;
  /** Sends a request to the relay, paced. */
  readonly out: (msg: ClientMessage) => void;
  /** A request id for a `presence.watch` (its prefix tells its error apart). */
  readonly watchRid: () => string;
  /** `peer` (canonical) came online: what waits for it may go. */
  readonly cameOnline: (peer: string) => void;
}

export class Presence {
  private readonly onlineUsers = new Map<string, string>();
  private readonly lastSeenAt = new Map<string, number | null>();
  /** Users whose presence this connection asked for (presence.watch). */
  private readonly watched = new Set<string>();
  /** The relay gives presence by subscription (its `welcome` lists no users): watch. */
  private subscribe = false;

  constructor(private readonly deps: PresenceDeps) {}

  isOnline(canon: string): boolean {
    return this.onlineUsers.has(canon);
  }

  /** The name as the relay shows it, for a user online now. */
  onlineName(canon: string): string | undefined {
    return this.onlineUsers.get(canon);
  }

  lastSeen(canon: string): number | null {
    return this.lastSeenAt.get(canon) ?? null;
  }

  /** Who is online now: canonical name and name as shown. */
  online(): Iterable<[string, string]> {
    return this.onlineUsers;
  }

  /** The last-seen times of a `list` answer. */
  listed(users: readonly UserEntry[]): void {
    for (const u of users) this.lastSeenAt.set(canonName(u.name), u.lastSeen);
  }

  /** The users a `welcome` names as online. */
  welcomed(users: readonly string[] | undefined): void {
    for (const u of users ?? []) {
      if (canonName(u) === this.deps.canon) continue;
      this.onlineUsers.set(canonName(u), u);
      this.deps.emit('presence', { user: u, online: true });
    }
  }

  /** Whether this connection watches presence (`welcome` listed no users). */
  setSubscribe(on: boolean): void {
    this.subscribe = on;
  }

  changed(user: string, online: boolean): void {
    const c = canonName(user);
    if (c === this.deps.canon) return;
    if (online) {
      this.onlineUsers.set(c, user);
      this.deps.cameOnline(c);
    } else {
      this.onlineUsers.delete(c);
      this.lastSeenAt.set(c, this.deps.now());
    }
    this.deps.emit('presence', { user, online });
  }

  /**
   * Presence by subscription (docs/protocol.md 7.1), when `welcome` lists no users: the contacts
   * and the open conversation. A relay that does not know `presence.watch` answers `bad_message`; that is logged, not shown.
   */
  watch(names: readonly string[]): void {
    if (!this.deps.online() || !this.subscribe) return;
    // One request per user however it is spelled (`Bob`, `bob`): names are compared canonically.
    const fresh: string[] = [];
    for (const n of names) {
      const c = canonName(n);
      if (c === this.deps.canon || this.watched.has(c)) continue;
      this.watched.add(c);
      fresh.push(n);
    }
    for (let i = 0; i < fresh.length; i += MAX_WATCH_PER_REQUEST) {
      this.deps.out({
        t: 'presence.watch',
        rid: this.deps.watchRid(),
        users: fresh.slice(i, i + MAX_WATCH_PER_REQUEST),
      });
    }
  }

  /** The connection ended: what it watched is asked again on the next one. */
  unwatchAll(): void {
    this.watched.clear();
  }

  /** The connection ended: everyone shown online goes offline. */
  lost(): void {
    if (this.onlineUsers.size) {
      for (const name of this.onlineUsers.values()) this.deps.emit('presence', { user: name, online: false });
      this.onlineUsers.clear();
    }
  }
}
