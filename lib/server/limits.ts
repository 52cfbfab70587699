/**
 * The relay's limits (docs/protocol.md section 9), one definition each. Every one is per
 * connection, per identity, per address or per recipient as its comment says; `wireLimits` is
 * what ServerInfo and `welcome` announce, so a client can pace itself.
 */
import * as fs from 'node:fs';
import { QUEUE_MAX_PER_RECIPIENT, QUEUE_MAX_PER_SENDER } from './store';

export interface RelayLimits {
  /** Requests a second per connection, and the largest burst (token bucket). */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /**
   * Refused requests answered per second per connection (token bucket, burst = requestBurst);
   * a connection that keeps sending past that is closed with `rate_limited`.
   */
  readonly refusalsPerSecond: number;
  /** `keys.fetch` a minute per requesting identity, across its connections (token bucket). */
  readonly keysFetchPerMinute: number;
  /** One-time prekeys handed out per target an hour; past that, bundles come without one. */
  readonly opksPerTargetPerHour: number;
  /** `list` a minute per identity (each answers the whole directory), burst 3. */
  readonly listPerMinute: number;
  /** Envelopes delivered but not yet acked, per connection: bounds memory for a slow reader. */
  readonly deliveryWindow: number;
  /** Fewer one-time prekeys than this and the owner is told `keys.low`. */
  readonly opkLowWater: number;
  /** Entries per `users` page: 500 entries (~40 KB) always fit a frame. */
  readonly usersPageSize: number;
  /** Connections not yet logged in, overall and per address (headroom for logged-in users). */
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  /** Every open connection (`net.Server.maxConnections`). */
  readonly maxConnections: number;
  /** New names registered per address an hour (token bucket, burst of the same size). */
  readonly registrationsPerAddressPerHour: number;
  /** Envelopes waiting for one recipient. */
  readonly queuePerRecipient: number;
  /** Envelopes waiting for one recipient from one sender. */
  readonly queuePerSender: number;
  /** The same for a sender whose identity is younger than `newIdentityMs`. */
  readonly queuePerNewSender: number;
  readonly newIdentityMs: number;
  /** Envelopes waiting for one recipient sent from one address (in memory only). */
  readonly queuePerAddress: number;
  /** Bytes unread by the peer before we stop reading it, and before we close it. */
  readonly outPauseBytes: number;
  readonly outMaxBytes: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  requestsPerSecond: 50,
  requestBurst: 200,
  refusalsPerSecond: 10,
  keysFetchPerMinute: 10,
  opksPerTargetPerHour: 20,
  listPerMinute: 6,
  deliveryWindow: 100,
  opkLowWater: 20,
  usersPageSize: 500,
  maxHandshakes: 512,
  maxHandshakesPerAddress: 32,
  maxConnections: 50_000,
  registrationsPerAddressPerHour: 10,
  queuePerRecipient: QUEUE_MAX_PER_RECIPIENT,
  queuePerSender: QUEUE_MAX_PER_SENDER,
  queuePerNewSender: 300,
  newIdentityMs: 24 * 60 * 60 * 1000,
  queuePerAddress: 2_000,
  outPauseBytes: 256 * 1024,
  outMaxBytes: 4 * 1024 * 1024,
};

/** What ServerInfo and `welcome.limits` announce (a frame holds 65535 bytes). */
export function wireLimits(l: RelayLimits): Record<string, number> {
  return {
    frame: 65535,
    requestsPerSecond: l.requestsPerSecond,
    requestBurst: l.requestBurst,
    keysFetchPerMinute: l.keysFetchPerMinute,
    listPerMinute: l.listPerMinute,
    deliveryWindow: l.deliveryWindow,
    queuePerSender: l.queuePerSender,
  };
}

/** Descriptors kept free of connections: the store, the log, the key, DNS and the like. */
export const FD_RESERVE = 64;

/**
 * Connections this process can hold: its soft file-descriptor limit less FD_RESERVE (Linux,
 * /proc/self/limits; undefined elsewhere or unlimited). Past the fd limit, libuv accepts and
 * closes connections itself without telling Node (its EMFILE trick), so the relay would neither
 * refuse nor log them; `maxConnections` below the limit makes Node drop them and say so.
 */
export function fdConnectionCap(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined; // not Linux: no limit known, none applied
  }
  const soft = Number(/^Max open files\s+(\d+)/m.exec(text)?.[1]);
  return Number.isFinite(soft) && soft > 0 ? Math.max(1, soft - FD_RESERVE) : undefined;
}
