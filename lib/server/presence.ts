/**
 * Presence by subscription (docs/protocol.md 7.1): a connection watches up to MAX_WATCHED names
 * with `presence.watch`; a user's login or logout goes only to the connections that watch it.
 * The lists live in memory only, are never stored or logged, and go with the connection.
 *
 * Changes are gathered and each watcher gets one frame for all of its changes (`presence` for
 * one, `presence.batch` for more), so a user nobody watches costs nothing and a login storm costs
 * one frame per watcher and flush. A change goes at the end of its event-loop turn when nothing
 * was flushed in the last PRESENCE_GATHER_MS, else PRESENCE_GATHER_MS after the last flush.
 */
import { ChatError } from '../errors';
import { canonName } from '../names';
import { MAX_PRESENCE_BATCH, MAX_WATCHED, type PresenceChange } from '../net/messages';
import type { RelayContext, Session } from './session';

/**
 * A set of names or sessions kept as an exact-size array while it holds at most FEW_MAX entries,
 * and as a Set past that: a Set of 20 is a ~680-byte hash table, an array of 20 about 200 bytes,
 * and a watch list or a user's watchers is usually that small (two per idle connection, issue 12).
 * Arrays are never changed in place (copy on write, at most FEW_MAX entries copied), so a list
 * being iterated stays as it was; a Set, once made, is changed in place and stays a Set.
 */
export type Few<T> = readonly T[] | Set<T>;
const FEW_MAX = 32;

/** `Array.isArray` narrows a readonly array union only through a guard of our own. */
function isList<T>(f: Few<T>): f is readonly T[] {
  return Array.isArray(f);
}

function fewHas<T>(f: Few<T>, x: T): boolean {
  return isList(f) ? f.includes(x) : f.has(x);
}

function fewSize<T>(f: Few<T>): number {
  return isList(f) ? f.length : f.size;
}

/** `f` with `x` in it: the same Set, or a new array. */
function fewAdd<T>(f: Few<T>, x: T): Few<T> {
  if (!isList(f)) return f.add(x);
  if (f.includes(x)) return f;
  return f.length < FEW_MAX ? f.concat(x) : new Set(f).add(x);
}

/** `f` with each of `xs` (distinct) in it: the same Set, or one new array for them all. */
function fewAddAll<T>(f: Few<T>, xs: readonly T[]): Few<T> {
  if (!isList(f)) {
    for (const x of xs) f.add(x);
    return f;
  }
  const added = f.length === 0 ? xs : xs.filter((x) => !f.includes(x));
  if (added.length === 0) return f;
  return f.length + added.length <= FEW_MAX ? f.concat(added) : new Set([...f, ...added]);
}

/** `f` without `x`: the same Set, or a new array. */
function fewDelete<T>(f: Few<T>, x: T): Few<T> {
  if (!isList(f)) {
    f.delete(x);
    return f;
  }
  return f.includes(x) ? f.filter((y) => y !== x) : f;
}

/**
 * The shortest time between two presence flushes. In a login storm (20,000 idle clients, 20
 * watches each, issue 12) a flush per turn was about one frame per login and watcher: 20 frames
 * per connection, each encoded, sealed and written on its own (a third of the relay's busy time).
 * Gathered over 200 ms, a watcher gets its changes in a few frames; a lone change still goes at
 * the end of its turn, and no person notices presence a fifth of a second late.
 */
export const PRESENCE_GATHER_MS = 200;

/** The empty list every session starts with (never changed: lists are copied on write). */
export const NO_NAMES: Few<string> = Object.freeze([]) as readonly string[];
const NO_SESSIONS: Few<Session> = Object.freeze([]) as readonly Session[];

export class Presence {
  /** Canonical name -> the connections watching it. */
  private readonly watchers = new Map<string, Few<Session>>();
  private pending: (PresenceChange & { readonly canon: string })[] = [];
  /**
   * Cancels the flush to come, if one is scheduled: an Immediate at the end of a turn, or the
   * gathering Timeout. Each kind is cancelled by its own call: clearImmediate on a Timeout
   * corrupts Node's count of immediates, and no setImmediate in the process runs after it.
   */
  private cancelNext: (() => void) | undefined;
  private stopped = false;
  /** performance.now() of the last flush. */
  private lastFlush = -Infinity;

  constructor(private readonly ctx: RelayContext) {}

  /** Adds names to the session's list; answers the state of each one that is registered. */
  async watch(session: Session, rid: string, users: readonly string[]): Promise<void> {
    const canons = users.map(canonName);
    const added = canons.filter((c) => !fewHas(session.watching, c));
    if (fewSize(session.watching) + new Set(added).size > MAX_WATCHED) {
      throw new ChatError('too_large', `a connection watches at most ${MAX_WATCHED} names`);
    }
    const fresh: string[] = [];
    for (const canon of canons) {
      if (fresh.includes(canon)) continue;
      fresh.push(canon);
      // A name not registered yet is watched too (a contact who registers later).
      this.watchers.set(canon, fewAdd(this.watchers.get(canon) ?? NO_SESSIONS, session));
    }
    session.watching = fewAddAll(session.watching, fresh);
    const cluster = this.ctx.cluster;
    // Cluster: subscribed before the state is read, so a change in between is not missed.
    if (cluster) for (const canon of fresh) await cluster.watch(canon);
    // Online here: the session has the name. Else one read for all the others (issue 12).
    const here = fresh.map((c) => this.ctx.sessions.get(c));
    const away = fresh.filter((_, i) => here[i] === undefined);
    const names = away.length > 0 ? await this.ctx.store.displayNames(away) : [];
    const elsewhere = cluster && away.length > 0 ? await cluster.online(away) : [];
    const changes: PresenceChange[] = [];
    let j = 0;
    for (const s of here) {
      if (s) {
        changes.push({ user: s.user.name, online: true });
        continue;
      }
      const name = names[j];
      const online = elsewhere[j] ?? false;
      j++;
      if (name !== undefined) changes.push({ user: name, online });
    }
    session.channel.send({ t: 'presence.batch', rid, changes });
  }

  unwatch(session: Session, rid: string, users: readonly string[]): void {
    for (const canon of users.map(canonName)) {
      session.watching = fewDelete(session.watching, canon);
      this.drop(session, canon);
    }
    session.channel.send({ t: 'presence.batch', rid, changes: [] });
  }

  /** The connection is gone: it watches nothing any more. */
  forget(session: Session): void {
    const watched = session.watching;
    session.watching = NO_NAMES;
    for (const canon of watched) this.drop(session, canon);
  }

  /** `session` no longer watches `canon` (already out of its own list). */
  private drop(session: Session, canon: string): void {
    const list = this.watchers.get(canon);
    if (!list) return;
    const left = fewDelete(list, session);
    if (fewSize(left) > 0) {
      this.watchers.set(canon, left);
      return;
    }
    this.watchers.delete(canon);
    this.ctx.cluster?.unwatch(canon);
  }

  /**
   * Tells the watchers of `user` (display name) that it logged in or out: at the end of this
   * turn, or PRESENCE_GATHER_MS after the last flush if that is later.
   */
  announce(user: string, online: boolean): void {
    const canon = canonName(user);
    if (this.stopped || !this.watchers.has(canon)) return;
    this.pending.push({ user, online, canon });
    if (this.cancelNext) return;
    const wait = this.lastFlush + PRESENCE_GATHER_MS - performance.now();
    if (wait <= 0) {
      const turn = setImmediate(this.flushNow);
      this.cancelNext = () => clearImmediate(turn);
    } else {
      const timer = setTimeout(this.flushNow, wait).unref();
      this.cancelNext = () => clearTimeout(timer);
    }
  }

  /**
   * The relay is stopping: changes not yet told are dropped with the connections, and the
   * logouts of the connections it closes next are not gathered.
   */
  stop(): void {
    this.stopped = true;
    this.cancelNext?.();
    this.cancelNext = undefined;
    this.pending = [];
  }

  private readonly flushNow = (): void => this.flush();

  private flush(): void {
    this.cancelNext = undefined;
    this.lastFlush = performance.now();
    const changes = this.pending;
    this.pending = [];
    const perWatcher = new Map<Session, PresenceChange[]>();
    for (const c of changes) {
      for (const s of this.watchers.get(c.canon) ?? []) {
        // A user is not told of itself.
        if (s.user.canon === c.canon) continue;
        let list = perWatcher.get(s);
        if (!list) perWatcher.set(s, (list = []));
        list.push({ user: c.user, online: c.online });
      }
    }
    let frames = 0;
    for (const [s, mine] of perWatcher) {
      if (mine.length === 1) s.channel.send({ t: 'presence', ...mine[0] });
      else {
        for (let i = 0; i < mine.length; i += MAX_PRESENCE_BATCH) {
          s.channel.send({ t: 'presence.batch', changes: mine.slice(i, i + MAX_PRESENCE_BATCH) });
        }
      }
      frames++;
    }
    this.ctx.observer?.count('presence_frames', frames);
  }
}
