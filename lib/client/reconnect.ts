/**
 * The connection to the relay as a pure state machine (DESIGN.md: state machines are explicit):
 * a state and an event in, the next state, what the status line shows and what to do out. The
 * clock and the jitter are injected, so the backoff is tested without sockets or timers; the
 * Client dials, arms the timer and emits what this returns.
 */
import type { ConnectionState } from './types';

export interface ReconnectPolicy {
  /** First delay; doubled on every failed attempt up to `maxMs`, with jitter. */
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { baseMs: 500, maxMs: 30_000 };

/** Codes after which reconnecting cannot help: the user must act. */
export const PERMANENT = new Set([
  'name_taken',
  'identity_taken',
  'bad_name',
  'server_key_changed',
  'server_cert_invalid',
  'server_cert_expired',
  'replaced',
  'no_common_suite',
]);

export interface Reconnect {
  /**
   * - `idle`: not started; `stopped`: closed by the user or refused for good;
   * - `asking`: the relay's key is unknown and the user is asked (`trust` answers);
   * - `connecting` → `online`; `waiting` for the next attempt after a failure.
   */
  readonly phase: 'idle' | 'connecting' | 'online' | 'waiting' | 'asking' | 'stopped';
  /** Attempts since the last welcome. */
  readonly attempt: number;
}

export type ReconnectEvent =
  | { readonly t: 'start' }
  /** The relay welcomed us. */
  | { readonly t: 'welcomed' }
  /** The connection failed or closed; `askTrust` when the relay's key must be shown to the user. */
  | { readonly t: 'lost'; readonly code: string; readonly message: string; readonly askTrust?: boolean }
  /** The delay of a `wait` action ran out. */
  | { readonly t: 'timer' }
  /** The user's answer about an unknown relay key. */
  | { readonly t: 'trust'; readonly accept: boolean }
  | { readonly t: 'close' };

export type ReconnectAction =
  | { readonly t: 'dial' }
  | { readonly t: 'wait'; readonly delayMs: number }
  | { readonly t: 'ask-trust' }
  /** Tell the user: reconnecting cannot help. */
  | { readonly t: 'report'; readonly code: string; readonly message: string };

export interface ReconnectStep {
  readonly state: Reconnect;
  /** The new connection state to show, when it changed. */
  readonly connection?: ConnectionState;
  readonly actions: readonly ReconnectAction[];
}

export interface ReconnectDeps {
  readonly policy: ReconnectPolicy;
  /** A number in [0, 1): the share of the jitter range (Math.random in the client). */
  readonly jitter: () => number;
  /** Wall clock, ms since the epoch. */
  readonly now: () => number;
}

export const RECONNECT_START: Reconnect = { phase: 'idle', attempt: 0 };

/**
 * Exponential backoff with jitter: base × 2^(attempt − 1), capped at maxMs, times a factor in
 * [0.5, 1), so clients dropped together do not all come back in the same instant.
 */
export function backoffMs(policy: ReconnectPolicy, attempt: number, jitter: number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt - 1, 20));
  return Math.round(ceiling * (0.5 + jitter * 0.5));
}

function dial(attempt: number): ReconnectStep {
  return {
    state: { phase: 'connecting', attempt },
    connection: { state: 'connecting', attempt },
    actions: [{ t: 'dial' }],
  };
}

const unchanged = (state: Reconnect): ReconnectStep => ({ state, actions: [] });

export function reconnectStep(s: Reconnect, e: ReconnectEvent, deps: ReconnectDeps): ReconnectStep {
  switch (e.t) {
    case 'start':
      return s.phase === 'idle' || s.phase === 'stopped' ? dial(s.attempt + 1) : unchanged(s);
    case 'welcomed':
      return s.phase === 'connecting'
        ? { state: { phase: 'online', attempt: 0 }, connection: { state: 'online' }, actions: [] }
        : unchanged(s);
    case 'timer':
      return s.phase === 'waiting' ? dial(s.attempt + 1) : unchanged(s);
    case 'trust':
      if (s.phase !== 'asking') return unchanged(s);
      // Section 6: after an accepted key, connect again at once and require that same key.
      if (e.accept) return dial(1);
      return {
        state: { phase: 'stopped', attempt: s.attempt },
        connection: { state: 'closed', reason: 'relay key refused', code: 'server_key_unknown' },
        actions: [],
      };
    case 'close':
      return {
        state: { phase: 'stopped', attempt: s.attempt },
        connection: { state: 'closed', reason: 'closed' },
        actions: [],
      };
    case 'lost': {
      if (s.phase === 'stopped' || s.phase === 'idle') {
        return { state: s, connection: { state: 'closed', reason: 'closed' }, actions: [] };
      }
      // While waiting, a later report of the same loss can still say it is final (a refusal read
      // after the close it caused); a plain loss then changes nothing: the timer is armed.
      if (s.phase !== 'connecting' && s.phase !== 'online' && s.phase !== 'waiting') return unchanged(s);
      if (e.askTrust) {
        return {
          state: { phase: 'asking', attempt: s.attempt },
          connection: { state: 'closed', reason: e.message, code: e.code },
          actions: [{ t: 'ask-trust' }],
        };
      }
      if (PERMANENT.has(e.code)) {
        return {
          state: { phase: 'stopped', attempt: s.attempt },
          connection: { state: 'closed', reason: e.message, code: e.code },
          actions: [{ t: 'report', code: e.code, message: e.message }],
        };
      }
      if (s.phase === 'waiting') return unchanged(s);
      const delayMs = backoffMs(deps.policy, s.attempt, deps.jitter());
      return {
        state: { phase: 'waiting', attempt: s.attempt },
        connection: { state: 'offline', retryAt: deps.now() + delayMs, reason: e.message },
        actions: [{ t: 'wait', delayMs }],
      };
    }
  }
}
