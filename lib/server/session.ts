/**
 * What the relay's parts share: one logged-in connection (`Session`) and the relay-wide context
 * (`RelayContext`) that login, presence, delivery and the request handlers read.
 */
import type { Logger } from 'pino';
import { IdRing } from './id-ring';
import type { ClientMessage, RelayMessage } from '../net/messages';
import type { SecureChannel } from '../net/secure-channel';
import type { RelayLimits } from './limits';
import type { LogThrottle } from './log-throttle';
import type { Few } from './presence';
import type { TokenBucket } from './rate-limit';
import type { EnqueueResult, NewEnvelope, QueueCaps, RelayStore, UserRecord } from './store';

export type Channel = SecureChannel<ClientMessage, RelayMessage>;

/**
 * Optional counters for an operator's metrics (the relay never needs them): each call names an
 * event (`connection`, `login`, `stored`, `delivered`, `refused`, ...) and how many.
 */
export interface RelayObserver {
  count(event: string, n?: number): void;
}

export interface Session {
  readonly conn: number;
  readonly user: UserRecord;
  readonly channel: Channel;
  /** The peer's IP address: for per-address limits only, never logged with a name. */
  readonly address: string;
  readonly requests: TokenBucket;
  /** Refusals answered; when empty the connection is closed (defect 2, coalesced refusals). */
  readonly refusals: TokenBucket;
  /**
   * Requests are handled one at a time, in order: the last one that went async (a store lookup)
   * while it is under way, which the next ones wait on; undefined when none is (issue 12: a
   * request handled at once costs no promise).
   */
  chain: Promise<void> | undefined;
  /**
   * Outer ids delivered and not yet acked, in delivery order (a ring, not a Set: id-ring.ts).
   * This and the next are made on first use (`windowOf`, `ackingOf`): empty Sets were ~400 bytes of
   * every idle connection (issue 12).
   */
  inflight: IdRing<true> | undefined;
  /**
   * Outer ids acked whose delete is not yet visible: `pump` must not deliver them again. Unused
   * with a store whose reads see acks under way (`RelayStore.readsSeeAcks`).
   */
  acking: Set<string> | undefined;
  /**
   * True when the store may hold envelopes for this user that are not in `inflight`. While false,
   * a newly stored envelope is the next in order and is delivered at once, without a store read.
   */
  backlog: boolean;
  pumping: boolean;
  pumpAgain: boolean;
  /** A delivery retry after a store failure (defect 7), and its next delay. */
  retry: NodeJS.Timeout | undefined;
  retryMs: number;
  /**
   * Canonical names this connection watches (memory only, never stored or logged): an array
   * while short, a Set past that (`Few` in presence.ts, issue 12).
   */
  watching: Few<string>;
}

export interface RelayContext {
  readonly store: RelayStore;
  readonly limits: RelayLimits;
  /** `wireLimits(limits)`, made once: what ServerInfo and `welcome` tell every client. */
  readonly wireLimits: Readonly<Record<string, number>>;
  readonly log: Logger;
  /** Coalesced lines for whatever a peer can make us log repeatedly. */
  readonly throttled: LogThrottle;
  readonly now: () => number;
  /** Logged-in connections by canonical name. */
  readonly sessions: Map<string, Session>;
  readonly observer: RelayObserver | undefined;
  /** Several relays on one Redis (`--cluster`); undefined for a single relay. */
  readonly cluster?: RelayCluster;
}

/** The session's `acking` set, made now if it was not yet. */
export function ackingOf(s: Session): Set<string> {
  return (s.acking ??= new Set());
}

/** The session's `inflight` ids, made now if they were not yet. */
export function windowOf(s: Session): IdRing<true> {
  return (s.inflight ??= new IdRing());
}

export function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : 'internal';
}

/**
 * Several relays on one Redis (issue 14, `--cluster`): what the relay asks of the cluster. Absent
 * on a single relay (SQLite), where every question is answered from `sessions` in memory.
 */
export interface RelayCluster {
  readonly relayId: string;
  /** Subscribes this relay's control channel; `hooks` are what other relays can make it do. */
  attach(hooks: ClusterHooks): Promise<void>;
  /**
   * Claims the user's session for this connection (closing one on another relay with `replaced`)
   * and subscribes to the user's wake-ups; resolves once both are confirmed by Redis.
   */
  login(session: Session): Promise<void>;
  /** The connection is gone; `holder` when it still held the user (release and announce). */
  logout(session: Session, holder: boolean): Promise<void>;
  /** Traffic from the connection: the session's TTL is refreshed when due. */
  touch(session: Session): void;
  /** Enqueue, and whether a relay holding the recipient was woken (`sent delivered`). */
  enqueue(
    env: NewEnvelope,
    caps: QueueCaps,
  ): Promise<{ readonly result: EnqueueResult; readonly delivered: boolean }>;
  /** For each name, whether some relay of the cluster holds its session. */
  online(canons: readonly string[]): Promise<boolean[]>;
  /** This relay has its first watcher of `canon` (resolves once subscribed), or no more. */
  watch(canon: string): Promise<void>;
  unwatch(canon: string): void;
  /** The user logged in or out here: tell the relays that watch it (once each). */
  announce(user: string, online: boolean): void;
  close(): Promise<void>;
}

export interface ClusterHooks {
  /** An envelope was stored for `canon`, held here: read the queue. */
  wake(canon: string, id: string): void;
  /** Another relay took `canon`'s session from connection `conn` here: close it, `replaced`. */
  replace(canon: string, conn: number): void;
  /** A user logged in or out on another relay: tell the watchers here. */
  presence(user: string, online: boolean): void;
  /** Wake-ups may have been lost (the subscriber reconnected): read every local user's queue. */
  resync(): void;
}
